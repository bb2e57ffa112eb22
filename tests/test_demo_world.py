"""The demo world: business events, syncs with lag and their truth, and each kind of fault."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.demo.catalogue import load_catalogue
from monitor.demo.faults import FaultSpec, live_timeline, week_timeline
from monitor.demo.world import FLOWS, DemoWorld, LagModel

START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # a Wednesday morning, London = UTC in November


def _world(tmp_path: Path, timeline: list[FaultSpec] | None = None, seed: int = 3) -> DemoWorld:
    return DemoWorld(tmp_path / "systems", START, load_catalogue(), timeline or [], seed=seed,
                     warmup=timedelta(hours=12))


def test_lag_model_has_the_median_and_p95_it_promises() -> None:
    import random

    model = LagModel(40, 150)
    rng = random.Random(1)
    draws = sorted(model.draw(rng) for _ in range(20_000))
    assert draws[len(draws) // 2] == pytest.approx(40, rel=0.05)
    assert draws[int(len(draws) * 0.95)] == pytest.approx(150, rel=0.07)


def test_orders_flow_to_the_erp_and_wms_with_recorded_true_lag(tmp_path: Path) -> None:
    world = _world(tmp_path)
    world.advance_to(START + timedelta(hours=3))
    shop, wms = world.state.shopify, world.state.wms
    assert len(shop.orders) > 10
    erp = dict(world._erp.execute("SELECT externalDocumentNumber, totalAmountIncludingTax FROM salesOrders"))
    changes = [c for c in world.truth.flows["orders_erp"].changes if c.applied_at is not None]
    assert changes and all(c.lag_seconds is not None and c.lag_seconds > 0 for c in changes)
    created = {c.key for c in changes}
    assert created <= set(erp)  # every applied order is in the ERP, with the shop's total
    for name in created:
        assert erp[name] == str(shop.orders[name].total)
    assert set(wms.orders) <= set(shop.orders)
    world.close()


def test_stock_in_the_shop_follows_the_wms_once_syncs_land(tmp_path: Path) -> None:
    world = _world(tmp_path)
    world.advance_to(START + timedelta(hours=2))
    flow = world.truth.flows["stock"]
    settled = [sku for sku in world.state.wms.stock if flow.behind_since(sku) is None]
    assert len(settled) > 250
    for sku in settled:
        assert world.state.shopify.variants[sku].available == world.state.wms.stock[sku].level
    world.close()


def test_a_delay_fault_lengthens_lags_and_puts_the_flow_out_of_budget(tmp_path: Path) -> None:
    spec = FaultSpec("slow", "delay", timedelta(minutes=30), timedelta(hours=1), "slow", {"flow": "stock", "extra_s": 1200})
    world = _world(tmp_path, [spec])
    world.advance_to(START + timedelta(minutes=80))
    oob, population = world.out_of_budget("stock", 300)
    assert population == 300 and oob > 6  # over a 2% drift budget
    during = [c for c in world.truth.flows["stock"].changes
              if START + timedelta(minutes=30) <= c.changed_at < START + timedelta(minutes=60) and c.lag_seconds]
    assert during and min(c.lag_seconds or 0 for c in during) >= 1200
    [record] = world.truth.faults
    assert (record.contract, record.target, record.breach_kind) == ("stock-wms-to-shopify", "shopify", "out_of_budget")
    world.advance_to(START + timedelta(hours=3))
    assert world.out_of_budget("stock", 300)[0] <= 2  # caught up once the fault is over
    world.close()


def test_dropped_updates_are_lost_for_good(tmp_path: Path) -> None:
    spec = FaultSpec("drop", "drop", timedelta(0), timedelta(hours=1), "drop", {"flow": "stock", "share": 1.0})
    world = _world(tmp_path, [spec])
    world.advance_to(START + timedelta(hours=1))
    lost = [c for c in world.truth.flows["stock"].changes if c.changed_at >= START and c.applied_at is None]
    assert lost
    sku = lost[0].key
    assert world.truth.flows["stock"].behind_since(sku) is not None
    world.close()


def test_rogue_writer_duplicates_schema_outage_and_storm(tmp_path: Path) -> None:
    minute = timedelta(minutes=1)
    specs = [
        FaultSpec("rogue", "rogue_writer", minute, 10 * minute, "", {"count": 5}),
        FaultSpec("dups", "duplicates", minute, 10 * minute, "", {"count": 4}),
        FaultSpec("rename", "schema_change", minute, 10 * minute, "", {"system": "wms", "entity": "stock", "old": "Level", "new": "Quantity"}),
        FaultSpec("down", "outage", minute, 10 * minute, "", {"system": "wms"}),
        FaultSpec("storm", "rate_storm", minute, 10 * minute, "", {"system": "crm"}),
    ]
    world = _world(tmp_path, specs)
    world.advance_to(START + 2 * minute)
    rogue = next(f for f in world.truth.faults if f.name == "rogue")
    for sku in rogue.keys:
        assert world.state.shopify.variants[sku].available != world.state.wms.stock[sku].level
        assert world.truth.flows["stock"].behind_since(sku) is not None
    emails = [p.email.casefold() for p in world.state.crm.profiles]
    assert len(emails) - len(set(emails)) == 4
    assert world.state.faults.renamed == {("wms", "stock"): ("Level", "Quantity")}
    assert world.state.faults.outage == {"wms"} and world.state.faults.rate_storm == {"crm"}
    world.advance_to(START + 20 * minute)
    emails = [p.email.casefold() for p in world.state.crm.profiles]
    assert len(emails) == len(set(emails))
    assert not world.state.faults.renamed and not world.state.faults.outage and not world.state.faults.rate_storm
    for sku in rogue.keys:  # the re-sync at the fault's end put the WMS figure back
        assert world.state.shopify.variants[sku].available == world.state.wms.stock[sku].level
    world.close()


def test_timelines_cover_every_fault_kind_and_name_real_flows() -> None:
    kinds = {f.kind for f in week_timeline()}
    assert kinds == {"delay", "drop", "rogue_writer", "mapping_bug", "duplicates", "schema_change", "outage", "rate_storm"}
    for spec in week_timeline() + live_timeline():
        if "flow" in spec.params:
            assert spec.params["flow"] in FLOWS
        assert spec.start + spec.duration <= timedelta(days=7)


def test_same_seed_same_world(tmp_path: Path) -> None:
    a = _world(tmp_path / "a", seed=9)
    b = _world(tmp_path / "b", seed=9)
    a.advance_to(START + timedelta(hours=1))
    b.advance_to(START + timedelta(hours=1))
    assert list(a.state.shopify.orders) == list(b.state.shopify.orders)
    assert [c.lag_seconds for c in a.truth.flows["stock"].changes] == [c.lag_seconds for c in b.truth.flows["stock"].changes]
    a.close()
    b.close()


def test_a_wrong_value_written_by_the_sync_is_not_the_change_arriving(tmp_path: Path) -> None:
    spec = FaultSpec("bug", "mapping_bug", timedelta(0), timedelta(hours=6), "", {"flow": "fulfilment"})
    world = _world(tmp_path, [spec])
    world.advance_to(START + timedelta(hours=5))
    flow = world.truth.flows["fulfilment"]
    wrong = [o for o in world.state.shopify.orders.values() if o.display_fulfillment_status == "PARTIALLY_FULFILLED"]
    assert wrong
    for order in wrong:
        assert flow.behind_since(order.name) is not None
        assert all(c.applied_at is None for c in flow.changes if c.key == order.name and c.changed_at >= START)
    world.advance_to(START + timedelta(hours=7))  # fixed at +6 h, then backfilled
    for order in wrong:
        assert world.state.shopify.orders[order.name].display_fulfillment_status == "FULFILLED"
        lags = [c.lag_seconds for c in flow.changes if c.key == order.name and c.changed_at >= START]
        assert lags and all(lag is not None and lag > 0 for lag in lags)
    world.close()
