"""The Shopify Admin GraphQL simulator, over real HTTP on loopback, on a fixed clock: nothing sleeps."""

from __future__ import annotations

import base64
import itertools
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import graphql
import httpx
import pytest

from monitor.clock import FixedClock
from monitor.demo.sim.router import Router
from monitor.demo.sim.shopify import ShopifySimulator, shopify_schema
from monitor.demo.sim.shopify_objects import shopify_decimal, shopify_money
from monitor.demo.sim.shopify_search import (
    All,
    AnyOf,
    Not,
    Term,
    _tokens,
    exact_values,
    parse_search,
)
from monitor.demo.state import Fulfillment, ShopCustomer, ShopOrder, Variant, WorldState
from monitor.loopback import LoopbackRequest, LoopbackServer
from probes.shopify_queries import (
    GraphQLRequest,
    customers_request,
    keys_request,
    lookup_request,
    name_search,
    sku_search,
    updated_since_search,
)

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
TOKEN = "shpat_demo"
ENDPOINT = "/admin/api/2026-04/graphql.json"
REAL_SCHEMA = Path(__file__).resolve().parents[2] / "shared/data/shopify/admin-2026-04.schema.graphql"

# The queries syncwatch's Shopify connector sends.
INVENTORY_BY_SKU = """
query InventoryBySku($q: String!, $first: Int!, $after: String) {
  productVariants(first: $first, after: $after, query: $q) {
    nodes { id sku updatedAt inventoryQuantity
      inventoryItem { id updatedAt
        inventoryLevels(first: 1) { nodes { id updatedAt quantities(names: ["available", "on_hand", "committed"]) { name quantity updatedAt } } } } }
    pageInfo { hasNextPage endCursor } } }
"""
ORDERS = """
query Orders($q: String!, $first: Int!, $after: String) {
  orders(first: $first, after: $after, query: $q) { nodes { id name createdAt updatedAt processedAt cancelledAt closedAt displayFinancialStatus displayFulfillmentStatus
     totalPriceSet { shopMoney { amount currencyCode } }
     fulfillments(first: 5) { id status displayStatus createdAt updatedAt inTransitAt deliveredAt trackingInfo(first: 1) { company number } } }
   pageInfo { hasNextPage endCursor } } }
"""
CUSTOMERS_BY_EMAIL = """
query CustomersByEmail($e0: String!, $e1: String!) {
  c0: customerByIdentifier(identifier: {emailAddress: $e0}) { id updatedAt defaultEmailAddress { emailAddress marketingState marketingOptInLevel marketingUpdatedAt } }
  c1: customerByIdentifier(identifier: {emailAddress: $e1}) { id updatedAt defaultEmailAddress { emailAddress marketingState marketingOptInLevel marketingUpdatedAt } } }
"""
CUSTOMERS = """
query Customers($q: String, $first: Int!, $after: String) {
  customers(first: $first, after: $after, query: $q) { nodes { id updatedAt defaultEmailAddress { emailAddress } } pageInfo { hasNextPage endCursor } } }
"""
VARIANT_IDS = """
query Page($first: Int, $after: String, $last: Int, $before: String, $reverse: Boolean, $q: String) {
  productVariants(first: $first, after: $after, last: $last, before: $before, reverse: $reverse, query: $q) {
    edges { cursor node { id sku } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }
"""


def build_world() -> WorldState:
    state = WorldState()
    shop = state.shopify
    # Inserted out of id order: pages must come back ordered by id all the same.
    skus = [(4, "MUG-BLUE"), (1, "MUG-RED"), (7, "TEE-S"), (2, "MUG GREEN"), (6, "TEE-M"), (3, "CAP-01"), (5, "TEE-L")]
    for n, sku in skus:
        shop.variants[sku] = Variant(
            id=40_000 + n, product_id=8_000 + n, inventory_item_id=45_000 + n, sku=sku, title=f"Product {sku}",
            price=Decimal("12.50"), available=10 * n, committed=n,
            updated_at=T0 - timedelta(days=60), inventory_updated_at=T0 - timedelta(hours=n),
        )
    shipped = Fulfillment(
        9_001, "SUCCESS", "IN_TRANSIT", T0 - timedelta(hours=20), T0 - timedelta(hours=19),
        "Royal Mail", "RM123456789GB", in_transit_at=T0 - timedelta(hours=19),
    )
    orders = [
        ShopOrder(5_001, "#1001", "ann@example.co.uk", T0 - timedelta(days=2), T0 - timedelta(hours=19),
                  T0 - timedelta(days=2), Decimal("12.50"), [("MUG-RED", 1)],
                  display_fulfillment_status="FULFILLED", fulfillments=[shipped]),
        ShopOrder(5_002, "#1002", "bob@example.co.uk", T0 - timedelta(days=1), T0 - timedelta(hours=2),
                  T0 - timedelta(days=1), Decimal("30.00"), [("TEE-S", 2)]),
        ShopOrder(5_003, "#1003", "ann@example.co.uk", T0 - timedelta(hours=5), T0, T0 - timedelta(hours=5),
                  Decimal("9.99"), [("CAP-01", 1)], display_financial_status="REFUNDED",
                  cancelled_at=T0, closed_at=T0),
    ]
    for order in orders:
        shop.orders[order.name] = order
    for id_, email, first, last, state_ in [
        (7_001, "ann@example.co.uk", "Ann", "Aston", "SUBSCRIBED"),
        (7_002, "bob@example.co.uk", "Bob", "Bryce", "NOT_SUBSCRIBED"),
        (7_003, "cat@example.com", "Cat", "Cole", "UNSUBSCRIBED"),
    ]:
        shop.customers[email] = ShopCustomer(
            id_, email, first, last, "GB", T0 - timedelta(days=300), T0 - timedelta(days=id_ - 7_000),
            marketing_state=state_, marketing_updated_at=T0 - timedelta(days=id_ - 7_000),
        )
    return state


