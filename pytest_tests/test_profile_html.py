"""The HTML report opened in a real headless browser (Debian's Chromium, installed by
scripts/ensure-chromium.sh): it renders offline and draws its three charts. The screenshot is kept as
an artifact under artifacts/ (gitignored) for a person to look at."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from orchestrator.profile import profile_source, write_html
from orchestrator.profile.html import PALETTE

PROJECT = Path(__file__).resolve().parent.parent
ARTIFACTS = PROJECT / "artifacts"
WIDTH, HEIGHT = 1280, 2000


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("Chromium not found: run `bash scripts/ensure-chromium.sh` (make test does)")


def run_browser(tmp_path: Path, page: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    profile_dir = tmp_path / f"chromium-profile-{len(list(tmp_path.glob('chromium-profile-*')))}"
    profile_dir.mkdir()
    return subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile_dir}",
            f"--window-size={WIDTH},{HEIGHT}",
            *extra,
            page.as_uri(),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=120,
    )


def png_rows(path: Path, max_rows: int) -> tuple[int, int, list[list[tuple[int, int, int]]]]:
    """Width, height and the first `max_rows` rows of RGB pixels of an 8-bit RGB/RGBA PNG (as Chromium
    writes them), decoded with the standard library only."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    width = height = colour = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    bpp = 3 if colour == 2 else 4
    stride = width * bpp
    prior = bytearray(stride)
    rows = []
    for y in range(min(height, max_rows)):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, corner = prior[i], prior[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 0xFF
        rows.append([tuple(line[x : x + 3]) for x in range(0, stride, bpp)])
        prior = line
    return width, height, rows


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from orchestrator.demo.generator import generate

    work = tmp_path_factory.mktemp("html")
    source = work / "demo.db"
    generate(source, scale=0.1, seed=5)
    page = work / "profile.html"
    write_html(profile_source(source), page)
    return page


def test_report_is_self_contained(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    # no file, font, script or style from anywhere else: it must open offline
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", html, re.I)
    assert "@import" not in html and "url(" not in html
    assert html.count('<svg class="chart"') == 3


def test_report_renders_its_charts_in_chromium(report: Path, tmp_path: Path) -> None:
    dom = run_browser(tmp_path, report, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    # the page's own script counted the charts the browser laid out with visible bars
    assert 'data-charts-rendered="3"' in dom.stdout
    drawn = dict(re.findall(r'data-chart="(\w+)"[^>]*data-drawn="(\d+)"', dom.stdout))
    assert set(drawn) == {"score", "formats", "missing"}
    assert int(drawn["score"]) == 5  # one bar per dimension
    assert int(drawn["formats"]) >= 6 and int(drawn["missing"]) >= 5
    assert "Circuit breaker: no rule tripped." in dom.stdout

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "profile_report.png"
    shot.unlink(missing_ok=True)
    result = run_browser(tmp_path, report, f"--screenshot={shot}")
    assert result.returncode == 0, result.stderr[-2000:]
    width, height, rows = png_rows(shot, max_rows=700)  # the score and formats charts are up there
    assert (width, height) == (WIDTH, HEIGHT)
    colours = {px for row in rows for px in row}
    assert len(colours) > 20, "a blank page"

    def seen(hex_colour: str) -> int:
        want = bytes.fromhex(hex_colour)
        return sum(1 for row in rows for px in row if all(abs(a - b) <= 3 for a, b in zip(px, want, strict=True)))

    assert seen("38a169") > 1000  # the score bars (green: every dimension is 95 or more)
    # the date formats chart's main format: some colour of the palette other than the score's green
    assert max(seen(c.lstrip("#")) for c in PALETTE if c != "#38a169") > 1000
