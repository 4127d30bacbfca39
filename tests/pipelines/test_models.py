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


@pytest.mark.slow  # trains a model for several epochs: learning, not a unit
@pytest.mark.parametrize("model_type", ["neumf", "gmf", "mlp", "mf"])
def test_model_beats_popularity(settings, split_and_maps, model_type):
    split, maps = split_and_maps
    epochs = (
        10 if model_type == "mlp" else 6
    )  # the MLP tower is still at popularity level after 6 epochs here
    cfg = settings.model_copy(
        update={
            "model_type": model_type,
            "loss": "bce",
            "epochs": epochs,
            "learning_rate": 0.005,
            "embedding_dim": 16,
            "mlp_layers": (32, 16),
        }
    )
    result = train_model(split, maps.n_users, maps.n_items, cfg)
    model_hr = evaluate(KerasScorer(result.model), split, maps.n_users, maps.n_items)["hr_at_10"]
    pop_hr = evaluate(popularity_scorer(split, maps.n_items), split, maps.n_users, maps.n_items)["hr_at_10"]
    assert len(result.history) == epochs and result.history[-1]["loss"] < result.history[0]["loss"]
    assert model_hr > pop_hr, f"{model_type}: HR@10 {model_hr:.3f} <= popularity {pop_hr:.3f}"


def test_direct_scoring_matches_predict():
    model = build_model("neumf", 5, 7, 4, (8, 4), 0.0)
    users, items = np.array([0, 4, 2]), np.array([6, 0, 3])
    direct = KerasScorer(model).score(users, items)
    predicted = model.predict({"user": users, "item": items}, verbose=0).reshape(-1)
    assert np.allclose(direct, predicted, atol=1e-6)


@pytest.mark.slow  # trains a model for several epochs: learning, not a unit
def test_neumf_pretraining_starts_from_gmf_and_mlp(settings, split_and_maps):
    split, maps = split_and_maps
    cfg = settings.model_copy(
        update={"model_type": "neumf", "loss": "bce", "epochs": 1, "embedding_dim": 8, "mlp_layers": (16, 8)}
    )
    plain = train_model(split, maps.n_users, maps.n_items, cfg)
    pretrained = train_model(split, maps.n_users, maps.n_items, cfg, pretrain=True)
    # after one NeuMF epoch on top of trained GMF + MLP the loss is lower than after one epoch from scratch
    assert pretrained.history[0]["loss"] < plain.history[0]["loss"]


RANKING = {
    "softmax": {"learning_rate": 0.01, "users_per_batch": 16, "ranking_l2": 0.01},
    "bpr": {"learning_rate": 0.005, "batch_size": 256, "ranking_l2": 0.001},
}


@pytest.mark.slow  # trains a model for several epochs: learning, not a unit
@pytest.mark.parametrize("loss", ["softmax", "bpr"])
@pytest.mark.parametrize("model_type", ["mf", "neumf"])
def test_ranking_loss_learns_above_popularity(settings, split_and_maps, model_type, loss):
    """The ranking losses decrease and their model outranks the popularity baseline on held-out items."""
    split, maps = split_and_maps
    cfg = settings.model_copy(
        update={
            "model_type": model_type,
            "loss": loss,
            "epochs": 8,
            "embedding_dim": 16,
            "mlp_layers": (32, 16),
            **RANKING[loss],
        }
    )
    result = train_model(split, maps.n_users, maps.n_items, cfg)
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < 0.9 * losses[0], f"{model_type}/{loss}: loss {losses[0]:.3f} -> {losses[-1]:.3f}"
    model_hr = evaluate(KerasScorer(result.model), split, maps.n_users, maps.n_items)["hr_at_10"]
    pop_hr = evaluate(popularity_scorer(split, maps.n_items), split, maps.n_users, maps.n_items)["hr_at_10"]
    assert model_hr > pop_hr, f"{model_type}/{loss}: HR@10 {model_hr:.3f} <= popularity {pop_hr:.3f}"


def test_softmax_loss_is_catalog_cross_entropy_and_scores_are_logits(settings):
    """On a synthetic set where each user likes one block of items, softmax training puts the block on top,
    the loss approaches the entropy floor, and the served output is the raw logit (no saturated sigmoid ties)."""
    import pandas as pd

    from pipelines.features import Split

    n_users, n_items, block = 40, 60, 6
    rows = [(u, (u % 10) * block + j) for u in range(n_users) for j in range(block) if j != u % block]
    train = pd.DataFrame(rows, columns=["user_idx", "item_idx"]).assign(timestamp=0)
    test = pd.DataFrame(
        [(u, (u % 10) * block + u % block) for u in range(n_users)], columns=["user_idx", "item_idx"]
    )
    split = Split("full_ranking", train, test.assign(timestamp=0))
    cfg = settings.model_copy(update={"model_type": "mf", "loss": "softmax", "epochs": 60, "embedding_dim": 8,
                                      "learning_rate": 0.05, "users_per_batch": 8, "ranking_l2": 0.0,
                                      "eval_every": 60})  # fmt: skip
    result = train_model(split, n_users, n_items, cfg)
    # 5 positives out of 60 items: a perfect model's cross-entropy floor is log(5) = 1.61, uniform is log(60) = 4.09
    assert result.history[0]["loss"] > 3.5 and result.history[-1]["loss"] < 2.0, result.history[-1]
    assert result.history[-1]["recall_at_10"] >= 0.9, result.history[-1]
    scores = KerasScorer(result.model).score(
        np.zeros(n_items, dtype=np.int32), np.arange(n_items, dtype=np.int32)
    )
    assert scores.max() > 1.0 and len(np.unique(scores)) == n_items  # logits, not probabilities; no ties


@pytest.mark.slow  # trains a model for several epochs: learning, not a unit
def test_neumf_pretraining_with_softmax_starts_lower(settings, split_and_maps):
    """Pre-training also works for the softmax loss (logit outputs, per-item biases copied into NeuMF)."""
    split, maps = split_and_maps
    cfg = settings.model_copy(
        update={
            "model_type": "neumf",
            "loss": "softmax",
            "epochs": 2,
            "embedding_dim": 8,
            "mlp_layers": (16, 8),
            "learning_rate": 0.01,
            "users_per_batch": 16,
        }
    )
    plain = train_model(split, maps.n_users, maps.n_items, cfg)
    pretrained = train_model(split, maps.n_users, maps.n_items, cfg, pretrain=True)
    assert pretrained.history[0]["loss"] < plain.history[0]["loss"]
