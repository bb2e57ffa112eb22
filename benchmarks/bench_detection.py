"""Benchmark: detection accuracy of the monitor against the demo world's ground truth.

Replays a simulated week (the week timeline: one fault of each kind) for each seed
and prints the scorecard figures, the wall time of each replay, and the faults the
monitor missed with why.

Alerts go to a local Slack (``tests.slack_server.FakeSlack`` on loopback, through the real
slack-sdk client), which is down for an hour of the week (``--slack-down``, London time,
Wednesday 09:00 by default: the ERP starts overwriting stock at 09:30). Printed per seed:
messages per incident, duplicate root messages, notifications sent inside maintenance windows,
the median time from breach to the Slack post, and notifications lost (queued but never in
Slack). Run:

    .venv/bin/python benchmarks/bench_detection.py [--seeds 1 2 3] [--days 7] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.alerting.notices import Delivery, Method  # noqa: E402
from monitor.demo.run import WEEK_START, DemoSession, simulate  # noqa: E402
from monitor.loopback import LoopbackServer  # noqa: E402
from monitor.results import ProbeResult  # noqa: E402
from tests.slack_server import DROP, TOKEN, FakeSlack  # noqa: E402

CHANNELS = {"stock-alerts": "C0STOCK01", "orders-alerts": "C0ORDERS1", "crm-alerts": "C0CRMALRT",
            "ops-escalations": "C0ESCALAT", "sync-alerts": "C0SYNCALR"}
OWNERS = ("U04PRIYA01", "U04TOMREED", "U04AMARA01", "U04SAMPATL")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")


def _slack_figures(slack: FakeSlack, session_out: Path) -> dict[str, object]:
    """What reached Slack, against what the store queued."""
    from monitor.store import Store

    messages = [m for channel in CHANNELS.values() for m in slack.messages(channel)]
    uids = [str((m.metadata or {}).get("event_payload", {}).get("uid")) for m in messages]
    roots = [u for m, u in zip(messages, uids, strict=True) if m.thread_ts is None]
    with Store.open(f"sqlite:///{session_out / 'syncwatch.db'}") as store:
        notices = store.notices(limit=1_000_000)
    queued = {n.uid for n in notices if n.method is not Method.UPDATE}
    in_slack = set(uids)
    texts = " ".join(m.text + json.dumps(m.blocks) for m in messages)
    return {
        "slack_messages": len(messages),
        "duplicate_roots": len(roots) - len(set(roots)),
        "duplicate_messages": len(uids) - len(in_slack),
        "lost": len(queued - in_slack) + sum(1 for n in notices if n.state is not Delivery.SENT),
        "emails_in_clear": len(EMAIL.findall(texts)),
        "block_kit_violations": len(slack.violations),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--slack-down", default="2026-11-25T09:00", help="London time Slack goes down for an hour")
    args = parser.parse_args()
    down_at = datetime.fromisoformat(args.slack_down).replace(tzinfo=ZoneInfo("Europe/London"))
    if not WEEK_START <= down_at < WEEK_START + timedelta(days=args.days):
        parser.error(f"--slack-down {args.slack_down} is outside the replayed days")
    base = args.out or Path(tempfile.mkdtemp(prefix="syncwatch-bench-"))
    print(f"machine={platform.machine()} cpus={os.cpu_count()} python={platform.python_version()} days={args.days:g}")
    cards = []
    for seed in args.seeds:
        slack = FakeSlack(users=OWNERS, channel_names=CHANNELS, channels=CHANNELS.values())
        outage = {"down": False, "queued_while_down": 0}

        def slack_outage(session: DemoSession, result: ProbeResult, slack: FakeSlack = slack,
                         outage: dict[str, object] = outage) -> None:
            now = result.started_at
            if not outage["down"] and down_at <= now < down_at + timedelta(hours=1):
                slack.down(DROP)
                outage["down"] = True
            elif outage["down"] and now >= down_at + timedelta(hours=1):
                slack.up()
                outage["down"] = False
                outage["queued_while_down"] = sum(
                    1 for n in session.store.notices(limit=1_000_000)
                    if down_at <= n.created_at < down_at + timedelta(hours=1))

        with LoopbackServer(slack) as server:
            environ = {"SLACK_BOT_TOKEN": TOKEN, "SYNCWATCH_SLACK_API_URL": f"{server.url}/api/"}
            started = time.perf_counter()
            card = simulate(base / f"seed-{seed}", timedelta(days=args.days), seed, environ=environ,
                            on_result=slack_outage)
            wall = time.perf_counter() - started
        slack_side = _slack_figures(slack, base / f"seed-{seed}")
        cards.append(card)
        d = card.details
        print(
            f"seed={seed} wall_seconds={wall:.1f} probe_runs={d['probe_runs']} probe_errors={d['probe_errors']} "
            f"faults={card.faults} detected={card.detected} recall={card.recall} "
            f"median_time_to_breach_s={card.median_time_to_breach_s} false_breaches={card.false_breaches} "
            f"lag_p95_error={card.lag_p95_error} lag_p95_goal_met={d['lag_p95_goal_met']} "
            f"api_share_max={card.api_share_max}"
        )
        for row in d["fault_detail"]:
            if row["data_fault"] and row["broke_budget_at"] and not row["breach_at"]:
                print(f"  missed: {row['name']} ({row['kind']} on {row['contract']}, broke budget {row['broke_budget_at']})")
            if not row["broke_budget_at"]:
                print(f"  did not break a budget (not counted): {row['name']} ({row['kind']})")
        for row in d["false_breach_detail"]:
            print(f"  false breach: {json.dumps(row)}")
        outside = [r for r in d["lag_p95_by_contract_day"] if not r["within_goal"]]
        for row in outside:
            print(f"  lag p95 outside goal: {json.dumps(row)}")
        print(f"  protocol: {json.dumps(d['protocol'])}")
        n = d["notifications"]
        per = list(n["messages_per_incident"].values())
        print(
            f"  slack: incidents={n['incidents']} announced={n['announced']} quiet={n['quiet']} "
            f"messages={n['messages']} edits={n['edits']} "
            f"messages_per_incident_median={statistics.median(per) if per else None} "
            f"messages_per_incident_max={max(per, default=None)} "
            f"duplicate_roots={slack_side['duplicate_roots']} duplicate_messages={slack_side['duplicate_messages']} "
            f"sent_in_maintenance={n['sent_in_maintenance']} breach_to_post_median_s={n['breach_to_post_median_s']} "
            f"breach_to_post_max_s={n['breach_to_post_max_s']} "
            f"slack_down={down_at:%a %H:%M}+1h queued_while_down={outage['queued_while_down']} "
            f"lost={slack_side['lost']} emails_in_clear={slack_side['emails_in_clear']} "
            f"block_kit_violations={slack_side['block_kit_violations']}"
        )
        print(f"  slack by kind: {json.dumps(n['by_kind'])}; per incident: {json.dumps(n['messages_per_incident'])}")
    recalls = [c.recall for c in cards if c.recall is not None]
    ttb = [c.median_time_to_breach_s for c in cards if c.median_time_to_breach_s is not None]
    errors = [c.lag_p95_error for c in cards if c.lag_p95_error is not None]
    print(
        f"overall seeds={len(cards)} recall_min={min(recalls) if recalls else None} "
        f"median_time_to_breach_s_median={statistics.median(ttb) if ttb else None} "
        f"false_breaches_total={sum(c.false_breaches for c in cards)} "
        f"lag_p95_error_worst={max(errors) if errors else None} "
        f"api_share_max={max(c.api_share_max for c in cards)}"
    )
    print(f"written under {base}")


if __name__ == "__main__":
    main()
