"""Fold-in: clicks move a new user's ranking towards what they clicked, cost is capped, bad clicks are ignored."""

import numpy as np
import pytest

from pipelines.fast_scoring import FastScorer, top_k
from pipelines.foldin import FoldIn, FoldInConfig, _mlp_user_gradient, fit_popularity

N_ITEMS, DIM = 60, 4


def clustered_scorer(rng, with_mlp: bool = False) -> FastScorer:
    """Items in 3 well-separated clusters; a strong popularity bias on cluster 0."""
    centers = np.eye(3, DIM) * 3.0
    cluster = np.arange(N_ITEMS) % 3
    items = (centers[cluster] + rng.normal(scale=0.3, size=(N_ITEMS, DIM))).astype(np.float32)
    h1, d_mlp = (5, 2) if with_mlp else (0, 0)
    return FastScorer(
        output="logit", item_dot=items, user_dot=rng.normal(scale=0.1, size=(10, DIM)).astype(np.float32),
        item_bias=np.where(cluster == 0, 1.0, 0.0).astype(np.float32), user_bias=np.zeros(10, np.float32),
        item_first=rng.normal(size=(N_ITEMS, h1)).astype(np.float32),
        first_user_w=rng.normal(size=(d_mlp, h1)).astype(np.float32),
        user_mlp=rng.normal(size=(10, d_mlp)).astype(np.float32),
        hidden=[(rng.normal(size=(h1, 3)).astype(np.float32), np.full(3, 0.1, np.float32))] if with_mlp else [],
        mlp_out=rng.normal(size=3 if with_mlp else 0).astype(np.float32),
    )  # fmt: skip


@pytest.mark.parametrize("method", ["ridge", "mean", "softmax"])
def test_clicks_move_a_new_user_towards_the_clicked_cluster(method):
    scorer = clustered_scorer(np.random.default_rng(0))
    clicks = np.array([2, 5, 8])  # cluster 2
    before = top_k(scorer.score_vector(scorer.mean_user_repr()), 10, clicks)
    folded = FoldIn(scorer, FoldInConfig(method=method, scale=3.0)).user_repr(
        clicks, ["like", "click", "watch"]
    )
    after = top_k(scorer.score_vector(folded), 10, clicks)
    assert np.mean(before % 3 == 2) < 0.5
    assert np.mean(after % 3 == 2) == 1.0, after


def test_unknown_movies_are_ignored_and_no_usable_click_is_none():
    fold = FoldIn(clustered_scorer(np.random.default_rng(1)))
    assert fold.user_repr([-1, -1, N_ITEMS + 5]) is None
    assert fold.user_repr([]) is None
    np.testing.assert_array_equal(fold.user_repr([-1, 4, -1, 7]), fold.user_repr([4, 7]))


def test_only_the_most_recent_clicks_count():
    fold = FoldIn(clustered_scorer(np.random.default_rng(2)), FoldInConfig(max_clicks=5))
    many = np.random.default_rng(3).integers(0, N_ITEMS, size=5000)
    np.testing.assert_allclose(fold.user_repr(many), fold.user_repr(many[-5:]))


@pytest.mark.parametrize(
    "known_scale", [0.0, 10.0]
)  # 0: row re-solved from history + clicks; else row + clicks
def test_a_known_users_fresh_clicks_move_their_list(known_scale):
    scorer = clustered_scorer(np.random.default_rng(4))
    fold = FoldIn(scorer, FoldInConfig(scale=3.0, known_scale=known_scale))
    history = np.array([0, 3, 6, 9, 12])  # cluster 0
    only_history = fold.user_repr([15], user_idx=1, history_idx=history)
    with_clicks = fold.user_repr([1, 4, 7, 10, 13, 16], user_idx=1, history_idx=history)  # cluster 1
    share = [
        np.mean(top_k(scorer.score_vector(r), 10, history) % 3 == 1) for r in (only_history, with_clicks)
    ]
    assert share[1] > share[0]


def test_a_known_user_keeps_the_trained_row_plus_the_clicks():
    scorer = clustered_scorer(np.random.default_rng(14))
    fold = FoldIn(scorer, FoldInConfig(known_scale=10.0))
    folded = fold.user_repr([1, 4], user_idx=2, history_idx=[0, 3, 6])
    alone = FoldIn(scorer, FoldInConfig(scale=10.0)).user_repr([1, 4])  # a new user's solve, same clicks
    np.testing.assert_allclose(folded - scorer.user_repr(2), alone, rtol=1e-5, atol=1e-6)


def test_mlp_gradient_matches_finite_differences():
    s = clustered_scorer(np.random.default_rng(5), with_mlp=True)
    g = np.random.default_rng(6).normal(size=N_ITEMS).astype(np.float32)
    u = np.array([0.3, -0.2], np.float32)

    def objective(x):  # g . mlp logits, whose gradient is what _mlp_user_gradient computes
        return float(g.astype(np.float64) @ (s.mlp_forward(x)[-1] @ s.mlp_out))

    eps = 1e-3
    numeric = [
        (objective(u + eps * e) - objective(u - eps * e)) / (2 * eps) for e in np.eye(2, dtype=np.float32)
    ]
    np.testing.assert_allclose(_mlp_user_gradient(s, s.mlp_forward(u), g), numeric, rtol=1e-2, atol=1e-3)


