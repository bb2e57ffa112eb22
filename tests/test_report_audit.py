"""The integration audit (``syncwatch audit``): the risk register built from the contracts and what
the store measured, and its HTML and Markdown.

Two sources of truth: the demo world replayed for six hours (once for the module) with a rogue
writer, a WMS outage and a WMS schema change in it; and small SQLite worlds written here, whose
probe runs are made one by one so that each measured rule can be watched turning on and off.
"""

from __future__ import annotations

import random
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.clock import FixedClock
from monitor.config import Config, load_config
from monitor.config.models import WorkingHours
from monitor.demo.faults import FaultSpec
from monitor.demo.run import SECRETS, WEEK_START, demo_config_dir, simulate
from monitor.report.audit import AuditReport, Risk, audit_cli_summary, build_audit, list_tables, uncovered_week
from monitor.report.audit_render import REGISTER_COLUMNS, RISK_COLUMNS, to_html, to_markdown
from monitor.report.weekly import build_weekly, iso_week
from monitor.runner import Prober
from monitor.store import Store
from probes.base import ConnectorContext

DEMO_HOURS = 6
DEMO_NOW = WEEK_START + timedelta(hours=DEMO_HOURS)
# Faults inside the replayed six hours (the week's own timeline starts on Monday 10:00).
DEMO_TIMELINE = [
    FaultSpec("erp-overwrites-stock", "rogue_writer", timedelta(hours=1), timedelta(hours=1),
              "the ERP writes its own stock figures into Shopify for 15 SKUs", {"count": 15}),
    FaultSpec("wms-outage", "outage", timedelta(hours=3), timedelta(minutes=30), "the WMS API answers 503",
              {"system": "wms"}),
    FaultSpec("wms-field-renamed", "schema_change", timedelta(hours=4), timedelta(minutes=40),
              "the WMS API renames Level to Quantity",
              {"system": "wms", "entity": "stock", "old": "Level", "new": "Quantity"}),
]
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
MAX_HTML = 300 * 1024


# ----- the demo world, replayed once -----


@dataclass
class Demo:
    out: Path
    config: Config
    store: Store


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    out = tmp_path_factory.mktemp("audit-demo")
    simulate(out, timedelta(hours=DEMO_HOURS), seed=1, timeline=DEMO_TIMELINE, environ={})
    # As open_demo loads it: the simulators' credentials, a loopback URL that is never dialled here,
    # and the ERP as the world's SQLite file.
    erp = out / "systems" / "erp.db"
    assert erp.is_file()
    env = {**SECRETS, "DEMO_URL": "http://127.0.0.1:9", "DEMO_ERP_URL": f"sqlite:///{erp.resolve()}"}
    config = load_config(demo_config_dir() / "syncwatch.yaml", environ=env)
    store = Store.open(f"sqlite:///{(out / 'syncwatch.db').resolve()}")
    try:
        yield Demo(out, config, store)
    finally:
        store.close()


@pytest.fixture(scope="module")
def demo_audit(demo: Demo) -> AuditReport:
    return build_audit(demo.store, demo.config, DEMO_NOW)


def _rules(audit: AuditReport, rule: str) -> list[Risk]:
    return [r for r in audit.risks if r.rule == rule]


def test_every_field_of_every_contract_has_a_row_per_target(demo: Demo, demo_audit: AuditReport) -> None:
    expected = {(name, field, t.system) for name, c in demo.config.contracts.items()
                for field in c.fields for t in c.targets}
    assert len(demo_audit.fields) == len(expected) == 7
    assert demo_audit.summary.fields == 7 and demo_audit.summary.contracts == 5
    # The same map as `syncwatch check`'s ownership table, with display names in front.
    ownership = {(row.contract, row.source, row.targets) for row in demo.config.ownership()}
    shown = {(f.contract, f.source.split(".", 1)[1], (f.target,)) for f in demo_audit.fields}
    assert {(c, s) for c, s, _ in shown} == {(c, s) for c, s, _ in ownership}

    stock = next(f for f in demo_audit.fields if f.contract == "stock-wms-to-shopify")
    assert (stock.source, stock.target, stock.system_of_record) == (
        "WMS.stock.available", "Shopify.inventory.available", "WMS")
    assert (stock.latency_budget_s, stock.drift_budget) == (300.0, 0.03)
    assert (stock.owner, stock.backup) == ("Priya Shah (Ops lead, inventory)", "Tom Reed (Customer service lead)")
    assert stock.technical_owner == "Sam Patel (Integration engineer, agency)"
    assert (stock.field_risk, stock.critical) == ("oversell", True)
    assert stock.runs == 120 and stock.runs_failed == 10  # every 3 minutes; the outage's half hour
    assert stock.probe_error_rate == pytest.approx(10 / 120)
    assert stock.conflicts == 15  # the rogue writer's SKUs
    assert stock.schema_incidents == 1 and stock.unreadable > 0 and stock.unreadable_runs > 0
    consent = next(f for f in demo_audit.fields if f.contract == "consent-shopify-to-crm")
    assert (consent.source, consent.target) == ("Shopify.customers.marketing_state", "CRM.profiles.consent")
    assert consent.conflicts == consent.runs_failed == consent.unreadable == 0


