"""Independent readers of the Delta tables `consume --format delta` writes, none of them ours:
delta-rs (PyPI deltalake), DuckDB's delta extension (loaded from its wheel, offline) and Polars;
and a log validator written here from the protocol, that replays the JSON commits itself.

A table is a local directory (a Path) or an S3Table on the tests' S3 server: each reader gets the
server's endpoint and credentials its own way (delta-rs and Polars as storage_options, DuckDB as an
S3 secret, which needs its httpfs extension, also loaded from its wheel), and the validator reads
the objects through pyarrow's S3 client."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import duckdb
import duckdb_extension_delta
import duckdb_extension_httpfs
import polars as pl
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable
from pyarrow import fs as pafs

DELTA_EXTENSION = (Path(duckdb_extension_delta.__file__).parent / "extensions" / f"v{duckdb.__version__}"
                   / "delta.duckdb_extension")
HTTPFS_EXTENSION = (Path(duckdb_extension_httpfs.__file__).parent / "extensions" / f"v{duckdb.__version__}"
                    / "httpfs.duckdb_extension")


@dataclass
class S3Table:
    """A table at s3://bucket/prefix on the tests' S3 server (s3_server.S3Server)."""
    server: object
    bucket: str
    prefix: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def storage_options(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.server.access_key, "AWS_SECRET_ACCESS_KEY": self.server.secret_key,
                "AWS_ENDPOINT_URL": self.server.endpoint, "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}

    def __str__(self) -> str:
        return self.uri


Table = Path | S3Table


def _uri(table: Table) -> str:
    return table.uri if isinstance(table, S3Table) else str(table)


def _storage_options(table: Table) -> dict[str, str] | None:
    return table.storage_options() if isinstance(table, S3Table) else None


def _filesystem(table: Table) -> tuple[pafs.FileSystem, str]:
    """A pyarrow file system and the table's root on it."""
    if isinstance(table, S3Table):
        return table.server.filesystem(), f"{table.bucket}/{table.prefix}"
    return pafs.LocalFileSystem(), str(table)


def open_delta_table(table: Table, version: int | None = None) -> DeltaTable:
    return DeltaTable(_uri(table), version=version, storage_options=_storage_options(table))


def duckdb_with_delta(table: Table | None = None) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute(f"LOAD '{DELTA_EXTENSION}'")
    if isinstance(table, S3Table):
        connection.execute(f"LOAD '{HTTPFS_EXTENSION}'")
        host = table.server.endpoint.removeprefix("http://")
        connection.execute(f"CREATE SECRET (TYPE s3, KEY_ID '{table.server.access_key}', "
                           f"SECRET '{table.server.secret_key}', REGION 'us-east-1', ENDPOINT '{host}', "
                           "URL_STYLE 'path', USE_SSL false)")
    return connection


def identities_by_reader(table: Table) -> dict[str, list[str]]:
    """Each reader's rows as sorted "source_id:source_line" identities."""
    def ids(sources, lines) -> list[str]:
        return sorted(f"{s}:{n}" for s, n in zip(sources, lines))

    arrow = open_delta_table(table).to_pyarrow_table(columns=["source_id", "source_line"])
    frame = pl.read_delta(_uri(table), columns=["source_id", "source_line"], storage_options=_storage_options(table))
    rows = duckdb_with_delta(table).sql(
        f"SELECT source_id, source_line FROM delta_scan('{_uri(table)}')").fetchall()
    return {
        "delta-rs": ids(arrow.column("source_id").to_pylist(), arrow.column("source_line").to_pylist()),
        "polars": ids(frame["source_id"].to_list(), frame["source_line"].to_list()),
        "duckdb": ids([r[0] for r in rows], [r[1] for r in rows]),
    }


def assert_readers_see_exactly(table: Table, expected_ids: set[str]) -> None:
    for reader, ids in identities_by_reader(table).items():
        assert len(ids) == len(expected_ids), f"{reader}: {len(ids)} rows, expected {len(expected_ids)}"
        assert set(ids) == expected_ids, f"{reader} read other rows"


def read_bytes(table: Table, path: str) -> bytes:
    """A file of the table, by its path relative to the root."""
    filesystem, root = _filesystem(table)
    with filesystem.open_input_stream(f"{root}/{path}") as stream:
        return stream.read()


def log_names(table: Table) -> list[str]:
    """The names of the objects in _delta_log/."""
    filesystem, root = _filesystem(table)
    selector = pafs.FileSelector(f"{root}/_delta_log", allow_not_found=True)
    return sorted(info.base_name for info in filesystem.get_file_info(selector) if info.is_file)


def commits(table: Table) -> list[tuple[int, list[dict]]]:
    """Every commit file, in version order, as its parsed actions; asserts the versions are contiguous
    from 0."""
    versions = sorted(int(name[:20]) for name in log_names(table) if name.endswith(".json"))
    assert versions == list(range(len(versions))), f"versions are not contiguous from 0: {versions}"
    return [(v, [json.loads(line) for line in read_bytes(table, f"_delta_log/{v:020d}.json").decode().splitlines()
                 if line])
            for v in versions]


def replay(table: Table, up_to: int | None = None) -> tuple[dict[str, dict], dict[str, int]]:
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


def assert_log_is_valid(table: Table, group: str, topic: str, next_offsets: dict[int, int],
                        vacuumed: bool = False) -> None:
    """Contiguous versions; every add's size and stats equal its file's; the txn versions equal the
    offsets landed (the last offset of each partition, next_offsets minus one); every compaction
    commit's removes and adds hold the same rows (unless vacuum deleted the removed files)."""
    files, txns = replay(table)
    filesystem, root = _filesystem(table)
    for path, add in files.items():
        data = f"{root}/{path}"
        assert filesystem.get_file_info(data).size == add["size"], path
        stats = json.loads(add["stats"])
        with filesystem.open_input_file(data) as source:
            contents = pq.ParquetFile(source).read()
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
    assert_compactions_keep_the_rows(table, vacuumed)


def file_rows(table: Table, paths: list[str]) -> list[tuple]:
    """Every row of the files as (source_id, source_line, kafka_partition, kafka_offset), sorted."""
    filesystem, root = _filesystem(table)
    rows = []
    for path in paths:
        with filesystem.open_input_file(f"{root}/{path}") as source:
            contents = pq.ParquetFile(source).read(columns=["source_id", "source_line", "kafka_partition",
                                                            "kafka_offset"])
        rows.extend(zip(*(contents.column(c).to_pylist() for c in contents.column_names)))
    return sorted(rows)


def compaction_commits(table: Table) -> list[tuple[int, list[dict]]]:
    return [(version, actions) for version, actions in commits(table) if any("remove" in a for a in actions)]


def assert_compactions_keep_the_rows(table: Table, vacuumed: bool = False) -> None:
    """Each commit that removes files is a rearrangement: dataChange false throughout, no txn, and its
    adds hold exactly the rows of its removes."""
    filesystem, root = _filesystem(table)
    added_sizes: dict[str, int] = {}
    for version, actions in commits(table):
        removes = [a["remove"] for a in actions if "remove" in a]
        adds = [a["add"] for a in actions if "add" in a]
        if removes:
            assert not any("txn" in a for a in actions), f"compaction commit {version} carries a txn"
            assert adds and not any(a["dataChange"] for a in adds), version
            for remove in removes:
                assert remove["dataChange"] is False and remove["extendedFileMetadata"] is True, (version, remove)
                assert remove["deletionTimestamp"] > 0, (version, remove)
                assert remove["size"] == added_sizes[unquote(remove["path"])], (version, remove)
            removed = [unquote(r["path"]) for r in removes]
            present = [filesystem.get_file_info(f"{root}/{path}").type != pafs.FileType.NotFound for path in removed]
            if all(present):
                assert file_rows(table, removed) == file_rows(table, [unquote(a["path"]) for a in adds]), version
            else:
                assert vacuumed, f"compaction commit {version} removed files that are gone"
        for add in adds:
            added_sizes[unquote(add["path"])] = add["size"]
