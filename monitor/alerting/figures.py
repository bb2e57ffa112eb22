"""How the notifications of a stretch of time went, from the store: messages per incident, time
from breach to the first post, anything sent inside a maintenance window, anything not delivered.

Used by the replay's scorecard and by ``benchmarks/bench_detection.py``.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from monitor.alerting.notices import Delivery, Method, NoticeKind
from monitor.alerting.planner import Routing, held_back
from monitor.config.loader import Config
from monitor.store import Store

__all__ = ["NotificationFigures", "notification_figures"]


@dataclass
class NotificationFigures:
    incidents: int = 0
    announced: int = 0  # incidents with a root message
    quiet: int = 0  # healed before they could be announced (maintenance, silence)
    messages: int = 0  # posts and replies sent (edits are not messages)
    edits: int = 0
    messages_per_incident: dict[str, int] = field(default_factory=dict)  # "id contract/target/kind" -> n
    roots_per_incident_max: int = 0
    sent_in_maintenance: int = 0
    pending: int = 0
    failed: int = 0
    breach_to_post_median_s: float | None = None
    breach_to_post_max_s: float | None = None
    by_kind: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def notification_figures(store: Store, config: Config) -> NotificationFigures:
    figures = NotificationFigures()
    routing = Routing(config.settings.alerting, dict(config.owners), {})
    incidents = {i.id: i for i in store.incidents(limit=100_000)}
    notices = store.notices(limit=1_000_000)
    figures.incidents = len(incidents)
    messages: Counter[int] = Counter()
    roots: Counter[int] = Counter()
    kinds: Counter[str] = Counter()
    delays: list[float] = []
    for notice in notices:
        if notice.state is Delivery.PENDING:
            figures.pending += 1
        elif notice.state is Delivery.FAILED:
            figures.failed += 1
        if notice.state is not Delivery.SENT or notice.incident_id is None:
            continue
        incident = incidents.get(notice.incident_id)
        if notice.method is Method.UPDATE:
            figures.edits += 1
        else:
            figures.messages += 1
            messages[notice.incident_id] += 1
            kinds[notice.kind.value] += 1
        if notice.method is Method.POST and notice.kind in (NoticeKind.OPENED, NoticeKind.REOPENED):
            roots[notice.incident_id] += 1
            if incident is not None and notice.sent_at is not None:
                delays.append((notice.sent_at - incident.opened_at).total_seconds())
        contract = config.contracts.get(incident.contract) if incident is not None else None
        if incident is not None and contract is not None and notice.sent_at is not None:
            why = held_back(incident, contract, routing, (), notice.sent_at)
            if why is not None and why.startswith("maintenance"):
                figures.sent_in_maintenance += 1
    figures.announced = len(roots)
    figures.quiet = sum(1 for i in incidents if i not in roots)
    figures.roots_per_incident_max = max(roots.values(), default=0)
    figures.messages_per_incident = {
        f"{i} {incidents[i].contract}/{incidents[i].target}/{incidents[i].kind.value}": n
        for i, n in sorted(messages.items()) if i in incidents
    }
    figures.by_kind = dict(sorted(kinds.items()))
    if delays:
        figures.breach_to_post_median_s = statistics.median(delays)
        figures.breach_to_post_max_s = max(delays)
    return figures
