"""The A/B split is stable per user and near the configured fraction."""

from pipelines.ab import bucket, variant_for


def test_split_is_stable_and_near_the_fraction():
    users = range(1, 20_001)
    first = [variant_for(u, 0.1) for u in users]
    assert first == [variant_for(u, 0.1) for u in users]  # stable (no process-dependent hashing)
    share = first.count("challenger") / len(first)
    assert 0.09 < share < 0.11, share
    # a larger fraction keeps everyone already in the challenger arm there (buckets are fixed per user)
    assert all(
        variant_for(u, 0.3) == "challenger" for u, v in zip(users, first, strict=True) if v == "challenger"
    )
    # sequential ids do not land in blocks
    assert len({variant_for(u, 0.5) for u in range(1, 11)}) == 2


def test_split_is_off_without_a_distinct_challenger_or_for_anonymous_visitors():
    assert {variant_for(u, 0.5, challenger_available=False) for u in range(1, 500)} == {"champion"}
    assert {variant_for(u, 0.0) for u in range(1, 500)} == {"champion"}
    assert variant_for(None, 1.0) == "champion" and variant_for(7, 1.0) == "challenger"
    assert 0.0 <= bucket(1) < 1.0