def test_attainment_is_the_weekly_reports(demo: Demo, demo_audit: AuditReport) -> None:
    weekly = build_weekly(demo.store, demo.config, iso_week("2026-W48", DEMO_NOW), DEMO_NOW)
    by_flow = {(c.contract, t.target): t for c in weekly.contracts for t in c.targets}
    for row in demo_audit.fields:
        (target,) = demo.config.contracts[row.contract].targets  # one target each in the demo
        week = by_flow[(row.contract, target.system)]
        assert row.attainment == week.attainment, row.contract
        assert (row.runs, row.runs_failed, row.runs_within_budget) == (
            week.runs, week.runs_failed, week.runs_within_budget)
    stock = next(f for f in demo_audit.fields if f.contract == "stock-wms-to-shopify")
    assert stock.attainment is not None and 0 < stock.attainment < 0.99


def test_demo_risks_fire_where_the_faults_were(demo_audit: AuditReport) -> None:
    writers = _rules(demo_audit, "multiple_writers")
    assert [(r.severity, r.contracts) for r in writers] == [("high", ("stock-wms-to-shopify",))]
    assert "15 records" in writers[0].evidence and "inventory.available" in writers[0].title
    assert writers[0].owner == "Priya Shah (Ops lead, inventory)"

    missed = _rules(demo_audit, "budget_missed")
    assert [(r.severity, r.contracts) for r in missed] == [("medium", ("stock-wms-to-shopify",))]
    assert not _rules(demo_audit, "budget_never_met")

    # The WMS outage: every flow from or to the WMS could not be read for half an hour.
    blind = _rules(demo_audit, "blind_spot")
    assert sorted(r.contracts[0] for r in blind) == [
        "fulfilment-wms-to-shopify", "orders-shopify-to-wms", "stock-wms-to-shopify"]
    assert all(r.severity == "medium" and "unavailable" in r.evidence for r in blind)
    assert all(r.owner == "Sam Patel (Integration engineer, agency)" for r in blind)  # the technical owner

    # The ERP database has an items table no entity reads.
    tables = _rules(demo_audit, "tables_uncovered")
    assert [(r.severity, r.evidence.endswith(": items")) for r in tables] == [("low", True)]
    erp = next(s for s in demo_audit.systems if s.system == "erp")
    assert erp.tables == ("items", "salesOrders") and erp.unmonitored_tables == ("items",)

    # Everyone has a backup, the demo's samples are big enough, every entity is used ...
    for rule in ("no_backup", "sample_too_small", "entity_uncovered", "tables_unlisted"):
        assert not _rules(demo_audit, rule), rule
    # ... but nobody works nights and Sundays: one risk per owner and backup pair.
    hours = _rules(demo_audit, "hours_uncovered")
    assert sorted(r.contracts for r in hours) == [
        ("consent-shopify-to-crm",),
        ("fulfilment-wms-to-shopify", "orders-shopify-to-erp", "orders-shopify-to-wms"),
        ("stock-wms-to-shopify",)]
    consent = next(r for r in hours if r.contracts == ("consent-shopify-to-crm",))
    # Amara mon-fri 09:00–17:30, Priya mon-fri 08:00–18:00: 5 × 14 + 2 × 24 hours.
    assert consent.title.startswith("118 hours a week") and "Sat–Sun all day" in consent.evidence

    counts = {s: sum(1 for r in demo_audit.risks if r.severity == s) for s in ("high", "medium", "low")}
    assert (demo_audit.summary.high, demo_audit.summary.medium, demo_audit.summary.low) == (
        counts["high"], counts["medium"], counts["low"])
    assert demo_audit.top == demo_audit.risks[:5] and demo_audit.top[0].rule == "multiple_writers"
    order = {"high": 0, "medium": 1, "low": 2}
    assert [order[r.severity] for r in demo_audit.risks] == sorted(order[r.severity] for r in demo_audit.risks)


