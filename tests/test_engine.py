"""The probe engine on in-memory connectors: kinds, ages, lag, follow-ups, health and the verdict."""

from __future__ import annotations

import random

import pytest

from monitor.clock import FixedClock
from monitor.engine import ProbeEngine
from monitor.errors import ConnectorTimeout
from monitor.results import BreachKind, Kind, Outcome, PriorState, ProbeResult, Stream
from tests.support import T0, MemoryConnector, at, contract, systems

SECRET = b"k" * 32


def _run(engine: ProbeEngine, wms: MemoryConnector, shop: MemoryConnector, now_s: float, prior: PriorState | None = None) -> ProbeResult:
    return engine.run({"wms": wms, "shop": shop}, prior or PriorState(), FixedClock(at(now_s)), random.Random(3))


def _kinds(result: ProbeResult) -> dict[str, str]:
    return {o.key: o.kind.value for o in result.targets[0].observations}


def _world(pairs: dict[str, tuple[int, float, int | None, float | None]]) -> tuple[MemoryConnector, MemoryConnector]:
    """sku -> (source value, source updated_at s, target value or None (missing), target updated_at s)."""
    src = [{"sku": k, "available": v, "updated_at": at(us)} for k, (v, us, _, _) in pairs.items()]
    tgt = [{"sku": k, "available": tv, "updated_at": at(ut)} for k, (_, _, tv, ut) in pairs.items() if tv is not None and ut is not None]
    return MemoryConnector("wms", {"stock": src}), MemoryConnector("shop", {"inventory": tgt})


def test_each_kind_with_its_age_and_budget() -> None:
    wms, shop = _world({
        "in-sync": (5, -1000, 5, -990),
        "fresh-stale": (5, -60, 4, -3000),  # 60 s behind: in flight
        "old-stale": (5, -2400, 9, -9000),  # 40 min behind: out of budget, shop shows more
        "conflict": (5, -3600, 25, -600),  # shop written after the WMS, to another value
        "missing": (5, -7200, None, None),
    })
    shop.rows["inventory"].append({"sku": "dup", "available": 1, "updated_at": at(-50)})
    shop.rows["inventory"].append({"sku": "dup", "available": 1, "updated_at": at(-50)})
    wms.rows["stock"].append({"sku": "dup", "available": 1, "updated_at": at(-100)})
    result = _run(ProbeEngine(contract(), systems(), SECRET), wms, shop, 0)
    obs = {o.key: o for o in result.targets[0].observations}
    assert _kinds(result) == {
        "in-sync": "in_sync", "fresh-stale": "stale", "old-stale": "stale",
        "conflict": "conflict", "missing": "missing", "dup": "duplicate",
    }
    assert obs["fresh-stale"].age_seconds == 60 and not obs["fresh-stale"].out_of_budget
    assert obs["old-stale"].age_seconds == 2400 and obs["old-stale"].out_of_budget
    assert obs["old-stale"].diffs[0].direction == "target_higher" and obs["old-stale"].diffs[0].at_risk
    assert obs["missing"].age_seconds == 7200 and obs["missing"].out_of_budget
    h = result.targets[0].health
    assert (h.sampled, h.divergent, h.out_of_budget, h.conflicts) == (6, 5, 3, 1)
    assert h.drift_ratio == pytest.approx(5 / 6)
    assert h.at_risk == {"oversell": 2}  # old-stale and conflict show more stock than the WMS
    assert result.outcome is Outcome.DIVERGENT


def test_a_conflict_is_a_write_later_than_any_sync_within_budget_explains() -> None:
    # Budget 5 minutes: written 1 s, 4 min and 6 min after the source's last change.
    wms, shop = _world({"a": (5, -600, 4, -599), "b": (5, -600, 4, -360), "c": (5, -600, 4, -240)})
    result = _run(ProbeEngine(contract(), systems(skew="2s"), SECRET), wms, shop, 0)
    assert _kinds(result) == {"a": "stale", "b": "stale", "c": "conflict"}


