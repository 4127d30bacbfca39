"""Online A/B metrics: read what the Flink online job landed, total it per arm, test champion vs challenger.

Pure pandas/math (no Flink). The landed format (written by streaming.online_sql): JSON-lines part files under
`<online_metrics_dir>/dt=YYYY-MM-DD/` (dt = UTC date of window_start; same naming rules as the landed feedback,
see pipelines.landed.committed_files), one object per (tumbling window, model_name, model_version, variant,
strategy) with METRIC_FIELDS. `variant` is "champion" / "challenger" for attributed traffic and "unattributed"
for clicks that match no impression. ctr_at_10 = clicks_at_10 / impressions (clicks per impression on the top 10).
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from pipelines.landed import committed_files

if TYPE_CHECKING:
    import pandas as pd

    from pipelines.settings import Settings

METRIC_FIELDS = (
    "window_start", "window_end", "model_name", "model_version", "variant", "strategy", "impressions", "clicks",
    "clicks_at_10", "ctr_at_10", "mean_clicked_position",
)  # fmt: skip
METRIC_KEY = ("window_start", "model_version", "variant", "strategy")  # unique per landed row (PostgreSQL PK)
ARMS = ("champion", "challenger")
UNATTRIBUTED = "unattributed"


def read_online_metrics(settings: Settings, since_ms: int | None = None) -> pd.DataFrame:
    """Landed window rows with window_start >= since_ms (all when None), one per METRIC_KEY, by window_start."""
    import pandas as pd

    root = settings.online_metrics_dir
    rows: list[dict[str, Any]] = []
    for dt, names in committed_files(root).items():
        for name in names:
            for line in (root / f"dt={dt}" / name).read_text().splitlines():
                if line.strip():
                    rows.append(json.loads(line))
    df = pd.DataFrame(rows, columns=list(METRIC_FIELDS))
    if since_ms is not None:
        df = df[df["window_start"] >= since_ms]
    # a row is final once landed (exactly once per window); keep one per key should a file be copied twice
    df = df.drop_duplicates(subset=list(METRIC_KEY), keep="last")
    return df.sort_values(["window_start", "variant", "model_version", "strategy"], ignore_index=True)


def arm_totals(df: pd.DataFrame, versions: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """{arm: {impressions, clicks, clicks_at_10, ctr_at_10, model_versions}} for champion and challenger.

    `versions` ({arm: model_version}) keeps only that version's rows for an arm (e.g. after a promotion the
    champion arm changed version; compare the current pair only).
    """
    totals: dict[str, dict[str, Any]] = {}
    for arm in ARMS:
        rows = df[df["variant"] == arm]
        if versions and versions.get(arm):
            rows = rows[rows["model_version"] == versions[arm]]
        impressions = int(rows["impressions"].sum())
        clicks_at_10 = int(rows["clicks_at_10"].sum())
        totals[arm] = {
            "impressions": impressions,
            "clicks": int(rows["clicks"].sum()),
            "clicks_at_10": clicks_at_10,
            "ctr_at_10": clicks_at_10 / impressions if impressions else None,
            "model_versions": sorted(rows["model_version"].unique().tolist()),
        }
    return totals


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def compare_ctr(
    champion_clicks: int, champion_impressions: int, challenger_clicks: int, challenger_impressions: int
) -> dict[str, float]:
    """Two-proportion z-test (pooled), challenger - champion: {diff, z, p_value (two-sided)}.

    CTR here can exceed 1 (several clicks on one response); the pooled rate is capped at 1 for the variance.
    """
    if champion_impressions <= 0 or challenger_impressions <= 0:
        raise ValueError("both arms need impressions")
    p1 = champion_clicks / champion_impressions
    p2 = challenger_clicks / challenger_impressions
    diff = p2 - p1
    pooled = min((champion_clicks + challenger_clicks) / (champion_impressions + challenger_impressions), 1.0)
    se = math.sqrt(pooled * (1 - pooled) * (1 / champion_impressions + 1 / challenger_impressions))
    # no variance (both arms at 0% or at 100%): only the sign of the difference is left
    no_variance_z = 0.0 if diff == 0 else math.copysign(math.inf, diff)
    z = diff / se if se > 0 else no_variance_z
    p_value = 2 * (1 - _normal_cdf(abs(z))) if math.isfinite(z) else 0.0
    return {"diff": diff, "z": z, "p_value": max(0.0, min(1.0, p_value))}


def online_decision(settings: Settings, totals: dict[str, dict[str, Any]]) -> tuple[bool, str]:
    """promotion_policy == "online": promote the challenger when its CTR@10 beats the champion's by at least
    online_min_lift with p < online_significance and both arms have >= online_min_impressions impressions."""
    champ, chall = totals.get("champion") or {}, totals.get("challenger") or {}
    n1, n2 = int(champ.get("impressions", 0)), int(chall.get("impressions", 0))
    need = settings.online_min_impressions
    if n1 < need or n2 < need:
        return False, f"not enough impressions: champion {n1}, challenger {n2} (need {need} per arm)"
    k1, k2 = int(champ.get("clicks_at_10", 0)), int(chall.get("clicks_at_10", 0))
    test = compare_ctr(k1, n1, k2, n2)
    rates = f"CTR@10 challenger {k2 / n2:.4f} vs champion {k1 / n1:.4f} (diff {test['diff']:+.4f}, z {test['z']:.2f}, p {test['p_value']:.4g})"
    if test["diff"] < settings.online_min_lift or test["diff"] <= 0:
        return False, f"challenger does not beat the champion by >= {settings.online_min_lift}: {rates}"
    if test["p_value"] >= settings.online_significance:
        return False, f"not significant at {settings.online_significance}: {rates}"
    return True, f"challenger wins: {rates}"
