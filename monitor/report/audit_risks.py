"""The risk register of the integration audit: the rules that turn the measured week and the
configuration into ``Risk`` entries, their thresholds, and the ranking. ``monitor.report.audit``
measures (the field register, the system map, who answers when) and calls ``find_risks``;
``monitor.report.audit_render`` formats the result.

The rules (severity in brackets), ranked by severity, then by weight (``Risk.score``):

* a field written by more than one system: conflicts observed on it (high);
* a budget never met in the window: attainment 0 with runs that could read (high); met in fewer
  than 99% of runs (medium);
* a contract whose owner has no backup (medium), or whose owner and backup together leave hours
  of the week (Europe/London) without anyone in working hours (low);
* a sample too small for its budget: a drift at the budget's rate is found with less than 95%
  probability per run (medium);
* a flow the monitor often cannot read: 5% of runs or more failed (medium);
* data in the systems that no contract covers: an entity configured under a system that no
  contract uses, a table in a ``kind: sql`` database that no entity reads (low); a database whose
  tables could not be listed (low).

Nothing here reads or shows a record's key or value: personal keys never reach the report.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from monitor.alerting.wording import day_time_text, duration_text, share_text
from monitor.config.loader import Config, detection_probability, required_sample_size
from monitor.config.models import Contract
from monitor.config.schedule import LONDON
from monitor.report.weekly import ATTAINMENT_GOAL, BLIND_SHARE
from monitor.store.week import WeekConflict

if TYPE_CHECKING:  # the measured data the rules read; audit imports this module, not the reverse
    from monitor.report.audit import Cover, SystemEntity, SystemSummary, _Flow

__all__ = ["SEVERITIES", "DETECTION_GOAL", "Risk", "find_risks"]

SEVERITIES = ("high", "medium", "low")
DETECTION_GOAL = 0.95  # a sample should find a drift at the budget's rate with this probability per run
_LISTED_TABLES = 20  # table names named in a risk's evidence; the rest are counted


@dataclass(frozen=True, slots=True)
class Risk:
    """One entry of the register. ``rule``: multiple_writers, budget_never_met, budget_missed, no_backup,
    hours_uncovered, sample_too_small, blind_spot, entity_uncovered, tables_uncovered, tables_unlisted."""

    rule: str
    severity: str  # high, medium, low
    title: str  # what, in business words
    evidence: str
    action: str
    owner: str  # who should act (a name), or "unassigned"
    contracts: tuple[str, ...]
    score: float  # rank within a severity (higher first)


def find_risks(config: Config, *, names: Mapping[str, str], flows: Mapping[tuple[str, str], _Flow],
               conflicts_of: Mapping[tuple[str, str, str], list[WeekConflict]], cover: Sequence[Cover],
               systems: Sequence[SystemSummary], entities: Sequence[SystemEntity], days: int,
               out_of_hours: str | None) -> list[Risk]:
    """Every rule's risks over the audit's measures, ranked: high first, then by score, then by title.
    ``names``: the systems' names as in sentences ("the WMS"); ``out_of_hours``: the route, described."""
    risks: list[Risk] = []
    risks += _conflict_risks(config, names, conflicts_of)
    risks += _budget_risks(config, names, flows, days)
    risks += _blind_spots(config, names, flows)
    risks += _sample_risks(config)
    risks += _cover_risks(config, cover, out_of_hours)
    risks += _coverage_gaps(config, names, systems, entities)
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    risks.sort(key=lambda r: (rank[r.severity], -r.score, r.title))
    return risks


# -- the rules -----------------------------------------------------------------------------------


def _owner_name(config: Config, key: str) -> str:
    owner = config.owners.get(key)
    return str(owner.name) if owner is not None else key