def test_cli_summary(demo_audit: AuditReport) -> None:
    s = demo_audit.summary
    assert audit_cli_summary(demo_audit) == (
        f"7 fields in 5 contracts; {s.high} high, {s.medium} medium, {s.low} low risks")


def test_no_customer_emails_anywhere(demo: Demo, demo_audit: AuditReport) -> None:
    """The consent contract's keys are emails (personal): neither clear, masked nor hashed keys show."""
    html, markdown = to_html(demo_audit), to_markdown(demo_audit)
    assert demo.config.contracts["consent-shopify-to-crm"].keys.personal
    assert not EMAIL.search(html) and not EMAIL.search(markdown)
    keys = set()
    for run in demo.store.runs("consent-shopify-to-crm", limit=5):
        for obs in demo.store.observations(run.id):
            keys |= {obs.key, obs.key_display}
    assert keys, "the consent contract was probed"
    assert not any(k in html or k in markdown for k in keys)


def test_html_is_self_contained_and_small(demo_audit: AuditReport) -> None:
    html = to_html(demo_audit)
    assert len(html.encode()) < MAX_HTML
    assert "<script" not in html.lower()
    assert not re.search(r"\b(src|href)\s*=", html) and "@import" not in html and "url(" not in html
    assert "<title>Integration audit: " in html
    assert "WMS.stock.available → Shopify.inventory.available (stock-wms-to-shopify)" in html
    assert "Mon 23 Nov 2026 06:00" in html  # the end of the window, London (GMT in November)


def _md_section_rows(markdown: str, heading: str) -> list[str]:
    section = markdown.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    return rows[1:]  # without the header


def _html_table_rows(html: str, table_id: str) -> int:
    body = html.split(f'<table id="{table_id}">', 1)[1].split("</table>", 1)[0]
    return body.split("<tbody>", 1)[1].count("<tr")


def test_markdown_has_the_same_rows_as_the_html(demo_audit: AuditReport) -> None:
    html, markdown = to_html(demo_audit), to_markdown(demo_audit)
    register = _md_section_rows(markdown, "## Field register")
    risks = _md_section_rows(markdown, "## Risks")
    assert len(register) == _html_table_rows(html, "fields") == len(demo_audit.fields)
    assert len(risks) == _html_table_rows(html, "risk-register") == len(demo_audit.risks)
    assert all(row.count(" | ") == len(REGISTER_COLUMNS) - 1 for row in register)
    assert all(row.count(" | ") == len(RISK_COLUMNS) - 1 for row in risks)
    plain = markdown.replace("\\", "")
    for risk in demo_audit.risks:
        assert risk.title in plain
    assert "WMS.stock.available → Shopify.inventory.available (stock-wms-to-shopify)" in plain
    assert "**1 high**" in markdown


# ----- small worlds written here -----


SYNCWATCH_YAML = """\
version: 1
storage: {{url: "sqlite:///{store}"}}
owners: rules/owners.yaml
contracts: rules/contracts
systems:
  wms:
    kind: sql
    url: sqlite:///wms.db
    entities:
      stock: {{table: stock, timestamps: iso, columns: [sku, available, updated_at]}}
      returns:
        query: "SELECT id AS sku, qty AS available, updated_at FROM returns_log"
        timestamps: iso
        columns: [sku, available, updated_at]
  shop:
    kind: sql
    url: sqlite:///shop.db
    entities:
      inventory: {{table: inventory, timestamps: iso, columns: [sku, available, updated_at]}}
{extra}"""

# Priya and Sam cover the whole week between them; Sam has no backup; Lee and Priya leave evenings
# and weekend afternoons to nobody. A name with markup, to be shown as text.
OWNERS_YAML = """\
owners:
  priya:
    name: "Priya <b>Shah</b> | ops"
    slack: U04PRIYA01
    backup: sam
    working_hours: {days: mon-sun, start: "00:00", end: "12:00"}
  sam:
    name: Sam Patel
    slack: U04SAMPAT1
    working_hours: {days: mon-sun, start: "12:00", end: "23:59"}
  lee:
    name: Lee Jones
    slack: U04LEEJON1
    backup: priya
"""

