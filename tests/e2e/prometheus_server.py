"""A real Prometheus on loopback for the metrics tests: scripts/local-prometheus in a data directory
of its own, scraping every second the targets written into DIR/targets/ and evaluating
docs/monitoring/alerts.yml every second. Read back through its HTTP API, as a dashboard would."""
from __future__ import annotations

import json
import os
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable

from helpers import LocalServer

Sample = tuple[dict[str, str], float]


class PrometheusServer(LocalServer):
    """`address` (and `url`) is the base URL `start` printed, http://127.0.0.1:PORT."""

    def __init__(self, data_dir: Path, port: int | None = None):
        super().__init__("local-prometheus", data_dir, port)

    @property
    def url(self) -> str:
        return self.address

    def add_target(self, name: str, address: str, labels: dict[str, str] | None = None) -> None:
        """Scrapes HOST:PORT (its /metrics) in the job `clickstream` from the next second or two on.
        The file appears whole (a rename), so Prometheus never reads half of it."""
        targets = self.data_dir / "targets"
        targets.mkdir(exist_ok=True)
        partial = targets / f".{name}.json.partial"
        partial.write_text(json.dumps([{"targets": [address], "labels": labels or {}}]))
        os.replace(partial, targets / f"{name}.json")

    def remove_target(self, name: str) -> None:
        (self.data_dir / "targets" / f"{name}.json").unlink(missing_ok=True)

    def api(self, path: str, params: dict[str, str] | None = None):
        """GET /api/v1/<path>; the `data` of a successful answer."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=10) as response:
            body = json.load(response)
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus answered {path}: {body}")
        return body["data"]

    def query(self, promql: str) -> list[Sample]:
        """An instant query: one (labels, value) per series, or one ({}, value) for a scalar."""
        data = self.api("query", {"query": promql})
        if data["resultType"] == "vector":
            return [(sample["metric"], float(sample["value"][1])) for sample in data["result"]]
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        raise ValueError(f"{promql!r} is a {data['resultType']}, not an instant vector or scalar")

    def wait_for(self, promql: str, predicate: Callable[[list[Sample]], bool],
                 timeout: float = 30) -> list[Sample]:
        """Queries until the answer satisfies the predicate and returns it; fails with the last
        answer after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(promql)
            if predicate(result):
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"{promql} did not satisfy the predicate in {timeout}s; last answer: {result}")
            time.sleep(0.25)
