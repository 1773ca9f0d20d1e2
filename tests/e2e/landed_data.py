"""Turns a generated clickstream CSV into the consumer's landed Parquet layout without Kafka, so the
report can be tested (and benchmarked) on its own. Writes the schema of src/event/landed_schema.h."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

ENUMERATION = pa.dictionary(pa.int32(), pa.utf8())
UTC_MICROS = pa.timestamp("us", tz="UTC")


def landed_schema(date_in_file: bool) -> pa.Schema:
    fields = [
        pa.field("event_id", pa.utf8(), nullable=False),
        pa.field("timestamp", UTC_MICROS, nullable=False),
        pa.field("visitor_id", pa.utf8(), nullable=False),
        pa.field("event_type", ENUMERATION, nullable=False),
        pa.field("item_id", pa.utf8(), nullable=False),
        pa.field("transaction_id", pa.utf8()),
        pa.field("device", ENUMERATION),
        pa.field("browser", ENUMERATION),
        pa.field("os", ENUMERATION),
    ]
    if date_in_file:
        fields.append(pa.field("event_date", pa.date32(), nullable=False))
    fields += [
        pa.field("kafka_partition", pa.int32(), nullable=False),
        pa.field("kafka_offset", pa.int64(), nullable=False),
        pa.field("ingested_at", UTC_MICROS, nullable=False),
    ]
    return pa.schema(fields)


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
        "event_id": pc.binary_join_element_wise("e", pc.cast(pa.array(range(rows), pa.int64()), pa.utf8()), ""),
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
