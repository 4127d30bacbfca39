"""The NumPy scorer reproduces every model type's Keras scores, survives a save/load, and ranks like the model."""

import subprocess
import sys

import numpy as np
import pytest

from pipelines.data import load_movielens
from pipelines.fast_scoring import FastScorer, top_k
from pipelines.features import IdMaps, full_ranking_split, to_implicit
from pipelines.models import KerasScorer
from pipelines.train import train_model
from tests.helpers import FIXTURE_DATA_ROOT


@pytest.fixture(scope="module")
def split_and_maps():
    interactions = to_implicit(load_movielens(FIXTURE_DATA_ROOT, "ml-latest-small").ratings)
    maps = IdMaps.fit(interactions)
    return full_ranking_split(maps.encode(interactions), seed=7), maps


@pytest.mark.parametrize("loss", ["bce", "softmax"])  # sigmoid output; logit output with an item bias
@pytest.mark.parametrize("model_type", ["mf", "gmf", "mlp", "neumf"])
def test_fast_scores_match_keras(settings, split_and_maps, tmp_path, model_type, loss):
    split, maps = split_and_maps
    cfg = settings.model_copy(update={"model_type": model_type, "loss": loss, "epochs": 1, "eval_every": 5,
                                      "mlp_layers": (16, 8, 4)})  # fmt: skip
    model = train_model(split, maps.n_users, maps.n_items, cfg).model
    fast = FastScorer.load(FastScorer.from_keras(model).save(tmp_path / "fast.npz"))
    items = np.arange(maps.n_items, dtype=np.int32)
    for u in (0, maps.n_users // 2, maps.n_users - 1):
        expected = KerasScorer(model).score(np.full(maps.n_items, u, np.int32), items)
        np.testing.assert_allclose(fast.score_user(u), expected, rtol=1e-5, atol=1e-5)
    assert fast.score_user(0).std() > 0, "a trained model scores items differently"


def test_logit_score_vector_differs_only_by_the_user_bias(settings, split_and_maps):
    split, maps = split_and_maps
    cfg = settings.model_copy(update={"model_type": "mf", "loss": "softmax", "epochs": 1, "eval_every": 5})
    fast = FastScorer.from_keras(train_model(split, maps.n_users, maps.n_items, cfg).model)
    diff = fast.score_user(3) - fast.score_vector(fast.user_repr(3))
    np.testing.assert_allclose(diff, fast.user_bias[3], atol=1e-5)


def test_top_k_orders_and_excludes():
    scores = np.array([0.1, 0.9, 0.5, 0.7, 0.3], np.float32)
    assert top_k(scores, 3).tolist() == [1, 3, 2]
    assert top_k(scores, 3, np.array([1, -1, 99])).tolist() == [3, 2, 4]
    assert top_k(scores, 10, np.array([0, 1, 2, 3])).tolist() == [4]
    assert top_k(scores, 0).tolist() == []


def test_loading_and_scoring_do_not_import_tensorflow(tmp_path):
    rng = np.random.default_rng(0)
    fast = FastScorer(output="logit", item_dot=rng.normal(size=(7, 3)).astype(np.float32),
                      user_dot=rng.normal(size=(4, 3)).astype(np.float32), item_bias=np.zeros(7, np.float32),
                      user_bias=np.zeros(4, np.float32), item_first=rng.normal(size=(7, 5)).astype(np.float32),
                      first_user_w=rng.normal(size=(2, 5)).astype(np.float32),
                      user_mlp=rng.normal(size=(4, 2)).astype(np.float32),
                      hidden=[(rng.normal(size=(5, 3)).astype(np.float32), np.zeros(3, np.float32))],
                      mlp_out=rng.normal(size=3).astype(np.float32))  # fmt: skip
    path = fast.save(tmp_path / "fast.npz")
    code = (
        f"import sys; from pipelines.fast_scoring import FastScorer, top_k; f = FastScorer.load({str(path)!r}); "
        "top_k(f.score_user(1), 3); assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    np.testing.assert_array_equal(FastScorer.load(path).score_user(2), fast.score_user(2))


def _random_scorer(n_users=4, n_items=6, d=3, h1=0, seed=0) -> FastScorer:
    rng = np.random.default_rng(seed)
    f32 = lambda *shape: rng.normal(size=shape).astype(np.float32)  # noqa: E731
    return FastScorer(output="logit", item_dot=f32(n_items, d), user_dot=f32(n_users, d), item_bias=f32(n_items),
                      user_bias=f32(n_users), item_first=f32(n_items, h1), first_user_w=f32(2, h1),
                      user_mlp=f32(n_users, 2), mlp_out=f32(h1))  # fmt: skip


@pytest.mark.parametrize("h1", [0, 5])  # dot-product model; with an MLP tower
def test_pair_and_row_scoring_agree_with_score_user(h1):
    from pipelines.scoring import FastPairScorer

    fast = _random_scorer(h1=h1)
    rng = np.random.default_rng(1)
    users, items = rng.integers(0, 4, 200), rng.integers(0, 6, 200)
    expected = np.array([fast.score_user(u)[i] for u, i in zip(users, items, strict=True)])
    np.testing.assert_allclose(FastPairScorer(fast).score(users, items), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fast.score_users(np.array([3, 0])), np.stack([fast.score_user(3), fast.score_user(0)]),
                               rtol=1e-5, atol=1e-6)  # fmt: skip


def test_champion_rows_are_translated_into_the_challengers_index_space():
    from pipelines.features import IdMaps
    from pipelines.promotion import TranslatedScorer
    from pipelines.scoring import FastPairScorer

    class Champion:
        scorer = FastPairScorer(_random_scorer())
        maps = IdMaps(np.array([10, 20, 30, 40]), np.array([1, 2, 3, 4, 5, 6]))

    challenger_maps = IdMaps(np.array([10, 30, 50]), np.array([2, 3, 7, 6]))  # user 50 and movie 7 are new
    translated = TranslatedScorer(Champion(), challenger_maps)
    users = np.array([0, 1, 2])
    rows = translated.score_users(users)
    pairs = translated.score(np.repeat(users, 4), np.tile(np.arange(4), 3)).reshape(3, 4)
    np.testing.assert_allclose(rows, pairs, rtol=1e-5)
    assert np.isinf(rows[2]).all() and np.isinf(rows[:, 2]).all() and np.isfinite(rows[:2, [0, 1, 3]]).all()
