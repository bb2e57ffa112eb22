"""A WMS shaped like Mintsoft's REST API, answering from the demo world's ``WorldState.wms``.

Endpoints (``GET``; paths and query parameter names are case-insensitive, as
in Mintsoft's ASP.NET API):

* ``/api/Product/StockLevels?SKU=A,B,C&WarehouseId=``: stock levels for those
  SKUs. A comma-separated batch of SKUs is **our assumption** (Mintsoft's
  documentation shows one SKU per call); without ``SKU``, every stock level,
  paged by ``PageNo``/``Limit``. ``WarehouseId=0`` reports each SKU as "all
  warehouses combined" (``WarehouseId: 0``), a number keeps that warehouse's.
* ``/api/Product/StockLevels/UpdatedSince?FromDate=``: levels updated at or
  after ``FromDate``, oldest first, paged.
* ``/api/Product/List``: products (``ID``, ``SKU``, ``Name``), paged.
* ``/api/Order/Search?OrderNumber=``: one order number per call; a list, maybe empty.
* ``/api/Order/List?SinceLastUpdated=&SinceDate=&SinceDespatchDate=&OrderStatusId=``:
  orders, paged (oldest change first with ``SinceLastUpdated``, else by ``ID``).
* ``/api/Order/Statuses``: ``[{ID, Name, ExternalName, LastUpdated, LastUpdatedByUser}]``.

``Limit`` is 1 to 100 (default 100; more is a 400 naming the limit), ``PageNo``
starts at 1. Timestamps go out as Mintsoft writes them, without an offset
(``2026-11-27T10:00:00``); here they are UTC, so a syncwatch config for this
system says ``timezone: UTC``. Incoming dates without an offset are UTC too.

The key goes in the ``ms-apikey`` header or the ``APIKey`` query parameter.
Before anything else the world's faults for system ``"wms"`` apply:
``outage`` is a 503, ``rate_storm`` a 429 to everything; then more than
``requests_per_minute`` requests in a clock minute is a 429 with
``Retry-After``. ``renamed[("wms", "stock")]`` / ``[("wms", "orders")]`` =
``(old, new)`` sends that field under its new name: a schema change.
Errors are ASP.NET-style ``{"Message": ...}`` bodies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from monitor.clock import Clock
from monitor.demo.sim.ratelimits import (
    STORM_RETRY_AFTER,
    TrafficCounters,
    Window,
    WindowLimiter,
)
from monitor.demo.sim.router import strip_prefix
from monitor.demo.sim.timestamps import wire_format
from monitor.demo.state import MINTSOFT_STATUSES, WmsOrder, WmsStock, WorldState
from monitor.loopback import LoopbackRequest, LoopbackResponse
from probes.timestamps import parse_timestamp

__all__ = ["MintsoftSimulator", "MAX_LIMIT"]

SYSTEM = "wms"
MAX_LIMIT = 100
_STATUSES_SET_UP = datetime(2024, 1, 8, 9, 0, tzinfo=UTC)  # when the account's statuses were configured
_EXTERNAL_NAMES = {
    1: "New",
    15: "Awaiting Picking",
    17: "Picked",
    4: "Despatched",
    9: "On Back Order",
    13: "Query Raised",
}


class _BadRequest(Exception):
    """A request Mintsoft would answer with 400 and this message."""


class _Params:
    """Query parameters by case-insensitive name (ASP.NET model binding ignores case)."""

    def __init__(self, request: LoopbackRequest) -> None:
        self._values = {name.casefold(): values[0] for name, values in reversed(request.query.items()) if values}

    def text(self, name: str) -> str | None:
        value = self._values.get(name.casefold())
        return value if value else None

    def number(self, name: str) -> int | None:
        text = self.text(name)
        if text is None:
            return None
        try:
            return int(text)
        except ValueError:
            raise _BadRequest(f"The value '{text}' is not valid for {name}.") from None

    def required_date(self, name: str) -> datetime:
        value = self.date(name)
        if value is None:
            raise _BadRequest(f"{name} is required, e.g. {name}=2026-11-27T10:00:00")
        return value

    def date(self, name: str) -> datetime | None:
        text = self.text(name)
        if text is None:
            return None
        try:
            return parse_timestamp(text.replace(" ", "+"))  # a raw "+01:00" arrives as a space
        except ValueError:
            raise _BadRequest(f"The value '{text}' is not valid for {name}.") from None

    def page(self, rows: Sequence[Any]) -> Sequence[Any]:
        number, limit = self.number("PageNo"), self.number("Limit")
        number = 1 if number is None else number
        limit = MAX_LIMIT if limit is None else limit
        if limit > MAX_LIMIT:
            raise _BadRequest(f"Limit cannot be more than {MAX_LIMIT}.")
        if limit < 1 or number < 1:
            raise _BadRequest("PageNo and Limit must be 1 or more.")
        return rows[(number - 1) * limit : number * limit]


_Endpoint = Callable[[_Params], Any]


class MintsoftSimulator:
    """A LoopbackServer handler for the Mintsoft-shaped WMS; see the module docstring.

    ``prefix`` is the path it is mounted under (``/wms`` behind a ``Router``);
    ``counters`` holds what it was asked.
    """

    system = SYSTEM

    def __init__(
        self,
        state: WorldState,
        clock: Clock,
        *,
        api_key: str,
        requests_per_minute: int = 120,
        prefix: str = "",
    ) -> None:
        self.state = state
        self.prefix = prefix
        self.counters = TrafficCounters()
        self._api_key = api_key
        self._limiter = WindowLimiter(clock, [Window(requests_per_minute, 60)])
        routes: list[tuple[str, _Endpoint]] = [
            ("/api/Product/StockLevels", self._stock_levels),
            ("/api/Product/StockLevels/UpdatedSince", self._stock_updated_since),
            ("/api/Product/List", self._products),
            ("/api/Order/Search", self._order_search),
            ("/api/Order/List", self._order_list),
            ("/api/Order/Statuses", self._order_statuses),
        ]
        self._routes = {path.casefold(): (f"GET {path}", endpoint) for path, endpoint in routes}

    def __call__(self, request: LoopbackRequest) -> LoopbackResponse:
        path = strip_prefix(request.path, self.prefix)
        route = self._routes.get(path.rstrip("/").casefold()) if path is not None else None
        response = self._answer(request, route)
        self.counters.record(route[0] if route else "(no such endpoint)", response.status)
        return response

    def _answer(self, request: LoopbackRequest, route: tuple[str, _Endpoint] | None) -> LoopbackResponse:
        with self.state.lock:
            outage = SYSTEM in self.state.faults.outage
            storm = SYSTEM in self.state.faults.rate_storm
        if outage:
            return _message(503, "The service is unavailable.")
        if storm:
            return _too_many(STORM_RETRY_AFTER)
        params = _Params(request)
        if (request.headers.get("ms-apikey") or params.text("APIKey")) != self._api_key:
            return _message(401, "Authorization has been denied for this request.")
        retry_after = self._limiter.admit()
        if retry_after is not None:
            return _too_many(retry_after)
        if route is None:
            return _message(404, f"No HTTP resource was found that matches the request URI '{request.path}'.")
        if request.method != "GET":
            return _message(405, f"The requested resource does not support http method '{request.method}'.")
        try:
            with self.state.lock:  # the world mutates records in place: read them whole
                body = route[1](params)
        except _BadRequest as exc:
            return _message(400, str(exc))
        return LoopbackResponse(body=body)

    # -- products and stock --------------------------------------------------------------------

    def _stock_levels(self, params: _Params) -> list[dict[str, Any]]:
        rows = list(self.state.wms.stock.values())
        skus = params.text("SKU")
        product_id = params.number("ProductId")
        warehouse_id = params.number("WarehouseId")
        if product_id is not None:
            rows = [stock for stock in rows if stock.product_id == product_id]
        if warehouse_id:
            rows = [stock for stock in rows if stock.warehouse_id == warehouse_id]
        if skus is not None:  # picked before the sort, which is stable: the order is the same, the sort shorter
            wanted = {sku.strip() for sku in skus.split(",")}
            rows = [stock for stock in rows if stock.sku in wanted]
        rows.sort(key=lambda stock: stock.product_id)
        found = rows if skus is not None else params.page(rows)
        return [self._stock(stock, warehouse_id) for stock in found]

    def _stock_updated_since(self, params: _Params) -> list[dict[str, Any]]:
        since = params.required_date("FromDate")
        rows = [stock for stock in self.state.wms.stock.values() if stock.last_updated >= since]
        rows.sort(key=lambda stock: (stock.last_updated, stock.product_id))
        return [self._stock(stock, None) for stock in params.page(rows)]

    def _products(self, params: _Params) -> list[dict[str, Any]]:
        rows = sorted(self.state.wms.stock.values(), key=lambda stock: stock.product_id)
        variants = self.state.shopify.variants
        products = [
            {
                "ID": stock.product_id,
                "SKU": stock.sku,
                "Name": variants[stock.sku].title if stock.sku in variants else stock.sku,
                "LastUpdated": _timestamp(stock.last_updated),
            }
            for stock in params.page(rows)
        ]
        return [self._renamed("stock", product) for product in products]

    def _stock(self, stock: WmsStock, warehouse_id: int | None) -> dict[str, Any]:
        return self._renamed(
            "stock",
            {
                "ProductId": stock.product_id,
                "SKU": stock.sku,
                "WarehouseId": 0 if warehouse_id == 0 else stock.warehouse_id,
                "Level": stock.level,
                "TotalStockLevel": stock.level,
                "PreOrderable": False,
                "Bundle": False,
                "LastUpdated": _timestamp(stock.last_updated),
                "Breakdown": None,
            },
        )

    # -- orders ----------------------------------------------------------------------------------

    def _order_search(self, params: _Params) -> list[dict[str, Any]]:
        number = params.text("OrderNumber")
        if number is None:
            raise _BadRequest("OrderNumber is required.")
        order = self.state.wms.orders.get(number)
        return [self._order(order, items=True)] if order is not None else []

    def _order_list(self, params: _Params) -> list[dict[str, Any]]:
        rows = list(self.state.wms.orders.values())
        changed = params.date("SinceLastUpdated")
        placed = params.date("SinceDate")
        despatched = params.date("SinceDespatchDate")
        status_id = params.number("OrderStatusId")
        if changed is not None:
            rows = [order for order in rows if order.last_updated >= changed]
        if placed is not None:
            rows = [order for order in rows if order.order_date >= placed]
        if despatched is not None:
            rows = [order for order in rows if order.despatch_date and order.despatch_date >= despatched]
        if status_id is not None:
            rows = [order for order in rows if order.order_status_id == status_id]
        rows.sort(key=(lambda order: (order.last_updated, order.id)) if changed else (lambda order: order.id))
        items = (params.text("IncludeOrderItems") or "").casefold() == "true"
        return [self._order(order, items) for order in params.page(rows)]

    def _order_statuses(self, params: _Params) -> list[dict[str, Any]]:
        return [
            {
                "ID": status_id,
                "Name": name,
                "ExternalName": _EXTERNAL_NAMES.get(status_id, name.replace("_", " ").title()),
                "LastUpdated": _timestamp(_STATUSES_SET_UP),
                "LastUpdatedByUser": "system",
            }
            for status_id, name in sorted(MINTSOFT_STATUSES.items())
        ]

    def _order(self, order: WmsOrder, items: bool) -> dict[str, Any]:
        lines = [{"SKU": sku, "Quantity": quantity} for sku, quantity in order.lines]
        return self._renamed(
            "orders",
            {
                "ID": order.id,
                "OrderNumber": order.order_number,
                "ExternalOrderReference": order.external_order_reference,
                "OrderStatusId": order.order_status_id,
                "OrderStatus": MINTSOFT_STATUSES.get(order.order_status_id, "UNKNOWN"),
                "OrderDate": _timestamp(order.order_date),
                "DespatchDate": _timestamp(order.despatch_date),
                "TrackingNumber": order.tracking_number,
                "TrackingURL": None,
                "CourierServiceName": order.courier,
                "WarehouseId": 1,
                "Email": order.email,
                "LastUpdated": _timestamp(order.last_updated),
                "OrderItems": lines if items else None,
            },
        )

    def _renamed(self, entity: str, obj: dict[str, Any]) -> dict[str, Any]:
        rename = self.state.faults.renamed.get((SYSTEM, entity))
        if rename is not None and rename[0] in obj:
            obj[rename[1]] = obj.pop(rename[0])
        return obj


# Mintsoft writes times without an offset (the simulator's are UTC).
_timestamp = wire_format(lambda value: value.strftime("%Y-%m-%dT%H:%M:%S"))


def _message(status: int, message: str) -> LoopbackResponse:
    return LoopbackResponse(status, {"Message": message})


def _too_many(retry_after: int) -> LoopbackResponse:
    return LoopbackResponse(
        429,
        {"Message": f"API rate limit exceeded. Retry in {retry_after} seconds."},
        {"Retry-After": str(retry_after)},
    )
