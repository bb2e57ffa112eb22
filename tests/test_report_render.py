"""The weekly report's renderers: HTML (email and phone), Markdown and the Slack summary say the same
thing with the same numbers, in business words first; the HTML is self-contained and small.

Reports are built directly from the dataclasses (``make_report``), and once from a store the demo
world filled on a simulated clock (``simulated_week``), through ``build_weekly``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from slack_sdk.models.blocks import Block

from monitor.alerting.notices import Message
from monitor.config import load_config
from monitor.demo.faults import FaultSpec
from monitor.demo.run import SECRETS, WEEK_START, demo_config_dir, simulate
from monitor.report.model import (
    AtStake,
    ConflictFigures,
    ContractWeek,
    DayLag,
    FixFirst,
    Headline,
    IncidentFigures,
    TargetWeek,
    WeeklyReport,
)
from monitor.report.render import to_html, to_markdown, to_slack
from monitor.report.weekly import build_weekly, iso_week
from monitor.store import Store
from tests.slack_server import block_problems

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
WEEK = iso_week("2026-W48", NOW)
SYSTEMS = {"wms": "the WMS", "shopify": "Shopify", "erp": "the ERP", "crm": "the CRM"}
HEADLINE = "96.8% of sampled records were within their latency budget"


# ----- building reports -----


def days(p95: list[float | None], over: list[int] | None = None, lower: int | None = None) -> tuple[DayLag, ...]:
    """Seven days of a target: lag p95 per day (None: no runs that day), runs out of budget per day."""
    over = over or [0] * 7
    return tuple(
        DayLag(day, 0 if value is None else 96, None if value is None else value / 4, value, i == lower, over[i])
        for i, (day, value) in enumerate(zip(WEEK.days, p95, strict=True))
    )


def target(name: str, *, runs: int = 672, failed: int = 0, within: int | None = None, out_s: float = 0.0,
           p95: list[float | None] | None = None, over: list[int] | None = None, lower: int | None = None,
           failures: dict[str, int] | None = None) -> TargetWeek:
    p95 = p95 if p95 is not None else [240.0, 300.0, 180.0, 200.0, 260.0, 120.0, 150.0]
    return TargetWeek(
        target=name, runs=runs, runs_within_budget=runs - failed if within is None else within, runs_failed=failed,
        seconds_out_of_budget=out_s, sampled=100 * (runs - failed), out_of_budget=0 if not out_s else 1523,
        lag_p50=60.0 if runs else None, lag_p95=max((v for v in p95 if v is not None), default=None),
        by_kind={"missing": 3, "stale": 41} if runs else {}, unreadable=0, probe_failures=failures or {},
        days=days(p95, over, lower),
    )


def no_incidents() -> IncidentFigures:
    return IncidentFigures(0, 0, 0.0, None, None, None, None, 0, 0, {})


STOCK = "Sellable stock per SKU. The WMS owns it; Shopify shows it."


def stock_contract(description: str | None = STOCK) -> ContractWeek:
    shopify = target(
        "shopify", runs=3360, failed=10, within=2831, out_s=93_360.0,
        p95=[1320.0, 32_880.0, 117_480.0, 157_080.0, 180.0, None, 170.0], over=[37, 196, 286, 0, 0, 0, 0], lower=2,
        failures={"unavailable": 9, "timeout": 1},
    )
    return ContractWeek(
        contract="stock-wms-to-shopify", description=description, owner="Priya Shah", source="wms",
        latency_budget_s=300.0, drift_budget=0.03, targets=(shopify,),
        incidents=IncidentFigures(6, 5, 107_280.0, 720.0, 7200.0, 4560.0, 87_120.0, 1, 1,
                                  {"out_of_budget": 2, "conflict": 2, "probe_failing": 1, "schema_change": 1}),
        conflicts=(ConflictFigures("shopify", "available", 39, 3, datetime(2026, 11, 23, 10, 19, tzinfo=UTC),
                                   datetime(2026, 11, 25, 10, 28, tzinfo=UTC)),),
        at_stake=(AtStake("shopify", "oversell", ("available",), 57, 100, 178_200.0, date(2026, 11, 25), 73_680.0),),
        schema_changes=1, runs=3360, noun="SKUs",
    )


def orders_contract() -> ContractWeek:
    return ContractWeek(
        contract="orders-shopify-to-wms", description="Every Shopify order reaches the warehouse.", owner="Tom Reed",
        source="shopify", latency_budget_s=600.0, drift_budget=0.1,
        targets=(target("wms"), target("erp", runs=672, failed=2, failures={"rate_limited": 2})),
        incidents=no_incidents(), conflicts=(),
        at_stake=(AtStake("erp", "wismo", ("status", "tracking_number"), 3, 30, 32_400.0, date(2026, 11, 24),
                          10_800.0),),
        schema_changes=0, runs=672,
    )


FIXES = (
    FixFirst("repeated_conflicts", "stock-wms-to-shopify", "shopify",
             "stock-wms-to-shopify: Shopify writes available, which the WMS owns",
             "39 records changed by Shopify on 3 days (Mon 10:19 to Wed 10:28)", 49.0),
    FixFirst("worst_attainment", "stock-wms-to-shopify", "shopify",
             "stock-wms-to-shopify: the WMS → Shopify sync kept its budget in only 85% of runs",
             "519 of 3350 runs over the 3.0% drift budget, out of budget for 25 h 56 min in all", 15.5),
)


def make_report(contracts: tuple[ContractWeek, ...] | None = None, fixes: tuple[FixFirst, ...] = FIXES,
                headline: Headline | None = None) -> WeeklyReport:
    contracts = (stock_contract(), orders_contract()) if contracts is None else contracts
    headline = headline or Headline(
        within_budget=0.9680807, within_budget_last_week=0.951, sampled=495_344, out_of_budget=15_811,
        incidents=9, incidents_last_week=4, contracts=len(contracts), contracts_met=1, probe_runs=5376)
    return WeeklyReport(WEEK, NOW, headline, contracts, fixes, SYSTEMS)


def big_report(n_contracts: int = 20, n_targets: int = 3) -> WeeklyReport:
    """Every section filled, for every contract and target: the largest page a real week makes."""
    base = stock_contract()
    contracts = []
    for i in range(n_contracts):
        targets = tuple(replace(base.targets[0], target=f"target-{j}") for j in range(n_targets))
        contracts.append(replace(
            base, contract=f"contract-{i:02d}-stock-levels-from-warehouse-to-shop", targets=targets,
            conflicts=tuple(replace(base.conflicts[0], target=t.target) for t in targets),
            at_stake=tuple(replace(base.at_stake[0], target=t.target) for t in targets),
        ))
    return make_report(tuple(contracts), fixes=FIXES + FIXES[:1])


# ----- reading what was rendered -----


_BLOCKS = frozenset({"p", "li", "td", "th", "tr", "h1", "h2", "h3", "ul", "ol", "div", "br", "table", "svg", "text",
                     "tspan", "title"})


class _Page(HTMLParser):
    """The visible text of a page (a space between blocks), its tags and attributes, and its SVGs' parts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.svgs: list[dict[str, int]] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in _BLOCKS:
            self.text.append(" ")
        if tag == "svg":
            self.svgs.append({"rect": 0, "text": 0})
        elif self.svgs and tag in ("rect", "text"):
            self.svgs[-1][tag] += 1
        if tag in ("style", "title", "desc"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCKS:
            self.text.append(" ")
        if tag in ("style", "title", "desc"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text.append(data)

    @property
    def words(self) -> str:
        return " ".join("".join(self.text).split())


def page(document: str) -> _Page:
    parser = _Page()
    parser.feed(document)
    parser.close()
    return parser


def slack_text(message: Message) -> str:
    parts = [message.text]
    for block in message.blocks:
        parts += [block["text"]["text"]] if "text" in block else [e["text"] for e in block.get("elements", [])]
    return html.unescape("\n".join(parts))


def assert_valid_slack(message: Message) -> None:
    assert block_problems(message.blocks) == []
    for block in message.blocks:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.validate_json()
    assert message.text and "\n" not in message.text


def section(markdown: str, heading: str) -> str:
    """A Markdown section's body: from its ``## heading`` to the next ``## ``."""
    start = markdown.index(f"## {heading}\n")
    end = markdown.find("\n## ", start + 1)
    return markdown[start:end if end >= 0 else None]


# ----- the same numbers everywhere -----


def test_the_headline_reads_the_same_in_html_markdown_and_slack() -> None:
    report = make_report()
    words, markdown, slack = page(to_html(report)).words, to_markdown(report), slack_text(to_slack(report))
    for text in (words, markdown, slack):
        assert "Integration health, week 48 (23–29 Nov 2026)" in text
        assert HEADLINE in text
        assert "last week 95.1%, up 1.7 points" in text  # shown to one decimal, the change of those figures
        assert "9 incidents opened (last week: 4)" in text
        assert "1 of 2 contracts kept their budget all week" in text
        assert "495,344 records sampled in 5,376 probe runs; 15,811 out of their latency budget" in text
    assert markdown.startswith("# Integration health, week 48 (23–29 Nov 2026)\n\n**96.8% of sampled records")


def test_every_contract_and_target_appears_with_the_same_figures() -> None:
    report = make_report()
    words, markdown = page(to_html(report)).words, html.unescape(to_markdown(report)).replace("\\", "")
    for text in (words, markdown):
        for name in ("stock-wms-to-shopify", "orders-shopify-to-wms"):
            assert name in text
        for heading in ("Shopify", "The WMS", "The ERP"):
            assert heading in text
        assert "84.5% (2,831 of 3,350)" in text  # runs within budget, of those that could see
        assert "25 h 56 min" in text  # time out of budget, in hours past a day
        assert "Owner: Priya Shah · from the WMS · budgets: latency 5 min, drift 3% of sampled SKUs" in text
        assert "1 min / 43 h 38 min (budget 5 min)" in text  # lag p50 / p95 of the week
        assert "41 stale" in text and "3 missing" in text
        assert "≥ 32 h 38 min (286 runs out of budget)" in text  # Wednesday: a lower bound
        # Incidents: count, breach time, time to acknowledge and to resolve, unacknowledged, still open.
        assert "6: ownership conflict (2), out of budget (2), cannot read a system (1), unreadable records (1)" in text
        assert "29 h 48 min" in text
        assert "median 12 min, worst 2 h" in text and "median 1 h 16 min, worst 24 h 12 min" in text
        # Ownership conflicts, in London time (GMT in November).
        assert "Shopify wrote available, which the WMS owns: 39 records on 3 days " \
               "(10:19 Mon 23 Nov to 10:28 Wed 25 Nov)" in text
        assert "1 incident; 0 records syncwatch could not read" in text


def test_the_things_to_fix_first_are_in_order_with_their_evidence() -> None:
    report = make_report()
    words, markdown = page(to_html(report)).words, to_markdown(report)
    first, second = FIXES[0], FIXES[1]
    assert words.index(first.title) < words.index(first.evidence) < words.index(second.title)
    assert f"1. **{first.title}**  \n   {first.evidence}" in markdown
    assert f"2. **{second.title}**" in markdown
    for text in (page(to_html(make_report(fixes=()))).words, to_markdown(make_report(fixes=())),
                 slack_text(to_slack(make_report(fixes=())))):
        assert "Nothing stood out" in text


def test_what_was_at_stake_is_said_in_business_words() -> None:
    report = make_report()
    words, markdown = page(to_html(report)).words, to_markdown(report)
    oversell = ("Overselling risk: up to 57 of 100 sampled SKUs showed more stock in Shopify than in the WMS; "
                "49 h 30 min in all, most on Wednesday (20 h 28 min)")
    wismo = ("Customers asking where their order is: up to 3 of 30 sampled records differed in status and "
             "tracking number between Shopify and the ERP; 9 h in all, most on Tuesday (3 h)")
    assert oversell in words and wismo in words
    assert f"- **{oversell.replace(': ', '**: ', 1)}" in markdown
    assert words.index(oversell) < words.index(wismo)  # the longest at stake first


def test_could_not_see_lists_probe_failures_apart() -> None:
    report = make_report()
    markdown = to_markdown(report)
    blind = section(markdown, "Could not see")
    assert "we could not see, which is not the same as wrong" in blind
    assert ("stock-wms-to-shopify: syncwatch could not read the WMS → Shopify in 10 of 3,360 runs — "
            "requests time out (1 run); it is unavailable (9 runs)") in blind
    assert ("orders-shopify-to-wms: syncwatch could not read Shopify → the ERP in 2 of 672 runs — "
            "it keeps refusing requests (rate limit)") in blind
    assert "Shopify → the WMS" not in blind  # the target read in every run is not listed
    for other in ("Three things to fix first", "What was at stake"):
        assert "could not read" not in section(markdown, other)
    words = page(to_html(report)).words
    start = words.index("Could not see Runs where syncwatch could not read a system")
    end = words.index("Contracts Contract")
    assert "in 10 of 3,360 runs" in words[start:end] and "in 2 of 672 runs" in words[start:end]
    nothing = make_report((replace(stock_contract(), targets=(target("shopify"),)),))
    assert "syncwatch could read every system in every run" in section(to_markdown(nothing), "Could not see")


# ----- the page: self-contained, small, charts -----


def test_the_html_page_is_self_contained() -> None:
    document = to_html(make_report())
    assert document.startswith("<!doctype html>")
    lowered = document.lower()
    assert "<script" not in lowered and "javascript:" not in lowered and not re.search(r"<[^>]*\son\w+=", lowered)
    assert "<img" not in lowered and "<link" not in lowered and "@import" not in lowered and "url(" not in lowered
    parsed = page(document)
    for tag, attrs in parsed.tags:
        assert "src" not in attrs, f"<{tag}> fetches {attrs['src']}"
        href = attrs.get("href") or ""
        assert not re.search(r"\.(css|woff2?|ttf|otf)\b", href) and "fonts." not in href, f"<{tag} href={href!r}>"
    styled = [attrs for tag, attrs in parsed.tags if tag in ("h1", "h2", "h3", "p", "table", "ul", "ol", "svg")]
    assert styled and all(attrs.get("style") for attrs in styled), "email clients need inline styles"
    assert 'name="viewport"' in document and "max-width:720px" in document and "@media (max-width" in document


def test_the_page_for_20_contracts_of_3_targets_is_under_300_kb() -> None:
    report = big_report()
    document = to_html(report)
    assert len(document.encode()) < 300_000, f"{len(document.encode()) / 1000:.0f} kB"
    assert len(page(document).svgs) == 60
    assert len(to_markdown(report).encode()) < 300_000


def test_each_target_has_a_chart_with_a_bar_per_day() -> None:
    report = make_report()
    document = to_html(report)
    svgs = page(document).svgs
    assert len(svgs) == 3  # stock → Shopify; orders → the WMS, the ERP
    # Shopify had no runs on Saturday: six bars, "no data" under the seventh day.
    stock_svg = document[document.index("<svg"):document.index("</svg>")]
    assert svgs[0]["rect"] == 6 and stock_svg.count(">no data</text>") == 1
    assert svgs[1]["rect"] == 7 and svgs[2]["rect"] == 7
    assert "".join(re.findall(r">(\w+)</tspan>", stock_svg)) == "MonTueWedThuFriSatSun"
    # Named and described for screen readers: the title, and the day-by-day figures shown under the chart.
    assert 'role="img" aria-labelledby="c0t0" aria-describedby="c0t0-d"' in stock_svg
    assert '<title id="c0t0">stock-wms-to-shopify to Shopify: lag p95 per day against the 5 min budget</title>' \
        in stock_svg
    figures = re.search(r'<p id="c0t0-d"[^>]*>(.*?)</p>', document)
    assert figures and "Wed 25: ≥ 32 h 38 min (286 runs out of budget) · Thu 26: 43 h 38 min" in figures.group(1)
    assert 'stroke-dasharray="6 4"' in stock_svg and ">budget 5 min</text>" in stock_svg  # the budget, dashed
    assert stock_svg.count('fill="#c62828"/>') == 3  # the days with runs out of budget, in red, counted
    assert ">37 over</text>" in stock_svg and ">196 over</text>" in stock_svg and ">286 over</text>" in stock_svg
    assert re.search(r">\d+ h</text>", stock_svg), "the axis is labelled in hours"


def test_markdown_has_a_day_by_day_table_instead_of_the_chart() -> None:
    markdown = to_markdown(make_report())
    orders = section(markdown, "orders-shopify-to-wms")
    assert "| Day | The WMS | The ERP |" in orders
    assert "| Mon 23 | 4 min | 4 min |" in orders
    assert len(re.findall(r"^\| (Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d+ \|", orders, re.M)) == 7
    stock = section(markdown, "stock-wms-to-shopify")
    assert "| Sat 28 | no data |" in stock and "| Wed 25 | ≥ 32 h 38 min (286 runs out of budget) |" in stock
    assert "<svg" not in markdown


def test_text_from_config_and_data_is_escaped() -> None:
    contract = replace(stock_contract(description="Stock <b>& more</b> | [x](http://evil) *bold*"),
                       owner="<script>alert(1)</script>")
    fix = replace(FIXES[0], title="a <b>&amp; title", evidence="<@U123> & <!channel>")
    report = make_report((contract,), fixes=(fix,))
    document = to_html(report)
    assert "Stock &lt;b&gt;&amp; more&lt;/b&gt;" in document and "<b>" not in document
    assert "<script" not in document and "&lt;script&gt;alert(1)&lt;/script&gt;" in document
    assert "a &lt;b&gt;&amp;amp; title" in document
    markdown = to_markdown(report)
    assert r"Stock \<b\>\& more\</b\> \| \[x\](http://evil) \*bold\*" in markdown
    assert "<b>" not in markdown and "<script>" not in markdown
    slack = to_slack(report)
    text = "\n".join(str(b) for b in slack.blocks)
    assert "a &lt;b&gt;&amp;amp; title" in text and "&lt;@U123&gt; &amp; &lt;!channel&gt;" in text
    assert "<@U123>" not in text and "<!channel>" not in text


# ----- edges -----


def test_an_empty_week_says_no_data() -> None:
    empty = replace(
        stock_contract(), targets=(target("shopify", runs=0, p95=[None] * 7),), incidents=no_incidents(),
        conflicts=(), at_stake=(), schema_changes=0, runs=0,
    )
    headline = Headline(None, None, 0, 0, 0, 0, 1, 1, 0)
    report = make_report((empty,), fixes=(), headline=headline)
    document, markdown = to_html(report), to_markdown(report)
    words = page(document).words
    for text in (words, markdown, slack_text(to_slack(report))):
        assert "No records were sampled this week: no data" in text
        assert "last week: no data" in text
        assert "No probe runs this week: no data on the contracts" in text
    assert "No probe runs this week: no data" in words and "**No probe runs this week: no data**" in markdown
    assert "Runs within budget no data" in words and "| Runs within budget | no data |" in markdown
    assert page(document).svgs[0]["rect"] == 0 and document.count(">no data</text>") == 7
    assert "| Mon 23 | no data |" in markdown
    assert_valid_slack(to_slack(report))


@pytest.mark.parametrize(("label", "title"), [
    ("2026-W49", "Integration health, week 49 (30 Nov – 6 Dec 2026)"),
    ("2026-W53", "Integration health, week 53 (28 Dec 2026 – 3 Jan 2027)"),
    ("2026-W02", "Integration health, week 2 (5–11 Jan 2026)"),
])
def test_the_title_names_the_week_and_its_dates(label: str, title: str) -> None:
    week = iso_week(label, NOW)
    report = replace(make_report(), week=week)
    assert f"<title>{title}</title>" in to_html(report)
    assert to_markdown(report).startswith(f"# {title}\n")
    assert to_slack(report).blocks[0]["text"]["text"] == title


def test_times_are_in_london_and_durations_in_hours_and_minutes() -> None:
    first, last = datetime(2026, 7, 1, 8, 19, tzinfo=UTC), datetime(2026, 7, 1, 8, 30, tzinfo=UTC)
    summer = replace(stock_contract(), conflicts=(ConflictFigures("shopify", "available", 1, 1, first, last),))
    words = page(to_html(make_report((summer,)))).words
    assert "1 record on 1 day (09:19 Wed 1 Jul to 09:30 Wed 1 Jul)" in words  # BST
    assert "Generated 08:00 Tue 1 Dec 2026, London time" in words


def test_the_slack_summary_is_short_and_within_block_kit_limits() -> None:
    message = to_slack(make_report(), html_name="weekly-2026-W48.html")
    assert_valid_slack(message)
    assert [b["type"] for b in message.blocks] == ["header", "section", "section", "context"]
    assert message.blocks[-1]["elements"][0]["text"] == "Full report attached: weekly-2026-W48.html"
    assert message.text == (f"Integration health, week 48 (23–29 Nov 2026): {HEADLINE}; "
                            "9 incidents opened (last week: 4)")
    fixes = message.blocks[2]["text"]["text"]
    assert fixes.startswith("*Three things to fix first*\n1. *stock-wms-to-shopify: Shopify writes available")
    assert "context" not in [b["type"] for b in to_slack(make_report()).blocks]
    # Long titles and evidence are cut, not rejected by Slack.
    long = tuple(replace(f, title="t" * 5000, evidence="e & " * 2000) for f in FIXES + FIXES[:1])
    assert_valid_slack(to_slack(make_report(fixes=long), html_name="x" * 3000))


# ----- a week the demo world lived through -----


@pytest.fixture(scope="module")
def simulated_week(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WeeklyReport]:
    yield simulated_report(tmp_path_factory.mktemp("simulated"))


# A week's story in six hours: the stock sync late, the ERP writing Shopify's stock, the WMS down.
STORY = [
    FaultSpec("stock-sync-delayed", "delay", timedelta(hours=1), timedelta(hours=1),
              "the WMS→Shopify stock sync runs 20 minutes late", {"flow": "stock", "extra_s": 1200}),
    FaultSpec("erp-overwrites-stock", "rogue_writer", timedelta(hours=2, minutes=30), timedelta(minutes=30),
              "the ERP writes its own stock figures into Shopify for 15 SKUs", {"count": 15}),
    FaultSpec("wms-outage", "outage", timedelta(hours=4), timedelta(minutes=30), "the WMS API answers 503",
              {"system": "wms"}),
]


def simulated_report(out: Path, hours: int = 6) -> WeeklyReport:
    """The demo world's first ``hours`` of week 48 with ``STORY``, replayed on a simulated clock
    (notifications to a file)."""
    simulate(out, timedelta(hours=hours), seed=1, timeline=STORY, environ={})
    config = load_config(demo_config_dir() / "syncwatch.yaml",
                         environ={**SECRETS, "DEMO_URL": "http://127.0.0.1:9", "DEMO_ERP_URL": "sqlite://"})
    store = Store.open(f"sqlite:///{out / 'syncwatch.db'}")
    try:
        week = iso_week(None, WEEK_START + timedelta(days=8))
        assert week.label == "2026-W48"
        return build_weekly(store, config, week, WEEK_START + timedelta(days=8))
    finally:
        store.close()


def test_a_simulated_week_renders_in_all_three(simulated_week: WeeklyReport) -> None:
    report = simulated_week
    assert report.headline.probe_runs > 0 and report.headline.within_budget is not None
    document, markdown, message = to_html(report), to_markdown(report), to_slack(report, "weekly-2026-W48.html")
    words, slack = page(document).words, slack_text(message)
    sli = markdown.split("**")[1]
    assert sli.endswith("% of sampled records were within their latency budget")
    assert sli in words and sli in slack
    facts = re.findall(r"^- (.*)$", markdown.split("## ")[0], re.M)
    assert len(facts) == 3 and all(fact in words and fact in slack for fact in facts)
    for c in report.contracts:
        assert c.contract in words and f"## {c.contract}" in markdown
    assert len(page(document).svgs) == sum(len(c.targets) for c in report.contracts)
    # The story: the ERP wrote Shopify's stock (a conflict, overselling at stake), the WMS was down.
    assert "Overselling risk" in section(markdown, "What was at stake")
    blind = section(markdown, "Could not see")
    assert "stock-wms-to-shopify: syncwatch could not read the WMS → Shopify in " in blind
    assert "it is unavailable" in blind
    assert report.fix_first and report.fix_first[0].title in words and report.fix_first[0].title in markdown
    assert_valid_slack(message)
    assert len(document.encode()) < 300_000


def test_a_weekly_lag_that_counted_records_still_not_in_sync_is_marked_at_least() -> None:
    stock = stock_contract()
    marked = replace(stock, targets=(replace(stock.targets[0], lag_p95_lower_bound=True),))
    assert "≥ " not in section(to_markdown(make_report((replace(stock, targets=(replace(
        stock.targets[0], days=days([60.0] * 7)),)),))), "stock-wms-to-shopify").split("Lag p50")[1].split("\n")[0]
    line = section(to_markdown(make_report((marked,))), "stock-wms-to-shopify").split("Lag p50")[1].split("\n")[0]
    assert "≥ " in line
