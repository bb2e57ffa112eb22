"""The ``shopify`` connector against a fake shop on ``httpx.MockTransport``.

``FakeShop`` answers the connector's queries in Shopify's shape and keeps a
query-cost bucket on the test's fake clock (sleeping moves it; nothing waits).
Every query the connector sends is validated against Shopify's Admin schema
(``shared/data/shopify``, beside the repository), and the parsers are run on
responses built from real captures there; both skip when that folder is absent.
"""

from __future__ import annotations

import json
import logging
import random
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from monitor.errors import (
    AuthError,
    ConnectorTimeout,
    ConnectorUnavailable,
    MalformedResponse,
    QueryError,
    RateLimited,
)
from probes.base import ConnectorContext, EntityQuery
from probes.registry import KINDS
from probes.shopify import ShopifyConnector, ShopifySystemConfig
from probes.shopify_queries import (
    customers_request,
    keys_request,
    lookup_request,
    lookup_shape,
    sku_search,
)
from tests.support import FakeClock

SHARED = Path(__file__).resolve().parents[2] / "shared/data/shopify"
SCHEMA = SHARED / "admin-2026-04.schema.graphql"
CAPTURES = SHARED / "captures"

STOCK = EntityQuery("stock", "sku", ("available", "on_hand", "committed", "variant_updated_at"), "updated_at")
STOCK_AT = EntityQuery("stock_at", "sku", ("available", "on_hand"), "updated_at")
ORDERS = EntityQuery(
    "orders",
    "name",
    (
        "display_fulfillment_status",
        "display_financial_status",
        "total",
        "created_at",
        "cancelled_at",
        "fulfilled_at",
        "tracking_number",
    ),
    "updated_at",
)
CUSTOMERS = EntityQuery(
    "customers", "email", ("marketing_state", "marketing_opt_in_level", "marketing_updated_at"), "updated_at"
)
SINCE = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


# -- a fake shop -------------------------------------------------------------------------


def variant(i: int, sku: str | None = None, **overrides: Any) -> dict[str, Any]:
    stamp = f"2026-11-27T{10 + i // 60 % 10:02d}:{i % 60:02d}:00Z"
    node: dict[str, Any] = {
        "id": f"gid://shopify/ProductVariant/{1000 + i}",
        "sku": sku if sku is not None else f"SKU-{i:04d}",
        "updatedAt": stamp,
        "inventoryQuantity": i,
        "inventoryItem": {
            "id": f"gid://shopify/InventoryItem/{2000 + i}",
            "updatedAt": "2026-11-01T09:00:00Z",
            "inventoryLevels": {"nodes": [level(i, stamp)]},
            "inventoryLevel": level(i, stamp),
        },
    }
    node.update(overrides)
    return node


def level(i: int, stamp: str | None) -> dict[str, Any]:
    return {
        "id": f"gid://shopify/InventoryLevel/1?inventory_item_id={2000 + i}",
        "updatedAt": stamp,
        "quantities": [
            {"name": "available", "quantity": i, "updatedAt": stamp},
            {"name": "on_hand", "quantity": i + 2, "updatedAt": stamp},
            {"name": "committed", "quantity": 2, "updatedAt": None},
        ],
    }


def order(i: int, **overrides: Any) -> dict[str, Any]:
    node: dict[str, Any] = {
        "id": f"gid://shopify/Order/{5000 + i}",
        "name": f"#{1000 + i}",
        "createdAt": "2026-11-27T08:00:00Z",
        "updatedAt": f"2026-11-27T{10 + i // 60 % 10:02d}:{i % 60:02d}:00Z",
        "cancelledAt": None,
        "displayFinancialStatus": "PAID",
        "displayFulfillmentStatus": "UNFULFILLED",
        "totalPriceSet": {"shopMoney": {"amount": "12.50", "currencyCode": "GBP"}},
        "fulfillments": [],
    }
    node.update(overrides)
    return node


def customer(i: int, **overrides: Any) -> dict[str, Any]:
    node: dict[str, Any] = {
        "id": f"gid://shopify/Customer/{7000 + i}",
        "updatedAt": f"2026-11-27T{10 + i // 60 % 10:02d}:{i % 60:02d}:00Z",
        "defaultEmailAddress": {
            "emailAddress": f"shopper{i}@example.co.uk",
            "marketingState": "SUBSCRIBED",
            "marketingOptInLevel": "SINGLE_OPT_IN",
            "marketingUpdatedAt": "2026-10-01T12:00:00Z",
        },
    }
    node.update(overrides)
    return node


_TERM = re.compile(r"""(\w+):(>=)?("(?:[^"\\]|\\.)*"|'[^']*'|\S+)""")


def search_terms(q: str) -> list[tuple[str, str]]:
    """``[(field, value)]`` of a Shopify search string (the subset the connector writes)."""
    out = []
    for match in _TERM.finditer(q):
        field, _, raw = match.groups()
        if raw[0] == '"':
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        elif raw[0] == "'":
            raw = raw[1:-1]
        out.append((field, raw))
    return out


def throttled_body(requested: float, available: float, restore: float, maximum: float = 1000.0) -> dict[str, Any]:
    """Shopify's THROTTLED answer (apis.md): no data, a null actual cost."""
    return {
        "errors": [
            {
                "message": "Throttled",
                "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"},
            }
        ],
        "extensions": {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": None,
                "throttleStatus": {
                    "maximumAvailable": maximum,
                    "currentlyAvailable": available,
                    "restoreRate": restore,
                },
            }
        },
    }


