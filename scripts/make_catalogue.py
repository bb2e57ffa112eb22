"""Extract the demo world's catalogue from the Online Retail order lines.

Reads the real transactions of a UK online retailer (Chen, Sain and Guo 2012; UCI
"Online Retail"; CC0 via the CRAN package onlineretail 0.1.2) in one pass and writes
``monitor/demo/data/catalogue.json``: the best-selling products, customers by
country, the weekly rhythm of orders, order sizes and the cancellation share. The
output is deterministic (sorted keys, stable ordering, no build timestamp), so
re-running this script must reproduce the shipped file byte for byte.

Definitions (the README next to the JSON repeats them):

* a *product line* is a row whose StockCode is a product (has a digit and is not a
  fee or adjustment code), on a non-cancelled invoice, with Quantity > 0 and
  UnitPrice > 0; stock codes are upper-cased (``85123a`` is ``85123A``);
* an *order* is a non-cancelled invoice with at least one product line; its time is
  its first row's InvoiceDate (UTC), shown in Europe/London local time;
* shares are rounded to 1e-6 by largest remainder, so each set sums to exactly 1.

Usage: ``python scripts/make_catalogue.py [--source PATH] [--out PATH] [--skus 300]``
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import re
import statistics
import sys
from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

__all__ = ["build_catalogue", "main", "read_order_lines"]

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO_ROOT.parent / "shared/data/online-retail/online_retail.csv.gz"
DEFAULT_OUT = REPO_ROOT / "monitor/demo/data/catalogue.json"
LONDON = ZoneInfo("Europe/London")

# Postage, fees, manual adjustments, samples and charity lines: not products.
NON_PRODUCT_CODES = frozenset(
    {"POST", "DOT", "M", "BANK CHARGES", "AMAZONFEE", "C2", "D", "S", "B", "CRUK", "PADS"}
)
COUNTRY_MIN_SHARE = 0.002
LINES_BUCKETS = 20  # "1".."19" and "20+"
SHARE_UNITS = 1_000_000  # shares are rounded to millionths
QUANTILES = {"p10": 10, "p50": 50, "p90": 90, "p99": 99}

SOURCE_NAME = "Online Retail (UCI Machine Learning Repository)"
CITATION = (
    "Daqing Chen, Sai Liang Sain and Kun Guo, \"Data mining for the online retail industry: "
    "A case study of RFM model-based customer segmentation using data mining\", Journal of "
    "Database Marketing and Customer Strategy Management 19(3), 2012, doi:10.1057/dbm.2012.17; "
    "UCI Machine Learning Repository \"Online Retail\"; redistributed under CC0 in the CRAN "
    "package onlineretail 0.1.2."
)

K = TypeVar("K", bound=Hashable)
# A word, or an apostrophe suffix after a number ("50'S" becomes "50's").
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?|'[A-Za-z]+")


def is_product_code(code: str) -> bool:
    """True for a stock code that names a product rather than a fee or an adjustment."""
    return code not in NON_PRODUCT_CODES and any(ch.isdigit() for ch in code)


def clean_description(text: str) -> str:
    """Collapse whitespace, drop trailing dots and commas, title-case words ("Children's")."""
    return _WORD.sub(_title_word, " ".join(text.split()).rstrip(" .,"))


def _title_word(match: re.Match[str]) -> str:
    word = match.group(0)
    return word.lower() if word.startswith("'") else word.capitalize()


@dataclass
class _Sku:
    lines: int = 0
    units: int = 0
    prices: Counter[str] = field(default_factory=Counter)
    descriptions: Counter[str] = field(default_factory=Counter)


@dataclass
class _Tally:
    """Everything the single pass over the CSV keeps."""

    rows: int = 0
    first: str = ""
    last: str = ""
    invoices: set[str] = field(default_factory=set)
    cancelled: set[str] = field(default_factory=set)
    skus: defaultdict[str, _Sku] = field(default_factory=lambda: defaultdict(_Sku))
    order_time: dict[str, str] = field(default_factory=dict)
    order_codes: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    quantities: list[int] = field(default_factory=list)
    customer_countries: defaultdict[str, Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )


def read_order_lines(source: Path) -> _Tally:
    """Tally the gzipped CSV in one pass."""
    tally = _Tally()
    with gzip.open(source, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        expected = [
            "InvoiceNo", "StockCode", "Description", "Quantity",
            "InvoiceDate", "UnitPrice", "CustomerID", "Country",
        ]  # fmt: skip
        if header != expected:
            raise SystemExit(f"{source}: unexpected header {header}, expected {expected}")
        for invoice, code, description, quantity, when, price, customer, country in reader:
            tally.rows += 1
            # ISO 8601 UTC strings of one shape sort as times do.
            if not tally.first or when < tally.first:
                tally.first = when
            if when > tally.last:
                tally.last = when
            tally.invoices.add(invoice)
            if customer:
                tally.customer_countries[customer][country] += 1
            if invoice.startswith("C"):
                tally.cancelled.add(invoice)
                continue
            code = code.upper()
            units = int(quantity)
            if units <= 0 or not is_product_code(code) or Decimal(price) <= 0:
                continue
            sku = tally.skus[code]
            sku.lines += 1
            sku.units += units
            sku.prices[price] += 1
            sku.descriptions[description] += 1
            tally.order_time.setdefault(invoice, when)
            tally.order_codes[invoice].add(code)
            tally.quantities.append(units)
    return tally


def shares(counts: Mapping[K, int]) -> dict[K, float]:
    """Each count's share of the total, rounded to millionths by largest remainder."""
    total = sum(counts.values())
    if total <= 0:
        raise ValueError("no counts to share out")
    exact = {key: count * SHARE_UNITS / total for key, count in counts.items()}
    units = {key: int(value) for key, value in exact.items()}
    short = SHARE_UNITS - sum(units.values())
    # Ties broken by position, so the result depends only on the (ordered) input.
    order = sorted(exact, key=lambda key: units[key] - exact[key])
    for key in order[:short]:
        units[key] += 1
    return {key: units[key] / SHARE_UNITS for key in counts}


