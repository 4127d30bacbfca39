"""content_mf on the committed slice: NumPy scores match Keras, it learns above popularity, and it places held-out
movies from their content better than genre popularity does."""

import numpy as np
import pytest

from pipelines.content import build_content_inputs
from pipelines.data import load_movielens
from pipelines.evaluate import EvalOptions, evaluate
from pipelines.fast_scoring import FastScorer
from pipelines.features import IdMaps, Split, full_ranking_split, to_implicit
from pipelines.models import KerasScorer
from pipelines.new_items import content_scores, evaluate_new_items, genre_popularity_scores, hold_out_movies
from pipelines.train import popularity_scorer, train_model
from tests.helpers import FIXTURE_DATA_ROOT

pytestmark = pytest.mark.slow  # trains models


@pytest.fixture(scope="module")
def data():
    return load_movielens(FIXTURE_DATA_ROOT, "ml-latest-small")


@pytest.mark.parametrize("loss", ["bce", "softmax"])
def test_content_mf_fast_scores_match_keras(settings, data, tmp_path, loss):
    interactions = to_implicit(data.ratings)
    maps = IdMaps.fit(interactions)
    split = full_ranking_split(maps.encode(interactions), seed=7)
    content = build_content_inputs(data.movies, maps.item_ids, maps.user_ids, split.train, data.users)
    cfg = settings.model_copy(update={"model_type": "content_mf", "loss": loss, "epochs": 1, "eval_every": 5})
    model = train_model(split, maps.n_users, maps.n_items, cfg, content=content).model
    fast = FastScorer.load(FastScorer.from_keras(model).save(tmp_path / "fast.npz"))
    assert fast.has_content and fast.content_w.shape == (content.spec.n_features, cfg.embedding_dim)
    items = np.arange(maps.n_items, dtype=np.int32)
    for u in (0, maps.n_users - 1):
        expected = KerasScorer(model).score(np.full(maps.n_items, u, np.int32), items)
        np.testing.assert_allclose(fast.score_user(u), expected, rtol=1e-5, atol=1e-5)


def test_content_mf_learns_above_popularity_on_the_temporal_split(settings, data):
    interactions = to_implicit(data.ratings)
    maps = IdMaps.fit(interactions)
    split = full_ranking_split(maps.encode(interactions), seed=7, by_time=True)
    content = build_content_inputs(data.movies, maps.item_ids, maps.user_ids, split.train, data.users)
    cfg = settings.model_copy(update={"model_type": "content_mf", "loss": "softmax", "epochs": 6,
                                      "embedding_dim": 32, "eval_every": 100})  # fmt: skip
    model = train_model(split, maps.n_users, maps.n_items, cfg, content=content).model
    options = EvalOptions(max_users=None)
    ours = evaluate(KerasScorer(model), split, maps.n_users, maps.n_items, 10, options)["ndcg_at_10"]
    popular = evaluate(popularity_scorer(split, maps.n_items), split, maps.n_users, maps.n_items, 10, options)
    assert ours > popular["ndcg_at_10"] * 1.1, (ours, popular)


def test_held_out_movies_placed_from_content_beat_genre_popularity(settings, data):
    split = hold_out_movies(to_implicit(data.ratings), 0.1, seed=42)
    maps = IdMaps.fit(split.train)
    encoded = maps.encode(split.train)
    content = build_content_inputs(data.movies, maps.item_ids, maps.user_ids, encoded, data.users)
    cfg = settings.model_copy(update={"model_type": "content_mf", "loss": "softmax", "epochs": 6,
                                      "embedding_dim": 32, "content_id_dropout": 0.3})  # fmt: skip
    model = train_model(
        Split("all", encoded, encoded.iloc[:0]), maps.n_users, maps.n_items, cfg, content=content
    )
    fast = FastScorer.from_keras(model.model)
    held = content.spec.encode(data.movies.set_index("item_id").reindex(split.held_out).reset_index())
    placed = evaluate_new_items(content_scores(fast, maps, held), split)
    popularity = genre_popularity_scores(split.train, data.movies, split.held_out)
    baseline = evaluate_new_items(lambda u: popularity, split)
    assert placed["users"] > 50 and placed["recall_at_10"] > baseline["recall_at_10"] * 1.3, (
        placed,
        baseline,
    )
