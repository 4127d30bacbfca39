"""The SQL fast path of the validation stage: canonical click payloads decided in Flink SQL (JVM, no Python).

The canonical payload (exactly what ClickEvent.to_json_bytes() / model_dump_json() writes: compact JSON, every
field in declaration order, canonical values) is recognised by one regular expression and converted in Flink
SQL (JVM, no Python). Anything else (whitespace, another key order, lax forms pydantic coerces such as "3" or
true for an int, an upper-case UUID, escapes, missing fields with defaults, 10-digit ids, ...) and every
invalid payload goes to the Python fallback, i.e. parse_event itself. The fast path accepts a strict subset
of what parse_event accepts, with the same normalised values; the only rule it decides itself is the
future-ts check, with parse_event's reason text. The regex is derived from ClickEvent, so the schema stays
the single source of truth; tests/streaming/test_validation_parity.py runs a good/bad corpus through this SQL
(in Flink) and through parse_event and asserts identical decisions, reasons and values.
"""

from __future__ import annotations

import re
import typing
import uuid

from pipelines.events import ClickEvent, future_ts_reason
from pipelines.watermark_ticks import sql_is_tick

_END = r"(?![\s\S])"  # absolute end of input in both Java and Python regex ($ allows a final line terminator)
_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # str(uuid.UUID) form only
_SAFE_CHAR = (
    r"[\x20\x21\x23-\x5b\x5d-\x7e]"  # printable ASCII but '"' and '\': no escapes, 1 char = 1 code point
)
_ID_DIGITS = 9  # 1..999,999,999 always <= MAX_ID; 10-digit ids take the fallback
_TS_DIGITS = 13  # epoch ms up to year 2286; longer values are in the future anyway (-> fallback -> rejected)


def _field_constraint(name: str, kind: str) -> int:
    """A ge/le/min_length/max_length constraint of a ClickEvent field (KeyError if the schema lost it)."""
    for meta in ClickEvent.model_fields[name].metadata:
        if hasattr(meta, kind):
            return getattr(meta, kind)
    raise KeyError(f"ClickEvent.{name} has no {kind} constraint")


def fast_path_spec() -> dict[str, typing.Any]:
    """The canonical payload as a regex, and where each value sits once the payload is split on '"'.

    No value the regex admits contains '"', so splitting a matching payload on '"' yields fixed tokens:
    strings are whole tokens, numbers are tokens like ':42,' (':' before and ',' after the digits).
    The trailing optional `request_id` is `null`, a canonical UUID or absent (the pre-impression form): its
    name token is followed by ':' and the UUID when set, by ':null}' when null (see OPTIONAL_TAIL).
    """
    fields = list(ClickEvent.model_fields)
    expected = ["schema_version", "event_id", "user_id", "movie_id", "event", "ts", "source", "request_id"]
    if fields != expected:  # a new or reordered field: the generator below must be taught about it
        raise RuntimeError(f"ClickEvent fields changed ({fields}); update streaming.fast_path.fast_path_spec")
    request_id = ClickEvent.model_fields["request_id"]
    if request_id.default is not None or set(typing.get_args(request_id.annotation)) != {
        uuid.UUID,
        type(None),
    }:
        raise RuntimeError("ClickEvent.request_id changed; update streaming.fast_path.fast_path_spec")
    (version,) = typing.get_args(ClickEvent.model_fields["schema_version"].annotation)
    events = typing.get_args(ClickEvent.model_fields["event"].annotation)
    for name in ("user_id", "movie_id"):
        if _field_constraint(name, "ge") != 1 or _field_constraint(name, "le") < 10**_ID_DIGITS - 1:
            raise RuntimeError(f"ClickEvent.{name} range changed; update streaming.fast_path.fast_path_spec")
    if _field_constraint("ts", "ge") != 0 or _field_constraint("source", "min_length") != 1:
        raise RuntimeError(
            "ClickEvent ts/source constraints changed; update streaming.fast_path.fast_path_spec"
        )
    strings = {
        "event_id": _UUID,
        "event": "(?:" + "|".join(re.escape(e) for e in events) + ")",
        "source": f"{_SAFE_CHAR}{{1,{_field_constraint('source', 'max_length')}}}",
    }
    numbers = {
        "schema_version": re.escape(str(version)),
        "user_id": f"[1-9][0-9]{{0,{_ID_DIGITS - 1}}}",
        "movie_id": f"[1-9][0-9]{{0,{_ID_DIGITS - 1}}}",
        "ts": f"(?:0|[1-9][0-9]{{0,{_TS_DIGITS - 1}}})",
    }
    required = fields[:-1]
    members, tokens, position = [], {}, 0  # token 0 is '{'
    for name in required:
        if name in strings:  # "name":"value" -> tokens: name, ':', value, then ',' or '}'
            members.append(f'"{name}":"{strings[name]}"')
            tokens[name] = ("string", position + 3)
            position += 4
        else:  # "name":123, -> tokens: name, ':123,'
            members.append(f'"{name}":{numbers[name]}')
            tokens[name] = ("number", position + 2)
            position += 2
    if required[-1] not in strings:
        raise RuntimeError(
            "the last required field must be a string; update streaming.fast_path.fast_path_spec"
        )
    # ,"request_id":null} -> tokens: request_id, ':null}'; ,"request_id":"<uuid>"} -> request_id, ':', uuid, '}'
    tail = f'(?:,"request_id":(?:null|"{_UUID}"))?'
    tokens["request_id"] = ("optional_string", position + 1)
    regex = "^\\{" + ",".join(members) + tail + "\\}" + _END
    return {"regex": regex, "tokens": tokens, "schema_version": version}