class Shop:
    """A simulator on a loopback server and an httpx client for it."""

    def __init__(self, client: httpx.Client, sim: ShopifySimulator, state: WorldState, clock: FixedClock) -> None:
        self.client, self.sim, self.state, self.clock = client, sim, state, clock

    def post(self, query: str, token: str = TOKEN, **variables: Any) -> httpx.Response:
        headers = {"X-Shopify-Access-Token": token}
        return self.client.post(ENDPOINT, json={"query": query, "variables": variables}, headers=headers)

    def gql(self, query: str, **variables: Any) -> dict[str, Any]:
        response = self.post(query, **variables)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def serve(**options: Any) -> Iterator[Shop]:
    state = build_world()
    clock = FixedClock(T0)
    sim = ShopifySimulator(state, clock, access_token=TOKEN, **options)
    with LoopbackServer(sim) as server, httpx.Client(base_url=server.url) as client:
        yield Shop(client, sim, state, clock)
        assert server.errors == []


@pytest.fixture
def shop() -> Iterator[Shop]:
    yield from serve()


def cost(body: dict[str, Any]) -> tuple[int, int | None, int]:
    spent = body["extensions"]["cost"]
    return spent["requestedQueryCost"], spent["actualQueryCost"], spent["throttleStatus"]["currentlyAvailable"]


# -- the schema --------------------------------------------------------------------------------------


@pytest.mark.skipif(not REAL_SCHEMA.exists(), reason=f"Shopify's full schema is not here ({REAL_SCHEMA})")
def test_the_schema_is_a_faithful_subset_of_shopifys() -> None:
    # assume_valid: graphql-core 3.3 finds fault with some deprecations elsewhere in Shopify's schema.
    real = graphql.build_schema(REAL_SCHEMA.read_text(encoding="utf-8"), assume_valid=True)
    ours = shopify_schema()
    assert ours.query_type is not None and real.query_type is not None
    assert ours.query_type.name == real.query_type.name
    wrong: list[str] = []
    for name, type_ in ours.type_map.items():
        if name.startswith("__") or graphql.is_specified_scalar_type(type_):
            continue
        theirs = real.get_type(name)
        if theirs is None or type(theirs) is not type(type_):
            wrong.append(f"{name}: not a {type(type_).__name__} in Shopify's schema")
        elif isinstance(type_, graphql.GraphQLObjectType) and isinstance(theirs, graphql.GraphQLObjectType):
            for field_name, field in type_.fields.items():
                real_field = theirs.fields.get(field_name)
                where = f"{name}.{field_name}"
                if real_field is None:
                    wrong.append(f"{where}: no such field")
                    continue
                if str(field.type) != str(real_field.type) or field.deprecation_reason != real_field.deprecation_reason:
                    wrong.append(f"{where}: {field.type} here, {real_field.type} at Shopify")
                for arg_name, arg in field.args.items():
                    real_arg = real_field.args.get(arg_name)
                    if real_arg is None:
                        wrong.append(f"{where}({arg_name}): no such argument")
                    elif str(arg.type) != str(real_arg.type) or arg.default_value != real_arg.default_value:
                        wrong.append(f"{where}({arg_name}): {arg.type} = {arg.default_value} here, "
                                     f"{real_arg.type} = {real_arg.default_value} at Shopify")
                # A query valid here must be valid there: leave out no argument Shopify requires.
                wrong += [f"{where}: lacks required argument {arg_name}"
                          for arg_name, arg in real_field.args.items()
                          if graphql.is_required_argument(arg) and arg_name not in field.args]
        elif isinstance(type_, graphql.GraphQLEnumType) and isinstance(theirs, graphql.GraphQLEnumType):
            for value_name, value in type_.values.items():
                real_value = theirs.values.get(value_name)
                if real_value is None or value.deprecation_reason != real_value.deprecation_reason:
                    wrong.append(f"{name}.{value_name}: not so in Shopify's enum")
        elif isinstance(type_, graphql.GraphQLInputObjectType) and isinstance(theirs, graphql.GraphQLInputObjectType):
            for field_name, input_field in type_.fields.items():
                real_input = theirs.fields.get(field_name)
                if real_input is None or str(real_input.type) != str(input_field.type):
                    wrong.append(f"{name}.{field_name}: not so in Shopify's input")
            wrong += [f"{name}: lacks required field {field_name}" for field_name, real_input in theirs.fields.items()
                      if graphql.is_required_input_field(real_input) and field_name not in type_.fields]
    assert wrong == []
    # And the connector's queries are valid against Shopify's own schema.
    for query in (INVENTORY_BY_SKU, ORDERS, CUSTOMERS_BY_EMAIL, CUSTOMERS):
        assert graphql.validate(real, graphql.parse(query)) == []


def test_the_connectors_queries_validate_against_the_simulators_schema() -> None:
    for query in (INVENTORY_BY_SKU, ORDERS, CUSTOMERS_BY_EMAIL, CUSTOMERS, VARIANT_IDS):
        assert graphql.validate(shopify_schema(), graphql.parse(query)) == []


# -- the query shapes ----------------------------------------------------------------------------------


def test_inventory_by_sku_answers_in_shopifys_shape(shop: Shop) -> None:
    body = shop.gql(INVENTORY_BY_SKU, q="sku:MUG-RED", first=50)
    assert body["data"]["productVariants"] == {
        "nodes": [{
            "id": "gid://shopify/ProductVariant/40001",
            "sku": "MUG-RED",
            "updatedAt": "2026-09-28T10:00:00Z",
            "inventoryQuantity": 10,
            "inventoryItem": {
                "id": "gid://shopify/InventoryItem/45001",
                "updatedAt": "2026-11-27T09:00:00Z",
                "inventoryLevels": {"nodes": [{
                    "id": "gid://shopify/InventoryLevel/1?inventory_item_id=45001",
                    "updatedAt": "2026-11-27T09:00:00Z",
                    "quantities": [  # in the order asked for; on_hand = available + committed
                        {"name": "available", "quantity": 10, "updatedAt": "2026-11-27T09:00:00Z"},
                        {"name": "on_hand", "quantity": 11, "updatedAt": "2026-11-27T09:00:00Z"},
                        {"name": "committed", "quantity": 1, "updatedAt": "2026-11-27T09:00:00Z"},
                    ],
                }]},
            },
        }],
        "pageInfo": {"hasNextPage": False, "endCursor": body["data"]["productVariants"]["pageInfo"]["endCursor"]},
    }
    assert set(body) == {"data", "extensions"}
    assert body["extensions"]["cost"] == {
        "requestedQueryCost": 302,
        "actualQueryCost": 8,
        "throttleStatus": {"maximumAvailable": 2000, "currentlyAvailable": 1992, "restoreRate": 100},
    }


