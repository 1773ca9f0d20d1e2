"""`clickstream report`: the funnel and the conversion drop, read from landed Parquet.

Most landed data is written here with pyarrow (tests/e2e/landed_data.py) from real `generate` output,
so those tests need no broker; one test runs the whole generate -> produce -> consume -> report path
and checks that the report reads the consumer's own files exactly as it reads that copy."""
from __future__ import annotations

import datetime as dt
import re
import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import run_clickstream
from landed_data import write_landed

EVENTS = 500_000  # enough for the bug to stand out of the daily noise, small enough for seconds


@dataclass
class Landed:
    path: Path
    bug_start: dt.date | None


def land(tmp_path_factory, name: str, seed: int, bug_start: str | None, layout: str = "hive") -> Landed:
    base = tmp_path_factory.mktemp(name)
    csv = base / "events.csv"
    args = ["generate", "--events", EVENTS, "--seed", seed, "--output", csv]
    args += ["--bug", "safari-ios", "--bug-start", bug_start] if bug_start else ["--bug", "none"]
    result = run_clickstream(*args, timeout=120)
    assert result.returncode == 0, result.stderr
    landed = write_landed(csv, base / "landed", layout=layout)
    csv.unlink()
    return Landed(landed, dt.date.fromisoformat(bug_start) if bug_start else None)


@pytest.fixture(scope="module")
def with_bug(tmp_path_factory) -> Landed:
    landed = land(tmp_path_factory, "bug", seed=11, bug_start="2015-07-20")
    # A file the consumer is still writing: unreadable as Parquet, so reading it would fail the run.
    (landed.path / "event_date=2015-07-20" / ".part-00009.parquet.tmp").write_bytes(b"half a file")
    return landed


@pytest.fixture(scope="module")
def other_seed_flat(tmp_path_factory) -> Landed:
    return land(tmp_path_factory, "bug2", seed=29, bug_start="2015-06-15", layout="flat")


@pytest.fixture(scope="module")
def without_bug(tmp_path_factory) -> Landed:
    return land(tmp_path_factory, "nobug", seed=11, bug_start=None)


FINDING = re.compile(r"^\s*(\d+)  (.+?)\s{2,}(\d+\.\d)%\s+(\d+\.\d)%\s+(\d{4}-\d\d-\d\d)\s+([\d,]+)  (.+)$")


@dataclass
class Finding:
    rank: int
    segment: str
    rate_before: float
    rate_after: float
    since: dt.date
    events_affected: int
    verdict: str


