"""Which keys a probe run reads: the sampling mix of DESIGN.md section 3.

* ``watch``: named keys (bestsellers, canary SKUs), every run;
* ``recent``: keys changed in the source within the recent window, most likely in
  flight (they give lag samples); drawn at random from what changed-since returns;
* ``uniform``: a uniform random sample of all keys (finds lost updates, old drift);
* ``followup``: keys of open divergences, re-read to follow them to resolution.
  They are kept out of the health ratios, which stay estimates over the sample proper.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from monitor.config.models import Contract
from monitor.results import OpenDivergence, Stream
from probes.base import Connector, EntityQuery

__all__ = ["Sample", "draw_sample"]

# changed-since is asked for this many times the recent quota, so the quota is drawn
# at random from the window rather than being just the very latest changes.
_RECENT_OVERFETCH = 4


@dataclass
class Sample:
    keys: dict[str, Stream] = field(default_factory=dict)  # insertion order = read order

    def add(self, keys: Iterable[str], stream: Stream, limit: int | None = None) -> int:
        added = 0
        for key in keys:
            if limit is not None and added >= limit:
                break
            if key not in self.keys:
                self.keys[key] = stream
                added += 1
        return added

    def count(self, stream: Stream) -> int:
        return sum(1 for s in self.keys.values() if s is stream)


def draw_sample(
    contract: Contract,
    source: Connector,
    query: EntityQuery,
    now: datetime,
    rng: random.Random,
    open_divergences: Iterable[OpenDivergence] = (),
    clear_keys: Mapping[str, str] | None = None,
) -> Sample:
    """Draw this run's keys from the source. Connector errors propagate (a probe error).

    ``clear_keys`` maps the stored form of a personal key back to the key itself,
    for the follow-ups a long-running process can still make; personal keys the
    process never saw are followed only when they are sampled again.
    """
    plan = contract.sampling
    sample = Sample()
    sample.add((str(k) for k in plan.watch), Stream.WATCH)
    room = max(0, plan.size - len(sample.keys))
    want_recent = min(room, round(plan.size * plan.recent))
    if want_recent > 0 and query.updated_at is not None:
        changed = source.changed_since(query, now - contract.recent_window, want_recent * _RECENT_OVERFETCH)
        changed = list(dict.fromkeys(changed))
        rng.shuffle(changed)
        sample.add(changed, Stream.RECENT, limit=want_recent)
    want_uniform = max(0, plan.size - len(sample.keys))
    if want_uniform > 0:
        # Ask for more than needed: some of the draw may already be in the sample.
        drawn = source.sample_keys(query, want_uniform + len(sample.keys), rng)
        sample.add(drawn, Stream.UNIFORM, limit=want_uniform)
    if plan.followup > 0:
        followups = []
        for div in sorted(open_divergences, key=lambda d: d.first_seen):
            key = clear_keys.get(div.key, div.key) if clear_keys is not None else div.key
            if contract.keys.personal and key == div.key and key.startswith("h:"):
                continue  # a hashed key we cannot look up
            followups.append(key)
        sample.add(followups, Stream.FOLLOWUP, limit=plan.followup)
    return sample
