"""The event identity (source_id, source_line) end to end: generate → produce → consume, read back
with pyarrow and with duckdb. Replaying one input gives the same identities, another input different
ones, each landed row leads back to its input line, and the identity costs almost nothing to store."""
from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from helpers import run_clickstream


def generate(path: Path, events: int, seed: int) -> Path:
    result = run_clickstream("generate", "--events", events, "--seed", seed, "--output", path)
    assert result.returncode == 0, result.stderr
    return path


def produce(bootstrap: str, topic: str, source: Path | str, **kwargs) -> None:
    result = run_clickstream("produce", "-b", bootstrap, "-t", topic, "--no-progress", "--rate", "0",
                             "--partitions", "3", "--input", source, **kwargs)
    assert result.returncode == 0, result.stderr


def consume_to_idle(bootstrap: str, topic: str, output: Path) -> None:
    result = run_clickstream("consume", "-b", bootstrap, "-t", topic, "-g", f"{topic}-g", "-o", output,
                             "--exit-when-idle-ms", "3000", timeout=180)
    assert result.returncode == 0, result.stderr


def test_identity_is_stable_across_replays_distinct_across_inputs_and_traceable(broker, topic, tmp_path):
    first = generate(tmp_path / "first.csv", 3_000, seed=1)
    second = generate(tmp_path / "second.csv", 2_000, seed=2)
    # The same bytes under another name and through a pipe are the same input.
    copy = tmp_path / "copy-of-first.csv"
    shutil.copyfile(first, copy)
    produce(broker.bootstrap, topic, first)
    produce(broker.bootstrap, topic, "-", input=copy.read_text())
    produce(broker.bootstrap, topic, second)
    output = tmp_path / "landed"
    consume_to_idle(broker.bootstrap, topic, output)

    table = ds.dataset(str(output), format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 3_000 + 3_000 + 2_000
    counts = Counter(zip(table["source_id"].to_pylist(), table["source_line"].to_pylist()))
    by_source: dict[str, list[int]] = {}
    for (source_id, _), copies in counts.items():
        by_source.setdefault(source_id, []).append(copies)
    assert len(by_source) == 2, list(by_source)
    # The replayed input's 3,000 identities each landed twice; the other input's 2,000 once each.
    assert sorted((len(copies), set(copies)) for copies in by_source.values()) == [(2_000, {1}), (3_000, {2})]
    first_id = next(source for source, copies in by_source.items() if len(copies) == 3_000)

    # A row leads back to its line of the input (the generator writes one row per line).
    lines = first.read_text().splitlines()
    rows = table.filter(pc.equal(table["source_id"], first_id)).to_pylist()
    for row in rows[::97]:
        fields = lines[row["source_line"] - 1].split(",")
        assert fields[0] == row["timestamp"].strftime("%Y-%m-%d %H:%M:%S")
        assert (fields[1], fields[2], fields[3]) == (row["visitor_id"], row["event_type"], row["item_id"])

    # duckdb agrees, and deduplicating on the identity drops exactly the replay.
    total, distinct, sources = duckdb.sql(
        f"SELECT count(*), count(DISTINCT (source_id, source_line)), count(DISTINCT source_id) "
        f"FROM read_parquet('{output}/**/*.parquet')").fetchone()
    assert (total, distinct, sources) == (8_000, 5_000, 2)
    deduplicated = duckdb.sql(
        f"SELECT count(*) FROM (SELECT DISTINCT ON (source_id, source_line) * "
        f"FROM read_parquet('{output}/**/*.parquet', hive_partitioning=true))").fetchone()[0]
    assert deduplicated == 5_000


def test_each_column_is_written_with_the_encoding_the_schema_names(broker, topic, tmp_path):
    source = generate(tmp_path / "events.csv", 2_000, seed=3)
    produce(broker.bootstrap, topic, source)
    output = tmp_path / "landed"
    consume_to_idle(broker.bootstrap, topic, output)

    printed = json.loads(run_clickstream("schema").stdout)["columns"]
    expected = {column["name"]: column["encoding"] for column in printed}
    assert expected["source_id"] == "RLE_DICTIONARY" and expected["source_line"] == "DELTA_BINARY_PACKED"
    files = sorted(output.rglob("*.parquet"))
    assert files
    for path in files:
        metadata = pq.ParquetFile(path).metadata
        for row_group in range(metadata.num_row_groups):
            for index in range(metadata.num_columns):
                column = metadata.row_group(row_group).column(index)
                encodings = set(column.encodings)
                wanted = expected[column.path_in_schema]
                if wanted == "PLAIN":
                    assert "RLE_DICTIONARY" not in encodings and "PLAIN" in encodings, (path, column)
                else:
                    assert wanted in encodings, (path, column.path_in_schema, encodings)
