"""Everything one serving replica holds: the champion, the click publisher, the recent-clicks state and their threads."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from pipelines import kafka_config
from pipelines.ab import Variant, variant_for
from pipelines.settings import Settings
from serving.catalog import CatalogSync
from serving.clicks import ClickPublisher
from serving.impressions import ImpressionPublisher
from serving.model_watch import ALIAS, ChampionHolder, ModelWatcher
from serving.recent_clicks import ClickTopicFollower, RecentClicks
from serving.topic_follower import TopicFollower
from serving.trending import TrendingState

CHALLENGER_ALIAS = "challenger"

log = logging.getLogger(__name__)


def registry_alias_version(settings: Settings, alias: str = ALIAS) -> str | None:
    """The version an alias points at (cheap; no artifacts are downloaded), None when unset."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    try:
        return str(client.get_model_version_by_alias(settings.model_name, alias).version)
    except MlflowException as exc:
        code = getattr(exc, "error_code", "")
        if code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE") or "not found" in str(exc).lower():
            return None
        raise


def load_champion(settings: Settings, alias: str = ALIAS) -> Any | None:
    from pipelines.registry import load_champion as _load

    return _load(settings, alias)


def impressions_dropped_metric():
    """A Prometheus counter on the service's /metrics (bentoml.metrics: multiprocess-safe), as a callback."""
    from bentoml import metrics

    counter = metrics.Counter(name="movierec_impressions_dropped", documentation="Impressions not published",
                              labelnames=["reason"])  # fmt: skip
    return lambda reason: counter.labels(reason=reason).inc()


@dataclass
class ServingRuntime:
    """Built once per worker process by the BentoML service; every HTTP handler reads from it."""

    settings: Settings
    holder: ChampionHolder = field(default_factory=ChampionHolder)
    challenger: ChampionHolder = field(default_factory=ChampionHolder)  # the A/B arm (`challenger` alias)
    recent: RecentClicks | None = None
    publisher: ClickPublisher | None = None
    follower: ClickTopicFollower | None = None
    watcher: ModelWatcher | None = None
    challenger_watcher: ModelWatcher | None = None
    catalog: CatalogSync | None = None
    impressions: ImpressionPublisher | None = None
    trending: TrendingState = field(default_factory=TrendingState)
    trending_follower: TopicFollower | None = None
    started_at: float = field(default_factory=time.time)

    @classmethod
    def start(cls, settings: Settings, with_kafka: bool = True, with_watcher: bool = True) -> ServingRuntime:
        """Load the champion (if any), connect to the broker, start the background threads."""
        # one BLAS thread per request: concurrent requests already share the cores (a multi-threaded matrix-vector
        # product per request oversubscribes them: throughput fell below a single thread's on 2 cores)
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1)
        rt = cls(settings=settings, catalog=CatalogSync(settings))
        rt.recent = RecentClicks(
            settings.recent_clicks_window_s, settings.recent_clicks_max_users, settings.recent_clicks_per_user
        )
        rt.watcher = ModelWatcher(
            rt.holder,
            champion_version=lambda: registry_alias_version(settings),
            load_champion=lambda: rt.catalog.apply(load_champion(settings)),
            interval_s=settings.model_poll_interval_s,
            refresh=lambda: rt.catalog.refresh(rt.holder),
        )
        rt.watcher.check_once()  # first load before we take traffic; fine when nothing is registered yet
        if settings.ab_challenger_fraction > 0:
            rt.challenger_watcher = ModelWatcher(
                rt.challenger,
                champion_version=lambda: registry_alias_version(settings, CHALLENGER_ALIAS),
                load_champion=rt.load_challenger,
                interval_s=settings.model_poll_interval_s,
                refresh=lambda: rt.catalog.refresh(rt.challenger),
            )
            rt.challenger_watcher.check_once()
        if with_watcher:
            for watcher in (rt.watcher, rt.challenger_watcher):
                if watcher is not None:
                    watcher.start()
        if with_kafka:
            rt.publisher = ClickPublisher(
                settings.kafka_bootstrap,
                settings.clicks_topic,
                settings.click_ack_timeout_s,
                settings.clicks_partitions,
            )
            rt.publisher.ensure_topic()
            rt.follower = ClickTopicFollower(settings.kafka_bootstrap, settings.clicks_topic, rt.recent)
            rt.follower.start()
            rt.start_online(settings)
        return rt

    def start_online(self, settings: Settings) -> None:
        """The impression publisher (unless `impressions_enabled` is off) and the trending follower (the online-evaluation
        half of the service)."""
        admin = kafka_config.admin(settings.kafka_bootstrap, **kafka_config.SERVICE_CLIENT)
        try:
            kafka_config.create_missing_topics(admin, {settings.impressions_topic: settings.impressions_partitions,
                                                       settings.trending_topic: 1}, timeout=5)  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - the broker may be down now: the producer retries
            log.warning("could not ensure the impressions/trending topics: %s", exc)
        if settings.impressions_enabled:
            self.impressions = ImpressionPublisher(settings.kafka_bootstrap, settings.impressions_topic,
                                                   settings.impression_buffer_max, on_drop=impressions_dropped_metric())  # fmt: skip
        self.trending_follower = TopicFollower(settings.kafka_bootstrap, settings.trending_topic, self.trending.apply,
                                               settings.trending_window_s * 1000, "trending-follower")  # fmt: skip
        self.trending_follower.start()

    def load_challenger(self) -> Any | None:
        """The `challenger` alias's model; the champion object itself when both aliases name one version (the
        usual state after a promotion), so a replica never holds two copies of the same model."""
        champion = self.holder.current
        version = registry_alias_version(self.settings, CHALLENGER_ALIAS)
        if champion is not None and version == str(champion.version):
            return champion
        return self.catalog.apply(load_champion(self.settings, CHALLENGER_ALIAS))

    def model_for(self, user_id: int | None) -> tuple[Any | None, Variant]:
        """(the model that serves this user, its A/B arm): the challenger for a stable share of users while the
        `challenger` alias points at a loaded version other than the champion's, the champion otherwise."""
        arm = variant_for(user_id, self.settings.ab_challenger_fraction, self.ab_active())
        return (self.challenger.current if arm == "challenger" else self.holder.current), arm

    def ab_active(self) -> bool:
        """True while the `challenger` alias names a loaded version other than the champion's."""
        champion, challenger = self.holder.current, self.challenger.current
        return challenger is not None and champion is not None and challenger.version != champion.version

    def readiness(self) -> tuple[bool, list[str]]:
        """(ready, reasons it is not): a champion is loaded and the broker answers."""
        reasons = []
        if self.holder.current is None:
            reasons.append(self.holder.last_error or "no champion model registered yet")
        if self.publisher is None:
            reasons.append("click publisher not started")
        else:
            ok, why = self.publisher.broker_status()
            if not ok:
                reasons.append(why or "broker unreachable")
            elif not self.publisher.ensure_topic():
                reasons.append(f"click topic {self.settings.clicks_topic} could not be created")
        return not reasons, reasons

    def stop(self) -> None:
        for part in (self.watcher, self.challenger_watcher, self.follower, self.trending_follower):
            if part is not None:
                part.stop()
        if self.publisher is not None:
            self.publisher.close()
        if self.impressions is not None:
            self.impressions.close()