def test_clock_skew_wider_than_the_budget_still_counts() -> None:
    wms, shop = _world({"a": (5, -900, 4, -500)})  # written 400 s later; skew allowance 10 min
    result = _run(ProbeEngine(contract(), systems(skew="10m"), SECRET), wms, shop, 0)
    assert _kinds(result) == {"a": "stale"}


def test_local_writes_allowed_judges_a_newer_target_value_by_age() -> None:
    c = contract(fields={"available": {"compare": "number", "local_writes": "allowed"}})
    wms, shop = _world({"sold": (5, -120, 4, -30)})
    result = _run(ProbeEngine(c, systems(), SECRET), wms, shop, 0)
    [o] = result.targets[0].observations
    assert o.kind is Kind.STALE and o.age_seconds == 120 and not o.out_of_budget


def test_unreadable_is_a_schema_change_not_drift() -> None:
    wms, shop = _world({"a": (5, -100, 5, -50), "b": (5, -100, 5, -50)})
    del shop.rows["inventory"][0]["available"]  # the field is gone from one record
    shop.rows["inventory"][1]["available"] = "lots"  # the type changed
    result = _run(ProbeEngine(contract(), systems(), SECRET), wms, shop, 0)
    h, v = result.targets[0].health, result.targets[0].verdict
    assert _kinds(result) == {"a": "unreadable", "b": "unreadable"}
    assert (h.sampled, h.divergent, h.unreadable) == (0, 0, 2)
    assert BreachKind.SCHEMA_CHANGE in v.conditions and BreachKind.OUT_OF_BUDGET not in v.conditions
    problems = [p for o in result.targets[0].observations for p in o.problems]
    assert "target.available: absent" in problems
    assert all("lots" not in p for p in problems)  # values never leak into problems


def test_source_without_updated_at_counts_age_from_first_sight_as_a_lower_bound() -> None:
    c = contract(source={"system": "wms", "entity": "stock", "key": "sku"})
    wms, shop = _world({"a": (5, 0, 4, -100)})
    engine = ProbeEngine(c, systems(), SECRET)
    first = _run(engine, wms, shop, 0)
    [o1] = first.targets[0].observations
    assert o1.age_seconds == 0 and o1.age_is_lower_bound
    prior = PriorState(open={("shop", "a"): first.changes.opened[0]})
    second = _run(engine, wms, shop, 400, prior)
    [o2] = second.targets[0].observations
    assert o2.age_seconds == 400 and o2.age_is_lower_bound and o2.out_of_budget


def test_divergence_resolution_records_lag_and_its_resolution() -> None:
    wms, shop = _world({"a": (7, 0, 3, -500)})
    engine = ProbeEngine(contract(), systems(), SECRET)
    r1 = _run(engine, wms, shop, 60)
    [opened] = r1.changes.opened
    assert opened.source_updated_at == T0 and opened.first_seen == at(60)
    # The sync lands at 100 s; the next probe is at 120 s.
    shop.rows["inventory"][0].update(available=7, updated_at=at(100))
    r2 = _run(engine, wms, shop, 120, PriorState(open={("shop", "a"): opened}))
    [res] = r2.changes.resolved
    assert res.lag_seconds == 120 and res.resolution_seconds == 60  # true lag 100 s is in [60, 120]
    # The record also carries both timestamps: the exact sample (ut - us = 100 s) is used, and
    # the resolution's coarser bound is not counted a second time.
    assert r2.targets[0].observations[0].lag_seconds == 100
    assert r2.targets[0].health.lag_samples == 1 and r2.targets[0].health.lag_p95 == 100