class FakeShop:
    """Answers the connector's operations from lists of nodes, in Shopify's shape.

    Its cost bucket (``maximum`` points, ``restore`` per second of the fake clock)
    charges ``requested`` up front, refunds down to ``actual`` and answers
    THROTTLED when a query does not fit. ``script`` holds answers (responses or
    bodies) given before any of that, in order. ``bodies`` and ``times`` record
    each request.
    """

    def __init__(self, clock: FakeClock, maximum: float = 2000.0, restore: float = 100.0) -> None:
        self.clock = clock
        self.maximum, self.restore, self.available, self._at = maximum, restore, maximum, clock.now
        self.requested: float | Callable[[dict[str, Any]], float] = 10.0
        self.actual: float | Callable[[dict[str, Any]], float] = 5.0
        self.variants: list[dict[str, Any]] = []
        self.orders: list[dict[str, Any]] = []
        self.customers: list[dict[str, Any]] = []
        self.script: list[httpx.Response | dict[str, Any]] = []
        self.requests: list[httpx.Request] = []
        self.bodies: list[dict[str, Any]] = []
        self.times: list[float] = []
        self.throttled = 0

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(request)
        self.bodies.append(body)
        self.times.append(self.clock.now)
        if self.script:
            answer = self.script.pop(0)
            return answer if isinstance(answer, httpx.Response) else httpx.Response(200, json=answer)
        requested = self.requested(body) if callable(self.requested) else self.requested
        actual = self.actual(body) if callable(self.actual) else self.actual
        self.available = min(self.maximum, self.available + (self.clock.now - self._at) * self.restore)
        self._at = self.clock.now
        if requested > self.available + 1e-9:  # not throttling on float dust from the refill
            self.throttled += 1
            return httpx.Response(200, json=throttled_body(requested, self.available, self.restore, self.maximum))
        self.available -= actual
        cost = {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": {
                "maximumAvailable": self.maximum,
                "currentlyAvailable": self.available,
                "restoreRate": self.restore,
            },
        }
        return httpx.Response(200, json={"data": self.data(body), "extensions": {"cost": cost}})

    def data(self, body: dict[str, Any]) -> dict[str, Any]:
        operation, variables = body["operationName"], body["variables"]
        if operation == "CustomersByEmail":
            by_email = {c["defaultEmailAddress"]["emailAddress"].casefold(): c for c in self.customers}
            return {f"c{i}": by_email.get(variables[f"e{i}"].casefold()) for i in range(len(variables))}
        root, nodes, key = {
            "InventoryBySku": ("productVariants", self.variants, "sku"),
            "InventoryBySkuAtLocation": ("productVariants", self.variants, "sku"),
            "VariantKeys": ("productVariants", self.variants, "sku"),
            "OrdersByName": ("orders", self.orders, "name"),
            "OrderKeys": ("orders", self.orders, "name"),
            "OrderKeysChanged": ("orders", self.orders, "name"),
            "CustomerKeys": ("customers", self.customers, ""),
            "CustomerKeysChanged": ("customers", self.customers, ""),
        }[operation]
        found = self.search(nodes, key, variables.get("q"))
        if operation.endswith("Changed"):
            found.sort(key=lambda n: n["updatedAt"], reverse=True)
        start = int(variables.get("after") or 0)
        page = found[start : start + variables["first"]]
        more = start + len(page) < len(found)
        return {
            root: {
                "nodes": page,
                "pageInfo": {"hasNextPage": more, "endCursor": str(start + len(page)) if more else None},
            }
        }

    @staticmethod
    def search(nodes: list[dict[str, Any]], key: str, q: str | None) -> list[dict[str, Any]]:
        if q is None:
            return list(nodes)
        terms = search_terms(q)
        if terms and terms[0][0] == "updated_at":
            return [n for n in nodes if n["updatedAt"] >= terms[0][1]]
        values = {value for _, value in terms}
        # Shopify's sku search also matches on a prefix; the connector must drop the extra.
        return [n for n in nodes if any(str(n.get(key)).casefold().startswith(v.casefold()) for v in values)]


# -- fixtures ----------------------------------------------------------------------------


def shop_config(**overrides: Any) -> ShopifySystemConfig:
    raw: dict[str, Any] = {
        "kind": "shopify",
        "shop_url": "https://brand.myshopify.com",
        "access_token": "shpat_secret_token_123",
        "retries": {"attempts": 3},
        "entities": {
            "stock": {"type": "inventory"},
            "stock_at": {"type": "inventory", "location_id": "123"},
            "orders": {"type": "orders"},
            "customers": {"type": "customers"},
        },
    }
    raw.update(overrides)
    return ShopifySystemConfig.model_validate(raw)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def shop(clock: FakeClock) -> FakeShop:
    fake = FakeShop(clock)
    fake.variants = [variant(i) for i in range(600)]
    fake.orders = [order(i) for i in range(300)]
    fake.customers = [customer(i) for i in range(300)]
    return fake