def _median_price(prices: Counter[str]) -> str:
    values = sorted(Decimal(price) for price, count in prices.items() for _ in range(count))
    median = Decimal(statistics.median(values))
    return str(median.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text)


def build_catalogue(tally: _Tally, n_skus: int) -> dict[str, Any]:
    """Turn the tally into the JSON document (plain dicts and lists)."""
    first, last = _utc(tally.first).date(), _utc(tally.last).date()
    weeks = ((last - first).days + 1) / 7

    ranked = sorted(tally.skus.items(), key=lambda item: (-item[1].lines, item[0]))[:n_skus]
    skus = [
        {
            "sku": code,
            # Most frequent spelling; ties go to the alphabetically first.
            "description": clean_description(
                min(sku.descriptions.items(), key=lambda item: (-item[1], item[0]))[0]
            ),
            "price": _median_price(sku.prices),
            "weekly_units": round(sku.units / weeks, 2),
            "lines": sku.lines,
        }
        for code, sku in ranked
    ]

    by_country: Counter[str] = Counter()
    for countries in tally.customer_countries.values():
        # A customer who ordered from several countries counts once, where most lines went.
        by_country[min(countries.items(), key=lambda item: (-item[1], item[0]))[0]] += 1
    total_customers = sum(by_country.values())
    kept: Counter[str] = Counter()
    for country, count in sorted(by_country.items()):
        kept[country if count / total_customers >= COUNTRY_MIN_SHARE else "Other"] += count

    cells: dict[tuple[int, int], int] = {(day, hour): 0 for day in range(7) for hour in range(24)}
    order_days: set[date] = set()
    local_cache: dict[str, datetime] = {}
    for when in tally.order_time.values():
        local = local_cache.get(when)
        if local is None:
            local = local_cache[when] = _utc(when).astimezone(LONDON)
        cells[local.weekday(), local.hour] += 1
        order_days.add(local.date())
    cell_shares = shares(cells)
    rhythm = [[cell_shares[day, hour] for hour in range(24)] for day in range(7)]

    sizes: Counter[str] = Counter()
    for codes in tally.order_codes.values():
        n = len(codes)
        sizes[str(n) if n < LINES_BUCKETS else f"{LINES_BUCKETS}+"] += 1
    buckets = [str(n) for n in range(1, LINES_BUCKETS)] + [f"{LINES_BUCKETS}+"]
    lines_per_order = shares({bucket: sizes[bucket] for bucket in buckets})

    cuts = statistics.quantiles(tally.quantities, n=100, method="inclusive")
    units_per_line = {name: round(cuts[pct - 1], 2) for name, pct in QUANTILES.items()}

    return {
        "skus": skus,
        "countries": shares(kept),
        "rhythm": rhythm,
        "invoices_per_day": round(len(tally.order_time) / len(order_days), 2),
        "lines_per_order": lines_per_order,
        "units_per_line": units_per_line,
        "cancellation_share": round(len(tally.cancelled) / len(tally.invoices), 6),
        "source": {
            "name": SOURCE_NAME,
            "licence": "CC0",
            "citation": CITATION,
            "rows_read": tally.rows,
            "date_range": [first.isoformat(), last.isoformat()],
        },
    }


def render(catalogue: Mapping[str, Any]) -> bytes:
    """The JSON bytes: sorted keys, one-space indent, ASCII, trailing newline."""
    return (json.dumps(catalogue, sort_keys=True, indent=1, ensure_ascii=True) + "\n").encode()


def _summary(catalogue: Mapping[str, Any], size: int, out: Path) -> str:
    rhythm = catalogue["rhythm"]
    day, hour = max(((d, h) for d in range(7) for h in range(24)), key=lambda c: rhythm[c[0]][c[1]])
    weekday = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[day]
    uk = catalogue["countries"].get("United Kingdom", 0.0)
    top = ", ".join(s["sku"] for s in catalogue["skus"][:5])
    return (
        f"{out}: {size:,} bytes; {catalogue['source']['rows_read']:,} rows; "
        f"{len(catalogue['skus'])} SKUs (top {top}); UK {uk:.1%} of customers; "
        f"{catalogue['invoices_per_day']} orders/trading day, busiest {weekday} {hour:02d}:00; "
        f"{catalogue['cancellation_share']:.1%} of invoices cancelled"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="online_retail.csv.gz")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="catalogue.json to write")
    parser.add_argument("--skus", type=int, default=300, help="how many best sellers to keep")
    args = parser.parse_args(argv)
    if args.skus < 1:
        parser.error("--skus must be at least 1")
    if not args.source.is_file():
        parser.error(f"no such file: {args.source}")

    catalogue = build_catalogue(read_order_lines(args.source), args.skus)
    data = render(catalogue)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(_summary(catalogue, len(data), args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
