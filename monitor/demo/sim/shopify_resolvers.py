"""The root fields of the simulated Shopify API, answered from ``ShopifyState``: lookups, search, pages.

``Resolvers(shop, now).root()`` is the root value for one request (the caller
holds ``state.lock``). What each resource can be searched by (``shopify_search``
syntax) and sorted by is listed here; a ``sortKey`` the simulator does not sort
by orders by id. Exact ``sku:``/``name:``/``email:`` searches, alone or joined by
OR, are answered from the state's dicts rather than by a scan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from graphql import GraphQLError

from monitor.demo.sim.shopify_objects import (
    Info,
    connection,
    customer_object,
    epoch_seconds,
    gid_number,
    order_object,
    variant_object,
)
from monitor.demo.sim.shopify_search import Field, Matcher, exact_values, parse_search
from monitor.demo.state import ShopCustomer, ShopifyState, ShopOrder, Variant

__all__ = ["Resolvers", "VARIANT_FIELDS", "ORDER_FIELDS", "CUSTOMER_FIELDS"]

T = TypeVar("T")


# -- what each resource can be searched and sorted by ---------------------------------------------------


VARIANT_FIELDS: dict[str, Field[Variant]] = {
    "sku": Field("text", lambda v: [v.sku]),
    "title": Field("text", lambda v: [v.title]),
    "id": Field("number", lambda v: [v.id]),
    "product_id": Field("number", lambda v: [v.product_id]),
    "inventory_quantity": Field("number", lambda v: [v.available]),
    "updated_at": Field("time", lambda v: [v.updated_at]),
}
VARIANT_SORT: dict[str, Callable[[Variant], Any]] = {
    "SKU": lambda v: v.sku.casefold(),
    "TITLE": lambda v: v.title.casefold(),
    "FULL_TITLE": lambda v: v.title.casefold(),
    "NAME": lambda v: v.title.casefold(),
    "INVENTORY_QUANTITY": lambda v: v.available,
}
_ORDER_STATUS = {
    "FULFILLED": "fulfilled shipped",
    "UNFULFILLED": "unfulfilled unshipped",
    "PARTIALLY_FULFILLED": "partial",
}
ORDER_FIELDS: dict[str, Field[ShopOrder]] = {
    "name": Field("name", lambda o: [o.name]),
    "email": Field("text", lambda o: [o.email]),
    "id": Field("number", lambda o: [o.id]),
    "sku": Field("text", lambda o: [sku for sku, _ in o.lines]),
    "created_at": Field("time", lambda o: [o.created_at]),
    "updated_at": Field("time", lambda o: [o.updated_at]),
    "processed_at": Field("time", lambda o: [o.processed_at]),
    "financial_status": Field("text", lambda o: [(o.display_financial_status or "").lower()]),
    "fulfillment_status": Field(
        "text",
        lambda o: [o.display_fulfillment_status.lower(), *_ORDER_STATUS.get(o.display_fulfillment_status, "").split()],
    ),
    "status": Field("text", lambda o: ["cancelled" if o.cancelled_at else "closed" if o.closed_at else "open"]),
}
ORDER_SORT: dict[str, Callable[[ShopOrder], Any]] = {
    "CREATED_AT": lambda o: epoch_seconds(o.created_at),
    "UPDATED_AT": lambda o: epoch_seconds(o.updated_at),
    "PROCESSED_AT": lambda o: epoch_seconds(o.processed_at),
}
CUSTOMER_FIELDS: dict[str, Field[ShopCustomer]] = {
    "email": Field("text", lambda c: [c.email]),
    "id": Field("number", lambda c: [c.id]),
    "first_name": Field("text", lambda c: [c.first_name]),
    "last_name": Field("text", lambda c: [c.last_name]),
    "country": Field("text", lambda c: [c.country]),
    "created_at": Field("time", lambda c: [c.created_at]),
    "updated_at": Field("time", lambda c: [c.updated_at]),
}
CUSTOMER_SORT: dict[str, Callable[[ShopCustomer], Any]] = {
    "CREATED_AT": lambda c: epoch_seconds(c.created_at),
    "UPDATED_AT": lambda c: epoch_seconds(c.updated_at),
    "NAME": lambda c: f"{c.first_name} {c.last_name}".casefold(),
}


def _by_key(records: Mapping[str, T], values: Iterable[str], fold: Callable[[str], str]) -> list[T]:
    """Records whose key equals one of ``values`` once folded: a dict look-up, else a scan of the keys."""
    found: dict[int, T] = {}
    folded: dict[str, str] | None = None
    for value in values:
        key: str | None = value
        if value not in records:
            if folded is None:
                folded = {fold(key): key for key in records}
            key = folded.get(fold(value))
        if key is not None:
            found[id(records[key])] = records[key]
    return list(found.values())


def _order_name(value: str) -> str:
    return "#" + value.casefold().removeprefix("#")


class Resolvers:
    """Answers one request's root fields from ``shop`` at ``now``; ``search`` collects search warnings."""

    def __init__(self, shop: ShopifyState, now: datetime) -> None:
        self.shop = shop
        self.now = now
        self.search: list[dict[str, Any]] = []

    def root(self) -> dict[str, Any]:
        return {
            "productVariants": self.product_variants,
            "orders": self.orders,
            "customers": self.customers,
            "customerByIdentifier": self.customer_by_identifier,
            "customer": self.customer,
            "productVariant": self.product_variant,
            "order": self.order,
        }

    # -- root fields --------------------------------------------------------------------------------

    def product_variants(self, info: Info, **args: Any) -> dict[str, Any]:
        variants = self.shop.variants
        found = self._search(
            info, args, variants.values(), VARIANT_FIELDS, lambda v: [v.sku, v.title],
            "sku", lambda skus: _by_key(variants, skus, str.casefold),
        )
        return connection(found, args, VARIANT_SORT, lambda v: v.id, variant_object)

    def orders(self, info: Info, **args: Any) -> dict[str, Any]:
        orders = self.shop.orders
        found = self._search(
            info, args, orders.values(), ORDER_FIELDS, lambda o: [o.name, o.email],
            "name", lambda names: _by_key(orders, names, _order_name),
        )
        return connection(found, args, ORDER_SORT, lambda o: o.id, order_object, default_sort="PROCESSED_AT")

    def customers(self, info: Info, **args: Any) -> dict[str, Any]:
        customers = self.shop.customers
        found = self._search(
            info, args, customers.values(), CUSTOMER_FIELDS, lambda c: [c.email, c.first_name, c.last_name],
            "email", lambda emails: _by_key(customers, emails, str.casefold),
        )
        return connection(found, args, CUSTOMER_SORT, lambda c: c.id, customer_object)

    def customer_by_identifier(self, info: Info, identifier: dict[str, Any]) -> dict[str, Any] | None:
        given = [name for name, value in identifier.items() if value is not None]
        if len(given) != 1:
            raise GraphQLError(
                f"'CustomerIdentifierInput' requires exactly one argument, but {len(given)} were provided."
            )
        if given[0] == "customId":
            raise GraphQLError(
                "Metafield definition of type 'id' is required when using custom ids.",
                extensions={"code": "NOT_FOUND"},
            )
        if given[0] == "id":
            return self.customer(info, identifier["id"])
        if given[0] == "emailAddress":
            found = _by_key(self.shop.customers, [identifier["emailAddress"]], str.casefold)
            return customer_object(found[0]) if found else None
        return None  # the world keeps no phone numbers

    def customer(self, info: Info, id: str) -> dict[str, Any] | None:  # noqa: A002 (GraphQL's name)
        number = gid_number(id, "Customer")
        found = [c for c in self.shop.customers.values() if c.id == number]
        return customer_object(found[0]) if found else None

    def product_variant(self, info: Info, id: str) -> dict[str, Any] | None:  # noqa: A002
        number = gid_number(id, "ProductVariant")
        found = [v for v in self.shop.variants.values() if v.id == number]
        return variant_object(found[0]) if found else None

    def order(self, info: Info, id: str) -> dict[str, Any] | None:  # noqa: A002
        number = gid_number(id, "Order")
        found = [o for o in self.shop.orders.values() if o.id == number]
        return order_object(found[0]) if found else None

    # -- search and pages ---------------------------------------------------------------------------

    def _search(
        self,
        info: Info,
        args: Mapping[str, Any],
        records: Iterable[T],
        fields: Mapping[str, Field[T]],
        default: Callable[[T], Iterable[str]],
        index_field: str,
        index: Callable[[list[str]], list[T]],
    ) -> list[T]:
        query = args.get("query")
        expression = parse_search(query)
        matcher = Matcher(expression, fields, default, self.now)
        if matcher.warnings:
            self.search.append({"path": info.path.as_list(), "query": query, "warnings": matcher.warnings})
        values = exact_values(expression, index_field)
        candidates = index(values) if values is not None else records
        return [record for record in candidates if matcher(record)]
