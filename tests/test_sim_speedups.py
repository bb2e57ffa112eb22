"""The simulators' shortcuts and caches answer as the plain ways they stand in for."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import graphql
import httpx
import pytest
from graphql.execution.values import get_variable_values

from monitor.clock import FixedClock
from monitor.demo.sim import klaviyo, mintsoft, shopify
from monitor.demo.sim.shopify_cost import analyse
from monitor.demo.sim.shopify_fast import compile_plan, project
from monitor.demo.sim.shopify_objects import LOCATION, _levels, connection, encode_cursor
from monitor.demo.sim.shopify_search import _parse, _tokens, parse_search
from monitor.demo.state import WmsStock, WorldState
from monitor.loopback import InProcessTransport, LoopbackRequest, LoopbackResponse
from tests.test_sim_shopify import CUSTOMERS, INVENTORY_BY_SKU, ORDERS, T0, VARIANT_IDS, Twins

# -- Shopify: compiled plans -----------------------------------------------------------------------------


def test_a_plan_is_compiled_once_per_operation_and_each_request_answered_afresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compiled: list[str] = []

    def counting(*args: Any) -> Any:
        plan = compile_plan(*args)
        compiled.append(plan.operation.name.value if plan.operation.name else "")
        return plan

    monkeypatch.setattr(shopify, "compile_plan", counting)
    twins = Twins(maximum_available=1e9, restore_rate=1e9)
    skus = list(twins.state.shopify.variants)
    asked = [
        (INVENTORY_BY_SKU, {"q": " OR ".join(f"sku:'{sku}'" for sku in skus[:9]), "first": 4}),
        (ORDERS, {"q": "", "first": 7}),
        (INVENTORY_BY_SKU, {"q": "", "first": 50}),
        (ORDERS, {"q": "status:cancelled", "first": 3}),
        (INVENTORY_BY_SKU, {"q": f"sku:{skus[7]}", "first": 1}),
    ]
    bodies = [twins.ask(query, variables) for query, variables in asked]  # each as graphql-core answers
    assert compiled == ["InventoryBySku", "Orders"]
    assert twins.fast.executions == {"projected": len(asked), "graphql-core": 0}
    assert [len(body["data"]["productVariants"]["nodes"]) for body in bodies[::2]] == [4, 50, 1]
    assert bodies[0]["data"] != bodies[4]["data"] and bodies[1]["data"] != bodies[3]["data"]


FULFILLMENTS = """query($n: Int) {
  orders(first: 9) { nodes { fulfillments(first: $n) { id trackingInfo { company } } } } }"""


def test_the_compiled_code_completes_and_costs_as_graphql_core_does() -> None:
    twins = Twins(maximum_available=1e9, restore_rate=1e9)
    queries: list[tuple[str, dict[str, Any]]] = [
        # The same field under several keys, __typename at every level, nulls where allowed.
        ("""{ a: orders(first: 3) { __typename nodes { __typename n: name name displayFinancialStatus
                fulfillments { __typename status trackingInfo(first: 1) { number } } } }
              b: orders(first: 2, reverse: true) { edges { node { name } cursor } pageInfo { startCursor } }
              nothing: order(id: "gid://shopify/Order/1") { name }
              missing: productVariant(id: "gid://shopify/ProductVariant/1") { sku } }""", {}),
        # A list without ``first`` (the dearest item, once) and with it (every item).
        (FULFILLMENTS, {"n": 2}),
        (FULFILLMENTS, {}),
        (CUSTOMERS, {"q": None, "first": 40}),
        (VARIANT_IDS, {"last": 3, "reverse": True}),
    ]
    for query, variables in queries:
        body = twins.ask(query, variables)
        assert "errors" not in body, body
    assert twins.fast.executions == {"projected": len(queries), "graphql-core": 0}


LEAF_LISTS = graphql.build_schema(
    """
    type Query { tags: [String] counts: [Int!]! thing: Thing things: [Thing] }
    type Thing { name: String! size: Int flags: [Boolean!] }
    """
)


@dataclass
class Thing:
    name: Any
    size: Any = None
    flags: Any = None


@dataclass
class Root:
    tags: Any = None
    counts: Any = None
    thing: Any = None
    things: Any = None


@pytest.mark.parametrize(
    "root",
    [
        Root(["a", None, "b"], [1, 2], Thing("t", 3, [True, False]), [Thing("u"), None, Thing("v", 7)]),
        Root(None, [], None, [Thing("w", -5, [])]),
        Root(["a"], (True, 3), Thing("t")),  # a bool as Int: coerced; a tuple read as a list
        Root(["a"], [1, None], Thing("t")),  # a null in a list of non-null Ints: graphql-core's error
        Root(["a"], [1], Thing("t"), [Thing("u", 2**31)]),  # beyond Int: graphql-core's error
        Root(["a"], [1], Thing(None)),  # a null name: graphql-core's error
    ],
)
def test_the_compiled_code_reads_attributes_and_lists_of_leaves_as_graphql_core_does(root: Root) -> None:
    document = graphql.parse("{ tags counts thing { name size flags } things { name size } }")
    operation = document.definitions[0]
    assert isinstance(operation, graphql.OperationDefinitionNode) and LEAF_LISTS.query_type is not None
    analysis = analyse(LEAF_LISTS.query_type, operation, {}, {})
    variables = get_variable_values(LEAF_LISTS, [], {})
    projected = project(compile_plan(LEAF_LISTS, operation, {}), root, variables, analysis)
    expected = graphql.execute_sync(LEAF_LISTS, document, root_value=root)
    if expected.errors:
        assert projected is None
    else:
        assert projected == (expected.data, analysis.actual(expected.data))


# -- Shopify: objects and searches -----------------------------------------------------------------------


def test_inventory_levels_page_as_a_connection_of_the_one_location() -> None:
    level = {"id": "gid://shopify/InventoryLevel/1?inventory_item_id=1", "location": LOCATION}
    cursors = [None, "", encode_cursor(1, 1), encode_cursor(0, 0), encode_cursor(2, 0), encode_cursor("x", 1), "bad"]
    sizes = [None, 0, 1, 5, -1]
    cases = [
        {"first": first, "after": after, "last": last, "before": before, "reverse": reverse}
        for first in sizes for last in sizes for after in cursors for before in cursors[:4] for reverse in (False, True)
    ]
    cases += [{}, {"first": 1}, {"after": "bad", "first": 1}]
    for args in cases * 2:  # the second time from the cache
        try:
            expected = _resolved(connection([1], args, {}, lambda location: location, lambda _: level))
        except graphql.GraphQLError as error:
            with pytest.raises(graphql.GraphQLError, match=error.message):
                _levels(level, args)
        else:
            assert _resolved(_levels(level, args)) == expected, args


def _resolved(value: Any) -> Any:
    """A resolver's object with every callable called, as a query for all of it would."""
    if callable(value):
        return _resolved(value(None))
    if isinstance(value, dict):
        return {key: _resolved(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolved(item) for item in value]
    return value


@pytest.mark.parametrize(
    "text",
    [
        "sku:A",
        "sku:A OR sku:'B C' OR -sku:D OR name:#1001 OR title:mu*",
        "sku:A OR",
        "OR sku:A",
        "sku:A OR OR sku:B",
        "sku:A sku:B OR sku:C",
        "sku:A OR NOT sku:B",
        "sku:A OR (sku:B)",
        "sku:A AND sku:B",
        "sku:A OR sku:\"OR\" OR ORANGE",
        "NOT",
        "  ",
    ],
)
def test_a_lookups_or_list_parses_as_the_parser_reads_it(text: str) -> None:
    assert parse_search(text) == _parse(_tokens(text))


# -- the REST simulators -----------------------------------------------------------------------------------


def _split_by_scan(text: str) -> list[str]:
    """Klaviyo's filter split, a character at a time."""
    parts, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


def test_klaviyo_filters_split_at_the_commas_a_character_scan_would() -> None:
    rng = random.Random(7)
    texts = ["any(email,['a@b.co','c,d@e.com']),greater-than(updated,2026-11-27T10:00:00Z)", "a,'b", "(,[),]", ""]
    texts += ["".join(rng.choice("ab,'\"()[] ") for _ in range(rng.randint(0, 16))) for _ in range(5000)]
    for text in texts:
        assert klaviyo._split(text) == _split_by_scan(text), text


def test_cached_timestamps_print_each_times_own_offset() -> None:
    utc = datetime(2026, 11, 27, 10, 0, 5, 123, tzinfo=UTC)
    paris = utc.astimezone(timezone(timedelta(hours=1)))
    assert paris == utc
    for _ in range(2):
        assert klaviyo._timestamp(utc) == "2026-11-27T10:00:05+00:00"
        assert klaviyo._timestamp(paris) == "2026-11-27T11:00:05+01:00"
        assert mintsoft._timestamp(utc) == mintsoft._timestamp(paris) == "2026-11-27T10:00:05"
    assert klaviyo._timestamp(None) is None and mintsoft._timestamp(None) is None


def test_stock_levels_by_sku_come_in_product_id_order_like_the_paged_list() -> None:
    state = WorldState()
    for n in random.Random(3).sample(range(60), 60):  # inserted out of order, product ids shared in pairs
        sku = f"SKU-{n:02d}"
        state.wms.stock[sku] = WmsStock(1000 + n // 2, sku, level=n, warehouse_id=1 + n % 2, last_updated=T0)
    sim = mintsoft.MintsoftSimulator(state, FixedClock(T0), api_key="k")

    def get(**params: str) -> Any:
        query = {name: [value] for name, value in {"APIKey": "k", **params}.items()}
        response = sim(LoopbackRequest("GET", "/api/Product/StockLevels", query, {}))
        assert response.status == 200
        return response.body

    every = get(Limit="100")
    wanted = set(random.Random(4).sample(sorted(state.wms.stock), 25))
    assert get(SKU=",".join(sorted(wanted, reverse=True))) == [row for row in every if row["SKU"] in wanted]
    assert get(SKU=",".join(wanted), WarehouseId="2") == [
        row for row in get(Limit="100", WarehouseId="2") if row["SKU"] in wanted
    ]
    assert [row["ProductId"] for row in every] == sorted(row["ProductId"] for row in every)


# -- the in-process transport ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"data": [{"SKU": "MUG \"BIG\" ☕", "Level": 3, "Price": 12.5, "Tiny": 1e-7, "Big": 1e16, "On": True}]},
        [1, None, "é", {"nested": {"deep": [0.1, -0.0]}}],
        {"1": "string keys"},
        {1: "a key that is not a string"},  # json.dumps writes it as "1"; orjson refuses
        {"huge": 2**70},  # past 64 bits: orjson refuses
        "a bare string",
    ],
)
def test_the_in_process_transport_sends_the_same_json_values(body: Any) -> None:
    def handler(request: LoopbackRequest) -> LoopbackResponse:
        return LoopbackResponse(200, body)

    with httpx.Client(transport=InProcessTransport(handler)) as client:
        response = client.get("http://127.0.0.1:9/x")
    assert response.headers["content-type"] == "application/json"
    assert json.dumps(response.json()) == json.dumps(json.loads(json.dumps(body)))


def test_the_in_process_transport_refuses_what_json_refuses() -> None:
    def handler(request: LoopbackRequest) -> LoopbackResponse:
        return LoopbackResponse(200, {"at": T0})

    with httpx.Client(transport=InProcessTransport(handler)) as client, pytest.raises(TypeError):
        client.get("http://127.0.0.1:9/x")


def test_the_in_process_transport_reads_a_query_string_as_the_server_does() -> None:
    seen: list[LoopbackRequest] = []

    def handler(request: LoopbackRequest) -> LoopbackResponse:
        seen.append(request)
        return LoopbackResponse(204, b"")

    with httpx.Client(transport=InProcessTransport(handler)) as client:
        client.get("http://127.0.0.1:9/x")
        client.get("http://127.0.0.1:9/x?a=1&a=&b=%2C")
    assert [(r.query, r.raw_query) for r in seen] == [({}, ""), ({"a": ["1", ""], "b": [","]}, "a=1&a=&b=%2C")]
