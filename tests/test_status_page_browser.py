"""A person looks at it: the status page opened in real headless Chromium, over a real SQLite
world, store and probe runs (one contract breaching, one within budget).

The screenshot is checked as an image (a 1280×800 PNG with the red and green state badges
painted in their colours) and the DOM the browser built is checked for what a person needs:
each contract, its state and its owner. Skipped only when no Chromium is installed.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.clock import FixedClock
from monitor.config import load_config
from monitor.service.app import build_app
from monitor.service.http import HttpServer
from monitor.service.runtime import ProbeService
from monitor.store import Store
from probes.base import ConnectorContext
from tests.service_support import SqlWorld, build_sql_world
from tests.support import T0

WIDTH, HEIGHT = 1280, 800
BROWSER_TIMEOUT = 90  # seconds; a cold Chromium start in a container takes a few
# The state badges' backgrounds in status.html (.red, .green), as painted.
RED, GREEN = (0xC6, 0x28, 0x28), (0x2E, 0x7D, 0x32)


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture
def browser() -> str:
    found = _browser()
    if found is None:
        pytest.skip("no headless browser: none of chromium, chromium-browser, google-chrome is on PATH")
    return found


@pytest.fixture
def world(tmp_path: Path) -> SqlWorld:
    w = build_sql_world(tmp_path / "world")
    old, now = T0 - timedelta(minutes=30), T0 - timedelta(seconds=20)
    rows: dict[str, tuple[int, object, int | None, object]] = {
        f"SKU{i:03d}": (10, now, 10, now + timedelta(seconds=5)) for i in range(45)
    }
    for i in range(45, 50):  # the shop missed a change 30 minutes ago: stale, out of budget
        rows[f"SKU{i:03d}"] = (3, old, 8, old - timedelta(hours=1))
    w.set_stock(rows)  # type: ignore[arg-type]
    return w


@pytest.fixture
def page_url(world: SqlWorld) -> Iterator[str]:
    """The status page served by uvicorn on loopback after two probe runs of each contract:
    ``stock`` (2% drift budget: 10% out of budget is a breach) and ``stock-tolerant`` (50%: within)."""
    clock = FixedClock(T0)
    config = load_config(world.config_path)
    store = Store.open(config.storage_url)
    ctx = ConnectorContext(sleep=clock.sleep, monotonic=clock.monotonic, base_dir=config.base_dir)
    svc = ProbeService(config, store, clock, ctx, watch_every=timedelta(seconds=1))
    svc.start(paused=True)
    server: HttpServer | None = None
    try:
        world.write_contract("stock-tolerant", drift="50%")
        assert svc.reload("test") is True
        for _ in range(2):
            for name in ("stock", "stock-tolerant"):
                assert svc.run_contract(name) is not None
            clock.advance(60)
        server = HttpServer(build_app(svc), "127.0.0.1", 0)
        server.start()
        yield server.url + "/"
    finally:
        if server is not None:
            server.stop()
        svc.stop()
        store.close()


def _chromium(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    command = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--no-first-run", "--no-default-browser-check", f"--user-data-dir={profile}",
               f"--window-size={WIDTH},{HEIGHT}", *args]
    done = subprocess.run(command, capture_output=True, timeout=BROWSER_TIMEOUT, check=False)
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stderr.decode(errors='replace')[-3000:]}"
    return done


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _png_pixels(data: bytes) -> list[bytes]:
    """Rows of RGB bytes of an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes): stdlib only."""
    width, height = _png_size(data)
    depth, colour, _, _, interlace = struct.unpack(">BBBBB", data[24:29])
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    bpp = 3 if colour == 2 else 4
    idat, pos = bytearray(), 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(bytes(idat))
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if kind == 1:  # Sub
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:  # Up
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev))
        elif kind == 3:  # Average
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif kind == 4:  # Paeth
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        else:
            assert kind == 0, f"unknown PNG filter {kind}"
        prev = line
        rows.append(bytes(line) if bpp == 3 else bytes(b for i, b in enumerate(line) if i % 4 != 3))
    return rows


def _count(rows: list[bytes], rgb: tuple[int, int, int]) -> int:
    return sum(row.count(bytes(rgb)) for row in rows)  # approximate: a match may straddle two pixels


def test_the_status_page_renders_in_a_real_browser(browser: str, page_url: str, tmp_path: Path) -> None:
    shot = tmp_path / "page.png"
    _chromium(browser, tmp_path / "profile-shot", f"--screenshot={shot}", page_url)
    dom = _chromium(browser, tmp_path / "profile-dom", "--dump-dom", page_url).stdout.decode()

    assert shot.is_file(), "Chromium wrote no screenshot"
    data = shot.read_bytes()
    assert _png_size(data) == (WIDTH, HEIGHT)
    rows = _png_pixels(data)
    assert len(set(rows)) > 40, "the screenshot is (nearly) blank"  # text lines, table rules, badges
    # The badges are painted: a 4.5rem-wide block of solid colour each (well over 500 pixels).
    assert _count(rows, RED) > 500, "no red state badge in the screenshot"
    assert _count(rows, GREEN) > 500, "no green state badge in the screenshot"

    # What the browser built from the page, not the bytes the server sent.
    assert "<title>syncwatch: 1 breaching, 0 watch</title>" in dom
    assert 'class="contract">stock</span>' in dom and 'class="contract">stock-tolerant</span>' in dom
    assert '<span class="state red">red</span>' in dom and '<span class="state green">green</span>' in dom
    assert "breach: out of budget" in dom and "within budget" in dom
    assert dom.count("Priya Shah") == 2  # the owner, on each contract's row
    red_row, green_row = dom.index('class="state red"'), dom.index('class="state green"')
    assert red_row < green_row, "the breaching contract is not shown first"