def test_orders_answer_with_money_fulfillments_and_tracking(shop: Shop) -> None:
    body = shop.gql(ORDERS, q="name:#1001 OR name:#1003", first=50)
    first, third = body["data"]["orders"]["nodes"]
    assert first == {
        "id": "gid://shopify/Order/5001",
        "name": "#1001",
        "createdAt": "2026-11-25T10:00:00Z",
        "updatedAt": "2026-11-26T15:00:00Z",
        "processedAt": "2026-11-25T10:00:00Z",
        "cancelledAt": None,
        "closedAt": None,
        "displayFinancialStatus": "PAID",
        "displayFulfillmentStatus": "FULFILLED",
        "totalPriceSet": {"shopMoney": {"amount": "12.5", "currencyCode": "GBP"}},  # Decimal as Shopify prints it
        "fulfillments": [{
            "id": "gid://shopify/Fulfillment/9001",
            "status": "SUCCESS",
            "displayStatus": "IN_TRANSIT",
            "createdAt": "2026-11-26T14:00:00Z",
            "updatedAt": "2026-11-26T15:00:00Z",
            "inTransitAt": "2026-11-26T15:00:00Z",
            "deliveredAt": None,
            "trackingInfo": [{"company": "Royal Mail", "number": "RM123456789GB"}],
        }],
    }
    assert third["name"] == "#1003"
    assert (third["cancelledAt"], third["displayFinancialStatus"], third["fulfillments"]) == (
        "2026-11-27T10:00:00Z", "REFUNDED", [],
    )
    assert third["totalPriceSet"]["shopMoney"]["amount"] == "9.99"


def test_customers_by_email_match_case_insensitively_and_miss_as_null(shop: Shop) -> None:
    body = shop.gql(CUSTOMERS_BY_EMAIL, e0="Ann@Example.CO.UK", e1="nobody@example.com")
    assert body["data"] == {
        "c0": {
            "id": "gid://shopify/Customer/7001",
            "updatedAt": "2026-11-26T10:00:00Z",
            "defaultEmailAddress": {
                "emailAddress": "ann@example.co.uk",
                "marketingState": "SUBSCRIBED",
                "marketingOptInLevel": "SINGLE_OPT_IN",
                "marketingUpdatedAt": "2026-11-26T10:00:00Z",
            },
        },
        "c1": None,
    }
    # Two aliases of Customer (1) + CustomerEmailAddress (1); the miss costs its 1 only.
    assert cost(body)[:2] == (4, 3)


def test_customers_connection_with_and_without_a_search(shop: Shop) -> None:
    everyone = shop.gql(CUSTOMERS, q=None, first=25)["data"]["customers"]
    assert [c["defaultEmailAddress"]["emailAddress"] for c in everyone["nodes"]] == [
        "ann@example.co.uk", "bob@example.co.uk", "cat@example.com",
    ]
    one = shop.gql(CUSTOMERS, q="email:BOB@example.co.uk", first=25)["data"]["customers"]["nodes"]
    assert one == [{"id": "gid://shopify/Customer/7002", "updatedAt": "2026-11-25T10:00:00Z",
                    "defaultEmailAddress": {"emailAddress": "bob@example.co.uk"}}]


def test_single_objects_by_id(shop: Shop) -> None:
    body = shop.gql("""query($v: ID!, $o: ID!) { productVariant(id: $v) { sku price product { id title handle } }
                      order(id: $o) { name email } missing: order(id: "gid://shopify/Order/1") { name } }""",
                    v="gid://shopify/ProductVariant/40002", o="gid://shopify/Order/5002")
    assert body["data"] == {
        "productVariant": {"sku": "MUG GREEN", "price": "12.50",
                           "product": {"id": "gid://shopify/Product/8002", "title": "Product MUG GREEN",
                                       "handle": "product-mug-green"}},
        "order": {"name": "#1002", "email": "bob@example.co.uk"},
        "missing": None,
    }


def test_amounts_print_as_shopify_prints_them() -> None:
    assert [shopify_decimal(Decimal(v)) for v in ["108.00", "11884.90", "0", "12.5", "9.99", "1E+2"]] == [
        "108.0", "11884.9", "0.0", "12.5", "9.99", "100.0",
    ]
    assert shopify_money(Decimal("12.5")) == "12.50"


# -- search syntax -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("search", "skus"),
    [
        ("sku:MUG-RED", ["MUG-RED"]),
        ("sku:MUG-RED OR sku:TEE-S OR sku:NOPE", ["MUG-RED", "TEE-S"]),
        ('sku:"MUG GREEN"', ["MUG GREEN"]),  # quoted: the space is part of the value
        ("sku:'mug green' OR sku:cap-01", ["MUG GREEN", "CAP-01"]),  # case-insensitive
        ("sku:TEE*", ["TEE-L", "TEE-M", "TEE-S"]),  # prefix
        ("sku:TEE* -sku:TEE-M", ["TEE-L", "TEE-S"]),
        ("sku:TEE* AND NOT sku:TEE-S", ["TEE-L", "TEE-M"]),
        ("(sku:MUG-RED OR sku:TEE-S) inventory_quantity:>=50", ["TEE-S"]),
        ("mug", ["MUG-RED", "MUG GREEN", "MUG-BLUE"]),  # a bare word searches the default fields
        ("updated_at:>='2026-11-27T07:00:00Z'", ["MUG-RED", "MUG GREEN", "CAP-01"]),
        ("updated_at:>2026-11-27T07:00:00Z", ["MUG-RED", "MUG GREEN"]),
        ("updated_at:<2026-11-27T05:00:00Z", ["TEE-M", "TEE-S"]),
        ("updated_at:<='2026-11-27T05:00:00Z'", ["TEE-L", "TEE-M", "TEE-S"]),
        ("updated_at:2026-11-27", ["MUG-RED", "MUG GREEN", "CAP-01", "MUG-BLUE", "TEE-L", "TEE-M", "TEE-S"]),
        ("updated_at:<2026-11-27", []),  # a bare date is the whole day
        ("colour:red sku:MUG-RED", ["MUG-RED"]),  # an unknown field is ignored
        ("", ["MUG-RED", "MUG GREEN", "CAP-01", "MUG-BLUE", "TEE-L", "TEE-M", "TEE-S"]),
    ],
)
def test_variant_search(shop: Shop, search: str, skus: list[str]) -> None:
    # Variants an hour apart: MUG-RED 09:00, MUG GREEN 08:00, CAP-01 07:00 ... TEE-S 03:00.
    for variant in shop.state.shopify.variants.values():
        variant.updated_at = variant.inventory_updated_at
    body = shop.gql(VARIANT_IDS, first=50, q=search)
    assert [edge["node"]["sku"] for edge in body["data"]["productVariants"]["edges"]] == skus


