"""Each model learns above the popularity baseline on the committed slice; scoring is one direct call."""

import numpy as np
import pytest

from pipelines.data import load_movielens
from pipelines.evaluate import evaluate
from pipelines.features import IdMaps, leave_one_out_split, to_implicit
from pipelines.models import KerasScorer, build_model
from pipelines.train import popularity_scorer, train_model
from tests.helpers import FIXTURE_DATA_ROOT


@pytest.fixture(scope="module")
def split_and_maps():
    data = load_movielens(FIXTURE_DATA_ROOT, "ml-latest-small")
    interactions = to_implicit(data.ratings)
    maps = IdMaps.fit(interactions)
    return leave_one_out_split(maps.encode(interactions), maps.n_items, 99, seed=7), maps


@pytest.mark.parametrize("model_type", ["neumf", "gmf", "mlp", "mf"])
def test_model_beats_popularity(settings, split_and_maps, model_type):
    split, maps = split_and_maps
    cfg = settings.model_copy(update={"model_type": model_type, "epochs": 6, "learning_rate": 0.005,
                                      "embedding_dim": 16, "mlp_layers": (32, 16)})
    result = train_model(split, maps.n_users, maps.n_items, cfg)
    model_hr = evaluate(KerasScorer(result.model), split, maps.n_users, maps.n_items)["hr_at_10"]
    pop_hr = evaluate(popularity_scorer(split, maps.n_items), split, maps.n_users, maps.n_items)["hr_at_10"]
    assert len(result.history) == 6 and result.history[-1]["loss"] < result.history[0]["loss"]
    assert model_hr > pop_hr, f"{model_type}: HR@10 {model_hr:.3f} <= popularity {pop_hr:.3f}"


def test_direct_scoring_matches_predict():
    model = build_model("neumf", 5, 7, 4, (8, 4), 0.0)
    users, items = np.array([0, 4, 2]), np.array([6, 0, 3])
    direct = KerasScorer(model).score(users, items)
    predicted = model.predict({"user": users, "item": items}, verbose=0).reshape(-1)
    assert np.allclose(direct, predicted, atol=1e-6)


def test_neumf_pretraining_starts_from_gmf_and_mlp(settings, split_and_maps):
    split, maps = split_and_maps
    cfg = settings.model_copy(update={"epochs": 1, "embedding_dim": 8, "mlp_layers": (16, 8)})
    plain = train_model(split, maps.n_users, maps.n_items, cfg)
    pretrained = train_model(split, maps.n_users, maps.n_items, cfg, pretrain=True)
    # after one NeuMF epoch on top of trained GMF + MLP the loss is lower than after one epoch from scratch
    assert pretrained.history[0]["loss"] < plain.history[0]["loss"]