CONTRACT_YAML = """\
contract: {name}
description: "Stock <script>alert(1)</script> | per SKU"
owner: {owner}
technical_owner: sam
source: {{system: wms, entity: stock, key: sku, updated_at: updated_at}}
targets:
  - {{system: shop, entity: inventory, key: sku, updated_at: updated_at}}
fields:
  available: {{compare: number, risk: oversell, critical: true}}
budget: {{latency: 5m, drift: {drift}, hold: 2 runs, confidence: 0%}}
sampling: {{every: 1m, size: {size}, recent: 0%}}
"""

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _world(root: Path, extra: str = "") -> Path:
    """A WMS and a shop as SQLite files, three contracts over the same stock:
    ``stock`` (Priya; 2% drift, sample 200), ``tiny`` (Sam, no backup; sample 10: too small for 2%),
    ``tolerant`` (Lee; 50% drift). The WMS database also holds ``returns_log`` (read by the
    ``returns`` entity, which no contract uses) and ``audit_log`` (read by nothing)."""
    (root / "rules" / "contracts").mkdir(parents=True)
    (root / "syncwatch.yaml").write_text(SYNCWATCH_YAML.format(store=root / "sw.db", extra=extra))
    (root / "rules" / "owners.yaml").write_text(OWNERS_YAML)
    for name, owner, drift, size in (("stock", "priya", "2%", 200), ("tiny", "sam", "2%", 10),
                                     ("tolerant", "lee", "50%", 200)):
        (root / "rules" / "contracts" / f"{name}.yaml").write_text(
            CONTRACT_YAML.format(name=name, owner=owner, drift=drift, size=size))
    with sqlite3.connect(root / "wms.db") as wms, sqlite3.connect(root / "shop.db") as shop:
        wms.execute("CREATE TABLE stock (sku TEXT PRIMARY KEY, available INTEGER, updated_at TEXT)")
        wms.execute("CREATE TABLE returns_log (id TEXT PRIMARY KEY, qty INTEGER, updated_at TEXT)")
        wms.execute("CREATE TABLE audit_log (id INTEGER PRIMARY KEY, line TEXT)")
        shop.execute("CREATE TABLE inventory (sku TEXT PRIMARY KEY, available INTEGER, updated_at TEXT)")
    _set_stock(root, stale=5)
    return root / "syncwatch.yaml"


def _set_stock(root: Path, stale: int, now: datetime = T0) -> None:
    """50 SKUs in both systems; the last ``stale`` missed a change 30 minutes ago (out of budget)."""
    fresh, old = now - timedelta(seconds=20), now - timedelta(minutes=30)
    with sqlite3.connect(root / "wms.db") as wms, sqlite3.connect(root / "shop.db") as shop:
        wms.execute("DELETE FROM stock")
        shop.execute("DELETE FROM inventory")
        for i in range(50):
            sku = f"SKU{i:03d}"
            if i >= 50 - stale:
                wms.execute("INSERT INTO stock VALUES (?, ?, ?)", (sku, 3, _iso(old)))
                shop.execute("INSERT INTO inventory VALUES (?, ?, ?)", (sku, 8, _iso(old - timedelta(hours=1))))
            else:
                wms.execute("INSERT INTO stock VALUES (?, ?, ?)", (sku, 10, _iso(fresh)))
                shop.execute("INSERT INTO inventory VALUES (?, ?, ?)", (sku, 10, _iso(fresh + timedelta(seconds=5))))


@pytest.fixture
def world(tmp_path: Path) -> Path:
    return _world(tmp_path / "world")


def _audit(config_path: Path, now: datetime = T0) -> AuditReport:
    config = load_config(config_path)
    with Store.open(config.storage_url) as store:
        return build_audit(store, config, now)


