"""Good and bad click payloads for the SQL-fast-path vs parse_event parity tests (no Flink imports)."""

from __future__ import annotations

import json
import random
import time
import uuid

from pipelines.events import MAX_ID, ClickEvent
from tests.streaming.helpers import INVALID_PAYLOADS

SKEW_S = 300


def _canonical(**overrides) -> dict:
    event = ClickEvent(user_id=42, movie_id=1234, event="like", source="web")
    return {**json.loads(event.model_dump_json()), **overrides}


def _dump(obj, **kw) -> str:
    return json.dumps(obj, **kw)


def corpus(n_random: int = 300, seed: int = 7) -> list[str | None]:
    """Payloads covering the canonical producer output, every lax form pydantic accepts and many rejects.

    Timestamps are kept at least a minute away from now + SKEW_S so the two sides' clocks cannot disagree.
    """
    now = int(time.time() * 1000)
    rng = random.Random(seed)
    base = _canonical()
    cases: list[str | None] = [None, "", " ", "{}", "[]", "null", "1", '"x"', "{", "}"]
    cases += [p.decode(errors="replace") for p in INVALID_PAYLOADS]
    # the canonical form (what serving and loadgen write): the SQL fast path
    cases += [ClickEvent(user_id=1 + i, movie_id=1 + 7 * i, event=e).model_dump_json() for i, e in
              enumerate(("click", "like", "watch"))]  # fmt: skip
    cases += [
        _dump(base, separators=(",", ":")),
        _dump(base),
        _dump(base, indent=2),
        " \n" + _dump(base) + "\r\n\t",
    ]
    for name, values in {
        "schema_version": [0, 2, "1", 1.0, True, None, -1],
        "event_id": [str(uuid.uuid4()).upper(), uuid.uuid4().hex, f"{{{uuid.uuid4()}}}", f"urn:uuid:{uuid.uuid4()}",
                     "not-a-uuid", "", None, 12, str(uuid.uuid4())[:-1], str(uuid.uuid4()) + "0"],
        "user_id": [0, -1, 1, MAX_ID, MAX_ID + 1, 10**12, "3", " 3", "3.0", 3.0, 3.5, True, False, None, "x", [], {}],
        "movie_id": [0, 1, MAX_ID, MAX_ID + 1, "7", 7.0, 1e3, None],
        "event": ["click", "like", "watch", "CLICK", "Click", "purchase", "", None, 1],
        "ts": [0, -1, 1, now, now - 86_400_000, now + (SKEW_S - 60) * 1000, now + (SKEW_S + 60) * 1000,
               4_102_444_800_000, 10**15, 10**20, str(now), float(now), now + 0.5, None, "yesterday"],
        "request_id": [None, str(uuid.uuid4()), str(uuid.uuid4()).upper(), uuid.uuid4().hex, "", "null", "not-a-uuid",
                       12, str(uuid.uuid4())[:-1], f"{{{uuid.uuid4()}}}"],
        "source": ["web", "loadgen", "a", "x" * 64, "x" * 65, "", None, 3, "caf\u00e9", "we\"b", "we\\b", "\u2603" * 64,
                   "\u2603" * 65, "\U0001f600" * 64, "tab\there", "emoji\U0001f600", " ", "<script>"],
    }.items():  # fmt: skip
        for value in values:  # compact (the fast path's form) and with json.dumps' default spacing
            cases.append(_dump({**base, name: value}, separators=(",", ":")))
            cases.append(_dump({**base, name: value}, separators=(",", ":"), ensure_ascii=False))
            cases.append(_dump({**base, name: value}))
        missing = {k: v for k, v in base.items() if k != name}
        cases.append(_dump(missing, separators=(",", ":")))
    raw = _dump(base, separators=(",", ":"))
    # canonical with a request_id (what the service writes for a click on a recommendation), and the
    # pre-impression canonical form without the member (old producers): both on the fast path
    with_rid = ClickEvent(user_id=7, movie_id=70, request_id=uuid.uuid4()).model_dump_json()
    legacy = ClickEvent(user_id=8, movie_id=80).model_dump_json(exclude={"request_id"})
    cases += [
        with_rid,
        legacy,
        with_rid.replace('"request_id":"', '"request_id": "'),
        legacy[:-1] + ',"request_id":null}',
        with_rid[:-1] + ',"request_id":null}',
        with_rid.replace('"}', '"} '),
        legacy.replace("}", ',"request_id":}'),
    ]
    cases += [
        raw + "x", raw + "\u2028", raw + "\x0b", "\x0c" + raw, raw + "\n", raw + raw, raw[:-1], raw[:-1] + ',"extra":1}',
        raw[:-1] + ',"source":"dup"}', raw.replace('"event":"like"', '"event" : "like"'),
        raw.replace(":", ": ").replace(",", ", "), raw.replace("{", "{\u00a0"), raw.replace(",", ",\x0b"),
        _dump(dict(reversed(list(base.items())))), _dump({**base, "extra": None}), _dump([base]),
        raw.replace('"user_id":42', '"user_id":042'), raw.replace('"user_id":42', '"user_id":4.2e1'),
        raw.replace('"ts":', '"ts":-0'), raw.replace('"like"', '"l\\u0069ke"'), raw.replace('"web"', '"w\\u0065b"'),
    ]  # fmt: skip
    # random single-character mutations of canonical payloads
    alphabet = '{}[]":,0123456789-abcdefxyzABC \n\\.eE+'
    for _ in range(n_random):
        rid = uuid.UUID(int=rng.getrandbits(128), version=4) if rng.random() < 0.5 else None
        text = list(
            ClickEvent(
                user_id=rng.randint(1, 999), movie_id=rng.randint(1, 99_999), request_id=rid
            ).model_dump_json()
        )
        pos = rng.randrange(len(text))
        op = rng.choice(("replace", "insert", "delete"))
        if op == "replace":
            text[pos] = rng.choice(alphabet)
        elif op == "insert":
            text.insert(pos, rng.choice(alphabet))
        else:
            del text[pos]
        cases.append("".join(text))
    return cases


def has_random_defaults(payload: str | None) -> bool:
    """parse_event fills a missing event_id (uuid4) or ts (now): such payloads compare by decision only."""
    try:
        obj = json.loads(payload)
    except (TypeError, ValueError):
        return False
    return isinstance(obj, dict) and ("event_id" not in obj or "ts" not in obj)
