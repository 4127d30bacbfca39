"""Run the job's real validation stage (streaming.landing_graph.register_checked) over a payload corpus in PyFlink.

Flink env only: `.venvs/flink/bin/python -m tests.streaming.flink_parity <corpus.json> <out.json>`.
Writes one [index, ok, reason, schema_version, event_id, user_id, movie_id, event, ts, source, request_id] per payload.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from streaming.flink_config import table_env
from streaming.java import java_home
from streaming.landing_graph import register_checked


def main(corpus_file: str, out_file: str, skew_s: int) -> None:
    os.environ.setdefault("JAVA_HOME", java_home())
    os.environ.setdefault("JVM_ARGS", "-Xmx512m")
    from pyflink.table import DataTypes

    payloads = json.loads(Path(corpus_file).read_text())
    t_env = table_env({"python.executable": sys.executable, "python.client.executable": sys.executable,
                           "parallelism.default": "1", "table.local-time-zone": "UTC",
                           "restart-strategy.type": "none"})  # fmt: skip
    schema = DataTypes.ROW([DataTypes.FIELD("payload", DataTypes.STRING()),
                            DataTypes.FIELD("kafka_partition", DataTypes.INT()),
                            DataTypes.FIELD("kafka_offset", DataTypes.BIGINT())])  # fmt: skip
    t_env.create_temporary_view(
        "corpus", t_env.from_elements([(p, 0, i) for i, p in enumerate(payloads)], schema)
    )
    register_checked(t_env, "corpus", skew_s)
    table = t_env.sql_query(
        "SELECT kafka_offset, ok, reason, schema_version, event_id, user_id, movie_id, event, ts, source, request_id "
        "FROM checked"
    )
    with table.execute().collect() as results:
        rows = [list(row) for row in results]
    Path(out_file).write_text(json.dumps(rows))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