def test_an_unknown_search_field_is_reported_as_shopify_does(shop: Shop) -> None:
    body = shop.gql(VARIANT_IDS, first=5, q="colour:red")
    assert len(body["data"]["productVariants"]["edges"]) == 5
    assert body["extensions"]["search"] == [{
        "path": ["productVariants"], "query": "colour:red",
        "warnings": [{"field": "colour", "message": "Invalid search field for this query."}],
    }]


@pytest.mark.parametrize(
    ("search", "names"),
    [
        ("name:#1002", ["#1002"]),
        ("name:1002", ["#1002"]),  # the # is optional
        ("name:#1001 OR name:#1003", ["#1001", "#1003"]),
        ("email:ann@example.co.uk", ["#1001", "#1003"]),
        ("email:ANN@example.co.uk name:#1003", ["#1003"]),
        ("updated_at:>='2026-11-27T08:00:00Z'", ["#1002", "#1003"]),
        ("updated_at:>=2026-11-26T15:00:00Z updated_at:<2026-11-27T10:00:00Z", ["#1001", "#1002"]),
        ("sku:TEE-S", ["#1002"]),
        ("status:cancelled", ["#1003"]),
        ("fulfillment_status:fulfilled", ["#1001"]),
    ],
)
def test_order_search(shop: Shop, search: str, names: list[str]) -> None:
    body = shop.gql(ORDERS, q=search, first=50)
    assert [order["name"] for order in body["data"]["orders"]["nodes"]] == names


def test_search_parsing() -> None:
    assert parse_search("sku:A OR sku:\"B C\" x") == AnyOf((
        Term("sku", ":", "A"), All((Term("sku", ":", "B C"), Term(None, ":", "x"))),
    ))
    assert parse_search("updated_at:>='2026-11-27T10:00:00Z'") == Term("updated_at", ">=", "2026-11-27T10:00:00Z")
    assert parse_search("-name:#1001") == Not(Term("name", ":", "#1001"))
    assert parse_search("  ") is None
    assert parse_search("(sku:A") == Term("sku", ":", "A")  # unbalanced: read as best it can
    assert exact_values(parse_search("sku:A OR sku:B"), "sku") == ["A", "B"]
    assert exact_values(parse_search("sku:A sku:B"), "sku") is None
    assert exact_values(parse_search("sku:A*"), "sku") is None


def _tokens_by_hand(text: str) -> list[str]:
    """The tokenizer as first written, a character at a time: the regular expression must agree with it."""
    tokens: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
        elif text[i] in "()":
            tokens.append(text[i])
            i += 1
        else:
            start = i
            while i < n and not text[i].isspace() and text[i] not in "()":
                if text[i] in "'\"":
                    quote = text[i]
                    i += 1
                    while i < n and text[i] != quote:
                        i += 2 if text[i] == "\\" else 1
                i += 1
            tokens.append(text[start:i])
    return tokens


def test_search_tokens_split_as_a_character_scan_would() -> None:
    alphabet = ["a", " ", "(", ")", "'", '"', "\\", "\n", "\x1c", "\u3000", ":"]  # \x1c, \u3000: isspace()
    texts = ["".join(chars) for n in range(5) for chars in itertools.product(alphabet, repeat=n)]
    rng = random.Random(5)
    texts += ["".join(rng.choice(alphabet + ["sku", "OR", "*", "-"]) for _ in range(rng.randint(5, 30)))
              for _ in range(20_000)]
    for text in texts:
        assert _tokens(text) == _tokens_by_hand(text), repr(text)


# -- pagination ----------------------------------------------------------------------------------------


def test_pages_forward_cover_everything_once_in_id_order(shop: Shop) -> None:
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = shop.gql(VARIANT_IDS, first=3, after=after)["data"]["productVariants"]
        pages += 1
        seen += [edge["node"]["id"] for edge in page["edges"]]
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        assert page["pageInfo"]["startCursor"] == page["edges"][0]["cursor"]
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages == 3
    assert seen == [f"gid://shopify/ProductVariant/{40_000 + n}" for n in range(1, 8)]
    # Opaque to clients, but Shopify's shape: base64 JSON with the last id.
    assert json.loads(base64.b64decode(after or "")) == {"last_id": 40_006, "last_value": 40_006}


def test_pages_backward_and_reversed(shop: Shop) -> None:
    last_two = shop.gql(VARIANT_IDS, last=2)["data"]["productVariants"]
    assert [e["node"]["sku"] for e in last_two["edges"]] == ["TEE-M", "TEE-S"]
    assert (last_two["pageInfo"]["hasPreviousPage"], last_two["pageInfo"]["hasNextPage"]) == (True, False)
    before = shop.gql(VARIANT_IDS, last=2, before=last_two["pageInfo"]["startCursor"])["data"]["productVariants"]
    assert [e["node"]["sku"] for e in before["edges"]] == ["MUG-BLUE", "TEE-L"]
    assert before["pageInfo"]["hasNextPage"] is True
    reversed_ = shop.gql(VARIANT_IDS, first=3, reverse=True)["data"]["productVariants"]
    assert [e["node"]["sku"] for e in reversed_["edges"]] == ["TEE-S", "TEE-M", "TEE-L"]
    after = reversed_["pageInfo"]["endCursor"]
    rest = shop.gql(VARIANT_IDS, first=10, reverse=True, after=after)["data"]["productVariants"]
    assert [e["node"]["sku"] for e in rest["edges"]] == ["MUG-BLUE", "CAP-01", "MUG GREEN", "MUG-RED"]