def test_open_divergences_are_followed_up_outside_the_health_ratios() -> None:
    wms, shop = _world({f"k{i}": (1, -5000, 1, -4000) for i in range(50)} | {"lost": (2, -3000, 1, -9000)})
    c = contract(sampling={"size": 5, "recent": "0%", "followup": 10})
    engine = ProbeEngine(c, systems(), SECRET)
    prior = PriorState(open={("shop", "lost"): _opened("lost")})
    result = _run(engine, wms, shop, 0, prior)
    streams = {o.key: o.stream for o in result.targets[0].observations}
    assert streams["lost"] is Stream.FOLLOWUP
    assert result.targets[0].health.sampled == 5  # the follow-up is not in the sample proper
    assert result.changes.updated and result.changes.updated[0].key == "lost"


def _opened(key: str):  # type: ignore[no-untyped-def]
    from monitor.results import OpenDivergence

    return OpenDivergence("shop", key, key, Kind.STALE, at(-600), at(-60), at(-3000), ("available",))


def test_tracked_source_time_stays_on_the_oldest_unreflected_change() -> None:
    wms, shop = _world({"a": (5, -100, 1, -9000)})
    engine = ProbeEngine(contract(), systems(), SECRET)
    prior = PriorState(open={("shop", "a"): _opened("a")})  # behind since -3000 s
    result = _run(engine, wms, shop, 0, prior)
    [o] = result.targets[0].observations
    assert o.age_seconds == 3000 and result.changes.updated[0].source_updated_at == at(-3000)
    # The target wrote after that change (it caught up with it): the age restarts at the newer change.
    shop.rows["inventory"][0]["updated_at"] = at(-2000)
    result = _run(engine, wms, shop, 0, prior)
    assert result.targets[0].observations[0].age_seconds == 100


def test_hold_turns_conditions_into_a_breach_and_a_healthy_run_clears_it() -> None:
    wms, shop = _world({"a": (5, -3000, 1, -9000), "b": (5, -3000, 5, -2990)})
    engine = ProbeEngine(contract(), systems(), SECRET)
    r1 = _run(engine, wms, shop, 0)
    v1 = r1.targets[0].verdict
    assert v1.conditions == (BreachKind.OUT_OF_BUDGET,) and v1.breaching == ()
    r2 = _run(engine, wms, shop, 60, PriorState(streaks={"shop": v1.streaks}))
    v2 = r2.targets[0].verdict
    assert v2.streaks["out_of_budget"] == 2 and v2.breaching == (BreachKind.OUT_OF_BUDGET,)
    shop.rows["inventory"][0].update(available=5, updated_at=at(100))
    r3 = _run(engine, wms, shop, 120, PriorState(streaks={"shop": v2.streaks}))
    assert r3.targets[0].verdict.breaching == () and r3.targets[0].verdict.streaks["out_of_budget"] == 0


def test_conflict_on_a_critical_field_breaches_at_once() -> None:
    c = contract(fields={"available": {"compare": "number", "critical": True}})
    wms, shop = _world({"a": (5, -3000, 9, -60)})
    result = _run(ProbeEngine(c, systems(), SECRET), wms, shop, 0)
    assert result.targets[0].verdict.breaching == (BreachKind.CONFLICT,)


def test_a_failing_source_is_a_probe_error_never_drift() -> None:
    wms, shop = _world({"a": (5, -3000, 1, -9000)})
    wms.fail = ConnectorTimeout("timed out", system="wms", attempts=4)
    engine = ProbeEngine(contract(), systems(), SECRET)
    result = _run(engine, wms, shop, 0, PriorState(streaks={"shop": {"out_of_budget": 1}}))
    assert result.outcome is Outcome.ERROR and result.error_reason == "timeout"
    target = result.targets[0]
    assert target.observations == [] and target.health.divergent == 0 and target.health.error_reason == "timeout"
    assert target.verdict.conditions == (BreachKind.PROBE_FAILING,)
    assert target.verdict.streaks["out_of_budget"] == 1  # not evidence either way: kept


