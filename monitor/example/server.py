"""HTTP faces of the example world: a shop (plain JSON REST) and a CRM shaped like Klaviyo.

Each endpoint paginates in a different common style (page numbers, Link header,
cursor in the body, next URL in the body) so the example exercises the generic
``http`` connector the way real APIs do. Credentials are checked; a wrong one
is a 401, as it would be for real.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from monitor.example.world import World
from monitor.loopback import LoopbackRequest, LoopbackResponse
from probes.timestamps import parse_timestamp

__all__ = ["ExampleApi", "SHOP_TOKEN", "CRM_KEY"]

SHOP_TOKEN = "example-shop-token"
CRM_KEY = "pk_example_crm_key"
_FILTER_ANY = re.compile(r"^any\(email,\[(.*)\]\)$")
_FILTER_EQ = re.compile(r"^equals\(email,'(.*)'\)$")
_FILTER_UPDATED = re.compile(r"^greater-than\(updated,([^)]+)\)$")


class ExampleApi:
    """A LoopbackServer handler serving ``/shop/...`` and ``/crm/api/...`` from a World."""

    def __init__(self, world: World, shop_token: str = SHOP_TOKEN, crm_key: str = CRM_KEY) -> None:
        self.world = world
        self._shop_token = shop_token
        self._crm_key = crm_key
        self.base_url = ""  # set by the caller once the server's port is known (for next links)
        self._routes: dict[str, Callable[[LoopbackRequest], LoopbackResponse]] = {
            "/shop/inventory": self._inventory,
            "/shop/orders": self._orders,
            "/shop/customers": self._customers,
            "/crm/api/profiles": self._profiles,
        }

    def __call__(self, request: LoopbackRequest) -> LoopbackResponse:
        route = self._routes.get(request.path)
        if route is None:
            return LoopbackResponse(404, {"error": "not found"})
        if request.path.startswith("/shop/") and request.headers.get("x-shop-token") != self._shop_token:
            return LoopbackResponse(401, {"error": "invalid token"})
        if request.path.startswith("/crm/"):
            if request.headers.get("authorization") != f"Klaviyo-API-Key {self._crm_key}":
                return LoopbackResponse(401, {"errors": [{"code": "not_authenticated"}]})
            if not request.headers.get("revision"):
                return LoopbackResponse(400, {"errors": [{"code": "missing_revision"}]})
        return route(request)

    # -- shop -------------------------------------------------------------------------------------

    def _inventory(self, request: LoopbackRequest) -> LoopbackResponse:
        """``?sku=A,B`` lookup; otherwise a listing (``?updated_since=``) paged by ``page``/``limit``."""
        rows = list(self.world.inventory.values())
        if request.param("sku") is not None:
            wanted = set((request.param("sku") or "").split(","))
            return LoopbackResponse(body={"inventory": [r for r in rows if r["sku"] in wanted]})
        rows = _since(rows, request.param("updated_since"), "updated_at")
        page, limit = int(request.param("page") or 1), min(100, int(request.param("limit") or 50))
        return LoopbackResponse(body={"inventory": rows[(page - 1) * limit : page * limit]})

    def _orders(self, request: LoopbackRequest) -> LoopbackResponse:
        """``?name=#1001,#1002`` lookup; otherwise a listing paged with a Link header."""
        rows = list(self.world.orders.values())
        if request.param("name") is not None:
            wanted = set((request.param("name") or "").split(","))
            return LoopbackResponse(body={"orders": [r for r in rows if r["name"] in wanted]})
        since = request.param("updated_since")
        rows = _since(rows, since, "updated_at")
        offset = int(request.param("offset") or 0)
        page = rows[offset : offset + 50]
        headers = {}
        if offset + 50 < len(rows):
            query = {"offset": offset + 50, **({"updated_since": since} if since else {})}
            headers["Link"] = f'<{self.base_url}/shop/orders?{urlencode(query)}>; rel="next"'
        return LoopbackResponse(body={"orders": page}, headers=headers)

    def _customers(self, request: LoopbackRequest) -> LoopbackResponse:
        """``?email=a,b`` lookup; otherwise a listing with the next cursor in the body."""
        rows = list(self.world.customers.values())
        if request.param("email") is not None:
            wanted = {e.casefold() for e in (request.param("email") or "").split(",")}
            return LoopbackResponse(body={"customers": [r for r in rows if r["email"].casefold() in wanted]})
        rows = _since(rows, request.param("updated_since"), "updated_at")
        start = int(request.param("cursor") or 0)
        nxt = start + 40 if start + 40 < len(rows) else None
        return LoopbackResponse(body={"customers": rows[start : start + 40], "next_cursor": nxt})

    # -- CRM (Klaviyo's profiles API shape) ----------------------------------------------------------

    def _profiles(self, request: LoopbackRequest) -> LoopbackResponse:
        rows = self.world.profiles
        flt = request.param("filter") or ""
        if match := _FILTER_ANY.match(flt):
            wanted = {e.strip().strip("'").casefold() for e in match.group(1).split(",")}
            rows = [p for p in rows if p["attributes"]["email"].casefold() in wanted]
        elif match := _FILTER_EQ.match(flt):
            rows = [p for p in rows if p["attributes"]["email"].casefold() == match.group(1).casefold()]
        elif match := _FILTER_UPDATED.match(flt):
            since = parse_timestamp(match.group(1))
            rows = [p for p in rows if parse_timestamp(p["attributes"]["updated"]) > since]
        elif flt:
            return LoopbackResponse(400, {"errors": [{"code": "invalid", "detail": "unsupported filter"}]})
        size = min(100, int(request.param("page[size]") or 20))
        start = int(request.param("page[cursor]") or 0)
        nxt = None
        if start + size < len(rows):
            query = {"page[cursor]": start + size, "page[size]": size, **({"filter": flt} if flt else {})}
            nxt = f"{self.base_url}/crm/api/profiles?{urlencode(query)}"
        return LoopbackResponse(body={"data": rows[start : start + size], "links": {"next": nxt}})


def _since(rows: list[dict[str, Any]], since: str | None, field: str) -> list[dict[str, Any]]:
    if not since:
        return rows
    cutoff: datetime = parse_timestamp(since)
    return [r for r in rows if parse_timestamp(r[field]) >= cutoff]