def test_orders_page_in_their_sort_key_order(shop: Shop) -> None:
    query = """query($after: String, $key: OrderSortKeys) {
      orders(first: 2, after: $after, sortKey: $key, reverse: true) { nodes { name } pageInfo { endCursor } } }"""
    page = shop.gql(query, key="UPDATED_AT")["data"]["orders"]
    assert [o["name"] for o in page["nodes"]] == ["#1003", "#1002"]  # updated 10:00, 08:00
    rest = shop.gql(query, key="UPDATED_AT", after=page["pageInfo"]["endCursor"])["data"]["orders"]
    assert [o["name"] for o in rest["nodes"]] == ["#1001"]
    # Shopify's default, PROCESSED_AT, oldest first when not reversed.
    oldest_first = shop.gql(ORDERS, q="", first=5)["data"]["orders"]["nodes"]
    assert [o["name"] for o in oldest_first] == ["#1001", "#1002", "#1003"]


def test_a_search_pages_like_everything_else(shop: Shop) -> None:
    page = shop.gql(VARIANT_IDS, first=2, q="sku:TEE*")["data"]["productVariants"]
    rest = shop.gql(VARIANT_IDS, first=2, q="sku:TEE*", after=page["pageInfo"]["endCursor"])["data"]["productVariants"]
    assert [e["node"]["sku"] for e in page["edges"] + rest["edges"]] == ["TEE-L", "TEE-M", "TEE-S"]
    assert rest["pageInfo"]["hasNextPage"] is False


def test_a_bad_cursor_is_an_error(shop: Shop) -> None:
    body = shop.gql(VARIANT_IDS, first=2, after="not-a-cursor")
    assert body["data"] is None
    assert "Invalid cursor" in body["errors"][0]["message"]


def test_page_size_limits(shop: Shop) -> None:
    too_many = shop.gql(VARIANT_IDS, first=251)
    assert "data" not in too_many
    assert too_many["errors"][0]["path"] == ["productVariants"]
    assert "250" in too_many["errors"][0]["message"]
    assert too_many["extensions"]["cost"]["actualQueryCost"] is None
    assert shop.gql(VARIANT_IDS, first=250)["data"]["productVariants"]["pageInfo"]["hasNextPage"] is False
    neither = shop.gql(VARIANT_IDS)
    assert neither["errors"][0]["message"] == "you must provide one of first or last"
    assert shop.sim.usage.queries == 1 and shop.sim.available == 2000 - 9  # only the good one ran


# -- cost ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "variables", "requested"),
    [
        # productVariants: 2 + first x per variant (ProductVariant 1 + InventoryItem 1
        #   + inventoryLevels(first: 1) [2 + 1 x (InventoryLevel 1 + quantities 1)] = 6).
        (INVENTORY_BY_SKU, {"q": "", "first": 50}, 2 + 50 * 6),
        (INVENTORY_BY_SKU, {"q": "", "first": 1}, 2 + 1 * 6),
        # orders: 2 + first x per order (Order 1 + MoneyBag 1 + MoneyV2 1
        #   + fulfillments(first: 5) 5 x [Fulfillment 1 + trackingInfo(first: 1) 1 x 1] = 13).
        (ORDERS, {"q": "", "first": 50}, 2 + 50 * 13),
        (ORDERS, {"q": "", "first": 1}, 2 + 1 * 13),
        # customerByIdentifier x 2 aliases: Customer 1 + CustomerEmailAddress 1 each.
        (CUSTOMERS_BY_EMAIL, {"e0": "a@b.c", "e1": "d@e.f"}, 2 * 2),
        # customers: 2 + first x (Customer 1 + CustomerEmailAddress 1).
        (CUSTOMERS, {"q": None, "first": 25}, 2 + 25 * 2),
        (CUSTOMERS, {"q": None, "first": 50}, 2 + 50 * 2),
    ],
)
def test_requested_cost(shop: Shop, query: str, variables: dict[str, Any], requested: int) -> None:
    assert cost(shop.gql(query, **variables))[0] == requested


def test_actual_cost_counts_what_came_back_and_the_rest_is_refunded(shop: Shop) -> None:
    body = shop.gql(ORDERS, q="name:#1001 OR name:#1002", first=50)
    # 2 + #1001 (Order, MoneyBag, MoneyV2 = 3, one Fulfillment 1 with one tracking info 1) + #1002 (3, none).
    assert cost(body) == (652, 2 + (3 + 2) + 3, 2000 - 10)
    body = shop.gql(INVENTORY_BY_SKU, q="sku:MUG-RED OR sku:TEE-S", first=50)
    assert cost(body) == (302, 2 + 2 * 6, 2000 - 10 - 14)
    assert (shop.sim.usage.points_requested, shop.sim.usage.points_charged) == (652 + 302, 10 + 14)


def test_edges_fragments_and_aliases_are_costed_like_fields(shop: Shop) -> None:
    query = """
    fragment V on ProductVariant { id inventoryItem { id } }
    query { a: productVariants(first: 4) { edges { cursor node { ...V } } pageInfo { hasNextPage } }
            b: productVariants(first: 2) { nodes { ... on ProductVariant { sku } } } }"""
    # a: 2 + 4 x (ProductVariant 1 + InventoryItem 1); b: 2 + 2 x 1.
    assert cost(shop.gql(query)) == (10 + 4, 10 + 4, 2000 - 14)


