"""Independent readers of the Delta tables `consume --format delta` writes, none of them ours:
delta-rs (PyPI deltalake), DuckDB's delta extension (loaded from its wheel, offline) and Polars;
and a log validator written here from the protocol, that replays the JSON commits itself."""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote

import duckdb
import duckdb_extension_delta
import polars as pl
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable

DELTA_EXTENSION = (Path(duckdb_extension_delta.__file__).parent / "extensions" / f"v{duckdb.__version__}"
                   / "delta.duckdb_extension")


def duckdb_with_delta() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute(f"LOAD '{DELTA_EXTENSION}'")
    return connection


def identities_by_reader(table: Path) -> dict[str, list[str]]:
    """Each reader's rows as sorted "source_id:source_line" identities."""
    def ids(sources, lines) -> list[str]:
        return sorted(f"{s}:{n}" for s, n in zip(sources, lines))

    arrow = DeltaTable(str(table)).to_pyarrow_table(columns=["source_id", "source_line"])
    frame = pl.read_delta(str(table), columns=["source_id", "source_line"])
    rows = duckdb_with_delta().sql(f"SELECT source_id, source_line FROM delta_scan('{table}')").fetchall()
    return {
        "delta-rs": ids(arrow.column("source_id").to_pylist(), arrow.column("source_line").to_pylist()),
        "polars": ids(frame["source_id"].to_list(), frame["source_line"].to_list()),
        "duckdb": ids([r[0] for r in rows], [r[1] for r in rows]),
    }


def assert_readers_see_exactly(table: Path, expected_ids: set[str]) -> None:
    for reader, ids in identities_by_reader(table).items():
        assert len(ids) == len(expected_ids), f"{reader}: {len(ids)} rows, expected {len(expected_ids)}"
        assert set(ids) == expected_ids, f"{reader} read other rows"


def commits(table: Path) -> list[tuple[int, list[dict]]]:
    """Every commit file, in version order, as its parsed actions; asserts the versions are contiguous
    from 0."""
    log = table / "_delta_log"
    versions = sorted(int(p.name[:20]) for p in log.glob("*.json"))
    assert versions == list(range(len(versions))), f"versions are not contiguous from 0: {versions}"
    return [(v, [json.loads(line) for line in (log / f"{v:020d}.json").read_text().splitlines() if line])
            for v in versions]


def replay(table: Path, up_to: int | None = None) -> tuple[dict[str, dict], dict[str, int]]:
    """The snapshot's add actions by path and its txn versions by appId, from the JSON commits alone."""
    files: dict[str, dict] = {}
    txns: dict[str, int] = {}
    for version, actions in commits(table):
        if up_to is not None and version > up_to:
            break
        for action in actions:
            if "remove" in action:
                files.pop(unquote(action["remove"]["path"]), None)
            elif "add" in action:
                files[unquote(action["add"]["path"])] = action["add"]
            elif "txn" in action:
                txns[action["txn"]["appId"]] = action["txn"]["version"]
    return files, txns


def stats_value(value):
    """A pyarrow scalar as the stats JSON writes it."""
    if value is None:
        return None
    if hasattr(value, "isoformat") and hasattr(value, "microsecond"):
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def assert_log_is_valid(table: Path, group: str, topic: str, next_offsets: dict[int, int]) -> None:
    """Contiguous versions; every add's size and stats equal its file's; the txn versions equal the
    offsets landed (the last offset of each partition, next_offsets minus one)."""
    files, txns = replay(table)
    for path, add in files.items():
        data = table / path
        assert data.stat().st_size == add["size"], path
        stats = json.loads(add["stats"])
        contents = pq.ParquetFile(data).read()
        assert stats["numRecords"] == contents.num_rows, path
        for name in contents.column_names:
            column = contents.column(name)
            assert stats["nullCount"][name] == column.null_count, (path, name)
            if column.null_count == len(column):
                assert name not in stats["minValues"], (path, name)
                continue
            bounds = pc.min_max(column)
            assert stats["minValues"][name] == stats_value(bounds["min"].as_py()), (path, name)
            assert stats["maxValues"][name] == stats_value(bounds["max"].as_py()), (path, name)
    expected = {f"clickstream-{group}-{topic}-{p}": offset - 1 for p, offset in next_offsets.items()}
    assert txns == expected
