"""A person looks at it: the weekly report of a week the demo world lived through (its first six
hours, replayed on a simulated clock), opened as a file in real headless Chromium at a phone's
width and a desktop's.

Each screenshot, tall enough for the whole page, is checked as an image: a PNG of the window's
size, not blank, with a chart's bar painted (the stock sync's Monday, out of budget: red), and on
the phone nothing running off the right edge. The DOM the browser built is checked for the
headline, a chart per target and no script. Skipped only when no Chromium is installed.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from monitor.report.model import WeeklyReport
from monitor.report.render import to_html
from tests.test_report_render import simulated_report
from tests.test_status_page_browser import BROWSER_TIMEOUT, _browser, _png_pixels, _png_size

# Taller than the whole page (about 7,800 and 5,800 px), so that all of it is checked.
PHONE, DESKTOP = (390, 8800), (1000, 6600)
# A bar of a day with runs out of budget, as weekly.html fills it: a run of solid colour no text makes.
RED_BAR = bytes((0xC6, 0x28, 0x28)) * 16
SIDE = 8  # the phone page's padding is 12 px: these columns at the right edge hold nothing


@pytest.fixture(scope="module")
def browser() -> str:
    found = _browser()
    if found is None:
        pytest.skip("no headless browser: none of chromium, chromium-browser, google-chrome is on PATH")
    return found


@pytest.fixture(scope="module")
def week(browser: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[WeeklyReport, Path]:
    """The simulated week's report and its HTML as a file (the browser first: no replay when skipped)."""
    out = tmp_path_factory.mktemp("weekly")
    report = simulated_report(out / "demo")
    page = out / "weekly-2026-W48.html"
    page.write_text(to_html(report), encoding="utf-8")
    return report, page


def _chromium(browser: str, profile: Path, size: tuple[int, int], *args: str) -> bytes:
    command = [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
               "--no-default-browser-check", f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}", *args]
    done = subprocess.run(command, capture_output=True, timeout=BROWSER_TIMEOUT, check=False)
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stderr.decode(errors='replace')[-3000:]}"
    return done.stdout


def _shoot(browser: str, page: Path, size: tuple[int, int], tmp_path: Path) -> list[bytes]:
    shot = tmp_path / f"weekly-{size[0]}.png"
    _chromium(browser, tmp_path / "profile-shot", size, f"--screenshot={shot}", page.as_uri())
    assert shot.is_file(), "Chromium wrote no screenshot"
    data = shot.read_bytes()
    assert _png_size(data) == size
    assert len(data) > 20_000, f"a {len(data)}-byte screenshot of a full page"
    rows = _png_pixels(data)
    assert len(set(rows)) > 200, "the screenshot is (nearly) blank"  # lines of text, tables, charts
    return rows


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_weekly_report_renders_in_a_real_browser(browser: str, week: tuple[WeeklyReport, Path],
                                                     size: tuple[int, int], tmp_path: Path) -> None:
    report, page = week
    rows = _shoot(browser, page, size, tmp_path)
    assert rows[-1] == rows[-1][:3] * size[0], "the page is taller than the screenshot"
    assert sum(1 for row in rows if RED_BAR in row) >= 10, "no chart bar painted in the screenshot"
    if size == PHONE:
        for y, row in enumerate(rows):
            edge = row[-3 * SIDE:]
            assert edge == edge[:3] * SIDE, f"something runs off the right edge of a phone's screen at y={y}"

    dom = _chromium(browser, tmp_path / "profile-dom", size, "--dump-dom", page.as_uri()).decode()
    assert "<title>Integration health, week 48 (23–29 Nov 2026)</title>" in dom
    headline = re.search(r"<strong>([\d.]+% of sampled records were within their latency budget)</strong>", dom)
    assert headline, "the headline is not in the page the browser built"
    assert report.headline.within_budget is not None
    assert headline.group(1).startswith(f"{report.headline.within_budget * 100:.1f}".removesuffix(".0"))
    assert dom.count("<svg") == sum(len(c.targets) for c in report.contracts)
    assert "<script" not in dom
    for c in report.contracts:
        assert f">{c.contract}</h2>" in dom
