"""pipelines.online_metrics: the landed-row reader, per-arm totals, the z-test and the online promotion rule."""

from __future__ import annotations

import json
import math

import pytest

from pipelines.online_metrics import (
    METRIC_FIELDS,
    arm_totals,
    compare_ctr,
    online_decision,
    read_online_metrics,
)
from pipelines.settings import Settings

W = 60_000


def row(start: int, variant: str, version: str, impressions: int, at_10: int, strategy: str = "personalized"):
    values = [start, start + W, "movierec" if variant != "unattributed" else "", version, variant, strategy,
              impressions, at_10 + 1, at_10, at_10 / impressions if impressions else None, 2.0]  # fmt: skip
    return dict(zip(METRIC_FIELDS, values, strict=True))


def land(settings: Settings, dt: str, name: str, rows: list[dict]) -> None:
    folder = settings.online_metrics_dir / f"dt={dt}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_reader_skips_uncommitted_files_filters_by_watermark_and_sorts(tmp_path):
    s = Settings(var_dir=tmp_path / "var")
    assert read_online_metrics(s).empty and list(read_online_metrics(s).columns) == list(METRIC_FIELDS)
    land(
        s,
        "2023-11-14",
        "compacted-part-a-0-0",
        [row(2 * W, "challenger", "2", 10, 3), row(W, "champion", "1", 20, 4)],
    )
    land(s, "2023-11-14", ".part-b-0-1.inprogress", [row(3 * W, "champion", "1", 99, 9)])
    land(s, "2023-11-15", "compacted-part-c-0-0", [row(4 * W, "unattributed", "", 0, 0, "unknown_request")])
    df = read_online_metrics(s)
    assert df["window_start"].tolist() == [W, 2 * W, 4 * W]
    assert read_online_metrics(s, since_ms=2 * W)["window_start"].tolist() == [2 * W, 4 * W]


def test_arm_totals_sum_per_arm_and_can_pin_versions(tmp_path):
    s = Settings(var_dir=tmp_path / "var")
    land(s, "2023-11-14", "p", [row(W, "champion", "1", 20, 4), row(2 * W, "champion", "1", 30, 5),
                                 row(2 * W, "champion", "3", 5, 5), row(W, "challenger", "2", 10, 3),
                                 row(W, "unattributed", "", 0, 0, "no_impression")])  # fmt: skip
    totals = arm_totals(read_online_metrics(s))
    assert totals["champion"] == {"impressions": 55, "clicks": 17, "clicks_at_10": 14, "ctr_at_10": 14 / 55,
                                  "model_versions": ["1", "3"]}  # fmt: skip
    assert totals["challenger"]["impressions"] == 10 and totals["challenger"]["ctr_at_10"] == 0.3
    pinned = arm_totals(read_online_metrics(s), versions={"champion": "1"})
    assert pinned["champion"]["impressions"] == 50 and pinned["champion"]["model_versions"] == ["1"]


def test_compare_ctr_matches_a_hand_computed_z_test():
    # 100/1000 vs 130/1000: pooled 0.115, se = sqrt(.115 * .885 * 2/1000) = 0.014267, z = 2.1028, p = 0.03548
    result = compare_ctr(100, 1000, 130, 1000)
    assert result["diff"] == pytest.approx(0.03)
    assert result["z"] == pytest.approx(0.03 / math.sqrt(0.115 * 0.885 * 0.002))
    assert result["z"] == pytest.approx(2.1028, abs=1e-4)
    assert result["p_value"] == pytest.approx(0.03548, abs=1e-4)
    assert compare_ctr(130, 1000, 100, 1000)["z"] == pytest.approx(-result["z"])  # symmetric
    assert compare_ctr(50, 500, 50, 500) == {"diff": 0.0, "z": 0.0, "p_value": 1.0}
    assert compare_ctr(0, 10, 0, 10)["p_value"] == 1.0  # no variance, no difference
    assert compare_ctr(10, 10, 20, 20)["p_value"] == 1.0  # both at 100%: no variance, no difference
    assert compare_ctr(0, 10, 10, 10)["p_value"] < 1e-4  # nothing vs everything
    with pytest.raises(ValueError):
        compare_ctr(1, 0, 1, 10)


def totals(champ: tuple[int, int], chall: tuple[int, int]) -> dict:
    return {"champion": {"clicks_at_10": champ[0], "impressions": champ[1]},
            "challenger": {"clicks_at_10": chall[0], "impressions": chall[1]}}  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "champ", "chall", "promote", "why"),
    [
        ({}, (100, 1000), (130, 1000), True, "challenger wins"),
        ({}, (100, 1000), (130, 400), False, "not enough impressions"),
        ({}, (130, 1000), (100, 1000), False, "does not beat"),
        ({}, (100, 1000), (110, 1000), False, "not significant"),
        ({"online_significance": 0.01}, (100, 1000), (130, 1000), False, "not significant"),
        ({"online_min_lift": 0.05}, (100, 1000), (130, 1000), False, "does not beat the champion by >= 0.05"),
        ({"online_min_impressions": 10}, (1, 20), (15, 20), True, "challenger wins"),
    ],
)
def test_online_decision(tmp_path, overrides, champ, chall, promote, why):
    s = Settings(
        var_dir=tmp_path / "var", promotion_policy="online", **{"online_min_impressions": 500, **overrides}
    )
    decision, reason = online_decision(s, totals(champ, chall))
    assert decision is promote and why in reason, reason


def test_online_decision_without_a_challenger_arm(tmp_path):
    s = Settings(var_dir=tmp_path / "var", promotion_policy="online")
    decision, reason = online_decision(s, {"champion": {"impressions": 9999, "clicks_at_10": 10}})
    assert not decision and "challenger 0" in reason
