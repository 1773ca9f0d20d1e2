"""Turns a generated clickstream CSV into the consumer's landed Parquet layout without Kafka, so the
report can be tested (and benchmarked) on its own. The schema comes from `clickstream schema`, so it
cannot drift from what `consume` writes."""
from __future__ import annotations

import datetime as dt
import functools
import json
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from helpers import BINARY

UTC_MICROS = pa.timestamp("us", tz="UTC")
# Arrow's type names as `clickstream schema` prints them.
ARROW_TYPES = {
    "string": pa.utf8(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "date32[day]": pa.date32(),
    "timestamp[us, tz=UTC]": UTC_MICROS,
    "dictionary<values=string, indices=int32, ordered=0>": pa.dictionary(pa.int32(), pa.utf8()),
}


@functools.cache
def landed_schema(date_in_file: bool) -> pa.Schema:
    printed = subprocess.run([str(BINARY), "schema", "--partition-by", "none" if date_in_file else "event_date"],
                             capture_output=True, text=True, check=True).stdout
    return pa.schema([pa.field(column["name"], ARROW_TYPES[column["type"]], nullable=column["nullable"])
                      for column in json.loads(printed)["columns"]])


def read_clickstream_csv(csv_path: Path) -> pa.Table:
    text = pa.utf8()
    convert = pacsv.ConvertOptions(
        column_types={"timestamp": text, "visitor_id": text, "event_type": text, "item_id": text,
                      "transaction_id": text, "device": text, "browser": text, "os": text},
        strings_can_be_null=True)
    return pacsv.read_csv(csv_path, convert_options=convert)


def landed_table(csv: pa.Table, date_in_file: bool) -> pa.Table:
    timestamps = pc.strptime(csv["timestamp"], format="%Y-%m-%d %H:%M:%S", unit="us").cast(UTC_MICROS)
    rows = csv.num_rows
    columns = {
        "source_id": pa.array(["landed_data"] * rows, pa.utf8()),
        "source_line": csv["source_line"],
        "timestamp": timestamps,
        "visitor_id": csv["visitor_id"],
        "event_type": csv["event_type"].dictionary_encode(),
        "item_id": csv["item_id"],
        "transaction_id": csv["transaction_id"],
        "device": csv["device"].dictionary_encode(),
        "browser": csv["browser"].dictionary_encode(),
        "os": csv["os"].dictionary_encode(),
    }
    if date_in_file:
        columns["event_date"] = timestamps.cast(pa.timestamp("us")).cast(pa.date32())
    columns["kafka_partition"] = pa.nulls(rows, pa.int32()).fill_null(0)
    columns["kafka_offset"] = pa.array(range(rows), pa.int64())
    now = pa.scalar(dt.datetime.now(dt.timezone.utc), UTC_MICROS)
    columns["ingested_at"] = pa.nulls(rows, UTC_MICROS).fill_null(now)
    schema = landed_schema(date_in_file)
    arrays = [pa.chunked_array(columns[f.name]) if not isinstance(columns[f.name], pa.ChunkedArray)
              else columns[f.name] for f in schema]
    return pa.Table.from_arrays([a.cast(f.type) for a, f in zip(arrays, schema)], schema=schema)


def write_landed(csv_path: Path, out_dir: Path, layout: str = "hive", files_per_day: int = 1) -> Path:
    """Writes the events of csv_path under out_dir: 'hive' puts each day in event_date=YYYY-MM-DD/
    (the date only in the path), 'flat' writes files with an event_date column side by side.
    Returns out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    csv = read_clickstream_csv(csv_path)
    # The generator writes one row per line after the header.
    csv = csv.append_column("source_line", pa.array(range(2, csv.num_rows + 2), pa.int64()))
    csv = csv.sort_by("timestamp")
    table = landed_table(csv, date_in_file=(layout == "flat"))
    days = pc.strftime(table["timestamp"], format="%Y-%m-%d")
    if layout == "flat":
        # A few files spanning several days each, as a consumer without partitioning would write.
        chunk = max(1, table.num_rows // 8)
        for number, start in enumerate(range(0, table.num_rows, chunk)):
            pq.write_table(table.slice(start, chunk), out_dir / f"part-{number:05d}.parquet")
        return out_dir
    # Rows are sorted by time, so each day is one contiguous slice.
    counts = pc.value_counts(days)
    start = 0
    for day, rows in zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist()):
        directory = out_dir / f"event_date={day}"
        directory.mkdir(exist_ok=True)
        day_table = table.slice(start, rows)
        step = max(1, -(-rows // files_per_day))
        for number, offset in enumerate(range(0, rows, step)):
            pq.write_table(day_table.slice(offset, step), directory / f"part-{number:05d}.parquet")
        start += rows
    return out_dir