def test_softmax_steps_raise_the_clicked_items_likelihood_for_an_mlp_user():
    s = clustered_scorer(np.random.default_rng(7), with_mlp=True)
    clicks = np.array([1, 4, 7])

    def log_lik(r):
        logits = s.score_vector(r).astype(np.float64)
        return float((logits[clicks] - np.log(np.exp(logits).sum())).sum())

    folded = FoldIn(s, FoldInConfig(method="softmax", steps=20, learning_rate=0.5)).user_repr(clicks)
    assert log_lik(folded) > log_lik(s.mean_user_repr())


def test_event_count_must_match_clicks():
    with pytest.raises(ValueError, match="event types"):
        FoldIn(clustered_scorer(np.random.default_rng(8))).user_repr([1, 2], ["like"])


def test_an_mlp_only_model_needs_the_softmax_method():
    s = clustered_scorer(np.random.default_rng(9), with_mlp=True)
    mlp_only = FastScorer(**{**vars(s), "item_dot": np.zeros((N_ITEMS, 0), np.float32),
                             "user_dot": np.zeros((10, 0), np.float32)})  # fmt: skip
    with pytest.raises(ValueError, match="softmax"):
        FoldIn(mlp_only, FoldInConfig(method="ridge"))
    assert FoldIn(mlp_only, FoldInConfig(method="softmax")).user_repr([1, 4]).shape == (2,)


def popularity_on(scorer: FastScorer, cluster: int) -> tuple[np.ndarray, np.ndarray]:
    """A damped-popularity-like ranking (item indices, scores): the item bias, but favouring `cluster` more."""
    scores = scorer.item_bias + scorer.item_dot @ (
        np.eye(DIM)[cluster] * 0.5
    )  # cluster centres: 3 * e_cluster
    return np.arange(N_ITEMS), scores


def test_the_popularity_prior_is_the_given_ranking_as_a_user_vector():
    scorer = clustered_scorer(np.random.default_rng(10))
    idx, scores = popularity_on(scorer, cluster=1)
    prior = fit_popularity(
        scorer, np.concatenate([idx, [-1]]), np.concatenate([scores, [9.0]])
    )  # -1: ignored
    top = top_k(scorer.item_bias + scorer.item_dot @ prior, 10)
    assert np.mean(top % 3 == 1) == 1.0, top  # not cluster 0, which the item bias favours
    np.testing.assert_array_equal(fit_popularity(scorer, [-1], [1.0]), scorer.mean_user_repr()[:DIM])


def test_without_shrinkage_the_popularity_prior_changes_nothing():
    scorer = clustered_scorer(np.random.default_rng(11))
    fold = FoldIn(scorer, FoldInConfig(scale=3.0))
    with_prior = fold.with_popularity(*popularity_on(scorer, cluster=1))
    np.testing.assert_allclose(with_prior.user_repr([2, 5, 8]), fold.user_repr([2, 5, 8]))


def test_few_clicks_stay_near_popularity_and_more_clicks_move_further():
    scorer = clustered_scorer(np.random.default_rng(12))
    fold = FoldIn(scorer, FoldInConfig(scale=3.0, shrinkage=5.0)).with_popularity(*popularity_on(scorer, 1))

    def share_of_clicked_cluster(clicks):
        return np.mean(top_k(scorer.score_vector(fold.user_repr(clicks)), 10, clicks) % 3 == 2)

    one, many = [2], [2, 5, 8, 11, 14, 17, 20, 23]  # cluster 2
    assert share_of_clicked_cluster(one) < share_of_clicked_cluster(many) == 1.0
    far = FoldIn(scorer, FoldInConfig(scale=3.0, shrinkage=1e9)).with_popularity(*popularity_on(scorer, 1))
    np.testing.assert_allclose(far.user_repr(many)[:DIM], far.popular_repr, atol=1e-5)


def test_clicks_on_the_most_popular_movies_count_less():
    scorer = clustered_scorer(np.random.default_rng(13))
    idx, scores = popularity_on(scorer, cluster=1)
    fold = FoldIn(scorer, FoldInConfig(scale=3.0, shrinkage=5.0, popular_quantile=0.5)).with_popularity(
        idx, scores
    )
    ranked = idx[np.argsort(-scores, kind="stable")]
    top, tail = ranked[:3], ranked[-3:]

    def moved(clicks):
        return np.linalg.norm(fold.user_repr(clicks)[:DIM] - fold.popular_repr)

    assert moved(top) < 0.5 * moved(tail)


