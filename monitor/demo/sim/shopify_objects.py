"""The demo world's Shopify records as Shopify's GraphQL objects, and connections paged with cursors.

Objects are plain dicts read by graphql-core's default resolver (or the simulator's
projector, which reads them the same way); a field with arguments is a callable
taking ``(info, **arguments)``, and so is one that is dear to work out and often not
asked for (a price, a product, an order's money and fulfillments, a connection's
edges and cursors): worked out when read. Values are written as
Shopify writes them: ``gid://shopify/ProductVariant/{id}`` ids, ``2026-11-27T10:00:00Z``
times, Decimal amounts as ``"12.5"`` (``MoneyV2.amount``), Money as ``"12.50"``
(``ProductVariant.price``), GBP. Each variant has one inventory level, at
``gid://shopify/Location/1`` ("Warehouse"), with the quantities ``available``,
``committed`` and ``on_hand`` (their sum); Shopify's other quantity names are 0.
Connections are ordered by a sort key, ties by id, and paged with opaque
cursors: base64 JSON ``{"last_id": …, "last_value": …}``, as Shopify's are.
"""

from __future__ import annotations

import base64
import binascii
import functools
import heapq
import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from graphql import GraphQLError

from monitor.demo.sim.timestamps import wire_format
from monitor.demo.state import Fulfillment, ShopCustomer, ShopOrder, Variant

__all__ = [
    "LOCATION",
    "CURRENCY",
    "QUANTITY_NAMES",
    "Info",
    "gid",
    "gid_number",
    "shopify_datetime",
    "epoch_seconds",
    "shopify_decimal",
    "shopify_money",
    "encode_cursor",
    "decode_cursor",
    "connection",
    "variant_object",
    "order_object",
    "customer_object",
]

T = TypeVar("T")
# graphql.GraphQLResolveInfo: generic from graphql-core 3.3 only, so not spelt out for 3.2's sake.
Info = Any

LOCATION = {"id": "gid://shopify/Location/1", "name": "Warehouse"}
CURRENCY = "GBP"
QUANTITY_NAMES = (
    "available", "committed", "damaged", "incoming", "on_hand", "quality_control", "reserved", "safety_stock",
)
_NEVER = datetime(1970, 1, 1, tzinfo=UTC)  # for a non-null time the world never set
_NOT_HANDLE = re.compile(r"[^a-z0-9]+")  # what a product handle replaces with "-"


def gid(kind: str, id_: int) -> str:
    return f"gid://shopify/{kind}/{id_}"


def gid_number(value: str, kind: str) -> int | None:
    match = re.fullmatch(rf"gid://shopify/{kind}/(\d+)", value)
    return int(match.group(1)) if match else None


# Shopify's DateTime scalar: UTC, whole seconds, a Z.
shopify_datetime = wire_format(lambda value: value.replace(microsecond=0, tzinfo=None).isoformat() + "Z")


def epoch_seconds(value: datetime | None) -> int:
    """A time as a sort key: whole seconds, as Shopify keeps it."""
    return int(value.timestamp()) if value is not None else 0


def shopify_decimal(value: Decimal) -> str:
    """As Shopify prints a Decimal: no trailing zeros, at least one decimal (``"108.0"``, ``"12.5"``)."""
    text = format(value.normalize(), "f")
    return text if "." in text else f"{text}.0"


