"""Take the README's picture of the audit: the demo world replayed, audited and screenshotted.

Replays the demo world's week (``monitor.demo.run.simulate``, its week of faults, on a simulated
clock, in a temporary folder), builds the audit of what the monitor measured over it, writes it as
HTML and screenshots it with headless Chromium. The full week takes a few minutes; ``--hours``
replays less (the rogue writer, the week's ownership conflict, starts at hour 57).

    .venv/bin/python scripts/screenshot_audit.py            # writes docs/images/audit.png
    .venv/bin/python scripts/screenshot_audit.py --hours 72 --out /tmp/audit.png --html /tmp/audit.html
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from browser import add_browser_options, browser_from, screenshot

from monitor.config import load_config
from monitor.config.schedule import LONDON
from monitor.demo.run import SECRETS, WEEK_START, demo_config_dir, simulate
from monitor.report.audit import audit_cli_summary, build_audit
from monitor.report.audit_render import to_html
from monitor.store import Store

ROOT = Path(__file__).resolve().parent.parent



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "audit.png")
    parser.add_argument("--html", type=Path, default=None, help="also keep the audit's HTML here")
    parser.add_argument("--hours", type=float, default=168.0, help="hours of the demo week to replay")
    parser.add_argument("--seed", type=int, default=1)
    add_browser_options(parser, "1280,1600")
    args = parser.parse_args(argv)
    browser = browser_from(args)
    if browser is None:
        return 2
    if args.hours <= 0:
        print("--hours must be more than 0", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="syncwatch-audit-") as tmp:
        work = Path(tmp)
        out = work / "demo"
        duration = timedelta(hours=args.hours)
        print(f"replaying {args.hours:g} h of the demo week …", file=sys.stderr)
        simulate(out, duration, seed=args.seed, environ={}, progress=_progress(WEEK_START + duration))
        print(file=sys.stderr)
        env = {**SECRETS, "DEMO_URL": "http://127.0.0.1:9",
               "DEMO_ERP_URL": f"sqlite:///{(out / 'systems' / 'erp.db').resolve()}"}
        config = load_config(demo_config_dir() / "syncwatch.yaml", environ=env)
        with Store.open(f"sqlite:///{(out / 'syncwatch.db').resolve()}") as store:
            audit = build_audit(store, config, WEEK_START + duration, days=max(1, math.ceil(args.hours / 24)))
        print(audit_cli_summary(audit), file=sys.stderr)
        page = work / "audit.html"
        page.write_text(to_html(audit), encoding="utf-8")
        shot = work / "audit.png"
        screenshot(browser, page.resolve().as_uri(), shot, work / "profile", args.size)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, args.out)
        if args.html is not None:
            args.html.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(page, args.html)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB)", file=sys.stderr)
    return 0


def _progress(until: datetime) -> Callable[[datetime], None]:
    last: list[int] = [-1]

    def show(at: datetime) -> None:
        hour = int((at - WEEK_START).total_seconds() // 3600)
        if hour != last[0] and hour % 6 == 0:
            last[0] = hour
            print(f"\r  {at.astimezone(LONDON):%a %H:%M} (to {until.astimezone(LONDON):%a %H:%M})", end="",
                  file=sys.stderr, flush=True)

    return show



if __name__ == "__main__":
    sys.exit(main())