def test_a_failing_target_is_an_error_for_that_target_only() -> None:
    wms, shop = _world({"a": (5, -3000, 5, -2990)})
    shop.fail = ConnectorTimeout("timed out", system="shop")
    result = _run(ProbeEngine(contract(), systems(), SECRET), wms, shop, 0)
    assert result.outcome is Outcome.ERROR
    assert result.targets[0].health.outcome is Outcome.ERROR and result.targets[0].observations == []


def test_personal_keys_never_leave_the_engine_in_clear() -> None:
    c = contract(keys={"case": "fold", "personal": True}, source={"system": "wms", "entity": "stock", "key": "sku", "updated_at": "updated_at"})
    wms, shop = _world({"Jo.Bloggs@Example.co.uk": (1, -5000, 0, -9000)})
    shop.rows["inventory"][0]["sku"] = "jo.bloggs@example.co.uk"  # case differs across systems
    shop.fold_keys = True
    result = _run(ProbeEngine(c, systems(), SECRET), wms, shop, 0)
    [o] = result.targets[0].observations
    assert o.kind is Kind.STALE  # matched despite the case
    assert "@example" not in o.key and o.key.startswith("h:")
    assert o.key_display == "j***@e***.co.uk"
    assert "bloggs" not in repr(result).lower()


def test_sampling_mix_watch_recent_uniform() -> None:
    rows = {f"k{i:03d}": (1, -10 * i, 1, -10 * i + 5) for i in range(200)}
    wms, shop = _world(rows)
    c = contract(sampling={"size": 40, "recent": "25%", "recent_window": "5m", "watch": ["k150", "nope"]})
    result = _run(ProbeEngine(c, systems(), SECRET), wms, shop, 0)
    assert result.sampled_by_stream == {"watch": 2, "recent": 10, "uniform": 28}
    recent = [o for o in result.targets[0].observations if o.stream is Stream.RECENT]
    assert all(int(o.key[1:]) <= 30 for o in recent)  # changed within the last 5 minutes
    assert len(result.targets[0].observations) == 39  # "nope" is not in the source


def test_a_later_write_within_the_budget_is_in_flight_not_a_conflict() -> None:
    # The sync landed an earlier change after the source moved on again (overtaken, or the
    # newer change lost): differing and newer, but within a sync's lag of the source change.
    wms, shop = _world({"a": (5, -60, 4, -10), "b": (5, -900, 4, -10)})
    result = _run(ProbeEngine(contract(), systems(), SECRET), wms, shop, 0)
    obs = {o.key: o for o in result.targets[0].observations}
    assert obs["a"].kind is Kind.STALE and not obs["a"].out_of_budget
    assert obs["b"].kind is Kind.CONFLICT and obs["b"].out_of_budget


def test_resolving_a_duplicate_is_not_a_lag_sample() -> None:
    from monitor.results import OpenDivergence

    wms, shop = _world({"a": (5, -90_000, 5, -89_000)})
    prior = PriorState(open={("shop", "a"): OpenDivergence("shop", "a", "a", Kind.DUPLICATE, at(-600), at(-60), at(-90_000))})
    result = _run(ProbeEngine(contract(), systems(), SECRET), wms, shop, 0, prior)
    assert len(result.changes.resolved) == 1
    assert result.targets[0].health.lag_samples == 0


def test_a_lost_change_superseded_later_counts_as_well_as_the_change_that_landed() -> None:
    # Open since a change at -3000 s that never arrived; a newer change (-100 s) landed at -40 s.
    wms, shop = _world({"a": (7, -100, 7, -40)})
    prior = PriorState(open={("shop", "a"): _opened("a")})
    result = _run(ProbeEngine(contract(), systems(), SECRET), wms, shop, 0, prior)
    [res] = result.changes.resolved
    assert res.lag_seconds == 3000
    health = result.targets[0].health
    assert health.lag_samples == 2 and health.lag_p95 == 3000 and health.lag_p50 == 60