def test_over_a_thousand_points_is_refused_before_anything_runs(shop: Shop) -> None:
    body = shop.gql(ORDERS, q="", first=77)  # 2 + 77 x 13 = 1003
    assert "data" not in body
    error = body["errors"][0]
    assert error["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert (error["extensions"]["cost"], error["extensions"]["maxCost"]) == (1003, 1000)
    assert error["message"].startswith("Query cost is 1003, which exceeds the single query max cost limit (1000).")
    assert cost(body) == (1003, None, 2000)
    assert shop.gql(ORDERS, q="", first=76)["extensions"]["cost"]["requestedQueryCost"] == 990
    assert shop.sim.usage.max_cost_exceeded == 1 and shop.sim.usage.queries == 1


# -- throttling ----------------------------------------------------------------------------------------


def test_the_bucket_drains_throttles_and_restores_on_the_clock() -> None:
    for shop in serve(maximum_available=20, restore_rate=1.0):
        query = "{ productVariants(first: 5) { nodes { id } } }"  # 2 + 5 x 1, all five come back: 7 = 7
        assert cost(shop.gql(query)) == (7, 7, 13)
        assert cost(shop.gql(query)) == (7, 7, 6)
        throttled = shop.gql(query)
        assert throttled == {
            "errors": [{"message": "Throttled", "extensions": {
                "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
            "extensions": {"cost": {"requestedQueryCost": 7, "actualQueryCost": None, "throttleStatus": {
                "maximumAvailable": 20, "currentlyAvailable": 6, "restoreRate": 1}}},
        }
        shop.clock.advance(0.5)
        assert cost(shop.gql(query))[1] is None  # 6.5 points: still short
        shop.clock.advance(0.5)
        assert cost(shop.gql(query)) == (7, 7, 0)
        shop.clock.advance(3600)
        assert shop.sim.available == 20  # never more than the bucket holds
        usage = shop.sim.usage
        assert (usage.requests, usage.queries, usage.throttled, usage.points_charged) == (5, 3, 2, 21)


def test_a_rate_storm_throttles_everything_until_it_clears(shop: Shop) -> None:
    shop.state.faults.rate_storm.add("shopify")
    body = shop.gql(CUSTOMERS, q=None, first=25)
    assert body["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert cost(body) == (52, None, 0)
    shop.state.faults.rate_storm.discard("shopify")
    assert shop.gql(CUSTOMERS, q=None, first=25)["data"]["customers"]["nodes"]
    assert shop.sim.usage.throttled == 1


# -- HTTP edges ----------------------------------------------------------------------------------------


def test_a_bad_token_is_a_401(shop: Shop) -> None:
    for token in ("wrong", ""):
        response = shop.post(CUSTOMERS, token=token, first=1)
        assert response.status_code == 401
        assert response.json() == {
            "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
        }
    assert shop.sim.usage.queries == 0


def test_an_outage_is_a_503_with_a_plain_body(shop: Shop) -> None:
    shop.state.faults.outage.add("shopify")
    response = shop.post(CUSTOMERS, first=1)
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/plain")
    shop.state.faults.outage.clear()
    assert shop.post(CUSTOMERS, first=1).status_code == 200


def test_other_systems_faults_do_not_touch_shopify(shop: Shop) -> None:
    shop.state.faults.outage.add("wms")
    shop.state.faults.rate_storm.add("crm")
    assert "data" in shop.gql(CUSTOMERS, first=1)


def test_invalid_requests(shop: Shop) -> None:
    assert shop.client.post("/admin/api/2024-01/graphql.json", json={"query": "{ x }"}).status_code == 404
    headers = {"X-Shopify-Access-Token": TOKEN}
    missing = shop.client.post(ENDPOINT, json={"variables": {}}, headers=headers)
    assert missing.status_code == 400
    assert missing.json() == {"errors": {"query": "Required parameter missing or invalid"}}
    unknown = shop.gql("{ shop { name } }")
    assert "data" not in unknown and "extensions" not in unknown and unknown["errors"][0]["locations"]
    syntax = shop.gql("{ productVariants(first: 1) { nodes { id }")
    assert "Syntax Error" in syntax["errors"][0]["message"]
    assert shop.sim.counters.statuses[404] == 1


def test_variables_that_do_not_fit_are_refused_as_shopify_does(shop: Shop) -> None:
    query = "query($id: CustomerIdentifierInput!) { customerByIdentifier(identifier: $id) { id } }"
    body = shop.gql(query, id={})
    assert body == {"errors": [{
        "message": "Variable $id of type CustomerIdentifierInput! was provided invalid value",
        "locations": [{"line": 1, "column": 7}],
        "extensions": {"code": "INVALID_VARIABLE", "value": {}, "problems": [{
            "path": [], "explanation": "'CustomerIdentifierInput' requires exactly one argument, but 0 were provided.",
        }]},
    }]}
    assert shop.gql(query, id={"id": "gid://shopify/Customer/7003"})["data"] == {
        "customerByIdentifier": {"id": "gid://shopify/Customer/7003"},
    }
    missing = shop.gql(CUSTOMERS_BY_EMAIL, e0="ann@example.co.uk")
    assert missing["errors"][0]["extensions"]["code"] == "INVALID_VARIABLE"


def test_mounted_under_a_router_prefix() -> None:
    state, clock = build_world(), FixedClock(T0)
    sim = ShopifySimulator(state, clock, access_token=TOKEN, prefix="/shopify")
    with LoopbackServer(Router({"/shopify": sim})) as server, httpx.Client(base_url=server.url) as client:
        response = client.post("/shopify" + ENDPOINT, json={"query": "{ customers(first: 1) { nodes { id } } }"},
                               headers={"X-Shopify-Access-Token": TOKEN})
        assert response.json()["data"]["customers"]["nodes"] == [{"id": "gid://shopify/Customer/7001"}]
        assert response.headers["x-shopify-api-version"] == "2026-04"


# -- the fast executor ---------------------------------------------------------------------------------
# shopify_fast projects the operation over the resolvers' objects instead of running graphql-core's
# execute_sync; every answer must be byte for byte the one execute_sync gives (fast=False).


def populated_world() -> WorldState:
    """Enough of everything for several pages, with the awkward values: nulls, odd SKUs, no fulfillments,
    several with and without tracking, a null financial status, equal sort keys."""
    state = WorldState()
    shop = state.shopify
    for n in range(60):
        sku = {0: 'MUG "BIG" 1', 1: "TEE/S:1", 2: "cap-02", 3: "back\\slash"}.get(n, f"SKU-{n:03d}")
        shop.variants[sku] = Variant(
            id=40_000 + (n * 37) % 60, product_id=8_000 + n // 4, inventory_item_id=45_000 + n, sku=sku,
            title=f"Product {n} (Mug & Tea)", price=Decimal(["12.50", "3", "0.99", "1E+2"][n % 4]),
            available=(n * 13) % 50, committed=n % 3,
            updated_at=None if n % 9 == 0 else T0 - timedelta(hours=n % 7, microseconds=n),
            inventory_updated_at=None if n % 11 == 0 else T0 - timedelta(minutes=n * 5),
        )
    for n in range(45):
        created = T0 - timedelta(hours=n * 3)
        fulfillments = [
            Fulfillment(
                9_000 + n * 10 + k, ["SUCCESS", "CANCELLED", "OPEN"][(n + k) % 3],
                ["IN_TRANSIT", "DELIVERED", "FULFILLED"][k % 3], created + timedelta(hours=1 + k),
                created + timedelta(hours=2 + k),
                "Royal Mail" if (n + k) % 2 else None, f"RM{n}{k}GB" if (n + k) % 4 else None,
                in_transit_at=created + timedelta(hours=3) if k else None,
                delivered_at=created + timedelta(days=1) if n % 5 == 0 else None,
            )
            for k in range(n % 4)
        ]
        cancelled = created + timedelta(minutes=30) if n % 6 == 0 else None
        order = ShopOrder(
            5_000 + n, f"#{1001 + n}", f"buyer{n % 20}@example.co.uk", created,
            T0 - timedelta(hours=n % 10), created, Decimal(["12.50", "30.00", "9.99", "0", "1E+2"][n % 5]),
            [(f"SKU-{n:03d}", 1 + n % 2)],
            display_financial_status=["PAID", "REFUNDED", "PENDING"][n % 3],
            display_fulfillment_status="FULFILLED" if fulfillments else "UNFULFILLED",
            cancelled_at=cancelled, closed_at=cancelled, fulfillments=fulfillments,
        )
        if n % 8 == 0:
            order.display_financial_status = None  # type: ignore[assignment]  # a nullable enum
        shop.orders[order.name] = order
    for n in range(40):
        email = f"buyer{n}@example.co.uk" if n % 7 else f"Buyer{n}@Example.COM"
        shop.customers[email.casefold()] = ShopCustomer(
            7_000 + n, email, f"First{n}" if n % 5 else "", f"Last{n}" if n % 6 else "", "GB",
            T0 - timedelta(days=300 - n), T0 - timedelta(hours=n % 12),
            marketing_state=["SUBSCRIBED", "NOT_SUBSCRIBED", "UNSUBSCRIBED", "PENDING"][n % 4],
            marketing_opt_in_level=["SINGLE_OPT_IN", "CONFIRMED_OPT_IN", "UNKNOWN"][n % 3],
            marketing_updated_at=None if n % 3 == 0 else T0 - timedelta(days=n),
        )
    return state


class Twins:
    """The same world and clock behind two simulators: one projecting, one on graphql-core only."""

    def __init__(self, state: WorldState | None = None, **options: Any) -> None:
        self.state = state if state is not None else populated_world()
        self.clock = FixedClock(T0)
        self.fast = ShopifySimulator(self.state, self.clock, access_token=TOKEN, **options)
        self.slow = ShopifySimulator(self.state, self.clock, access_token=TOKEN, fast=False, **options)
        self.answers = 0

    def ask(self, query: str, variables: dict[str, Any] | None = None, operation: str | None = None) -> Any:
        """Both simulators' answer, asserted identical (status, headers, bytes); the parsed body."""
        payload = {"query": query, "variables": variables, "operationName": operation}
        request = LoopbackRequest(
            "POST", ENDPOINT, {}, {"x-shopify-access-token": TOKEN}, json.dumps(payload).encode()
        )
        fast, slow = self.fast(request), self.slow(request)
        assert (fast.status, fast.headers, fast.body) == (slow.status, slow.headers, slow.body), query
        self.answers += 1
        return json.loads(fast.body)

    def pages(self, request: GraphQLRequest, root: str) -> list[dict[str, Any]]:
        """Every page of a connector request, following endCursor."""
        bodies = []
        variables = dict(request.variables)
        while True:
            body = self.ask(request.text, variables, request.operation)
            bodies.append(body)
            info = body["data"][root]["pageInfo"]
            if not info["hasNextPage"]:
                return bodies
            variables["after"] = info["endCursor"]


def test_the_fast_executor_answers_every_connector_query_as_graphql_core_does() -> None:
    twins = Twins(maximum_available=1e9, restore_rate=1e9)
    shop = twins.state.shopify
    skus = list(shop.variants)
    names = list(shop.orders)
    emails = list(shop.customers)
    found = 0
    for at_location in (None, "1", "gid://shopify/Location/1", "2"):
        for chunk in (skus[:25], skus[20:], skus[::3], skus[:1] + ["NOPE", skus[3].lower()]):
            for size in (7, 50):
                request = lookup_request("inventory", sku_search(chunk), size, None, location_id=at_location)
                bodies = twins.pages(request, "productVariants")
                found += sum(len(body["data"]["productVariants"]["nodes"]) for body in bodies)
    for chunk in (names[:39], names[10:], names[::2] + ["#9999", "1003"]):
        for size in (5, 39):
            twins.pages(lookup_request("orders", name_search(chunk), size, None), "orders")
    for chunk in (emails[:25], [e.upper() for e in emails[25:]] + ["nobody@example.com"], emails[:1]):
        request = customers_request(chunk)
        assert twins.ask(request.text, request.variables, request.operation)["data"]
    since = T0 - timedelta(hours=6)
    for entity in ("inventory", "orders", "customers"):
        for search in (None, updated_since_search(since), updated_since_search(T0 + timedelta(days=1))):
            for size in (1, 16, 250):
                root = {"inventory": "productVariants", "orders": "orders", "customers": "customers"}[entity]
                twins.pages(keys_request(entity, search, size, None), root)
    assert found > 100
    # Every one of them was projected, not handed to graphql-core.
    assert twins.fast.executions == {"projected": twins.answers, "graphql-core": 0}
    assert twins.slow.executions == {"projected": 0, "graphql-core": twins.answers}
    assert twins.fast.usage == twins.slow.usage


SUITE_QUERIES: list[tuple[str, dict[str, Any]]] = [
    (INVENTORY_BY_SKU, {"q": "sku:MUG-RED OR sku:TEE-S OR sku:nope", "first": 50}),
    (INVENTORY_BY_SKU, {"q": "", "first": 3, "after": None}),
    (ORDERS, {"q": "name:#1001 OR name:#1003", "first": 50}),
    (ORDERS, {"q": "email:ann@example.co.uk", "first": 1}),
    (ORDERS, {"q": "", "first": 5}),
    (CUSTOMERS_BY_EMAIL, {"e0": "Ann@Example.CO.UK", "e1": "nobody@example.com"}),
    (CUSTOMERS, {"q": None, "first": 25}),
    (CUSTOMERS, {"q": "email:BOB@example.co.uk", "first": 25}),
    (VARIANT_IDS, {"first": 3}),
    (VARIANT_IDS, {"last": 2}),
    (VARIANT_IDS, {"first": 3, "reverse": True}),
    (VARIANT_IDS, {"first": 5, "q": "colour:red"}),  # a search warning in extensions
    (VARIANT_IDS, {"first": 2, "q": "sku:TEE*"}),
    (VARIANT_IDS, {"first": 0}),
    ("""query($v: ID!, $o: ID!) { productVariant(id: $v) { sku price title product { id title handle }
        inventoryItem { sku tracked inventoryLevel(locationId: "gid://shopify/Location/1") { location { id name } } } }
        order(id: $o) { name email processedAt closedAt totalPriceSet { presentmentMoney { amount currencyCode } }
          fulfillments { name estimatedDeliveryAt trackingInfo { url company } } }
        missing: order(id: "gid://shopify/Order/1") { name } }""",
     {"v": "gid://shopify/ProductVariant/40002", "o": "gid://shopify/Order/5001"}),
    ("""fragment V on ProductVariant { id inventoryItem { id } }
        query { a: productVariants(first: 4) { edges { cursor node { ...V } } pageInfo { hasNextPage } }
                b: productVariants(first: 2) { nodes { ... on ProductVariant { sku } ... { __typename } } } }""", {}),
    ("""{ __typename orders(first: 2, sortKey: UPDATED_AT, reverse: true) {
          edges { cursor n1: node { name } n2: node { __typename id name } }
          pageInfo { __typename startCursor endCursor hasPreviousPage } } }""", {}),
    ("""query($id: CustomerIdentifierInput!) { customerByIdentifier(identifier: $id) {
          id firstName lastName displayName email createdAt } }""", {"id": {"id": "gid://shopify/Customer/7003"}}),
    ("""query($id: CustomerIdentifierInput!) { customerByIdentifier(identifier: $id) { id } }""",
     {"id": {"phoneNumber": "+44"}}),
    ("""query($n: Int!, $names: [String!]!) { productVariants(first: 2) { nodes {
          inventoryItem { inventoryLevels(first: $n) { edges { node {
            quantities(names: $names) { name quantity } } } } } } }
          orders(first: 2) { nodes { fulfillments(first: $n) { trackingInfo(first: $n) { number } } } } }""",
     {"n": 2, "names": ["available", "damaged", "on_hand"]}),
    ("""{ orders(first: 3, query: "status:cancelled") { nodes { fulfillments { trackingInfo { number } } } } }""", {}),
]

# graphql-core's own: errors, partial data, directives.
FALLBACK_QUERIES: list[tuple[str, dict[str, Any]]] = [
    (VARIANT_IDS, {"first": 2, "after": "not-a-cursor"}),  # a resolver's error
    (VARIANT_IDS, {"first": 2, "after": "not-a-cursor", "q": "colour:red"}),  # its search warning given once
    ("""{ productVariants(first: 2) { nodes { inventoryItem { inventoryLevel(locationId: "gid://shopify/Location/1") {
          quantities(names: ["available", "bogus"]) { name } } } } } }""", {}),  # an error in a nullable field
    ("""query($yes: Boolean!) { productVariants(first: 2) { nodes { id sku @include(if: $yes) } } }""", {"yes": False}),
    ("""{ customerByIdentifier(identifier: {customId: {key: "k", value: "v"}}) { id } }""", {}),
]


def test_the_fast_executor_answers_the_suites_queries_as_graphql_core_does() -> None:
    twins = Twins(build_world())
    for query, variables in SUITE_QUERIES:
        body = twins.ask(query, variables)
        assert "errors" not in body, body
    assert twins.fast.executions == {"projected": len(SUITE_QUERIES), "graphql-core": 0}
    for query, variables in FALLBACK_QUERIES:
        twins.ask(query, variables)
    assert twins.fast.executions == {"projected": len(SUITE_QUERIES), "graphql-core": len(FALLBACK_QUERIES)}
    # And what is refused before anything runs is refused alike.
    refused: list[tuple[str, dict[str, Any]]] = [
        (ORDERS, {"q": "", "first": 77}), (VARIANT_IDS, {}), (CUSTOMERS_BY_EMAIL, {"e0": "x"}),
        ("{ shop { name } }", {}), ("{ productVariants(first: 1) { nodes { id }", {}),
        # 2.0 is an Int to graphql-core but no page size to the cost rules: not the analysis kept for 2.
        (VARIANT_IDS, {"first": 2}), (VARIANT_IDS, {"first": 2.0}), (VARIANT_IDS, {"last": 2, "first": None}),
    ]
    for query, variables in refused:
        twins.ask(query, variables)
    assert twins.fast.usage == twins.slow.usage


def test_the_fast_executor_leaves_values_it_cannot_serialise_to_graphql_core() -> None:
    state = build_world()
    order = state.shopify.orders["#1001"]
    twins = Twins(state)
    order.fulfillments[0].status = "MISLAID"  # not a FulfillmentStatus: graphql-core's error, null up to the order
    order.display_financial_status = None  # type: ignore[assignment]  # nullable: a plain null
    body = twins.ask(ORDERS, {"q": "name:#1001 OR name:#1002", "first": 5})
    assert body["data"] is None and "MISLAID" in body["errors"][0]["message"]
    order.fulfillments[0].status = "SUCCESS"
    body = twins.ask(ORDERS, {"q": "name:#1001 OR name:#1002", "first": 5})
    assert body["data"]["orders"]["nodes"][0]["displayFinancialStatus"] is None
    assert twins.fast.executions == {"projected": 1, "graphql-core": 1}


def test_typename_inside_a_connection_costs_nothing_and_answers(shop: Shop) -> None:
    plain = shop.gql("{ productVariants(first: 2) { nodes { sku } edges { node { sku } } } }")
    named = shop.gql(
        "{ productVariants(first: 2) { __typename nodes { __typename sku } edges { __typename node { sku } } } }"
    )
    assert named["data"]["productVariants"]["__typename"] == "ProductVariantConnection"
    assert named["extensions"]["cost"]["requestedQueryCost"] == plain["extensions"]["cost"]["requestedQueryCost"]