def findings(stdout: str) -> list[Finding]:
    """The rows of the terminal table of flagged drops."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Cart->purchase drops"))
    rows = []
    for line in lines[start + 1:]:
        match = FINDING.match(line)
        if match:
            rank, segment, before, after, since, affected, verdict = match.groups()
            rows.append(Finding(int(rank), segment, float(before), float(after), dt.date.fromisoformat(since),
                                int(affected.replace(",", "")), verdict))
    return rows


def report(*args) -> tuple[str, list[Finding]]:
    result = run_clickstream("report", *args, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout, findings(result.stdout)


def assert_top_finding_is_the_bug(rows: list[Finding], bug_start: dt.date) -> None:
    assert rows, "nothing flagged"
    top = rows[0]
    assert top.segment in ("mobile / Safari / iOS", "tablet / Safari / iOS"), rows
    assert abs((top.since - bug_start).days) <= 1, top
    assert top.rate_after < top.rate_before * 0.5
    assert "lost" in top.verdict
    flagged = {row.segment for row in rows}
    assert flagged <= {"mobile / Safari / iOS", "tablet / Safari / iOS"}, flagged


def test_finds_the_safari_ios_bug_at_its_start_date(with_bug):
    stdout, rows = report("--input", with_bug.path)
    assert_top_finding_is_the_bug(rows, with_bug.bug_start)
    assert f"Read {EVENTS:,} events over 139 days" in stdout
    assert "mobile / Safari / iOS" in stdout.split("Cart->purchase drops")[0]  # the funnel table


def test_report_on_real_consume_output_matches_the_reference_copy(with_bug, broker, topic, tmp_path):
    """The same generated events through produce and consume: the report on the consumer's files
    must be the one the pyarrow-written copy gives, line for line (funnel counts, visitors, drops),
    and must find the bug."""
    csv = tmp_path / "events.csv"
    generated = run_clickstream("generate", "--events", EVENTS, "--seed", 11, "--bug", "safari-ios",
                                "--bug-start", "2015-07-20", "--output", csv, timeout=120)
    assert generated.returncode == 0, generated.stderr
    produced = run_clickstream("produce", "-b", broker.bootstrap, "-t", topic, "--no-progress", "--rate", 0,
                               "--partitions", 3, "--input", csv, timeout=300)
    assert produced.returncode == 0, produced.stderr
    output = tmp_path / "landed"
    consumed = run_clickstream("consume", "-b", broker.bootstrap, "-t", topic, "-o", output, "-g", f"{topic}-report",
                               "--batch-size", 50_000, "--exit-when-idle-ms", 4000, timeout=300)
    assert consumed.returncode == 0, consumed.stderr

    stdout, rows = report("--input", output)
    assert_top_finding_is_the_bug(rows, with_bug.bug_start)
    assert f"Read {EVENTS:,} events over 139 days" in stdout
    reference, _ = report("--input", with_bug.path)
    # Everything after the first line, which names the input directory and the time taken.
    assert stdout.split("\n", 1)[1] == reference.split("\n", 1)[1]


def test_second_seed_and_bug_date_in_the_flat_layout(other_seed_flat):
    _, rows = report("--input", other_seed_flat.path)
    assert_top_finding_is_the_bug(rows, other_seed_flat.bug_start)


def test_nothing_flagged_without_the_bug(without_bug):
    stdout, rows = report("--input", without_bug.path)
    assert rows == []
    assert "No drop found" in stdout


def test_segment_by_a_subset_of_dimensions(with_bug):
    stdout, rows = report("--input", with_bug.path, "--segment-by", "browser,os")
    assert rows and rows[0].segment == "Safari / iOS", stdout
    assert abs((rows[0].since - with_bug.bug_start).days) <= 1


def test_top_limits_the_table(with_bug):
    stdout, rows = report("--input", with_bug.path, "--top", "1")
    assert len(rows) == 1
    assert "more flagged" in stdout


def write_foreign_parquet(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"user": ["a"], "clicks": [1]}), directory / "part-0.parquet")


@pytest.mark.parametrize("case", ["missing", "empty", "only-temp-files", "foreign-columns", "not-parquet",
                                  "bad-segment-by", "a-file"])
def test_bad_input_is_a_clear_error_with_exit_2(tmp_path, case):
    target = tmp_path / "landed"
    args = []
    expected = {"missing": "does not exist", "empty": "no Parquet files", "only-temp-files": "no Parquet files",
                "foreign-columns": "has no column", "not-parquet": "not a parquet file",
                "bad-segment-by": "unknown segment dimension", "a-file": "not a directory"}[case]
    if case == "empty":
        target.mkdir()
    elif case == "only-temp-files":
        (target / "event_date=2015-06-01").mkdir(parents=True)
        (target / "event_date=2015-06-01" / ".part-0.parquet.tmp").write_bytes(b"PAR1")
    elif case == "foreign-columns":
        write_foreign_parquet(target / "event_date=2015-06-01")
    elif case == "not-parquet":
        target.mkdir()
        (target / "part-0.parquet").write_text("timestamp,visitor_id\n")
    elif case == "bad-segment-by":
        write_foreign_parquet(target)
        args = ["--segment-by", "device,country"]
    elif case == "a-file":
        target.write_text("")
    result = run_clickstream("report", "--input", target, *args)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert expected in result.stderr
    assert result.stdout == ""


def read_png(path: Path) -> tuple[int, int, int, bytes]:
    """Decodes an 8-bit RGB or RGBA PNG: (width, height, channels, raw pixel rows without filters)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat, header = 8, b"", None
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    channels = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    pixels = bytearray(height * stride)
    previous = bytearray(stride)
    for y in range(height):
        filter_type = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up = previous[x]
            up_left = previous[x - channels] if x >= channels else 0
            if filter_type == 1:
                line[x] = (line[x] + left) & 0xFF
            elif filter_type == 2:
                line[x] = (line[x] + up) & 0xFF
            elif filter_type == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif filter_type == 4:
                estimate = left + up - up_left
                pa_, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - up_left)
                predictor = left if pa_ <= pb and pa_ <= pc else up if pb <= pc else up_left
                line[x] = (line[x] + predictor) & 0xFF
        pixels[y * stride:(y + 1) * stride] = line
        previous = line
    return width, height, channels, bytes(pixels)


def count_pixels(png: tuple[int, int, int, bytes], top: int, bottom: int, matches) -> int:
    width, height, channels, pixels = png
    count = 0
    for y in range(top, min(bottom, height)):
        row = y * width * channels
        for x in range(width):
            r, g, b = pixels[row + x * channels:row + x * channels + 3]
            count += matches(r, g, b)
    return count


def test_html_report_is_self_contained_and_renders_in_chromium(with_bug, tmp_path):
    html = tmp_path / "report.html"
    stdout, rows = report("--input", with_bug.path, "--html", html)
    assert f"HTML report: {html}" in stdout
    page = html.read_text()
    for external in ("http://", "https://", "<script", "<link", "src=", "url("):
        assert external not in page, external
    assert 'id="rate-chart-0"' in page and rows[0].segment in page

    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is needed for this test"
    screenshot = tmp_path / "report.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'chromium-profile'}", f"--screenshot={screenshot}",
                    "--window-size=1200,2000", html.as_uri()],
                   capture_output=True, timeout=90, check=True)
    png = read_png(screenshot)
    # The first chart sits under the title, roughly 150..650 px down: the segment's red dots and
    # level lines and the rest of the site's blue line must have been drawn there.
    red = count_pixels(png, 150, 650, lambda r, g, b: r > 170 and g < 90 and b < 90)
    blue = count_pixels(png, 150, 650, lambda r, g, b: b > 150 and r < 90 and 80 < g < 160)
    assert red > 500, red
    assert blue > 500, blue