@pytest.fixture
def connect(clock: FakeClock) -> Iterator[Callable[..., ShopifyConnector]]:
    opened: list[ShopifyConnector] = []

    def build(handler: Callable[[httpx.Request], httpx.Response], **overrides: Any) -> ShopifyConnector:
        transport = httpx.MockTransport(handler)
        ctx = ConnectorContext(sleep=clock.sleep, monotonic=clock.monotonic, http_transport=lambda: transport)
        opened.append(ShopifyConnector.open("shop", shop_config(**overrides), ctx))
        return opened[-1]

    yield build
    for connector in opened:
        connector.close()


def answer(body: dict[str, Any], status: int = 200) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, json=body)


def ok_body(data: dict[str, Any], requested: float = 10, actual: float = 5) -> dict[str, Any]:
    status = {"maximumAvailable": 2000, "currentlyAvailable": 1990, "restoreRate": 100}
    return {
        "data": data,
        "extensions": {
            "cost": {"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": status}
        },
    }


def capture(name: str) -> Any:
    path = CAPTURES / name
    if not path.is_file():
        pytest.skip(f"no Shopify capture {name} under {CAPTURES} (a clone without ../shared)")
    return json.loads(path.read_text())


# -- config and registry -----------------------------------------------------------------


def test_config_shape_and_declared_fields() -> None:
    config = shop_config(api_share="5%", shop_url="https://brand.myshopify.com/")
    assert config.endpoint() == "https://brand.myshopify.com/admin/api/2026-04/graphql.json"
    assert config.api_share == pytest.approx(0.05)
    assert config.max_cost_per_query == 1000 and config.restore_rate is None
    assert config.entities["stock"].declared_fields() == {
        "sku", "available", "on_hand", "committed", "updated_at", "variant_updated_at"
    }  # fmt: skip
    assert "email" in config.entities["customers"].declared_fields()
    assert {"total", "fulfilled_at", "tracking_number"} <= config.entities["orders"].declared_fields()
    assert "shpat_secret_token_123" not in repr(config)
    assert shop_config(shop_url="http://127.0.0.1:8123").endpoint().startswith("http://127.0.0.1:8123/admin/")
    assert KINDS["shopify"].config_model is ShopifySystemConfig


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"shop_url": "http://brand.myshopify.com"}, "must be https://"),
        ({"shop_url": "https://brand.myshopify.com?x=1"}, "query string"),
        ({"api_version": "2026-05"}, "API version"),
        ({"max_cost_per_query": 1001}, "less than or equal to 1000"),
        ({"api_share": "0%"}, "api_share is 0%"),
        ({"entities": {"o": {"type": "orders", "location_id": "1"}}}, "inventory only"),
        ({"entities": {"s": {"type": "inventory", "location_id": "main"}}}, "location ID"),
        ({"entities": {"s": {"type": "products"}}}, "'inventory', 'orders' or 'customers'"),
    ],
)
def test_config_rejects(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        shop_config(**overrides)


# -- every query against Shopify's schema ------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> Any:
    if not SCHEMA.is_file():
        pytest.skip(f"no Shopify schema at {SCHEMA} (a clone without ../shared)")
    graphql = pytest.importorskip("graphql", reason="graphql-core is a dev dependency: pip install -e .[dev]")
    # assume_valid: graphql-core 3.3 refuses some of Shopify's own interface deprecations in the
    # schema itself, which says nothing about our queries (3.2 loads it as it is).
    return graphql.build_schema(SCHEMA.read_text(), assume_valid=True)


def sent_queries(connect: Callable[..., ShopifyConnector], shop: FakeShop) -> list[dict[str, Any]]:
    """Every operation the connector can send, by running each entity type's three reads."""
    connector = connect(shop)
    rng = random.Random(7)
    for query, keys in [
        (STOCK, ["SKU-0001", 'odd "sku" \\ 2']),
        (STOCK_AT, ["SKU-0001"]),
        (ORDERS, ["#1001", "#1002"]),
        (CUSTOMERS, ["shopper1@example.co.uk", "jo@example.co.uk"]),
    ]:
        connector.read(query, keys)
        connector.changed_since(query, SINCE, 5)
        connector.sample_keys(query, 3, rng)
    return shop.bodies


def published_cost(schema: Any, text: str, variables: dict[str, Any]) -> int:
    """Requested cost by Shopify's published rules (probes.shopify_queries), from the schema."""
    import graphql

    def cost(parent: Any, selection_set: Any) -> int:
        total = 0
        for node in selection_set.selections:
            named = graphql.get_named_type(parent.fields[node.name.value].type)
            if graphql.is_leaf_type(named):
                continue
            args = {arg.name.value: arg.value for arg in node.arguments or ()}
            first = graphql.value_from_ast(args["first"], graphql.GraphQLInt, variables) if "first" in args else None
            if first is None:
                total += 1 + cost(named, node.selection_set)
            elif named.name.endswith("Connection"):
                total += 2
                for sub in node.selection_set.selections:
                    item = graphql.get_named_type(named.fields[sub.name.value].type)
                    each = 1 + cost(item, sub.selection_set)
                    total += first * each if sub.name.value == "nodes" else each
            else:
                total += 2 + first * (1 + cost(named, node.selection_set))
        return total

    operation = graphql.parse(text).definitions[0]
    assert isinstance(operation, graphql.OperationDefinitionNode)
    return cost(schema.query_type, operation.selection_set)


def test_every_query_the_connector_sends_validates_against_the_schema(
    schema: Any, connect: Callable[..., ShopifyConnector], shop: FakeShop
) -> None:
    import graphql
    from graphql.execution.values import get_variable_values
    from graphql.validation import NoDeprecatedCustomRule, specified_rules

    bodies = sent_queries(connect, shop)
    assert {b["operationName"] for b in bodies} == {
        "InventoryBySku", "InventoryBySkuAtLocation", "VariantKeys",
        "OrdersByName", "OrderKeys", "OrderKeysChanged",
        "CustomersByEmail", "CustomerKeys", "CustomerKeysChanged",
    }  # fmt: skip
    for body in bodies:
        document = graphql.parse(body["query"])
        errors = graphql.validate(schema, document, [*specified_rules, NoDeprecatedCustomRule])
        assert errors == [], (body["operationName"], errors)
        operation = document.definitions[0]
        assert isinstance(operation, graphql.OperationDefinitionNode)
        coerced = get_variable_values(schema, operation.variable_definitions or (), body["variables"])
        assert not isinstance(coerced, list), (body["operationName"], coerced)


@pytest.mark.parametrize("size", [1, 7, 25, 250])
def test_cost_estimates_follow_the_published_rules(schema: Any, size: int) -> None:
    requests = [
        lookup_request("inventory", "sku:x", size, None),
        lookup_request("inventory", "sku:x", size, "cursor", location_id="gid://shopify/Location/1"),
        lookup_request("orders", "name:#1001", size, None),
        customers_request([f"c{i}@example.com" for i in range(size)]),
        *(keys_request(t, s, size, None) for t in ("inventory", "orders", "customers") for s in (None, "x")),
    ]
    for request in requests:
        assert request.cost == published_cost(schema, request.text, request.variables), request.operation


def test_batch_sizes_keep_every_query_within_the_cost_limit() -> None:
    # Documented in the report: inventory 166 (3 + 6B), at a location 249 (3 + 4B), orders 39 (3 + 25B).
    assert lookup_shape("inventory").largest(1000, 250) == 166
    assert lookup_shape("inventory", at_location=True).largest(1000, 250) == 249
    assert lookup_shape("orders").largest(1000, 250) == 39
    assert lookup_shape("orders").cost(39) == 978
    assert lookup_shape("customers").cost(25) == 50
    assert keys_request("customers", None, 250, None).cost == 503
    assert lookup_shape("orders").largest(50, 250) == 1


# -- parsers on real captures ------------------------------------------------------------


def test_customer_lookup_reads_captured_shapes(connect: Callable[..., ShopifyConnector]) -> None:
    consent = capture("2026-04_customers_customer-email-marketing-consent-update-parity.json")
    by_identifier = capture("2025-01_customers_customer-by-identifier.json")
    full = dict(consent["downstreamRead"]["response"]["data"]["customerByIdentifier"])
    full["updatedAt"] = "2026-06-25T01:20:11Z"  # that read did not select it
    plain = by_identifier["positiveAndMissing"]["data"]["byId"]  # defaultEmailAddress without marketing
    body = {
        "data": {"c0": full, "c1": plain, "c2": by_identifier["positiveAndMissing"]["data"]["missingEmail"]},
        "extensions": consent["downstreamRead"]["response"]["extensions"],
    }
    emails = [full["defaultEmailAddress"]["emailAddress"], plain["defaultEmailAddress"]["emailAddress"], "gone@x.io"]
    connector = connect(answer(body))
    records = {r.key: r for r in connector.read(CUSTOMERS, emails)}
    assert sorted(records) == sorted(emails[:2])
    subscribed = records[emails[0]]
    assert subscribed.fields == {
        "marketing_state": "SUBSCRIBED",
        "marketing_opt_in_level": "SINGLE_OPT_IN",
        "marketing_updated_at": "2026-04-25T01:00:00Z",
    }
    assert subscribed.updated_at == datetime(2026, 6, 25, 1, 20, 11, tzinfo=UTC) and not subscribed.problems
    assert records[emails[1]].fields["marketing_state"] is None
    assert records[emails[1]].updated_at == datetime(2026, 5, 6, 2, 40, 36, tzinfo=UTC)
    assert connector.usage().cost_points == 11  # the capture's actualQueryCost


def test_inventory_lookup_reads_captured_shapes(connect: Callable[..., ShopifyConnector]) -> None:
    quantities = capture("2025-01_products_inventory-quantity-roots-parity.json")
    search = capture("2025-01_products_products-variant-search.json")
    sku = search["variables"]["query"].removeprefix("sku:")
    downstream = next(
        c for c in quantities["upstreamCalls"] if c["operationName"] == "InventoryQuantityDownstreamRead"
    )
    item = downstream["response"]["body"]["data"]["inventoryItem"]
    node = {
        "id": item["variant"]["id"],
        "sku": sku,
        "updatedAt": "2026-04-27T00:56:09Z",
        "inventoryQuantity": item["variant"]["inventoryQuantity"],
        "inventoryItem": {
            "id": item["id"],
            "updatedAt": "2026-04-27T00:56:07Z",
            "inventoryLevels": {"nodes": item["inventoryLevels"]["nodes"][:1]},
        },
    }
    data = {"productVariants": {"nodes": [node], "pageInfo": {"hasNextPage": False, "endCursor": None}}}
    connector = connect(answer({"data": data, "extensions": search["response"]["extensions"]}))
    [record] = connector.read(STOCK, [sku])
    assert record.key == sku
    assert record.fields == {"available": 7, "on_hand": 7, "committed": None, "variant_updated_at": node["updatedAt"]}
    assert record.problems == {"committed": "absent"}  # that level reports no committed quantity
    # Its quantities carry no updatedAt, so the inventory item's.
    assert record.updated_at == datetime(2026, 4, 27, 0, 56, 7, tzinfo=UTC)
    assert connector.usage().cost_points == 14


def test_orders_lookup_reads_captured_shapes(connect: Callable[..., ShopifyConnector]) -> None:
    lifecycle = capture("2026-04_orders_order-return-status-lifecycle.json")
    call = lifecycle["upstreamCalls"][0]["response"]["body"]
    captured = call["data"]["order"]
    tracking = lifecycle["setup"]["mixed"]["fulfillmentCreate"]["variables"]["fulfillment"]["trackingInfo"]
    fulfillments = [
        {**f, "inTransitAt": None, "deliveredAt": None, "trackingInfo": [{"company": tracking["company"],
                                                                          "number": tracking["number"]}]}
        for f in captured["fulfillments"]
    ]
    node = {**{k: captured[k] for k in ("id", "name", "createdAt", "updatedAt", "displayFinancialStatus",
                                          "displayFulfillmentStatus", "totalPriceSet")},
            "cancelledAt": None, "fulfillments": fulfillments}  # fmt: skip
    data = {"orders": {"nodes": [node], "pageInfo": {"hasNextPage": False, "endCursor": None}}}
    connector = connect(answer({"data": data, "extensions": call["extensions"]}))
    [record] = connector.read(ORDERS, ["#1797"])
    assert record.key == "#1797"
    assert record.fields == {
        "display_fulfillment_status": "FULFILLED",
        "display_financial_status": None,
        "total": {"amount": "108.0", "currencyCode": "USD"},
        "created_at": "2026-07-10T17:02:44Z",
        "cancelled_at": None,
        "fulfilled_at": "2026-07-10T17:02:44Z",
        "tracking_number": "ORDER-RETURN-STATUS-MIXED-20260710170237",
    }
    assert record.updated_at == datetime(2026, 7, 10, 17, 2, 45, tzinfo=UTC) and not record.problems


# -- reading -----------------------------------------------------------------------------


def test_request_is_a_post_with_the_token_header(connect: Callable[..., ShopifyConnector], shop: FakeShop) -> None:
    connect(shop).read(STOCK, ["SKU-0003"])
    [request] = shop.requests
    assert request.method == "POST"
    assert str(request.url) == "https://brand.myshopify.com/admin/api/2026-04/graphql.json"
    assert request.headers["X-Shopify-Access-Token"] == "shpat_secret_token_123"
    assert request.headers["Content-Type"] == "application/json"


def test_lookup_drops_search_extras_and_keeps_duplicates(
    connect: Callable[..., ShopifyConnector], shop: FakeShop
) -> None:
    shop.variants = [variant(1, "ABC"), variant(2, "ABC-XL"), variant(3, "abc"), variant(4, "ABC")]
    records = connect(shop).read(STOCK, ["ABC", "NOPE"])
    # ABC-XL matched the search but was not asked for; "abc" is left to the engine's key rules.
    assert sorted(r.key for r in records) == ["ABC", "ABC", "abc"]
    assert search_terms(shop.bodies[0]["variables"]["q"]) == [("sku", "ABC"), ("sku", "NOPE")]


def test_inventory_record_fields_and_fallbacks(connect: Callable[..., ShopifyConnector], shop: FakeShop) -> None:
    no_level = variant(1, "NO-LEVEL")
    no_level["inventoryItem"]["inventoryLevels"] = {"nodes": []}
    no_level["inventoryItem"]["inventoryLevel"] = None
    shop.variants = [variant(2), no_level]
    connector = connect(shop)
    stocked, unstocked = sorted(connector.read(STOCK, ["SKU-0002", "NO-LEVEL"]), key=lambda r: r.key, reverse=True)
    assert stocked.fields == {
        "available": 2, "on_hand": 4, "committed": 2, "variant_updated_at": "2026-11-27T10:02:00Z"
    }  # fmt: skip
    assert stocked.updated_at == datetime(2026, 11, 27, 10, 2, tzinfo=UTC)  # latest quantity change
    assert unstocked.problems == {"available": "absent", "on_hand": "absent", "committed": "absent"}
    assert unstocked.updated_at == datetime(2026, 11, 1, 9, 0, tzinfo=UTC)  # the item's
    at_location = connector.read(STOCK_AT, ["SKU-0002"])
    assert shop.bodies[-1]["variables"]["location"] == "gid://shopify/Location/123"
    assert at_location[0].fields == {"available": 2, "on_hand": 4}


def test_order_fulfilled_at_ignores_cancelled_fulfillments(
    connect: Callable[..., ShopifyConnector], shop: FakeShop
) -> None:
    def fulfillment(created: str, status: str, number: str) -> dict[str, Any]:
        return {"id": "f", "status": status, "displayStatus": "FULFILLED", "createdAt": created,
                "updatedAt": created, "inTransitAt": None, "deliveredAt": None,
                "trackingInfo": [{"company": "Royal Mail", "number": number}]}  # fmt: skip

    shop.orders = [
        order(1, fulfillments=[fulfillment("2026-11-27T09:00:00Z", "SUCCESS", "RM1"),
                               fulfillment("2026-11-27T11:00:00Z", "CANCELLED", "RM2")]),
        order(2),
    ]  # fmt: skip
    done, pending = connect(shop).read(ORDERS, ["#1001", "#1002"])
    assert (done.fields["fulfilled_at"], done.fields["tracking_number"]) == ("2026-11-27T09:00:00Z", "RM1")
    assert (pending.fields["fulfilled_at"], pending.fields["tracking_number"]) == (None, None)
    assert shop.bodies[0]["variables"]["q"] == "name:#1001 OR name:#1002"


def test_search_values_are_quoted_and_escaped() -> None:
    assert sku_search(['A "B"', "C\\D"]) == 'sku:"A \\"B\\"" OR sku:"C\\\\D"'
    assert search_terms(sku_search(['A "B"', "C\\D"])) == [("sku", 'A "B"'), ("sku", "C\\D")]


def test_lookup_follows_pages(connect: Callable[..., ShopifyConnector], shop: FakeShop) -> None:
    shop.variants = [variant(i, "DUP") for i in range(7)]
    records = connect(shop, batch_size=3).read(STOCK, ["DUP", "OTHER"])
    assert len(records) == 7
    # As many as keys first, then pages as large as a batch may be.
    assert [(b["variables"]["first"], b["variables"]["after"]) for b in shop.bodies] == [(2, None), (3, "2"), (3, "5")]


def test_batching_sends_few_requests_each_within_the_cost_limit(
    connect: Callable[..., ShopifyConnector], shop: FakeShop
) -> None:
    skus = [f"SKU-{i:04d}" for i in range(250)]
    connector = connect(shop)
    assert len(connector.read(STOCK, skus)) == 250
    assert [b["variables"]["first"] for b in shop.bodies] == [100, 100, 50]  # batch_size 100
    shop.bodies.clear()
    connect(shop, batch_size=1000).read(STOCK, skus)
    assert [b["variables"]["first"] for b in shop.bodies] == [166, 84]  # 3 + 6 × 166 = 999 points
    shop.bodies.clear()
    connector.read(ORDERS, [f"#{1000 + i}" for i in range(100)])
    assert [b["variables"]["first"] for b in shop.bodies] == [39, 39, 22]  # 3 + 25 × 39 = 978 points
    shop.bodies.clear()
    emails = [f"shopper{i}@example.co.uk" for i in range(60)]
    assert len(connector.read(CUSTOMERS, emails)) == 60
    assert [len(b["variables"]) for b in shop.bodies] == [25, 25, 10]


def test_changed_since_newest_first_up_to_the_limit(connect: Callable[..., ShopifyConnector], shop: FakeShop) -> None:
    connector = connect(shop)
    keys = connector.changed_since(ORDERS, datetime(2026, 11, 27, 14, 0, 30, tzinfo=UTC), 3)
    assert keys == ["#1299", "#1298", "#1297"]
    [body] = shop.bodies
    assert body["variables"]["q"] == "updated_at:>='2026-11-27T14:00:30Z'" and body["variables"]["first"] == 3
    assert connector.changed_since(ORDERS, SINCE, 0) == []
    shop.bodies.clear()
    assert len(connector.changed_since(CUSTOMERS, SINCE, 280)) == 280
    assert [b["variables"]["first"] for b in shop.bodies] == [250, 30]


def test_sample_keys_is_uniform_over_the_whole_listing(
    connect: Callable[..., ShopifyConnector], shop: FakeShop
) -> None:
    sample = connect(shop).sample_keys(STOCK, 10, random.Random(3))
    assert sample == random.Random(3).sample([f"SKU-{i:04d}" for i in range(600)], 10)
    assert [b["variables"]["first"] for b in shop.bodies] == [250, 250, 250]
    assert all(b["variables"]["q"] is None for b in shop.bodies)


def test_wrong_entity_or_key_is_a_query_error(connect: Callable[..., ShopifyConnector], shop: FakeShop) -> None:
    connector = connect(shop)
    with pytest.raises(QueryError, match="no entity 'nope'; configured: customers, orders, stock, stock_at"):
        connector.read(EntityQuery("nope", "sku", ()), ["A"])
    with pytest.raises(QueryError, match="keyed by 'email', not 'id'"):
        connector.read(EntityQuery("customers", "id", ()), ["A"])
    assert shop.requests == []


# -- cost-aware throttling ---------------------------------------------------------------


def test_our_bucket_keeps_to_the_api_share(
    connect: Callable[..., ShopifyConnector], shop: FakeShop, clock: FakeClock
) -> None:
    shop.requested = shop.actual = 50.0
    connector = connect(shop)  # 10% of 2000 points restoring at 100/s: 200 points, 10 points/s
    for i in range(10):
        connector.read(STOCK, [f"SKU-{i:04d}"])
    # 500 points: the first 200 at once, then 10 points/s for the other 300.
    assert clock.now == pytest.approx(30.0)
    assert shop.times == pytest.approx([0, 0, 0, 0, 5, 10, 15, 20, 25, 30])
    usage = connector.usage()
    assert usage.cost_points == 500 and usage.rate_limit_waits == 6
    assert usage.waited_seconds == pytest.approx(30.0) and usage.retries == 0
    assert connector.budget.bucket is not None and connector.budget.bucket.rate_per_second == pytest.approx(10)


def test_the_reservation_is_refunded_down_to_the_actual_cost(
    connect: Callable[..., ShopifyConnector], shop: FakeShop, clock: FakeClock
) -> None:
    shop.requested, shop.actual = 150.0, 5.0
    connector = connect(shop)  # our share: 200 points
    for i in range(10):
        connector.read(STOCK, [f"SKU-{i:04d}"])
    assert clock.sleeps == []  # 150 points reserved each time, 5 charged
    assert connector.usage().cost_points == 50


def test_configured_restore_rate_paces_our_share(
    connect: Callable[..., ShopifyConnector], shop: FakeShop, clock: FakeClock
) -> None:
    shop.requested = shop.actual = 50.0
    connector = connect(shop, restore_rate=50)  # our share: 5 points/s, not 10
    for i in range(5):
        connector.read(STOCK, [f"SKU-{i:04d}"])
    assert clock.now == pytest.approx(10.0)  # 250 points: 200 at once, 50 at 5/s


@pytest.mark.parametrize("status", [200, 429])
def test_throttled_waits_as_the_throttle_status_says_then_succeeds(
    connect: Callable[..., ShopifyConnector], shop: FakeShop, clock: FakeClock, status: int
) -> None:
    shop.script = [httpx.Response(status, json=throttled_body(752, 666, 50))]
    connector = connect(shop)
    [record] = connector.read(STOCK, ["SKU-0001"])
    assert record.key == "SKU-0001"
    assert clock.sleeps == [pytest.approx((752 - 666) / 50)]  # 1.72s, then no further wait
    usage = connector.usage()
    assert usage.requests == 2 and usage.retries == 1
    assert usage.by_status == ({"200": 2} if status == 200 else {"429": 1, "200": 1})
    assert usage.cost_points == 5  # the refused query cost nothing


def test_throttled_forever_is_rate_limited_after_the_attempts(
    connect: Callable[..., ShopifyConnector], shop: FakeShop, clock: FakeClock
) -> None:
    shop.script = [throttled_body(100, 0, 100)] * 5
    connector = connect(shop)
    with pytest.raises(RateLimited, match=r"stock lookup \(InventoryBySku\): throttled by Shopify") as caught:
        connector.read(STOCK, ["SKU-0001"])
    assert caught.value.attempts == 3 and len(shop.requests) == 3
    assert clock.sleeps == [pytest.approx(1.0)] * 2


def test_a_throttle_nearly_in_budget_waits_one_point_and_a_bare_429_its_retry_after(
    connect: Callable[..., ShopifyConnector], shop: FakeShop, clock: FakeClock
) -> None:
    shop.script = [
        throttled_body(100, 99.99, 100),  # float dust: still wait for a point, not 0.0001s
        httpx.Response(429, text="Too Many Requests", headers={"Retry-After": "2"}),
    ]
    assert len(connect(shop).read(STOCK, ["SKU-0001"])) == 1
    assert clock.sleeps == [pytest.approx(0.01), 2.0]


def test_a_throttle_wait_over_max_retry_after_fails_at_once(
    connect: Callable[..., ShopifyConnector], shop: FakeShop
) -> None:
    shop.script = [throttled_body(1000, 0, 1)]  # 1000s away
    with pytest.raises(RateLimited, match="longer than retries.max_retry_after"):
        connect(shop).read(STOCK, ["SKU-0001"])
    assert len(shop.requests) == 1


def test_waits_before_sending_when_the_shop_has_too_few_points(
    connect: Callable[..., ShopifyConnector], shop: FakeShop, clock: FakeClock
) -> None:
    shop.available = 60.0  # the integration has spent the rest
    shop.requested = shop.actual = 50.0
    connector = connect(shop)
    connector.read(STOCK, ["SKU-0001"])  # leaves 10
    connector.read(STOCK, ["SKU-0002"])
    assert shop.times == pytest.approx([0.0, 0.4])  # (50 - 10) / 100 points/s, before sending
    assert shop.throttled == 0
    assert connector.usage().rate_limit_waits == 1


def test_a_busy_shop_never_throttles_the_connector(
    connect: Callable[..., ShopifyConnector], shop: FakeShop
) -> None:
    shop.available = 0.0  # the integration keeps the shop's bucket drained
    shop.requested, shop.actual = 40.0, 30.0
    connector = connect(shop, api_share="100%")
    first = ok_body({"productVariants": {"nodes": [], "pageInfo": {"hasNextPage": False}}}, 40, 30)
    first["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] = 0
    shop.script = [first]
    for i in range(20):
        connector.read(STOCK, [f"SKU-{i:04d}"])
    assert shop.throttled == 0 and connector.usage().retries == 0


def test_cost_points_add_up_and_reset(connect: Callable[..., ShopifyConnector], shop: FakeShop) -> None:
    costs = iter([7.0, 11.0, 13.0])
    shop.actual = lambda body: next(costs)
    connector = connect(shop)
    for sku in ["SKU-0001", "SKU-0002", "SKU-0003"]:
        connector.read(STOCK, [sku])
    assert connector.usage().cost_points == 31
    connector.reset_usage()
    assert connector.usage().cost_points == 0 and connector.usage().requests == 0


# -- failures ----------------------------------------------------------------------------


def graphql_error(code: str, message: str = "Something failed", **cost: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"errors": [{"message": message, "extensions": {"code": code}}]}
    if cost:
        body["extensions"] = {"cost": cost}
    return body


def test_max_cost_exceeded_is_a_query_error_at_once(connect: Callable[..., ShopifyConnector], shop: FakeShop) -> None:
    message = "Query cost is 1234, which exceeds the single query max cost limit (1000)."
    shop.script = [graphql_error("MAX_COST_EXCEEDED", message, requestedQueryCost=1234, actualQueryCost=None)]
    with pytest.raises(QueryError, match=r"MAX_COST_EXCEEDED \(requested 1234 points\)") as caught:
        connect(shop).read(STOCK, ["SKU-0001"])
    assert caught.value.attempts == 1 and len(shop.requests) == 1


def test_emails_never_appear_in_errors_or_logs(
    connect: Callable[..., ShopifyConnector], shop: FakeShop, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    email = "jo.bloggs@example.co.uk"
    leaky = f"Invalid search: customer {email} not allowed"
    failures: list[httpx.Response | dict[str, Any]] = [
        graphql_error("BAD_REQUEST", leaky),
        {"errors": [{"message": leaky}]},
        {"errors": leaky},
        {"data": None},
        httpx.Response(200, content=f'{{"data": "{email}'.encode()),
    ]
    connector = connect(shop, retries={"attempts": 1})
    for failure in failures:
        shop.script = [failure]
        with pytest.raises((QueryError, MalformedResponse)) as caught:
            connector.read(CUSTOMERS, [email])
        assert email not in str(caught.value)
    shop.script = [graphql_error("INTERNAL_SERVER_ERROR", leaky)] * 2
    with pytest.raises(ConnectorUnavailable) as unavailable:
        connect(shop, retries={"attempts": 2}).changed_since(CUSTOMERS, SINCE, 5)
    assert "INTERNAL_SERVER_ERROR" in str(unavailable.value) and email not in str(unavailable.value)
    assert email not in caplog.text and "shpat_secret_token_123" not in caplog.text


def test_graphql_errors_name_their_codes(connect: Callable[..., ShopifyConnector], shop: FakeShop) -> None:
    shop.script = [{"errors": [{"message": "a", "extensions": {"code": "BAD_REQUEST"}},
                               {"message": "b", "extensions": {"code": "NOT_FOUND"}}], "data": None}]  # fmt: skip
    expected = r"customers lookup \(CustomersByEmail\): GraphQL error BAD_REQUEST, NOT_FOUND$"
    with pytest.raises(QueryError, match=expected):
        connect(shop).read(CUSTOMERS, ["a@b.c"])


@pytest.mark.parametrize(
    ("answer_", "error", "match"),
    [
        (httpx.Response(401, json={"errors": "[API] Invalid API key or access token"}), AuthError, "HTTP 401"),
        (httpx.Response(403, text="Forbidden"), AuthError, "HTTP 403"),
        (graphql_error("ACCESS_DENIED", "Access denied for customers field."), AuthError, "lacks a scope"),
        (httpx.Response(404, text="Not Found"), QueryError, "HTTP 404"),
        (httpx.Response(301, headers={"Location": "https://x.example"}), QueryError, "set shop_url"),
    ],
)
def test_refusals_are_not_retried(
    connect: Callable[..., ShopifyConnector],
    shop: FakeShop,
    answer_: httpx.Response | dict[str, Any],
    error: type[Exception],
    match: str,
) -> None:
    shop.script = [answer_]
    with pytest.raises(error, match=match):
        connect(shop).read(STOCK, ["SKU-0001"])
    assert len(shop.requests) == 1


def test_5xx_and_malformed_json_are_retried_then_reported(
    connect: Callable[..., ShopifyConnector], shop: FakeShop, clock: FakeClock
) -> None:
    connector = connect(shop)
    shop.script = [httpx.Response(502), httpx.Response(200, content=b"{not json")]
    assert len(connector.read(STOCK, ["SKU-0001"])) == 1  # third attempt answers
    assert clock.sleeps == [0.5, 1.0]
    shop.script = [httpx.Response(503)] * 3
    with pytest.raises(ConnectorUnavailable, match="HTTP 503") as caught:
        connector.read(STOCK, ["SKU-0001"])
    assert caught.value.attempts == 3
    shop.script = [httpx.Response(200, content=b'{"data": {')] * 3
    with pytest.raises(MalformedResponse, match="not valid JSON"):
        connector.read(STOCK, ["SKU-0001"])


def test_timeouts_and_connection_errors(connect: Callable[..., ShopifyConnector], clock: FakeClock) -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(ConnectorTimeout, match="no answer within 10s") as caught:
        connect(timeout).read(STOCK, ["SKU-0001"])
    assert caught.value.attempts == 3
    with pytest.raises(ConnectorUnavailable, match="connection failed"):
        connect(refused).read(STOCK, ["SKU-0001"])


def test_a_response_in_the_wrong_shape_is_malformed(connect: Callable[..., ShopifyConnector]) -> None:
    with pytest.raises(MalformedResponse, match="no productVariants nodes"):
        connect(answer(ok_body({"products": {"nodes": []}}))).read(STOCK, ["A"])
    more_without_cursor = {"productVariants": {"nodes": [], "pageInfo": {"hasNextPage": True, "endCursor": None}}}
    with pytest.raises(MalformedResponse, match="without an endCursor"):
        connect(answer(ok_body(more_without_cursor))).read(STOCK, ["A"])