def test_config_rules_fire_when_they_should_and_not_otherwise(world: Path) -> None:
    audit = _audit(world)

    # Sam owns `tiny` and has no backup; Priya (stock) and Lee (tolerant) have one.
    no_backup = _rules(audit, "no_backup")
    assert [(r.severity, r.contracts, r.owner) for r in no_backup] == [("medium", ("tiny",), "Sam Patel")]
    # Lee (mon-fri 09:00–17:30) with Priya (every day 00:00–12:00): 5 × 6.5 + 2 × 12 hours uncovered.
    # Priya with Sam covers the whole week: no risk for `stock`.
    hours = _rules(audit, "hours_uncovered")
    assert [(r.severity, r.contracts) for r in hours] == [("low", ("tolerant",))]
    assert hours[0].title.startswith("56.5 hours a week")
    assert "Mon–Fri after 17:30; Sat–Sun after 12:00" in hours[0].evidence
    cover = {c.contract: c for c in audit.cover}
    assert cover["stock"].uncovered_hours == 0 and cover["tolerant"].uncovered_hours == 56.5
    assert cover["tiny"].backup is None

    # A sample of 10 finds a 2% drift with 18% probability: too small; 200 finds it with 98%.
    sample = _rules(audit, "sample_too_small")
    assert [(r.severity, r.contracts) for r in sample] == [("medium", ("tiny",))]
    assert "10 records" in sample[0].evidence and "149 records would reach 95%" in sample[0].evidence

    # The returns entity is configured, no contract uses it; audit_log is in the WMS database but
    # configured nowhere; returns_log is read by the returns entity's query, so it is not listed.
    entities = _rules(audit, "entity_uncovered")
    assert [(r.severity, r.evidence) for r in entities] == [
        ("low", "entity returns of system wms is configured in syncwatch.yaml and used by no contract")]
    tables = _rules(audit, "tables_uncovered")
    assert [(r.severity, r.evidence.rsplit(": ", 1)[1]) for r in tables] == [("low", "audit_log")]
    wms = next(s for s in audit.systems if s.system == "wms")
    assert wms.tables == ("audit_log", "returns_log", "stock") and wms.unmonitored_tables == ("audit_log",)
    shop = next(s for s in audit.systems if s.system == "shop")
    assert shop.tables == ("inventory",) and shop.unmonitored_tables == ()

    # Nothing was measured: no measured risk, and the report says so.
    for rule in ("multiple_writers", "budget_never_met", "budget_missed", "blind_spot", "tables_unlisted"):
        assert not _rules(audit, rule), rule
    assert audit.summary.runs == 0 and audit.summary.flows_measured == 0
    assert audit.notes and "measured nothing" in audit.notes[0]
    assert all(f.attainment is None and f.runs == 0 for f in audit.fields)
    assert audit_cli_summary(audit) == "3 fields in 3 contracts; 0 high, 2 medium, 3 low risks"


def test_a_database_that_cannot_be_listed_is_said_not_crashed(tmp_path: Path) -> None:
    extra = """\
  ledger:
    kind: sql
    url: sqlite:///missing/ledger.db
    entities:
      entries: {table: entries}
"""
    config = _world(tmp_path / "world", extra=extra)
    audit = _audit(config)
    ledger = next(s for s in audit.systems if s.system == "ledger")
    assert ledger.tables is None and ledger.listing_error is not None and "no database file" in ledger.listing_error
    unlisted = _rules(audit, "tables_unlisted")
    assert [(r.severity, r.title) for r in unlisted] == [
        ("low", "Could not check ledger's database for data no contract covers")]
    assert not (tmp_path / "world" / "missing").exists()  # listing did not create the database
    assert any(r.evidence.startswith("entity entries of system ledger") for r in _rules(audit, "entity_uncovered"))


def test_list_tables_says_why_it_could_not(tmp_path: Path) -> None:
    tables, error = list_tables("postgresql+psycopg://audit:s3cret-pw@127.0.0.1:1/shop", tmp_path)
    assert tables is None and error is not None
    assert "s3cret-pw" not in error
    tables, error = list_tables("nosuchdialect://host/db", tmp_path)
    assert tables is None and error is not None and "NoSuchModuleError" in error


def _probe(config_path: Path, clock: FixedClock, *names: str) -> None:
    config = load_config(config_path)
    with Store.open(config.storage_url) as store:
        ctx = ConnectorContext(sleep=clock.sleep, monotonic=clock.monotonic, base_dir=config.base_dir)
        prober = Prober(config, store, clock, ctx, random.Random(1))
        try:
            for name in names:
                prober.probe(name)
        finally:
            prober.close()
    clock.advance(60)