def _flow_text(names: Mapping[str, str], contract: Contract, target: str) -> str:
    """``WMS → Shopify``: short names, without "the"."""
    src = contract.source.system
    return f"{names.get(src, src).removeprefix('the ')} → {names.get(target, target).removeprefix('the ')}"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _conflict_risks(config: Config, names: Mapping[str, str],
                    conflicts_of: Mapping[tuple[str, str, str], list[WeekConflict]]) -> list[Risk]:
    risks = []
    for (name, target, field_name), rows in sorted(conflicts_of.items()):
        contract = config.contracts[name]
        src = contract.source
        spec = next(t for t in contract.targets if t.system == target)  # kept by audit._conflicts_by_field
        target_field, entity = spec.fields.get(field_name, field_name), spec.entity
        owner_sys, writer = names.get(src.system, src.system), names.get(target, target)
        records = len({c.key for c in rows})
        first, last = min(c.first_seen for c in rows), max(c.last_seen for c in rows)
        days = len({c.first_seen.astimezone(LONDON).date() for c in rows})
        risks.append(Risk(
            rule="multiple_writers", severity="high",
            title=f"Two systems write {entity}.{target_field}: {writer} changes it although {owner_sys} owns it",
            evidence=(f"{records:,} {_plural(records, 'record')} of "
                      f"{writer.removeprefix('the ')}.{entity}.{target_field} changed in {writer} after "
                      f"{owner_sys}'s last change, on {days} {_plural(days, 'day')} "
                      f"({day_time_text(first)} to {day_time_text(last)} London); contract {name}"),
            action=(f"Agree that {owner_sys} is the one system of record for {field_name}: find what in {writer} "
                    f"writes it (an app, an import, a script, manual edits) and stop it; if {writer} should own "
                    "it, change the contract."),
            owner=_owner_name(config, contract.owner), contracts=(name,), score=10.0 + records,
        ))
    return risks


def _budget_risks(config: Config, names: Mapping[str, str], flows: Mapping[tuple[str, str], _Flow],
                  days: int) -> list[Risk]:
    risks = []
    for name, contract in sorted(config.contracts.items()):
        budget = contract.budget
        for target in contract.targets:
            flow = flows.get((name, target.system))
            if flow is None or flow.attainment is None or flow.attainment >= ATTAINMENT_GOAL:
                continue
            text = _flow_text(names, contract, target.system)
            failed = f"; {flow.failed:,} more could not read" if flow.failed else ""
            evidence = (f"{flow.within:,} of {flow.seen:,} runs within budget (at most {share_text(budget.drift)} of "
                        f"records more than {duration_text(budget.latency)} behind){failed}; "
                        f"contract {name}")
            owner = _owner_name(config, contract.owner)
            if flow.within == 0:
                risks.append(Risk(
                    "budget_never_met", "high",
                    f"The {text} sync never kept to its agreed budget in the last {days} {_plural(days, 'day')}",
                    evidence,
                    f"Find why {names.get(target.system, target.system)} falls behind (the integration's queue, "
                    "schedule or errors); if the budget is unrealistic, agree a new one with "
                    f"{owner} and write it in the contract.",
                    owner, (name,), 100.0,
                ))
            else:
                risks.append(Risk(
                    "budget_missed", "medium",
                    f"The {text} sync kept to its agreed budget in only {flow.attainment:.0%} of runs",
                    evidence,
                    f"Look at when it falls behind (the weekly report's days and hours) and fix the cause with "
                    f"the integration's maintainer; the goal is {ATTAINMENT_GOAL:.0%} of runs.",
                    owner, (name,), (1 - flow.attainment) * 100,
                ))
    return risks


def _blind_spots(config: Config, names: Mapping[str, str], flows: Mapping[tuple[str, str], _Flow]) -> list[Risk]:
    risks = []
    for name, contract in sorted(config.contracts.items()):
        for target in contract.targets:
            flow = flows.get((name, target.system))
            if flow is None or not flow.runs or flow.failed / flow.runs < BLIND_SHARE:
                continue
            share = flow.failed / flow.runs
            reasons = ", ".join(f"{reason} × {n}" for reason, n in sorted(flow.reasons.items()))
            src = names.get(contract.source.system, contract.source.system)
            tgt = names.get(target.system, target.system)
            risks.append(Risk(
                "blind_spot", "medium",
                f"The monitor could not read {src} or {tgt} in {share:.0%} of {name} runs",
                f"{flow.failed:,} of {flow.runs:,} runs could not read ({reasons}); while it cannot read, nobody "
                f"knows whether the {_flow_text(names, contract, target.system)} sync works",
                "Check the connector's credentials, rate limits and timeouts, and the systems' availability "
                "(planned maintenance belongs in alerting.maintenance).",
                _owner_name(config, contract.effective_technical_owner), (name,), share * 100,
            ))
    return risks


def _sample_risks(config: Config) -> list[Risk]:
    risks = []
    for name, contract in sorted(config.contracts.items()):
        rate, size = contract.budget.drift, contract.sampling.size
        if not 0 < rate < 1:
            continue
        chance = detection_probability(size, rate)
        if chance >= DETECTION_GOAL:
            continue
        need = required_sample_size(rate, DETECTION_GOAL)
        risks.append(Risk(
            "sample_too_small", "medium",
            f"{name} checks too few records to notice its own budget being broken",
            f"a sample of {size} records finds a {share_text(rate)} drift with only {chance:.0%} probability per run; "
            f"{need} records would reach {DETECTION_GOAL:.0%}",
            f"Raise sampling.size to {need} (within the systems' API share), or agree a looser drift budget.",
            _owner_name(config, contract.effective_technical_owner), (name,), (1 - chance) * 100,
        ))
    return risks