def test_offset_keeps_the_popularity_vector_and_adds_the_clicks_solve():
    """combine="offset": a new user's row is the popularity vector plus w * scale * solve (the known-user rule with
    popularity as the trained row); "shrink" gives the prior only (1 - w) of its weight."""
    scorer = clustered_scorer(np.random.default_rng(15))
    pop = popularity_on(scorer, cluster=1)
    clicks = [2, 5, 8]
    offset = FoldIn(scorer, FoldInConfig(scale=3.0, shrinkage=2.0, combine="offset")).with_popularity(*pop)
    shrink = FoldIn(scorer, FoldInConfig(scale=3.0, shrinkage=2.0)).with_popularity(*pop)
    w = 3 / (3 + 2.0)
    moved = offset.user_repr(clicks)[:DIM] - offset.popular_repr
    np.testing.assert_allclose(
        moved, shrink.user_repr(clicks)[:DIM] - (1 - w) * shrink.popular_repr, rtol=1e-5, atol=1e-6
    )
    assert np.linalg.norm(moved) > 0.1


@pytest.mark.parametrize("combine", ["shrink", "offset"])
def test_enough_clicks_move_a_new_user_to_the_clicked_cluster_under_either_combine(combine):
    """Six clicks in a cluster the prior disfavours turn (most of) the list to it, whatever the combine."""
    scorer = clustered_scorer(np.random.default_rng(16))
    fold = FoldIn(scorer, FoldInConfig(scale=3.0, shrinkage=1.0, combine=combine)).with_popularity(
        *popularity_on(scorer, cluster=1)
    )
    clicks = np.array([2, 5, 8, 11, 14, 17])  # cluster 2
    before = top_k(scorer.score_vector(fold.popular_repr), 10, clicks)  # the popularity prior alone
    after = top_k(scorer.score_vector(fold.user_repr(clicks)), 10, clicks)
    assert np.mean(before % 3 == 2) < 0.5 and np.mean(after % 3 == 2) >= 0.8, (before, after)


def test_an_unknown_combine_is_refused():
    with pytest.raises(ValueError, match="combine"):
        FoldIn(clustered_scorer(np.random.default_rng(17)), FoldInConfig(combine="blend"))


def test_the_service_builds_the_fold_in_from_its_settings():
    """Every foldin_* setting reaches the FoldInConfig the service applies (so the benchmark's config can be set)."""
    from pipelines.registry import foldin_config
    from pipelines.settings import Settings

    cfg = Settings(foldin_method="mean", foldin_scale=2.5, foldin_ridge_lambda=3.0, foldin_unobserved_weight=0.2,
                   foldin_shrinkage=4.0, foldin_combine="offset", foldin_popular_quantile=0.5,
                   foldin_known_scale=7.0, foldin_max_clicks=9)  # fmt: skip
    got = foldin_config(cfg)
    assert (got.method, got.scale, got.ridge_lambda, got.unobserved_weight, got.shrinkage, got.combine,
            got.popular_quantile, got.known_scale, got.max_clicks) == ("mean", 2.5, 3.0, 0.2, 4.0, "offset", 0.5,
                                                                       7.0, 9)  # fmt: skip


@pytest.mark.parametrize("dataset", ["ml-latest-small", "ml-100k"])
def test_the_service_serves_the_config_the_benchmark_chose_for_its_data_set(dataset, monkeypatch, tmp_path):
    """benchmarks/results/foldin.json records the config chosen on validation users per data set; Settings for
    that data set (field defaults or FOLDIN_PRESETS, no MOVIEREC_* overrides) must serve that same fold-in."""
    import json
    import os
    from dataclasses import asdict

    from pipelines.registry import foldin_config
    from pipelines.settings import PROJECT_ROOT, Settings

    for name in [n for n in os.environ if n.startswith("MOVIEREC_")]:
        monkeypatch.delenv(name)
    cfg = Settings(_env_file=None, dataset=dataset, var_dir=tmp_path)
    rows = json.loads((PROJECT_ROOT / "benchmarks" / "results" / "foldin.json").read_text())["rows"]
    chosen = {r["dataset"]: r for r in rows}[dataset]
    served = asdict(foldin_config(cfg))
    keys = (
        "method",
        "scale",
        "ridge_lambda",
        "unobserved_weight",
        "shrinkage",
        "combine",
        "popular_quantile",
    )
    assert {k: served[k] for k in keys} == {k: chosen["foldin_config"][k] for k in keys}
    assert served["known_scale"] == chosen["known_scale"]


def test_an_explicit_foldin_setting_wins_over_the_data_set_preset(monkeypatch, tmp_path):
    from pipelines.settings import Settings

    monkeypatch.setenv("MOVIEREC_FOLDIN_COMBINE", "shrink")
    cfg = Settings(_env_file=None, dataset="ml-100k", var_dir=tmp_path, foldin_scale=5.0)
    assert (cfg.foldin_combine, cfg.foldin_scale, cfg.foldin_shrinkage) == (
        "shrink",
        5.0,
        1.0,
    )  # rest: preset
