#!/usr/bin/env python3
"""The original consumer, re-created for comparison: kafka-python, events gathered 500 at a time
into a pandas DataFrame, one Parquet file per batch via DataFrame.to_parquet."""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from kafka import KafkaConsumer

BATCH_SIZE = 500


def write_batch(batch: list[dict], output: Path) -> None:
    # The original named files by the second only and could overwrite a file written in the same
    # second; microseconds keep every batch so the row count can be checked.
    name = f"clickstream_{datetime.now(timezone.utc):%Y%m%d_%H%M%S_%f}.parquet"
    pd.DataFrame(batch).to_parquet(output / name, index=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--idle-ms", type=int, default=5000,
                        help="stop after this long without a message")
    args = parser.parse_args()
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)

    consumer = KafkaConsumer(
        args.topic,
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        auto_offset_reset="earliest",
        value_deserializer=lambda raw: json.loads(raw.decode("utf-8")),
        consumer_timeout_ms=args.idle_ms,
    )
    batch: list[dict] = []
    received = files = 0
    for message in consumer:
        batch.append(message.value)
        received += 1
        if len(batch) >= BATCH_SIZE:
            write_batch(batch, output)
            files += 1
            batch = []
    if batch:
        write_batch(batch, output)
        files += 1
    consumer.close()
    print(json.dumps({"received": received, "files": files}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
