"""The online side of the promotion gate: the A/B evidence (attributed CTR@10 per arm, landed by the Flink online
job) logged next to the offline metrics, and the `online` promotion policy.

Which version was online: the `challenger` rows of the landed windows name it (the alias may already point at a
newer version, registered by this very run). Under `promotion_policy=online` the gate decides on that version:
it becomes champion when its CTR@10 beats the champion's (pipelines.online_metrics.online_decision); the version
this run registered stays `challenger` and is evaluated online next.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pipelines.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class OnlineEvidence:
    champion_version: str
    challenger_version: str | None
    totals: dict[str, dict[str, Any]] = field(default_factory=dict)
    test: dict[str, float] | None = None

    def metrics(self) -> dict[str, float]:
        """Flat MLflow metrics: online_<arm>_{impressions,clicks_at_10,ctr_at_10}, online_ctr_diff, online_p_value."""
        out: dict[str, float] = {}
        for arm, t in self.totals.items():
            out[f"online_{arm}_impressions"] = float(t["impressions"])
            out[f"online_{arm}_clicks_at_10"] = float(t["clicks_at_10"])
            if t["ctr_at_10"] is not None:
                out[f"online_{arm}_ctr_at_10"] = float(t["ctr_at_10"])
        if self.test is not None:
            out["online_ctr_diff"], out["online_p_value"] = self.test["diff"], self.test["p_value"]
        return out


def online_evidence(cfg: Settings, champion_version: str) -> OnlineEvidence:
    """Totals of the champion's rows and of the latest challenger version that was served against it."""
    from pipelines.online_metrics import arm_totals, compare_ctr, read_online_metrics

    rows = read_online_metrics(cfg)
    arm = rows[(rows["variant"] == "challenger") & (rows["model_version"].astype(str) != champion_version)]
    challenger = str(arm.sort_values("window_start")["model_version"].iloc[-1]) if len(arm) else None
    if challenger is None:
        return OnlineEvidence(champion_version, None)
    totals = arm_totals(
        rows.astype({"model_version": str}), {"champion": champion_version, "challenger": challenger}
    )
    champ, chall = totals["champion"], totals["challenger"]
    test = None
    if champ["impressions"] and chall["impressions"]:
        test = compare_ctr(
            champ["clicks_at_10"], champ["impressions"], chall["clicks_at_10"], chall["impressions"]
        )
    return OnlineEvidence(champion_version, challenger, totals, test)


def log_evidence(cfg: Settings, run_id: str, evidence: OnlineEvidence) -> None:
    """On this run (MLflow's compare view: offline and online side by side) and on both registered versions."""
    import mlflow

    from pipelines import registry

    metrics = evidence.metrics()
    if not metrics:
        return
    with mlflow.start_run(run_id=run_id):
        mlflow.log_metrics(metrics)
        mlflow.set_tags({"online.champion_version": evidence.champion_version,
                         "online.challenger_version": str(evidence.challenger_version)})  # fmt: skip
    client = registry.client()
    for arm, version in (
        ("champion", evidence.champion_version),
        ("challenger", evidence.challenger_version),
    ):
        totals = evidence.totals.get(arm) or {}
        if version is None or not totals:
            continue
        client.set_model_version_tag(
            cfg.model_name, version, "online.impressions", str(totals["impressions"])
        )
        client.set_model_version_tag(cfg.model_name, version, "online.ctr_at_10", str(totals["ctr_at_10"]))


def online_policy_decision(cfg: Settings, evidence: OnlineEvidence) -> tuple[bool, str]:
    """promotion_policy=online: promote the version that served the challenger arm, on its attributed CTR."""
    from pipelines.online_metrics import online_decision

    if evidence.challenger_version is None:
        return False, "online policy: no challenger has been served against the champion yet"
    promoted, reason = online_decision(cfg, evidence.totals)
    return (
        promoted,
        f"online policy, version {evidence.challenger_version} vs {evidence.champion_version}: {reason}",
    )
