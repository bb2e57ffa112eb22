"""The demo catalogue: the shipped extract, its draws, and that the script reproduces it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from random import Random
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from monitor.demo.catalogue import MAX_LINES, MAX_UNITS, Catalogue, load_catalogue

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "monitor/demo/data/catalogue.json"
SCRIPT = REPO / "scripts/make_catalogue.py"
SOURCE = Path(__file__).resolve().parents[2] / "shared/data/online-retail/online_retail.csv.gz"


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SHIPPED.read_text(encoding="utf-8"))
    return data


def test_the_shipped_extract_is_small_and_holds_only_the_documented_fields(document: dict[str, Any]) -> None:
    assert SHIPPED.stat().st_size < 200_000
    # An exact schema is what keeps customer identifiers (or anything else) out.
    assert set(document) == {
        "skus", "countries", "rhythm", "invoices_per_day", "lines_per_order",
        "units_per_line", "cancellation_share", "source",
    }  # fmt: skip
    assert all(set(sku) == {"sku", "description", "price", "weekly_units", "lines"} for sku in document["skus"])
    assert set(document["source"]) == {"name", "licence", "citation", "rows_read", "date_range"}
    assert set(document["units_per_line"]) == {"p10", "p50", "p90", "p99"}
    assert not [key for key in _keys(document) if "cust" in key.lower()]
    assert document["source"]["licence"] == "CC0"
    assert document["source"]["rows_read"] == 541_909
    assert document["source"]["date_range"] == ["2010-12-01", "2011-12-09"]


def _keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [*value, *(key for item in value.values() for key in _keys(item))]
    if isinstance(value, list):
        return [key for item in value for key in _keys(item)]
    return []


def test_products_are_the_real_best_sellers(catalogue: Catalogue) -> None:
    products = catalogue.products
    assert len(products) == 300
    skus = [product.sku for product in products]
    assert len(set(skus)) == 300
    assert skus[0] == "85123A"
    assert products[0].description == "White Hanging Heart T-Light Holder"
    assert {"85099B", "22423", "47566", "20725"} <= set(skus)
    assert all(product.price > 0 and product.price == product.price.quantize(Decimal("0.01")) for product in products)
    assert all(product.weekly_units > 0 for product in products)
    assert [p.lines for p in products] == sorted((p.lines for p in products), reverse=True)
    assert not {"POST", "DOT", "M", "BANK CHARGES", "AMAZONFEE", "C2"} & set(skus)


def test_shares_sum_to_one_and_the_uk_dominates(catalogue: Catalogue) -> None:
    assert sum(catalogue.countries.values()) == pytest.approx(1, abs=1e-9)
    assert sum(catalogue.lines_per_order.values()) == pytest.approx(1, abs=1e-9)
    assert sum(sum(day) for day in catalogue.rhythm) == pytest.approx(1, abs=1e-9)
    assert catalogue.countries["United Kingdom"] > 0.8
    assert "Other" in catalogue.countries
    assert min(share for name, share in catalogue.countries.items() if name != "Other") >= 0.002
    assert set(catalogue.lines_per_order) == {str(n) for n in range(1, 20)} | {"20+"}
    assert 0 < catalogue.cancellation_share < 0.5


def test_rhythm_is_a_week_of_hours_with_no_saturday(catalogue: Catalogue) -> None:
    assert len(catalogue.rhythm) == 7
    assert all(len(day) == 24 for day in catalogue.rhythm)
    assert all(share >= 0 for day in catalogue.rhythm for share in day)
    assert catalogue.rhythm[5] == (0.0,) * 24
    assert catalogue.trading_days == 6
    assert all(share == 0 for day in catalogue.rhythm for share in day[:6])  # nothing before 06:00
    assert catalogue.invoices_per_day > 0
    units = catalogue.units_per_line
    assert 1 <= units["p10"] <= units["p50"] <= units["p90"] <= units["p99"]


@pytest.mark.parametrize("monday", [datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 7, 6, tzinfo=UTC)])
def test_arrival_rate_over_a_week_is_invoices_per_day_times_trading_days(
    catalogue: Catalogue, monday: datetime
) -> None:
    total = sum(catalogue.arrival_rate(monday + timedelta(hours=h)) for h in range(168))
    assert total == pytest.approx(catalogue.invoices_per_day * 6, rel=1e-9)


def test_arrival_rate_reads_london_local_time(catalogue: Catalogue) -> None:
    london = ZoneInfo("Europe/London")
    # 12:30 UTC on a summer Wednesday is 13:30 BST.
    at = datetime(2026, 7, 8, 12, 30, tzinfo=UTC)
    expected = catalogue.invoices_per_week * catalogue.rhythm[2][13]
    assert catalogue.arrival_rate(at) == pytest.approx(expected)
    assert catalogue.arrival_rate(at.astimezone(london)) == catalogue.arrival_rate(at)
    assert catalogue.arrival_rate(datetime(2026, 7, 11, 12, tzinfo=london)) == 0.0  # a Saturday
    with pytest.raises(ValueError, match="aware"):
        catalogue.arrival_rate(datetime(2026, 7, 8, 12, 30))


def test_draws_are_deterministic_for_a_seed_and_within_bounds(catalogue: Catalogue) -> None:
    def draws(seed: int) -> list[tuple[list[tuple[str, int]], str]]:
        rng = Random(seed)
        return [(catalogue.draw_lines(rng), catalogue.draw_country(rng)) for _ in range(500)]

    first = draws(7)
    assert first == draws(7)
    assert first != draws(8)
    known = {product.sku for product in catalogue.products}
    for lines, country in first:
        assert 1 <= len(lines) <= MAX_LINES
        skus = [sku for sku, _ in lines]
        assert len(set(skus)) == len(skus)
        assert set(skus) <= known
        assert all(1 <= units <= MAX_UNITS for _, units in lines)
        assert country in catalogue.countries


def test_draws_follow_the_real_distributions(catalogue: Catalogue) -> None:
    rng = Random(1)
    countries = Counter(catalogue.draw_country(rng) for _ in range(5000))
    assert countries["United Kingdom"] / 5000 == pytest.approx(catalogue.countries["United Kingdom"], abs=0.02)
    orders = [catalogue.draw_lines(rng) for _ in range(2000)]
    single = sum(1 for lines in orders if len(lines) == 1) / len(orders)
    assert single == pytest.approx(catalogue.lines_per_order["1"], abs=0.02)
    top = Counter(sku for lines in orders for sku, _ in lines).most_common(1)[0][0]
    assert top == catalogue.products[0].sku
    units = sorted(u for lines in orders for _, u in lines)
    assert units[len(units) // 2] == pytest.approx(catalogue.units_per_line["p50"], abs=1)


def test_load_catalogue_is_cached() -> None:
    assert load_catalogue() is load_catalogue()


@pytest.mark.skipif(not SOURCE.is_file(), reason=f"the Online Retail CSV is not at {SOURCE}")
def test_the_script_reproduces_the_shipped_extract_byte_for_byte(tmp_path: Path) -> None:
    out = tmp_path / "catalogue.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--source", str(SOURCE), "--out", str(out)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "300 SKUs" in result.stdout
    assert out.read_bytes() == SHIPPED.read_bytes()
