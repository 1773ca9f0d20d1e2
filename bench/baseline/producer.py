#!/usr/bin/env python3
"""The original producer, re-created for comparison: kafka-python, pandas chunks of 100 rows, one
JSON message per row keyed by visitor_id, a flush at the end. Unthrottled (the original slept to
hold 1000 events/s; the benchmark wants its ceiling)."""
from __future__ import annotations

import argparse
import json
import sys

import pandas as pd
from kafka import KafkaProducer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--limit", type=int, default=None, help="send at most this many rows")
    args = parser.parse_args()

    # kafka-python's defaults, as the original used them (acks=1, no compression, linger 0).
    producer = KafkaProducer(
        bootstrap_servers=args.bootstrap,
        key_serializer=lambda key: str(key).encode("utf-8"),
        value_serializer=lambda value: json.dumps(value).encode("utf-8"),
    )
    sent = 0
    # dtype=str keeps identifiers as their source text; empty fields become None (JSON null).
    for chunk in pd.read_csv(args.input, chunksize=100, dtype=str, nrows=args.limit):
        chunk = chunk.astype(object).where(chunk.notna(), None)
        for record in chunk.to_dict(orient="records"):
            producer.send(args.topic, key=record["visitor_id"], value=record)
            sent += 1
    producer.flush()
    producer.close()
    print(json.dumps({"sent": sent}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