def split_fast_payload(payload: str) -> dict[str, str]:
    """Python twin of the SQL extraction (SPLIT_INDEX on '"'), for tests: {field: text of its value}."""
    parts = payload.split('"')
    values = {}
    for name, (kind, i) in fast_path_spec()["tokens"].items():
        if kind == "string":
            values[name] = parts[i]
        elif kind == "number":
            values[name] = parts[i][1:].replace(",", "")
        else:  # optional_string: present only when its name token is followed by ':' (then the value)
            values[name] = parts[i + 2] if len(parts) > i + 2 and parts[i + 1] == ":" else None
    return values


_TS_MARK = "\x00ts\x00"  # placeholder for the row's ts in the reason template


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def fast_path_sql(source: str, skew_s: int, carry: tuple[str, ...] = (), prefix: str = "") -> dict[str, str]:
    """CREATE VIEW statements: `fast_checked` (canonical payloads, decided in SQL) and `slow_input` (the rest, but
    watermark ticks: pipelines.watermark_ticks; they are no clicks and never reach a sink or the dead-letter topic).

    `carry`: further columns of `source` passed through unchanged (e.g. the online job's rowtime attribute);
    `prefix`: prepended to every view name (a second validation stage in the same job).

    `is_fast` is deterministic (one REGEXP), so the two views are exact complements even though each evaluates
    it; the clock is read once per row, inside fast_checked. Values are cut out with SPLIT_INDEX (cheap) rather
    than one REGEXP_EXTRACT per field.
    """
    spec = fast_path_spec()
    is_fast = f"COALESCE(REGEXP(payload, {_sql_str(spec['regex'])}), FALSE)"

    def value(name: str) -> str:
        kind, i = spec["tokens"][name]
        token = f"SPLIT_INDEX(payload, '\"', {i})"
        if kind == "optional_string":  # the value follows a ':' token, else it is null or absent
            return f"CASE WHEN SPLIT_INDEX(payload, '\"', {i + 1}) = ':' THEN SPLIT_INDEX(payload, '\"', {i + 2}) END"
        return token if kind == "string" else f"REPLACE(SUBSTRING({token} FROM 2), ',', '')"

    extra = "".join(f", {c}" for c in carry)
    p = prefix

    # pipelines.events.latest_allowed_ts in SQL (now + skew), and future_ts_reason with the row's ts spliced in
    in_future = f"TO_TIMESTAMP_LTZ(ts, 3) > TIMESTAMPADD(SECOND, {int(skew_s)}, CURRENT_ROW_TIMESTAMP())"
    future_reason = _sql_str(future_ts_reason(_TS_MARK, int(skew_s))).replace(
        _TS_MARK, "' || CAST(ts AS STRING) || '"
    )
    return {
        "fast_fields": f"""CREATE TEMPORARY VIEW {p}fast_fields AS
            SELECT payload, kafka_partition, kafka_offset, CAST({spec["schema_version"]} AS INT) AS schema_version,
                {value("event_id")} AS event_id, CAST({value("user_id")} AS BIGINT) AS user_id,
                CAST({value("movie_id")} AS BIGINT) AS movie_id, {value("event")} AS event,
                CAST({value("ts")} AS BIGINT) AS ts, {value("source")} AS source,
                {value("request_id")} AS request_id{extra}
            FROM {source} WHERE {is_fast}""",
        "fast_checked": f"""CREATE TEMPORARY VIEW {p}fast_checked AS
            SELECT payload, kafka_partition, kafka_offset, ok,
                CASE WHEN ok THEN CAST(NULL AS STRING) ELSE {future_reason} END AS reason,
                UNIX_TIMESTAMP() * 1000 AS checked_at, schema_version, event_id, user_id, movie_id, event, ts, source,
                request_id{extra}
            FROM (SELECT *, NOT ({in_future}) AS ok FROM {p}fast_fields)""",
        "slow_input": f"""CREATE TEMPORARY VIEW {p}slow_input AS
            SELECT payload, kafka_partition, kafka_offset{extra} FROM {source}
            WHERE NOT {is_fast} AND NOT {sql_is_tick()}""",
    }
