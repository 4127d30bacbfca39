"""The simulated population: held-out tastes, the click model, balanced arms, and the history as a data set."""

import random
from collections import Counter

import pandas as pd
import pytest

from pipelines.ab import variant_for
from pipelines.data import load_movielens
from pipelines.population import ClickModel, arm_users, build_population, request_plan, write_history
from tests.helpers import FIXTURE_DATA_ROOT


def ratings_frame(rows: list[tuple[int, int, float, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])


def test_latest_quarter_is_held_out_and_its_good_ratings_are_the_liked_set():
    # user 1: 8 ratings -> the latest 2 held out (t=7, t=8), both >= 4 and known to the history through user 2
    rows = [(1, m, 3.0, t) for t, m in enumerate(range(10, 16), start=1)] + [(1, 20, 5.0, 8), (1, 21, 4.0, 7)]
    rows += [
        (2, 20, 1.0, 1),
        (2, 21, 1.0, 2),
        (2, 22, 2.0, 3),
        (2, 23, 5.0, 4),
    ]  # user 2: 1 held out (23: unknown)
    pop = build_population(ratings_frame(rows), holdout_share=0.25, min_liked=1)
    assert pop.liked == {
        1: frozenset({20, 21})
    }  # user 2's only liked movie was rated by nobody else: unknowable
    history = set(zip(pop.history.user_id, pop.history.item_id, strict=True))
    assert (1, 20) not in history and (1, 21) not in history and (1, 15) in history and (2, 23) not in history
    assert len(pop.history) == len(rows) - 3
    assert build_population(ratings_frame(rows), min_liked=3).liked == {}


def test_every_user_keeps_a_rating_in_the_history():
    rows = [(u, 100 + u, 5.0, 1) for u in range(1, 6)]  # one rating each: nothing can be held out
    pop = build_population(ratings_frame(rows), holdout_share=0.9, min_liked=1)
    assert len(pop.history) == 5 and pop.liked == {}
    with pytest.raises(ValueError, match="holdout_share"):
        build_population(ratings_frame(rows), holdout_share=1.0)


def test_click_model_clicks_liked_movies_near_the_top_far_more_often():
    model = ClickModel(liked_top=0.6, decay=0.5, base_rate=0.01)
    assert model.probability(1, True) == 0.6 and model.probability(3, True) == pytest.approx(0.15)
    assert model.probability(1, False) == model.probability(10, False) == 0.01
    items, liked = list(range(1, 13)), frozenset({1, 11})  # 11 is beyond the top 10: never clicked
    assert model.expected_clicks(items, liked) == pytest.approx(0.6 + 9 * 0.01)
    rng = random.Random(3)
    draws = [model.clicks(items, liked, rng) for _ in range(4000)]
    counts = Counter(m for clicked in draws for m in clicked)
    assert 11 not in counts and 12 not in counts
    assert counts[1] / 4000 == pytest.approx(0.6, abs=0.03) and counts[2] / 4000 == pytest.approx(
        0.01, abs=0.01
    )
    assert model.clicks(items, liked, random.Random(5)) == model.clicks(items, liked, random.Random(5))


def test_arms_have_as_many_users_each_and_follow_the_service_split():
    users = list(range(1, 2001))
    arms = arm_users(users, 0.1, seed=1)
    assert len(arms["champion"]) == len(arms["challenger"]) > 150  # the small arm sets the size
    for arm, members in arms.items():
        assert all(variant_for(u, 0.1) == arm for u in members)
    assert arms == arm_users(users, 0.1, seed=1)


def test_request_plan_alternates_arms_and_visits_users_evenly():
    arms = {"champion": [1, 2, 3], "challenger": [7, 8, 9]}
    plan = request_plan(arms, 20, seed=2)
    assert len(plan) == 20
    assert all(u in arms["champion"] for u in plan[0::2]) and all(u in arms["challenger"] for u in plan[1::2])
    visits = Counter(plan)
    assert max(visits.values()) - min(visits.values()) <= 1
    with pytest.raises(ValueError, match="both arms"):
        request_plan({"champion": [1], "challenger": []}, 10)


def test_history_round_trips_through_the_data_loader(tmp_path):
    data = load_movielens(FIXTURE_DATA_ROOT, "ml-latest-small")
    pop = build_population(data.ratings)
    write_history(pop.history, data.movies, tmp_path / "synthetic-history")
    again = load_movielens(tmp_path, "synthetic-history")
    pd.testing.assert_frame_equal(again.ratings, pop.history)
    pd.testing.assert_frame_equal(again.movies, data.movies)
