"""Print the example alert shown in the README: an incident's root message, two replies in its
thread and the edit on resolution, as the console renders them (what syncwatch prints without a
Slack token). ``--json`` prints the root's Block Kit JSON instead, to paste into Slack's Block Kit
Builder (https://app.slack.com/block-kit-builder) and see it as Slack draws it.

    .venv/bin/python scripts/example_alert.py [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.alerting import messages  # noqa: E402
from monitor.alerting.notices import NoticeKind  # noqa: E402
from monitor.results import IncidentState  # noqa: E402

# Tuesday 24 November 2026, 11:30 London.
NOW = datetime(2026, 11, 24, 11, 30, tzinfo=UTC)


def example_thread() -> str:
    """The README's example, as text."""
    view = messages.example_view(NOW)
    escalated = replace(view, now=NOW + timedelta(minutes=18))
    resolved_at = NOW + timedelta(minutes=48)
    resolved = replace(view, now=resolved_at, incident=replace(
        view.incident, state=IncidentState.RESOLVED, resolved_at=resolved_at))
    parts = [
        ("Root message in #stock-alerts", messages.root(view)),
        ("Reply in its thread when nobody has acknowledged in 30 min of working time", messages.reply(
            escalated, NoticeKind.ESCALATED, escalated_to="<@U04TOMREED>")),
        ("Reply in its thread on resolution", messages.reply(resolved, NoticeKind.RESOLVED)),
        ("The root message, edited", messages.root(resolved)),
    ]
    return "\n\n".join(f"── {title} ──\n{messages.plain_text(message)}" for title, message in parts) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="the root's Block Kit JSON")
    args = parser.parse_args()
    if args.json:
        print(json.dumps({"blocks": messages.root(messages.example_view(NOW)).blocks}, indent=2))
    else:
        print(example_thread(), end="")


if __name__ == "__main__":
    main()