def test_measured_rules_follow_the_runs(world: Path) -> None:
    root, clock = world.parent, FixedClock(T0)
    # 5 of 50 SKUs out of budget (10%): over `stock`'s 2% every time, within `tolerant`'s 50%.
    for _ in range(2):
        _probe(world, clock, "stock", "tolerant")
    audit = _audit(world, clock.now())
    never = _rules(audit, "budget_never_met")
    assert [(r.severity, r.contracts) for r in never] == [("high", ("stock",))]
    assert "0 of 2 runs within budget" in never[0].evidence
    assert not _rules(audit, "budget_missed") and not _rules(audit, "blind_spot")
    rows = {f.contract: f for f in audit.fields}
    assert (rows["stock"].attainment, rows["tolerant"].attainment, rows["tiny"].attainment) == (0.0, 1.0, None)

    # The shop catches up: two runs within budget, two over: kept in half the runs.
    _set_stock(root, stale=0, now=clock.now())
    for _ in range(2):
        _probe(world, clock, "stock")
    audit = _audit(world, clock.now())
    assert not _rules(audit, "budget_never_met")
    missed = _rules(audit, "budget_missed")
    assert [(r.severity, r.contracts) for r in missed] == [("medium", ("stock",))]
    assert "only 50% of runs" in missed[0].title

    # The shop's table goes away: `tolerant` cannot read in 1 of its 3 runs (33%, over 5%).
    with sqlite3.connect(root / "shop.db") as shop:
        shop.execute("ALTER TABLE inventory RENAME TO inventory_old")
    _probe(world, clock, "tolerant")
    audit = _audit(world, clock.now())
    blind = _rules(audit, "blind_spot")
    assert [(r.severity, r.contracts, r.owner) for r in blind] == [("medium", ("tolerant",), "Sam Patel")]
    assert "1 of 3 runs could not read (query × 1)" in blind[0].evidence
    rows = {f.contract: f for f in audit.fields}
    assert rows["tolerant"].probe_error_rate == pytest.approx(1 / 3) and rows["stock"].probe_error_rate == 0
    # The measures never need a key: no SKU appears in the report.
    html, markdown = to_html(audit), to_markdown(audit)
    assert "SKU0" not in html and "SKU0" not in markdown


def _md_text(markdown: str) -> Iterator[str]:
    """The text of each line, without the Markdown the renderer wrote itself (quotes, table pipes)."""
    for line in markdown.splitlines():
        if line.startswith("|---"):
            continue
        if line.startswith("| "):
            yield line[2:-2].replace(" | ", " ")
        else:
            yield line.removeprefix("> ")


def test_config_and_data_text_is_escaped(world: Path) -> None:
    audit = _audit(world)
    html, markdown = to_html(audit), to_markdown(audit)
    assert "<script" not in html and "Stock &lt;script&gt;alert(1)&lt;/script&gt; | per SKU" in html
    assert "<b>Shah</b>" not in html and "Priya &lt;b&gt;Shah&lt;/b&gt; | ops" in html
    assert not any(re.search(r"(?<!\\)[<>|]", text) for text in _md_text(markdown)), "unescaped markup"
    assert "Stock \\<script\\>alert(1)\\</script\\> \\| per SKU" in markdown
    assert "Priya \\<b\\>Shah\\</b\\> \\| ops" in markdown
    # A pipe in a name or a description does not split a Markdown table row.
    for row in _md_section_rows(markdown, "## Field register"):
        assert row.count(" | ") == len(REGISTER_COLUMNS) - 1
    flows = markdown.split("\n### Flows\n", 1)[1].split("\n## ", 1)[0]
    assert [line.count(" | ") for line in flows.splitlines() if line.startswith("| ")] == [3] * 4


def test_uncovered_week_counts_and_names_the_gaps() -> None:
    office = WorkingHours(days="mon-fri", start="09:00", end="17:30")  # type: ignore[arg-type]
    assert uncovered_week([office, office]) == (
        168 - 5 * 8.5, "Mon–Fri before 09:00 and after 17:30; Sat–Sun all day")
    mornings = WorkingHours(days="mon-sun", start="00:00", end="12:00")  # type: ignore[arg-type]
    # 23:59 is the end of the day (working hours cannot say 24:00).
    evenings = WorkingHours(days="mon,tue,thu-sun", start="13:00", end="23:59")  # type: ignore[arg-type]
    lunch = WorkingHours(days="wed", start="12:00", end="13:00")  # type: ignore[arg-type]
    hours, text = uncovered_week([mornings, evenings, lunch])
    assert hours == 1 * 7 - 1 + 11 and text == "Mon–Tue 12:00–13:00; Wed after 13:00; Thu–Sun 12:00–13:00"
    assert uncovered_week([]) == (168, "Mon–Sun all day")
