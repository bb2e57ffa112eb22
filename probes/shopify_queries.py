"""The GraphQL the ``shopify`` connector sends, what each query costs, and how its answers read.

Every query is a fixed text (customer lookups: a fixed text per alias count) with
variables, so what is sent can be validated against Shopify's schema in tests.
Keys and search strings travel only in variables, never in the text.

**Requested cost.** Shopify charges a query's requested cost up front and
refunds the difference to the actual cost afterwards; a query over 1,000
points is refused (``MAX_COST_EXCEEDED``). We estimate it with Shopify's
published rules:

* a scalar or enum field costs 0;
* an object field costs 1 plus its selections (a list without a size argument
  is costed as one object);
* a field sized by ``first: N`` (a connection, or a list such as
  ``Order.fulfillments``) costs 2 plus N times one item (1 plus the item's
  selections); a connection's ``pageInfo`` is one more object (1).

So a query's cost is linear in its page size: ``fixed + per_item × first``
(``QueryShape``), and the batch size is the largest ``first`` whose cost stays
within ``max_cost_per_query`` (and 250, Shopify's page limit). This is an upper
bound: captured responses show Shopify's own estimate below it (a
``customer`` query with four inner connections of up to 250 was requested at 79
points), so batches sized this way are never refused, and the connector paces
on the requested cost Shopify reports once it has seen a query's shape.

Costs of the queries below (``first`` = B, or A aliases)::

    InventoryBySku            3 + 6B    (variant 1, item 1, inventoryLevels(first: 1) 2 + 1 × (level 1 + quantities 1))
    InventoryBySkuAtLocation  3 + 4B    (variant 1, item 1, inventoryLevel 1, quantities 1)
    OrdersByName              3 + 25B   (order 1, totalPriceSet 1, shopMoney 1,
                                         fulfillments(first: 5) 2 + 5 × (1 + trackingInfo(first: 1) 2 + 1))
    CustomersByEmail          2A        (customer 1, defaultEmailAddress 1)
    *Keys (variant/order)     3 + B     (one object per node)
    CustomerKeys              3 + 2B    (customer 1, defaultEmailAddress 1)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = [
    "EntityType",
    "FIELDS",
    "KEY_FIELD",
    "PAGE_LIMIT",
    "CUSTOMER_ALIASES",
    "QueryShape",
    "GraphQLRequest",
    "lookup_shape",
    "keys_shape",
    "lookup_request",
    "customers_request",
    "keys_request",
    "sku_search",
    "name_search",
    "updated_since_search",
    "location_gid",
    "inventory_fields",
    "order_fields",
    "customer_fields",
]

EntityType = Literal["inventory", "orders", "customers"]

KEY_FIELD: Mapping[EntityType, str] = {"inventory": "sku", "orders": "name", "customers": "email"}

FIELDS: Mapping[EntityType, frozenset[str]] = {
    "inventory": frozenset({"sku", "available", "on_hand", "committed", "updated_at", "variant_updated_at"}),
    "orders": frozenset(
        {
            "name",
            "display_fulfillment_status",
            "display_financial_status",
            "total",
            "updated_at",
            "created_at",
            "cancelled_at",
            "fulfilled_at",
            "tracking_number",
        }
    ),
    "customers": frozenset(
        {"email", "marketing_state", "marketing_opt_in_level", "marketing_updated_at", "updated_at"}
    ),
}

PAGE_LIMIT = 250  # Shopify's largest ``first``
# Customers are looked up one ``customerByIdentifier`` alias each (2 points); 25 keeps a
# request to a size Shopify answers quickly while sparing 24 round trips out of 25.
CUSTOMER_ALIASES = 25

_QUANTITY_NAMES = ("available", "on_hand", "committed")
_PAGE_INFO = "pageInfo { hasNextPage endCursor }"

# -- query texts -------------------------------------------------------------------------

_LEVEL = 'id updatedAt quantities(names: ["available", "on_hand", "committed"]) { name quantity updatedAt }'

INVENTORY_BY_SKU = f"""query InventoryBySku($q: String!, $first: Int!, $after: String) {{
  productVariants(first: $first, after: $after, query: $q) {{
    nodes {{ id sku updatedAt inventoryQuantity
      inventoryItem {{ id updatedAt
        inventoryLevels(first: 1) {{ nodes {{ {_LEVEL} }} }} }} }}
    {_PAGE_INFO} }} }}"""

INVENTORY_BY_SKU_AT_LOCATION = f"""query InventoryBySkuAtLocation(
  $q: String!, $first: Int!, $after: String, $location: ID!) {{
  productVariants(first: $first, after: $after, query: $q) {{
    nodes {{ id sku updatedAt inventoryQuantity
      inventoryItem {{ id updatedAt
        inventoryLevel(locationId: $location) {{ {_LEVEL} }} }} }}
    {_PAGE_INFO} }} }}"""

ORDERS_BY_NAME = f"""query OrdersByName($q: String!, $first: Int!, $after: String) {{
  orders(first: $first, after: $after, query: $q) {{
    nodes {{ id name createdAt updatedAt cancelledAt displayFinancialStatus displayFulfillmentStatus
      totalPriceSet {{ shopMoney {{ amount currencyCode }} }}
      fulfillments(first: 5) {{ id status displayStatus createdAt updatedAt inTransitAt deliveredAt
        trackingInfo(first: 1) {{ company number }} }} }}
    {_PAGE_INFO} }} }}"""

_CUSTOMER = "id updatedAt defaultEmailAddress { emailAddress marketingState marketingOptInLevel marketingUpdatedAt }"

# Keys only, for ``changed_since`` ($q set) and ``sample_keys`` ($q null: everything).
# Orders and customers changed since come newest first, as other connectors' do, so a
# ``limit`` keeps the most recent; product variants have no UPDATED_AT sort key.
_KEYS: Mapping[EntityType, tuple[str, str, str]] = {
    "inventory": ("VariantKeys", "productVariants", "sku"),
    "orders": ("OrderKeys", "orders", "name"),
    "customers": ("CustomerKeys", "customers", "id updatedAt defaultEmailAddress { emailAddress }"),
}


def _keys_text(entity_type: EntityType, changed: bool) -> tuple[str, str]:
    operation, root, node = _KEYS[entity_type]
    sort = ""
    if changed and entity_type != "inventory":
        operation, sort = operation + "Changed", ", sortKey: UPDATED_AT, reverse: true"
    text = (
        f"query {operation}($q: String, $first: Int!, $after: String) {{\n"
        f"  {root}(first: $first, after: $after, query: $q{sort}) {{ nodes {{ {node} }}\n"
        f"    {_PAGE_INFO} }} }}"
    )
    return operation, text


def _customers_text(count: int) -> str:
    params = ", ".join(f"$e{i}: String!" for i in range(count))
    aliases = "\n".join(
        f"  c{i}: customerByIdentifier(identifier: {{emailAddress: $e{i}}}) {{ {_CUSTOMER} }}" for i in range(count)
    )
    return f"query CustomersByEmail({params}) {{\n{aliases}\n}}"


# -- costs -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueryShape:
    """A query's requested cost as ``fixed + per_item × size`` (see the module docstring)."""

    fixed: int
    per_item: int

    def cost(self, size: int) -> int:
        return self.fixed + self.per_item * size

    def largest(self, max_cost: int, cap: int) -> int:
        """The largest size (at least 1, at most ``cap``) whose cost is within ``max_cost``."""
        return max(1, min(cap, (max_cost - self.fixed) // self.per_item))


def _sized(first: int, item_selections: int) -> int:
    """A field sized by ``first``: 2, plus ``first`` items of 1 plus their selections."""
    return 2 + first * (1 + item_selections)


_CONNECTION = 2 + 1  # a connection's own 2, and its pageInfo object
_LEVEL_COST = 1  # an inventory level's ``quantities`` list: one object
_VARIANT = 1 + _sized(1, _LEVEL_COST)  # its item: 1, plus inventoryLevels(first: 1)
_VARIANT_AT_LOCATION = 1 + 1 + _LEVEL_COST  # its item, the inventoryLevel, its quantities
_ORDER = 2 + _sized(5, _sized(1, 0))  # totalPriceSet + shopMoney; fulfillments(first: 5) of trackingInfo(first: 1)
_CUSTOMER_COST = 1  # its defaultEmailAddress

_LOOKUP_SHAPES: Mapping[tuple[EntityType, bool], QueryShape] = {
    ("inventory", False): QueryShape(_CONNECTION, 1 + _VARIANT),
    ("inventory", True): QueryShape(_CONNECTION, 1 + _VARIANT_AT_LOCATION),
    ("orders", False): QueryShape(_CONNECTION, 1 + _ORDER),
    ("customers", False): QueryShape(0, 1 + _CUSTOMER_COST),  # per alias; no connection
}
_KEYS_SHAPES: Mapping[EntityType, QueryShape] = {
    "inventory": QueryShape(_CONNECTION, 1),
    "orders": QueryShape(_CONNECTION, 1),
    "customers": QueryShape(_CONNECTION, 1 + _CUSTOMER_COST),
}


def lookup_shape(entity_type: EntityType, at_location: bool = False) -> QueryShape:
    return _LOOKUP_SHAPES[(entity_type, at_location and entity_type == "inventory")]


def keys_shape(entity_type: EntityType) -> QueryShape:
    return _KEYS_SHAPES[entity_type]


# -- requests ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GraphQLRequest:
    """One query to send: its text, variables and our estimate of its requested cost.

    ``shape`` (operation, size) names queries Shopify will cost alike: the connector
    remembers the requested cost Shopify reported for each.
    """

    operation: str
    text: str
    variables: dict[str, Any] = field(default_factory=dict)
    size: int = 0
    cost: int = 0

    @property
    def shape(self) -> tuple[str, int]:
        return self.operation, self.size

    def body(self) -> dict[str, Any]:
        return {"query": self.text, "operationName": self.operation, "variables": self.variables}


def lookup_request(
    entity_type: Literal["inventory", "orders"],
    search: str,
    first: int,
    after: str | None,
    location_id: str | None = None,
) -> GraphQLRequest:
    """A page of the variants (by SKU) or orders (by name) that ``search`` finds."""
    variables: dict[str, Any] = {"q": search, "first": first, "after": after}
    if entity_type == "orders":
        operation, text = "OrdersByName", ORDERS_BY_NAME
    elif location_id is not None:
        operation, text = "InventoryBySkuAtLocation", INVENTORY_BY_SKU_AT_LOCATION
        variables["location"] = location_gid(location_id)
    else:
        operation, text = "InventoryBySku", INVENTORY_BY_SKU
    cost = lookup_shape(entity_type, location_id is not None).cost(first)
    return GraphQLRequest(operation, text, variables, first, cost)


def customers_request(emails: Sequence[str]) -> GraphQLRequest:
    """Customers by email, one alias ``c{i}`` per email ``$e{i}``."""
    variables = {f"e{i}": email for i, email in enumerate(emails)}
    cost = lookup_shape("customers").cost(len(emails))
    return GraphQLRequest("CustomersByEmail", _customers_text(len(emails)), variables, len(emails), cost)


def keys_request(entity_type: EntityType, search: str | None, first: int, after: str | None) -> GraphQLRequest:
    """A page of keys: those ``search`` finds (newest first where Shopify can sort so), or all."""
    operation, text = _keys_text(entity_type, changed=search is not None)
    variables = {"q": search, "first": first, "after": after}
    return GraphQLRequest(operation, text, variables, first, keys_shape(entity_type).cost(first))


# -- search strings ----------------------------------------------------------------------


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def sku_search(skus: Sequence[str]) -> str:
    """``sku:"A" OR sku:"B"``: values quoted, as SKUs hold spaces, slashes and colons."""
    return " OR ".join(f"sku:{_quoted(sku)}" for sku in skus)


def name_search(names: Sequence[str]) -> str:
    """``name:#1001 OR name:#1002``: a plain name bare, as Shopify's own admin sends it; others quoted."""
    return " OR ".join(f"name:{name if _plain(name) else _quoted(name)}" for name in names)


def _plain(value: str) -> bool:
    return bool(value) and all(c.isalnum() or c in "#-_." for c in value)


def updated_since_search(since: datetime) -> str:
    """``updated_at:>='2026-11-27T10:00:00Z'`` (whole seconds, floored: nothing later is missed)."""
    if since.tzinfo is None:
        raise ValueError("since must be an aware datetime")
    return f"updated_at:>='{since.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}'"


def location_gid(location_id: str) -> str:
    """A location's global ID from itself or its numeric ID."""
    return location_id if location_id.startswith("gid://") else f"gid://shopify/Location/{location_id}"


# -- reading nodes -----------------------------------------------------------------------
# Each returns the record's flat fields; values are Shopify's own (timestamps as ISO text).


def inventory_fields(variant: Mapping[str, Any], at_location: bool) -> dict[str, Any]:
    item = _object(variant.get("inventoryItem"))
    if at_location:
        level = _object(item.get("inventoryLevel"))
    else:
        levels = _object(item.get("inventoryLevels")).get("nodes") or []
        level = _object(levels[0]) if isinstance(levels, list) and levels else {}
    quantities = {
        q.get("name"): q for q in level.get("quantities") or [] if isinstance(q, dict) and q.get("name")
    }
    stamps = [q["updatedAt"] for q in quantities.values() if isinstance(q.get("updatedAt"), str)]
    record: dict[str, Any] = {
        "sku": variant.get("sku"),
        # Latest quantity change; quantities never changed carry no time, so the item's.
        "updated_at": max(stamps, key=_instant) if stamps else item.get("updatedAt"),
        "variant_updated_at": variant.get("updatedAt"),
    }
    for name in _QUANTITY_NAMES:
        if name in quantities:
            record[name] = quantities[name].get("quantity")
    return record  # a quantity with no level (not stocked there) is left out: "absent"


_NOT_FULFILLING = frozenset({"CANCELLED", "ERROR", "FAILURE"})


def order_fields(order: Mapping[str, Any]) -> dict[str, Any]:
    fulfillments = [f for f in order.get("fulfillments") or [] if isinstance(f, dict)]
    # A cancelled or failed fulfillment fulfilled nothing.
    done = [f for f in fulfillments if f.get("status") not in _NOT_FULFILLING and isinstance(f.get("createdAt"), str)]
    latest = max(done, key=lambda f: _instant(f["createdAt"])) if done else None
    tracking = None
    if latest is not None:
        infos = [t for t in latest.get("trackingInfo") or [] if isinstance(t, dict)]
        tracking = infos[0].get("number") if infos else None
    money = _object(_object(order.get("totalPriceSet")).get("shopMoney"))
    return {
        "name": order.get("name"),
        "display_fulfillment_status": order.get("displayFulfillmentStatus"),
        "display_financial_status": order.get("displayFinancialStatus"),
        "total": {"amount": money.get("amount"), "currencyCode": money.get("currencyCode")} if money else None,
        "updated_at": order.get("updatedAt"),
        "created_at": order.get("createdAt"),
        "cancelled_at": order.get("cancelledAt"),
        "fulfilled_at": latest["createdAt"] if latest is not None else None,
        "tracking_number": tracking,
    }


def customer_fields(customer: Mapping[str, Any]) -> dict[str, Any]:
    email = _object(customer.get("defaultEmailAddress"))
    return {
        "email": email.get("emailAddress"),
        "marketing_state": email.get("marketingState"),
        "marketing_opt_in_level": email.get("marketingOptInLevel"),
        "marketing_updated_at": email.get("marketingUpdatedAt"),
        "updated_at": customer.get("updatedAt"),
    }


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _instant(text: str) -> datetime:
    """For comparing Shopify's ISO timestamps (offsets may differ); unreadable ones sort first."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
