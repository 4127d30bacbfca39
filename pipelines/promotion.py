"""The promotion gate: re-score the champion on the challenger's split, decide, move the alias, log why."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipelines.online_gate import log_evidence, online_evidence, online_policy_decision
from pipelines.run_store import RunStore
from pipelines.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class GateDecision:
    promoted: bool
    reason: str
    metric: str
    challenger_version: str
    challenger_value: float
    champion_version: str | None = None
    champion_value: float | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def decide(metric: str, challenger_value: float, champion_value: float | None, margin: float,
           force: bool = False) -> tuple[bool, str]:  # fmt: skip
    """The gate rule alone (pure, unit-tested): promote the first model, a forced one, or a clear winner."""
    if champion_value is None:
        return True, "no champion yet: first model is promoted"
    if force:
        return True, f"force_promote: {metric} {challenger_value:.4f} vs champion {champion_value:.4f}"
    if challenger_value > champion_value + margin:
        return (
            True,
            f"{metric} {challenger_value:.4f} beats champion {champion_value:.4f} by more than {margin}",
        )
    return (
        False,
        f"{metric} {challenger_value:.4f} does not beat champion {champion_value:.4f} by more than {margin}",
    )


class TranslatedScorer:
    """Scores the challenger's index space with another model: ids unknown to that model score -inf."""

    def __init__(self, recommender: Any, maps: Any):
        self.scorer = recommender.scorer
        self.user_map = recommender.maps.user_index(maps.user_ids)
        self.item_map = recommender.maps.item_index(maps.item_ids)

    def score_users(self, users: np.ndarray) -> np.ndarray:
        """Whole catalog rows in the challenger's item order (-inf for items the champion lacks)."""
        u = self.user_map[np.asarray(users)]
        out = np.full((len(u), len(self.item_map)), -np.inf, dtype=np.float64)
        known_users, known_items = u >= 0, self.item_map >= 0
        if known_users.any() and hasattr(self.scorer, "score_users"):
            rows = np.asarray(self.scorer.score_users(u[known_users]), dtype=np.float64)
            out[np.ix_(known_users, known_items)] = rows[:, self.item_map[known_items]]
        elif known_users.any():
            items = np.arange(len(self.item_map))
            pairs = self.score(np.repeat(users, len(items)), np.tile(items, len(users)))
            return np.asarray(pairs, dtype=np.float64).reshape(len(users), len(items))
        return out

    def score(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        u, i = self.user_map[users], self.item_map[items]
        ok = (u >= 0) & (i >= 0)
        out = np.full(len(users), -np.inf, dtype=np.float32)
        if ok.any():
            out[ok] = self.scorer.score(u[ok], i[ok])
        return out


def guardrail_violations(
    cfg: Settings, challenger: dict[str, float], champion: dict[str, float]
) -> list[str]:
    """Beyond-accuracy limits a challenger must respect relative to the champion on the same split (pure)."""
    k, out = cfg.top_k, []
    coverage = f"coverage_at_{k}"
    if cfg.guardrail_min_coverage_ratio is not None and coverage in challenger and coverage in champion:
        floor = cfg.guardrail_min_coverage_ratio * champion[coverage]
        if challenger[coverage] < floor:
            out.append(
                f"{coverage} {challenger[coverage]:.4f} is below {cfg.guardrail_min_coverage_ratio:g} x the "
                f"champion's {champion[coverage]:.4f}"
            )
    bias = f"popularity_bias_at_{k}"
    if cfg.guardrail_max_popularity_ratio is not None and bias in challenger and bias in champion:
        ceiling = cfg.guardrail_max_popularity_ratio * champion[bias]
        if challenger[bias] > ceiling:
            out.append(
                f"{bias} {challenger[bias]:.4f} is above {cfg.guardrail_max_popularity_ratio:g} x the "
                f"champion's {champion[bias]:.4f}"
            )
    return out


def champion_on_split(cfg: Settings, store: RunStore, champion: Any) -> tuple[dict[str, float], str]:
    """Re-score the current champion on the challenger's held-out split with the same evaluation (a fair comparison).

    Falls back to the champion's own logged metrics if its model cannot be loaded.
    """
    from pipelines import registry
    from pipelines.evaluate import evaluate, options_for

    try:
        loaded = registry.load_version(cfg, champion)
        split, maps = store.split()
        options = options_for(cfg, store.movies(), maps.item_ids)
        scorer = TranslatedScorer(loaded.recommender, maps)
        values = evaluate(scorer, split, maps.n_users, maps.n_items, cfg.top_k, options)
        return values, "re-evaluated on the challenger's split"
    except Exception as exc:  # noqa: BLE001 - the gate must still decide; the reason is recorded
        log.warning("could not re-evaluate champion %s (%s); using its logged metric", champion.version, exc)
        logged = dict(registry.client().get_run(champion.run_id).data.metrics)
        logged.setdefault(cfg.promotion_metric, float("-inf"))
        return logged, "champion's logged metrics"


def gate(cfg: Settings, store: RunStore, force: bool) -> GateDecision:
    """Decide for this run's registered version; move `champion` when it wins; log the decision on its run."""
    from pipelines import registry

    registry.configure(cfg)
    reg = store.read_json("register.json")
    metric = cfg.promotion_metric
    challenger = {k: float(v) for k, v in store.read_json("metrics.json").items()}
    champion = registry.get_alias_version(cfg, registry.CHAMPION)
    if champion is not None and str(champion.version) == reg["version"]:
        return GateDecision(True, "already champion", metric, reg["version"], challenger[metric], reg["version"],
                            challenger[metric])  # fmt: skip
    champion_metrics, basis = champion_on_split(cfg, store, champion) if champion is not None else ({}, None)
    champion_value = champion_metrics.get(metric) if champion is not None else None
    promoted, reason = decide(metric, challenger[metric], champion_value, cfg.promotion_margin, force)
    violations = guardrail_violations(cfg, challenger, champion_metrics) if champion is not None else []
    if promoted and violations and not force:
        promoted, reason = False, f"{reason}, but a guardrail refuses it: {'; '.join(violations)}"
    target, challenger_value = reg["version"], challenger[metric]
    extra: dict[str, Any] = {"champion_metric_basis": basis, "guardrail_violations": violations,
                             "policy": cfg.promotion_policy}  # fmt: skip
    evidence = online_evidence(cfg, str(champion.version)) if champion is not None else None
    if evidence is not None:
        extra["online"] = {**evidence.metrics(), "challenger_version": evidence.challenger_version}
        if cfg.promotion_policy == "online" and not force:
            extra["offline_decision"] = reason
            promoted, reason = online_policy_decision(cfg, evidence)
            target = evidence.challenger_version or reg["version"]
            reason += f"; this run's version {reg['version']} is the challenger now"
            metric = "online_ctr_at_10"
            arms = {
                arm: (evidence.totals.get(arm) or {}).get("ctr_at_10") for arm in ("champion", "challenger")
            }
            challenger_value = float("nan") if arms["challenger"] is None else arms["challenger"]
            champion_value = arms["champion"]
    if promoted:
        registry.client().set_registered_model_alias(cfg.model_name, registry.CHAMPION, target)
    decision = GateDecision(promoted, reason, metric, target, challenger_value,
                            None if champion is None else str(champion.version), champion_value, extra)  # fmt: skip
    registry.log_decision(reg["run_id"], decision.to_dict(), champion_metrics)
    if evidence is not None:
        log_evidence(cfg, reg["run_id"], evidence)
    log.info("promotion decision for version %s: %s (%s)", reg["version"], "PROMOTED" if promoted else "kept champion",
             reason)  # fmt: skip
    return decision