def _cover_risks(config: Config, cover: Sequence[Cover], out_of_hours: str | None) -> list[Risk]:
    groups: dict[tuple[str, str | None], list[Cover]] = defaultdict(list)
    for c in cover:
        contract = config.contracts[c.contract]
        owner = config.owners.get(contract.owner)
        groups[(contract.owner, owner.backup if owner is not None else None)].append(c)
    channel = config.settings.alerting.escalation_channel
    escalation = f"straight to {channel}" if channel else "nowhere (no escalation channel is set)"
    routed = f"; out of hours, alerts go to {out_of_hours}" if out_of_hours else ""
    risks = []
    for (_, backup_key), rows in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        first = rows[0]
        contracts = tuple(r.contract for r in rows)
        listed = ", ".join(contracts)
        if backup_key is None:
            risks.append(Risk(
                "no_backup", "medium",
                f"Nobody stands in for {first.owner} on {listed}",
                f"{first.owner} has no backup in the owners file: unacknowledged alerts escalate "
                f"{escalation}; they are out of working hours {first.uncovered_hours:g} of 168 hours a week "
                f"({first.uncovered}, London){routed}",
                "Name a backup for them in the owners file (owners.<key>.backup), ideally someone whose working "
                "hours cover theirs.",
                first.owner, contracts, 50.0 + first.uncovered_hours / 10,
            ))
        elif first.uncovered_hours > 0:
            risks.append(Risk(
                "hours_uncovered", "low",
                f"{first.uncovered_hours:g} hours a week nobody answers for {listed}",
                f"{first.owner}, {first.owner_hours}, and backup {first.backup}, {first.backup_hours}, leave "
                f"{first.uncovered_hours:g} of 168 hours uncovered: {first.uncovered} (London){routed}",
                "Decide whether a breach may wait for the morning; if not, set alerting.out_of_hours to an on-call "
                "mention, or name a backup whose hours fill the gap.",
                first.owner, contracts, first.uncovered_hours / 10,
            ))
    return risks


def _coverage_gaps(config: Config, names: Mapping[str, str], systems: Sequence[SystemSummary],
                   entities: Sequence[SystemEntity]) -> list[Risk]:
    risks = []
    technical: dict[str, set[str]] = defaultdict(set)
    for contract in config.contracts.values():
        for system in (contract.source.system, *(t.system for t in contract.targets)):
            technical[system].add(_owner_name(config, contract.effective_technical_owner))

    def who(system: str) -> str:
        return ", ".join(sorted(technical.get(system, ()))) or "unassigned"

    for e in entities:
        if e.configured and not e.covered:
            risks.append(Risk(
                "entity_uncovered", "low",
                _cap(f"{names.get(e.system, e.system)}'s {e.entity} are connected but no contract watches them"),
                f"entity {e.entity} of system {e.system} is configured in syncwatch.yaml and used by no contract",
                "Write a contract for what syncs to or from it (which system owns which field, the budget), or "
                "remove it from the configuration.",
                who(e.system), (), 1.0,
            ))
    for s in systems:
        if s.unmonitored_tables:
            n = len(s.unmonitored_tables)
            shown = ", ".join(s.unmonitored_tables[:_LISTED_TABLES])
            more = f" and {n - _LISTED_TABLES} more" if n > _LISTED_TABLES else ""
            risks.append(Risk(
                "tables_uncovered", "low",
                _cap(f"{names.get(s.system, s.system)}'s database has {n} {_plural(n, 'table')} no contract covers"),
                f"in {names.get(s.system, s.system)}'s database ({s.system}) but read by no entity: {shown}{more}",
                "Check whether they hold data that syncs (stock, prices, orders, customers); if so, add them as "
                "entities and write a contract.",
                who(s.system), (), 0.5 + n / 100,
            ))
        if s.listing_error is not None:
            risks.append(Risk(
                "tables_unlisted", "low",
                f"Could not check {names.get(s.system, s.system)}'s database for data no contract covers",
                f"its tables could not be listed: {s.listing_error}",
                "Let the monitor's database user read the catalogue (table names only), or check the URL; "
                "then audit again.",
                who(s.system), (), 0.5,
            ))
    return risks


# -- small words -----------------------------------------------------------------------------------


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"
