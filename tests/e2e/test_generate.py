"""`clickstream generate`: the synthetic clickstream as a user sees it, a CSV file."""
from __future__ import annotations

import csv
import io
import os
import re
import stat
import threading
from collections import Counter, defaultdict

import pytest

from helpers import run_clickstream

HEADER = ["timestamp", "visitor_id", "event_type", "item_id", "transaction_id", "device", "browser", "os"]
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
DESKTOP_OS = {"Windows", "macOS", "Linux", "ChromeOS"}
HANDHELD_OS = {"iOS", "Android"}
BUG_START = "2015-07-27"


def generate(*args: str) -> str:
    result = run_clickstream("generate", *args, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def rows_of(text: str) -> tuple[list[str], list[list[str]]]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    return header, list(reader)


@pytest.fixture(scope="module")
def sample() -> tuple[list[str], list[list[str]]]:
    return rows_of(generate("--events", "300000"))


def test_header_and_exact_row_count(sample):
    header, rows = sample
    assert header == HEADER
    assert len(rows) == 300000


def test_types_and_time_order(sample):
    _, rows = sample
    previous = ""
    for row in rows:
        timestamp, visitor, event_type, item, transaction, device, browser, os_name = row
        assert TIMESTAMP.match(timestamp), row
        assert previous <= timestamp, row
        previous = timestamp
        assert visitor.isdigit() and item.isdigit(), row
        assert event_type in ("view", "addtocart", "transaction"), row
        assert (transaction != "") == (event_type == "transaction"), row
        assert transaction == "" or transaction.isdigit(), row
    assert rows[0][0] >= "2015-05-03 00:00:00"
    assert rows[-1][0] <= "2015-09-18 23:59:59"


def test_device_browser_and_os_are_consistent(sample):
    _, rows = sample
    combinations = Counter((row[5], row[6], row[7]) for row in rows)
    for device, browser, os_name in combinations:
        assert device in ("desktop", "mobile", "tablet")
        assert os_name in (DESKTOP_OS if device == "desktop" else HANDHELD_OS), (device, browser, os_name)
        if browser == "Safari":
            assert os_name in ("iOS", "macOS")
        if browser == "Samsung Internet":
            assert os_name == "Android"
    safari_ios = sum(n for (_, browser, os_name), n in combinations.items() if (browser, os_name) == ("Safari", "iOS"))
    assert 0.15 <= safari_ios / len(rows) <= 0.25
    assert {d for d, b, o in combinations if (b, o) == ("Safari", "iOS")} == {"mobile", "tablet"}


def test_sessions_hold_together(sample):
    _, rows = sample
    segment_of_visitor: dict[str, tuple[str, str, str]] = {}
    carted: set[tuple[str, str]] = set()
    for _, visitor, event_type, item, _, device, browser, os_name in rows:
        assert segment_of_visitor.setdefault(visitor, (device, browser, os_name)) == (device, browser, os_name)
        if event_type == "addtocart":
            carted.add((visitor, item))
        elif event_type == "transaction":
            assert (visitor, item) in carted, "purchase without an earlier add-to-cart"


def test_shape_resembles_retailrocket(sample):
    _, rows = sample
    types = Counter(row[2] for row in rows)
    assert types["view"] / len(rows) == pytest.approx(0.967, abs=0.005)
    assert types["addtocart"] / len(rows) == pytest.approx(0.025, abs=0.003)
    assert types["transaction"] / len(rows) == pytest.approx(0.008, abs=0.0015)
    visits = Counter(row[1] for row in rows)
    assert len(visits) / len(rows) == pytest.approx(0.51, abs=0.06)
    assert sum(1 for n in visits.values() if n == 1) / len(visits) > 0.5, "most visitors come once"
    views = Counter(row[3] for row in rows if row[2] == "view")
    top = sum(n for _, n in views.most_common(len(views) // 100))
    assert top / sum(views.values()) > 0.2, "item popularity is heavy-tailed"
    hours = Counter(row[0][11:13] for row in rows)
    assert hours["20"] > 3 * hours["04"], "daily rhythm"
    days = Counter(row[0][:10] for row in rows)
    assert min(days.values()) > 0.5 * max(days.values())


def test_default_size_and_range(tmp_path):
    out = tmp_path / "default.csv"
    generate("--output", str(out))
    data = out.read_bytes()
    assert data.count(b"\n") == 2756101 + 1
    assert data.startswith(b",".join(h.encode() for h in HEADER) + b"\n2015-05-03 ")
    last_row = data[data.rstrip(b"\n").rfind(b"\n") + 1:]
    assert last_row.startswith(b"2015-09-18 ")


def test_same_arguments_same_bytes(tmp_path):
    first, second, other = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    generate("--events", "200000", "--seed", "11", "--output", str(first))
    generate("--events", "200000", "--seed", "11", "--output", str(second))
    generate("--events", "200000", "--seed", "12", "--output", str(other))
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != other.read_bytes()
    assert generate("--events", "200000", "--seed", "11", "--output", "-").encode() == first.read_bytes()
    assert not list(tmp_path.glob("*.partial"))


def test_zero_events_is_just_the_header():
    assert generate("--events", "0") == ",".join(HEADER) + "\n"


def test_range_flags_move_the_data():
    _, rows = rows_of(generate("--events", "5000", "--start-date", "2020-02-28", "--days", "3"))
    assert len(rows) == 5000
    assert {row[0][:10] for row in rows} == {"2020-02-28", "2020-02-29", "2020-03-01"}


@pytest.mark.parametrize("args, flag", [
    (["--bug", "firefox"], "--bug"),
    (["--events", "-5"], "--events"),
    (["--events", "many"], "--events"),
    (["--days", "0"], "--days"),
    (["--days", "-7"], "--days"),
    (["--start-date", "2015-02-30"], "--start-date"),
    (["--start-date", "03/05/2015"], "--start-date"),
    (["--bug-severity", "1.5"], "--bug-severity"),
    (["--bug-severity", "-0.5"], "--bug-severity"),
    (["--bug-start", "2016-01-01"], "--bug-start"),
    (["--bug-start", "soon"], "--bug-start"),
])
def test_bad_argument_exits_2_naming_the_flag(tmp_path, args, flag):
    out = tmp_path / "never.csv"
    result = run_clickstream("generate", *args, "--output", str(out))
    assert result.returncode == 2
    assert flag in result.stderr
    assert result.stdout == ""
    assert not out.exists()


def test_unwritable_output_fails_cleanly(tmp_path):
    result = run_clickstream("generate", "--events", "10", "--output", str(tmp_path / "missing" / "x.csv"))
    assert result.returncode == 1
    assert "missing" in result.stderr


def funnels(rows: list[list[str]], bug_start: str) -> dict[str, list[list[int]]]:
    """[before, after] x [add-to-carts, purchases] per device/browser/os segment."""
    counts: dict[str, list[list[int]]] = defaultdict(lambda: [[0, 0], [0, 0]])
    for timestamp, _, event_type, _, _, device, browser, os_name in rows:
        if event_type == "view":
            continue
        period = counts[f"{device}/{browser}/{os_name}"][timestamp >= bug_start]
        period[event_type == "transaction"] += 1
    return counts


def merged(counts: dict[str, list[list[int]]], keep) -> list[list[int]]:
    total = [[0, 0], [0, 0]]
    for segment, periods in counts.items():
        if keep(segment):
            for period in (0, 1):
                for kind in (0, 1):
                    total[period][kind] += periods[period][kind]
    return total


def change(periods: list[list[int]]) -> float:
    """Purchases per add-to-cart after the bug start, relative to before."""
    (carts_before, buys_before), (carts_after, buys_after) = periods
    return (buys_after / carts_after) / (buys_before / carts_before)


def is_safari_ios(segment: str) -> bool:
    return segment.endswith("/Safari/iOS")


def test_bug_hits_safari_ios_purchases_only():
    _, rows = rows_of(generate("--events", "1000000"))
    counts = funnels(rows, BUG_START)
    assert change(merged(counts, is_safari_ios)) <= 0.15
    for device in ("mobile", "tablet"):
        assert change(counts[f"{device}/Safari/iOS"]) <= 0.15, device
    # Every other segment converts as before: each big enough to measure, and the rest together.
    others = [s for s in counts if not is_safari_ios(s)]
    for segment in others:
        if counts[segment][0][1] >= 400:
            assert change(counts[segment]) == pytest.approx(1.0, abs=0.2), segment
    assert change(merged(counts, lambda s: not is_safari_ios(s))) == pytest.approx(1.0, abs=0.2)
    for device in ("desktop", "mobile", "tablet"):
        group = merged(counts, lambda s, d=device: s.startswith(d + "/") and not is_safari_ios(s))
        assert change(group) == pytest.approx(1.0, abs=0.2), device
    # Views and add-to-carts go on as before: Safari/iOS keeps its share of the add-to-carts.
    carts = merged(counts, is_safari_ios)
    every = merged(counts, lambda s: True)
    share_before, share_after = carts[0][0] / every[0][0], carts[1][0] / every[1][0]
    assert share_after == pytest.approx(share_before, rel=0.1)


def test_bug_flags_move_and_disable_the_drop():
    _, rows = rows_of(generate("--events", "400000", "--bug-start", "2015-06-15", "--bug-severity", "1"))
    counts = merged(funnels(rows, "2015-06-15"), is_safari_ios)
    assert counts[1][1] == 0 and counts[0][1] > 0
    _, rows = rows_of(generate("--events", "400000", "--bug", "none"))
    assert change(merged(funnels(rows, BUG_START), is_safari_ios)) == pytest.approx(1.0, abs=0.2)


def test_writes_into_a_named_pipe(tmp_path):
    """A FIFO is written in place, not replaced by a regular file."""
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    generate("--events", "1000", "--output", str(fifo))
    reader.join(timeout=60)
    assert received and received[0].count(b"\n") == 1001
    assert stat.S_ISFIFO(fifo.stat().st_mode)
