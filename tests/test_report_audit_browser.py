"""A person looks at it: the audit of the demo world (six replayed hours with a rogue writer and a
WMS outage in them), opened from a file in real headless Chromium.

The screenshot is checked as an image (a 1280×800 PNG, not blank, the red "high" badge painted)
and the DOM the browser built for what a client reads first: the risk counts, the scope sentence
and the five risks to treat first. Skipped only when no Chromium is installed.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.demo.faults import FaultSpec
from monitor.demo.run import SECRETS, WEEK_START, demo_config_dir, simulate
from monitor.report.audit import audit_cli_summary, build_audit
from monitor.report.audit_render import to_html
from monitor.store import Store

# The PNG reading and the Chromium call of the status page's browser test: one copy of each.
from tests.test_status_page_browser import HEIGHT, WIDTH, _browser, _chromium, _count, _png_pixels, _png_size

HIGH = (0xC6, 0x28, 0x28)  # .sev.high in audit.html, as painted
TIMELINE = [
    FaultSpec("erp-overwrites-stock", "rogue_writer", timedelta(hours=1), timedelta(hours=1),
              "the ERP writes its own stock figures into Shopify for 15 SKUs", {"count": 15}),
    FaultSpec("wms-outage", "outage", timedelta(hours=3), timedelta(minutes=30), "the WMS API answers 503",
              {"system": "wms"}),
]


@pytest.fixture
def browser() -> str:
    found = _browser()
    if found is None:
        pytest.skip("no headless browser: none of chromium, chromium-browser, google-chrome is on PATH")
    return found


def test_the_audit_renders_in_a_real_browser(browser: str, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    simulate(out, timedelta(hours=6), seed=1, timeline=TIMELINE, environ={})
    env = {**SECRETS, "DEMO_URL": "http://127.0.0.1:9",
           "DEMO_ERP_URL": f"sqlite:///{(out / 'systems' / 'erp.db').resolve()}"}
    config = load_config(demo_config_dir() / "syncwatch.yaml", environ=env)
    with Store.open(f"sqlite:///{(out / 'syncwatch.db').resolve()}") as store:
        audit = build_audit(store, config, WEEK_START + timedelta(hours=6))
    page = tmp_path / "audit.html"
    page.write_text(to_html(audit), encoding="utf-8")
    url = page.resolve().as_uri()

    shot = tmp_path / "audit.png"
    _chromium(browser, tmp_path / "profile-shot", f"--screenshot={shot}", url)
    dom = _chromium(browser, tmp_path / "profile-dom", "--dump-dom", url).stdout.decode()

    assert shot.is_file(), "Chromium wrote no screenshot"
    data = shot.read_bytes()
    assert _png_size(data) == (WIDTH, HEIGHT)
    assert len(data) > 20_000, "the screenshot is suspiciously small"
    rows = _png_pixels(data)
    assert len(set(rows)) > 40, "the screenshot is (nearly) blank"
    assert _count(rows, HIGH) > 300, "no red 'high' badge in the top of the page"

    s = audit.summary
    assert s.high >= 1 and audit.top
    assert f"<title>Integration audit: {s.high} high, {s.medium} medium, {s.low} low risks</title>" in dom
    assert f"<b>{s.high}</b>high risk" in dom.replace("\n", "").replace("  ", "")
    assert f"{s.contracts} contracts sync {s.fields} fields between {s.systems} systems" in dom
    top = dom.split('<table id="top">', 1)[1].split("</table>", 1)[0]
    assert top.count('<span class="sev ') == len(audit.top) == 5
    assert "Two systems write inventory.available" in top
    assert audit_cli_summary(audit) in dom  # the footer
