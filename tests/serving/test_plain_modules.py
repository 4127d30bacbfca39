"""Unit tests of the serving modules that need no model: click bodies, recent-clicks state, genres, the watcher."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from serving.model_watch import ChampionHolder, ModelWatcher
from serving.recent_clicks import RecentClicks
from serving.recommendations import NoChampion, UnknownGenres, build_recommendations, normalize_genres
from serving.schemas import click_event_from_body

NOW = 1_800_000_000_000


class TestClickBodies:
    def test_snake_case_body_gets_server_id_and_time(self):
        ev = click_event_from_body({"user_id": 3, "movie_id": 10, "event": "like"}, NOW, 300)
        assert (ev.user_id, ev.movie_id, ev.event, ev.ts, ev.source) == (3, 10, "like", NOW, "api")
        assert ev.event_id.version == 4
        assert ev.kafka_key() == b"3"

    def test_legacy_camel_case_body_converts_epoch_seconds(self):
        ev = click_event_from_body({"userId": 1, "movieId": 10, "timestamp": 1694582374}, NOW, 300)
        assert (ev.user_id, ev.movie_id, ev.event, ev.ts, ev.source) == (
            1,
            10,
            "click",
            1694582374000,
            "legacy-api",
        )

    def test_two_clicks_get_distinct_event_ids(self):
        a = click_event_from_body({"user_id": 1, "movie_id": 1}, NOW, 300)
        b = click_event_from_body({"user_id": 1, "movie_id": 1}, NOW, 300)
        assert a.event_id != b.event_id

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ({"user_id": "1", "movie_id": 1}, "user_id"),
            ({"user_id": 1.5, "movie_id": 1}, "user_id"),
            ({"user_id": True, "movie_id": 1}, "user_id"),
            ({"user_id": -1, "movie_id": 1}, "greater than or equal to 1"),
            ({"user_id": 1, "movie_id": 0}, "movie_id"),
            ({"user_id": 1, "movie_id": 2**31}, "movie_id"),
            ({"user_id": 1}, "movie_id: Field required"),
            ({"user_id": 1, "movie_id": 1, "event": "buy"}, "event"),
            ({"user_id": 1, "movie_id": 1, "extra": 1}, "extra"),
            ({"userId": 1, "movieId": "x"}, "movieId"),
            ({"userId": 1, "movie_id": 1}, "movieId"),
            ([1, 2], "JSON object"),
            ({"user_id": 1, "movie_id": 1, "ts": NOW + 3_600_000}, "in the future"),
        ],
    )
    def test_bad_bodies_raise_clear_value_errors(self, body, message):
        with pytest.raises(ValueError, match=message):
            click_event_from_body(body, NOW, 300)


class TestRecentClicks:
    def test_clicks_within_window_are_returned(self):
        state = RecentClicks(window_s=60, max_users=10, per_user=10, clock_ms=lambda: NOW)
        assert state.add(1, 10, NOW)
        assert state.add(1, 11, NOW - 59_000)
        assert not state.add(1, 12, NOW - 61_000)
        assert state.movies(1) == {10, 11}
        assert state.movies(2) == frozenset()

    def test_events_keep_their_type_oldest_first(self):
        state = RecentClicks(window_s=60, max_users=10, per_user=10, clock_ms=lambda: NOW)
        state.add(1, 10, NOW - 5_000, "like")
        state.add(1, 11, NOW - 4_000, "watch")
        state.add(1, 10, NOW, "click")  # the same movie again: newest event wins and moves last
        assert state.events(1) == [(11, "watch"), (10, "click")]

    def test_clicks_age_out_of_the_window(self):
        clock = [NOW]
        state = RecentClicks(window_s=60, max_users=10, per_user=10, clock_ms=lambda: clock[0])
        state.add(1, 10, NOW)
        clock[0] = NOW + 61_000
        assert state.movies(1) == frozenset()

    def test_per_user_bound_keeps_the_newest(self):
        state = RecentClicks(window_s=3600, max_users=10, per_user=3, clock_ms=lambda: NOW)
        for movie in range(1, 6):
            state.add(7, movie, NOW - 10_000 + movie)
        state.add(7, 3, NOW)  # a repeated click refreshes the movie
        assert state.movies(7) == {3, 4, 5}

    def test_user_bound_evicts_least_recently_clicked_user(self):
        state = RecentClicks(window_s=3600, max_users=2, per_user=5, clock_ms=lambda: NOW)
        state.add(1, 10, NOW)
        state.add(2, 20, NOW)
        state.add(1, 11, NOW)  # user 1 is now the most recent
        state.add(3, 30, NOW)
        assert state.movies(2) == frozenset()
        assert state.movies(1) == {10, 11} and state.movies(3) == {30}
        assert state.stats()["users"] == 2


def test_normalize_genres_is_case_insensitive_and_splits_commas():
    known = {"Comedy", "Drama", "Sci-Fi"}
    assert normalize_genres(["comedy,sci-fi", " Drama "], known) == ["Comedy", "Sci-Fi", "Drama"]
    assert normalize_genres(None, known) is None
    assert normalize_genres([" , "], known) is None
    with pytest.raises(UnknownGenres, match="Westerns"):
        normalize_genres(["Westerns"], known)


def test_recommend_without_champion_says_so():
    with pytest.raises(NoChampion, match="no champion model registered yet"):
        build_recommendations(None, 1, 10)


class TestModelWatcher:
    @staticmethod
    def fake_champion(version: str):
        recommender = SimpleNamespace(
            cold_start=lambda k, **_: [], top_k=lambda u, k, **_: [], maps=SimpleNamespace(user_ids=[5])
        )
        return SimpleNamespace(model_name="m", version=version, recommender=recommender)

    def test_swaps_when_the_alias_moves_and_not_before(self):
        holder, registry = ChampionHolder(), {"version": "1"}
        watcher = ModelWatcher(
            holder, lambda: registry["version"], lambda: self.fake_champion(registry["version"]), 1
        )
        assert watcher.check_once() and holder.version == "1"
        assert not watcher.check_once() and holder.swaps == 1
        registry["version"] = "2"
        assert watcher.check_once() and holder.version == "2" and holder.swaps == 2

    def test_failed_load_keeps_the_old_model_and_says_why(self):
        holder = ChampionHolder()
        holder.swap(self.fake_champion("1"))

        def broken():
            raise OSError("artifact missing")

        watcher = ModelWatcher(holder, lambda: "2", broken, 1)
        assert not watcher.check_once()
        assert holder.version == "1"
        assert "version 2" in holder.last_error and "artifact missing" in holder.last_error

    def test_registry_outage_keeps_the_old_model(self):
        holder = ChampionHolder()
        holder.swap(self.fake_champion("1"))

        def down():
            raise ConnectionError("registry down")

        watcher = ModelWatcher(holder, down, lambda: self.fake_champion("9"), 1)
        assert not watcher.check_once()
        assert holder.version == "1" and "registry down" in holder.last_error

    def test_no_champion_registered_is_not_an_error(self):
        holder = ChampionHolder()
        watcher = ModelWatcher(holder, lambda: None, lambda: pytest.fail("must not load"), 1)
        assert not watcher.check_once()
        assert holder.current is None and holder.last_error is None

    def test_background_thread_picks_up_a_promotion(self):
        holder, registry = ChampionHolder(), {"version": "1"}
        watcher = ModelWatcher(
            holder, lambda: registry["version"], lambda: self.fake_champion(registry["version"]), 0.05
        )
        watcher.check_once()
        watcher.start()
        try:
            registry["version"] = "3"
            deadline = time.monotonic() + 2
            while holder.version != "3" and time.monotonic() < deadline:
                time.sleep(0.02)
            assert holder.version == "3"
        finally:
            watcher.stop()