def shopify_money(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")), "f")


_CURSOR_JSON = json.JSONEncoder(separators=(",", ":"))  # as json.dumps(…, separators=…), made once


def encode_cursor(last_value: Any, last_id: int) -> str:
    payload = _CURSOR_JSON.encode({"last_id": last_id, "last_value": last_value})
    return base64.b64encode(payload.encode()).decode()


def decode_cursor(cursor: str) -> tuple[Any, int]:
    try:
        payload = json.loads(base64.b64decode(cursor.encode(), validate=True))
        last_id = payload["last_id"]
        if not isinstance(last_id, int):
            raise TypeError
        return payload["last_value"], last_id
    except (binascii.Error, ValueError, UnicodeError, KeyError, TypeError):
        raise GraphQLError(f"Invalid cursor: {cursor!r}") from None


def connection(
    records: Iterable[T],
    args: Mapping[str, Any],
    sorts: Mapping[str, Callable[[T], Any]],
    ident: Callable[[T], int],
    node: Callable[[T], dict[str, Any]],
    default_sort: str = "ID",
) -> dict[str, Any]:
    """One page of a connection: ``first``/``after``, ``last``/``before``, ``reverse``."""
    sort = sorts.get(args.get("sortKey") or default_sort, ident)
    rows = [((sort(record), ident(record)), record) for record in records]
    page, earlier, later = _page(
        rows, args.get("first"), args.get("after"), args.get("last"), args.get("before"), bool(args.get("reverse"))
    )
    return _connection(page, [node(record) for _, record in page], earlier, later)


_Row = tuple[tuple[Any, int], T]


def _page(
    rows: list[_Row[T]], first: Any, after: Any, last: Any, before: Any, descending: bool
) -> tuple[list[_Row[T]], int, int]:
    """The rows on the page, in order, and how many are left out before and after it."""
    earlier = later = 0  # rows outside the page on either side
    try:
        if after:
            mark = decode_cursor(after)
            kept = [row for row in rows if (row[0] < mark if descending else row[0] > mark)]
            earlier, rows = len(rows) - len(kept), kept
        if before:
            mark = decode_cursor(before)
            kept = [row for row in rows if (row[0] > mark if descending else row[0] < mark)]
            later, rows = len(rows) - len(kept), kept
    except TypeError:  # a cursor from another sort key
        raise GraphQLError("Invalid cursor for the current sort key") from None
    # The page off the top of a heap: a search may match thousands of records and a page wants 50.
    if isinstance(first, int):
        page = (heapq.nlargest if descending else heapq.nsmallest)(max(first, 0), rows, key=_row_key)
        later += len(rows) - len(page)
    else:
        page = sorted(rows, key=_row_key, reverse=descending)
    if isinstance(last, int):
        cut = max(0, len(page) - max(last, 0))
        earlier, page = earlier + cut, page[cut:]
    return page, earlier, later


def _connection(page: list[_Row[Any]], nodes: list[Any], earlier: int, later: int) -> dict[str, Any]:
    def edges(info: Info) -> list[dict[str, Any]]:  # cursors only for a query that asks for edges
        return [{"cursor": encode_cursor(*key), "node": built} for (key, _), built in zip(page, nodes)]

    return {
        "nodes": nodes,
        "edges": edges,
        "pageInfo": {
            "hasNextPage": later > 0,
            "hasPreviousPage": earlier > 0,
            "startCursor": (lambda info: encode_cursor(*page[0][0])) if page else None,
            "endCursor": (lambda info: encode_cursor(*page[-1][0])) if page else None,
        },
    }


def _row_key(row: tuple[tuple[Any, int], Any]) -> tuple[Any, int]:
    return row[0]


@functools.lru_cache(maxsize=256, typed=True)  # every variant on a page asks for the same page of levels
def _location_page(
    first: Any, after: Any, last: Any, before: Any, descending: bool
) -> tuple[list[_Row[int]], int, int]:
    """The page of the one location (sorted by id, its id 1), as ``connection`` pages it."""
    return _page([((1, 1), 1)], first, after, last, before, descending)


def _levels(level: dict[str, Any], args: Mapping[str, Any]) -> dict[str, Any]:
    """A variant's inventory levels: ``connection([1], args, {}, …)``, its page worked out once per arguments."""
    page, earlier, later = _location_page(
        args.get("first"), args.get("after"), args.get("last"), args.get("before"), bool(args.get("reverse"))
    )
    return _connection(page, [level] * len(page), earlier, later)


def variant_object(variant: Variant) -> dict[str, Any]:
    updated = variant.updated_at or variant.inventory_updated_at or _NEVER
    stocked = shopify_datetime(variant.inventory_updated_at or updated)
    level = {
        "id": f"gid://shopify/InventoryLevel/1?inventory_item_id={variant.inventory_item_id}",
        "updatedAt": stocked,
        "location": LOCATION,
        "quantities": lambda info, names: _quantities(variant, names),
    }
    return {
        "id": f"gid://shopify/ProductVariant/{variant.id}",
        "sku": variant.sku,
        "title": "Default Title",
        "price": lambda info: shopify_money(variant.price),
        "updatedAt": shopify_datetime(updated),
        "inventoryQuantity": variant.available,
        "inventoryItem": {
            "id": f"gid://shopify/InventoryItem/{variant.inventory_item_id}",
            "sku": variant.sku,
            "tracked": True,
            "updatedAt": stocked,
            "inventoryLevels": lambda info, **args: _levels(level, args),
            "inventoryLevel": lambda info, locationId: level if locationId == LOCATION["id"] else None,
        },
        "product": lambda info: {
            "id": gid("Product", variant.product_id),
            "title": variant.title,
            "handle": _NOT_HANDLE.sub("-", variant.title.lower()).strip("-"),
        },
    }


def order_object(order: ShopOrder) -> dict[str, Any]:
    def money(info: Info) -> dict[str, Any]:
        amount = {"amount": shopify_decimal(order.total), "currencyCode": CURRENCY}
        return {"shopMoney": amount, "presentmentMoney": amount}

    def fulfillments(info: Info, first: int | None = None) -> list[dict[str, Any]]:
        wanted = order.fulfillments if first is None else order.fulfillments[: max(first, 0)]
        return [_fulfillment(order, number, f) for number, f in enumerate(wanted, start=1)]

    return {
        "id": gid("Order", order.id),
        "name": order.name,
        "email": order.email,
        "createdAt": shopify_datetime(order.created_at),
        "updatedAt": shopify_datetime(order.updated_at),
        "processedAt": shopify_datetime(order.processed_at),
        "cancelledAt": shopify_datetime(order.cancelled_at),
        "closedAt": shopify_datetime(order.closed_at),
        "displayFinancialStatus": order.display_financial_status,
        "displayFulfillmentStatus": order.display_fulfillment_status,
        "totalPriceSet": money,
        "fulfillments": fulfillments,
    }


def customer_object(customer: ShopCustomer) -> dict[str, Any]:
    email = customer.email.lower()  # Shopify keeps addresses in lower case
    return {
        "id": gid("Customer", customer.id),
        "firstName": customer.first_name,
        "lastName": customer.last_name,
        "displayName": f"{customer.first_name} {customer.last_name}".strip() or email,
        "email": email,
        "createdAt": shopify_datetime(customer.created_at),
        "updatedAt": shopify_datetime(customer.updated_at),
        "defaultEmailAddress": {
            "emailAddress": email,
            "marketingState": customer.marketing_state,
            "marketingOptInLevel": customer.marketing_opt_in_level,
            "marketingUpdatedAt": shopify_datetime(customer.marketing_updated_at),
        },
    }


def _quantities(variant: Variant, names: list[str]) -> list[dict[str, Any]]:
    updated = shopify_datetime(variant.inventory_updated_at)
    return [_quantity(variant, name, updated) for name in names]


def _quantity(variant: Variant, name: str, updated: str | None) -> dict[str, Any]:
    if name == "available":
        quantity = variant.available
    elif name == "committed":
        quantity = variant.committed
    elif name == "on_hand":
        quantity = variant.on_hand
    elif name in QUANTITY_NAMES:
        return {"name": name, "quantity": 0, "updatedAt": None}
    else:
        raise GraphQLError(f"Invalid quantity name: '{name}'. Valid names: {', '.join(QUANTITY_NAMES)}")
    return {"name": name, "quantity": quantity, "updatedAt": updated}


def _fulfillment(order: ShopOrder, number: int, fulfillment: Fulfillment) -> dict[str, Any]:
    tracking = []
    if fulfillment.tracking_number or fulfillment.tracking_company:
        tracking.append({"company": fulfillment.tracking_company, "number": fulfillment.tracking_number, "url": None})
    return {
        "id": gid("Fulfillment", fulfillment.id),
        "name": f"{order.name}.{number}",
        "status": fulfillment.status,
        "displayStatus": fulfillment.display_status,
        "createdAt": shopify_datetime(fulfillment.created_at),
        "updatedAt": shopify_datetime(fulfillment.updated_at),
        "inTransitAt": shopify_datetime(fulfillment.in_transit_at),
        "deliveredAt": shopify_datetime(fulfillment.delivered_at),
        "estimatedDeliveryAt": None,
        "trackingInfo": lambda info, first=None: tracking if first is None else tracking[: max(first, 0)],
    }
