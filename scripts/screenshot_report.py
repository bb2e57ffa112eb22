"""Take the README's screenshot of the weekly report: a week of the demo world, rendered and opened
in headless Chromium.

By default replays the demo's week (``syncwatch demo --simulate 7d``: a few minutes) into a
temporary folder and renders its report; with ``--store``, renders a week of an existing store
(with ``--config``, that store's config; default the demo's).

    .venv/bin/python scripts/screenshot_report.py            # writes docs/images/weekly-report.png
    .venv/bin/python scripts/screenshot_report.py --store /tmp/demo/syncwatch.db --week 2026-W48 \\
        --out /tmp/week.png --html /tmp/week.html --size 390,2400
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from browser import add_browser_options, browser_from, screenshot

from monitor.config import Config, load_config
from monitor.demo.run import SECRETS, WEEK_START, demo_config_dir, simulate
from monitor.report.render import to_html
from monitor.report.weekly import build_weekly, iso_week
from monitor.store import Store

ROOT = Path(__file__).resolve().parent.parent
# The demo's config reads the simulators' addresses from these; a report only needs the names.
DEMO_ENV = {**SECRETS, "DEMO_URL": "http://127.0.0.1:9", "DEMO_ERP_URL": "sqlite://"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "weekly-report.png")
    parser.add_argument("--store", default=None, help="a store URL or SQLite file (default: replay the demo week)")
    parser.add_argument("--config", type=Path, default=None, help="the store's syncwatch.yaml (default: the demo's)")
    parser.add_argument("--week", default=None, help="ISO week, e.g. 2026-W48 (default: the demo's week, or with "
                                                     "--store the last complete week)")
    parser.add_argument("--days", type=float, default=7.0, help="days of the demo week to replay")
    parser.add_argument("--seed", type=int, default=1, help="seed of the simulated world")
    add_browser_options(parser, "1000,2200")
    parser.add_argument("--html", type=Path, default=None, help="also keep the rendered HTML here")
    args = parser.parse_args(argv)
    browser = browser_from(args)
    if browser is None:
        return 2

    with tempfile.TemporaryDirectory(prefix="syncwatch-report-") as tmp:
        work = Path(tmp)
        if args.store is None:
            print(f"replaying {args.days:g} days of the demo world (seed {args.seed}) …", file=sys.stderr)
            simulate(work / "demo", timedelta(days=args.days), seed=args.seed, environ={})
            url, week_label = f"sqlite:///{work / 'demo' / 'syncwatch.db'}", args.week or "2026-W48"
            now = WEEK_START + timedelta(days=7, hours=9)  # the Monday after, 09:00: when the report goes out
        else:
            url = args.store if "://" in args.store else f"sqlite:///{Path(args.store).resolve()}"
            week_label, now = args.week, datetime.now(UTC)
        html = _render(url, _config(args.config), week_label, now)
        page = work / "weekly-report.html"
        page.write_text(html, encoding="utf-8")
        if args.html is not None:
            args.html.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(page, args.html)
        shot = work / "weekly-report.png"
        screenshot(browser, page.as_uri(), shot, work / "profile", args.size)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB)", file=sys.stderr)
    return 0


def _config(path: Path | None) -> Config:
    if path is None:
        return load_config(demo_config_dir() / "syncwatch.yaml", environ=DEMO_ENV)
    # A report reads names and budgets, never a system: its secrets may be absent here.
    return load_config(path, environ=dict(os.environ), secrets_optional=True)


def _render(url: str, config: Config, week_label: str | None, now: datetime) -> str:
    store = Store.open(url)
    try:
        week = iso_week(week_label, now)
        report = build_weekly(store, config, week, now)
    finally:
        store.close()
    print(f"week {week.label}: {report.headline.probe_runs} probe runs, {len(report.contracts)} contracts",
          file=sys.stderr)
    return to_html(report)



if __name__ == "__main__":
    sys.exit(main())
