"""The ``shopify`` connector kind: inventory, orders and customers from the Shopify Admin GraphQL API.

Each entity has a ``type`` with fixed fields (``ShopifyEntityConfig``) read by
fixed queries (``probes.shopify_queries``): variants by SKU, orders by name,
customers by email, and for every type the keys changed since a time or all
of them. Queries are sent to ``POST {shop_url}/admin/api/{api_version}/graphql.json``
with the ``X-Shopify-Access-Token`` header, paced to ``api_share`` of the
shop's query-cost budget (``probes.shopify_budget``) and retried, with
errors translated, by the ``Exchange`` the ``http`` kind uses too.

What fails how: ``THROTTLED`` (HTTP 200 or 429) is waited out as the response's
throttle status says and retried within ``retries.attempts``, then
``RateLimited``; ``MAX_COST_EXCEEDED`` is ``QueryError`` at once (our batch
sizing is wrong); ``ACCESS_DENIED`` is ``AuthError`` (a missing scope);
``INTERNAL_SERVER_ERROR`` is retried like a 5xx; any other GraphQL error is a
``QueryError`` naming its codes only: messages may quote the search, and
searches hold customers' emails. Nothing here logs variables or the token.
"""

from __future__ import annotations

import json
import logging
import random
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, NoReturn

import httpx

from monitor import __version__
from monitor.errors import (
    AuthError,
    ConnectorUnavailable,
    MalformedResponse,
    QueryError,
    RateLimited,
)
from monitor.results import ConnectorUsage
from probes.base import ConnectorContext, EntityQuery, KeyListCache, Record
from probes.http_fetch import Exchange, Transient, retry_after_seconds
from probes.shopify_budget import CostBudget, CostReport
from probes.shopify_config import ShopifyEntityConfig, ShopifySystemConfig
from probes.shopify_queries import (
    CUSTOMER_ALIASES,
    KEY_FIELD,
    PAGE_LIMIT,
    EntityType,
    GraphQLRequest,
    customer_fields,
    customers_request,
    inventory_fields,
    keys_request,
    keys_shape,
    lookup_request,
    lookup_shape,
    name_search,
    order_fields,
    sku_search,
    updated_since_search,
)
from probes.timestamps import parse_timestamp

__all__ = ["ShopifyConnector", "ShopifySystemConfig", "ShopifyEntityConfig"]

logger = logging.getLogger(__name__)

# Shopify pages through at most 25,000 objects of a connection: 100 pages of 250.
MAX_PAGES = 100


class ShopifyConnector:
    """Reads the entities of one shop; see the module docstring."""

    def __init__(
        self, system: str, config: ShopifySystemConfig, ctx: ConnectorContext, client: httpx.Client
    ) -> None:
        self.system = system
        self.config = config
        self._exchange = Exchange.for_config(system, config, ctx, client, url_setting="shop_url")
        self.budget = CostBudget(config.api_share, config.restore_rate, monotonic=ctx.monotonic, sleep=ctx.sleep)
        self._listings = KeyListCache(config.list_cache, ctx.monotonic)
        self._endpoint = httpx.URL(config.endpoint())

    @classmethod
    def open(cls, system: str, config: ShopifySystemConfig, ctx: ConnectorContext) -> ShopifyConnector:
        headers = {
            "Accept": "application/json",
            "User-Agent": f"syncwatch/{__version__}",
            "X-Shopify-Access-Token": config.access_token.get_secret_value(),
        }
        client = httpx.Client(
            headers=headers,
            timeout=config.timeout.total_seconds(),
            transport=ctx.http_transport(),
            follow_redirects=False,  # a redirect elsewhere would carry the token
        )
        return cls(system, config, ctx, client)

    # -- the Connector protocol ------------------------------------------------------------

    def read(self, query: EntityQuery, keys: Sequence[str]) -> list[Record]:
        entity = self._entity(query)
        wanted = [key for key in dict.fromkeys(str(key) for key in keys) if key]
        if entity.type == "customers":
            return self._read_customers(query, wanted)
        at_location = entity.location_id is not None
        size = min(self.config.batch_size, lookup_shape(entity.type, at_location).largest(self._max_cost, PAGE_LIMIT))
        # The engine normalises case itself: drop only records for keys we did not ask for
        # (Shopify's search may match more than the exact values).
        asked = {key.casefold() for key in wanted}
        records: list[Record] = []
        for start in range(0, len(wanted), size):
            batch = wanted[start : start + size]
            build = self._lookup_builder(entity, batch, size)
            label = f"{query.entity} lookup ({build(None).operation})"
            for nodes in self._pages(label, _ROOT[entity.type], build):
                for node in nodes:
                    if entity.type == "inventory":
                        fields = inventory_fields(node, at_location)
                    else:
                        fields = order_fields(node)
                    key = fields.get(KEY_FIELD[entity.type])
                    if isinstance(key, str) and key.casefold() in asked:
                        records.append(_record(query, key, fields))
        return records

    def changed_since(self, query: EntityQuery, since: datetime, limit: int) -> list[str]:
        entity = self._entity(query)
        if limit <= 0:
            return []
        search = updated_since_search(since)
        page = keys_shape(entity.type).largest(self._max_cost, PAGE_LIMIT)
        keys: dict[str, None] = {}

        def build(after: str | None) -> GraphQLRequest:
            # Ask for no more than are still wanted: a smaller page costs fewer points.
            return keys_request(entity.type, search, min(page, limit - len(keys)), after)

        label = f"{query.entity} changed ({build(None).operation})"
        for nodes in self._pages(label, _ROOT[entity.type], build):
            for key in _keys(entity.type, nodes):
                keys[key] = None
                if len(keys) >= limit:
                    return list(keys)
        return list(keys)

    def sample_keys(self, query: EntityQuery, size: int, rng: random.Random) -> list[str]:
        """A uniform sample of the keys the listing shows: every page is read (up to
        Shopify's 25,000-object pagination limit), then ``rng`` draws from them all."""
        entity = self._entity(query)
        if size <= 0:
            return []
        page = keys_shape(entity.type).largest(self._max_cost, PAGE_LIMIT)

        def build(after: str | None) -> GraphQLRequest:
            return keys_request(entity.type, None, page, after)

        population = self._listings.get(query.entity)
        if population is None:
            label = f"{query.entity} list ({build(None).operation})"
            keys: dict[str, None] = {}
            for nodes in self._pages(label, _ROOT[entity.type], build):
                keys.update((key, None) for key in _keys(entity.type, nodes))
            population = self._listings.put(query.entity, list(keys))
        return rng.sample(population, min(size, len(population)))

    def usage(self) -> ConnectorUsage:
        return self._exchange.usage()

    def reset_usage(self) -> None:
        self._exchange.reset_usage()

    def close(self) -> None:
        self._exchange.close()

    def __enter__(self) -> ShopifyConnector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- lookups -----------------------------------------------------------------------------

    @property
    def _max_cost(self) -> int:
        return self.config.max_cost_per_query

    def _lookup_builder(
        self, entity: ShopifyEntityConfig, batch: list[str], size: int
    ) -> Callable[[str | None], GraphQLRequest]:
        """Pages of the records for ``batch``: as many as keys first, then full pages (more
        records than keys are duplicates, or search matches to drop)."""
        search = sku_search(batch) if entity.type == "inventory" else name_search(batch)

        def build(after: str | None) -> GraphQLRequest:
            first = len(batch) if after is None else size
            if entity.type == "inventory":
                return lookup_request("inventory", search, first, after, entity.location_id)
            return lookup_request("orders", search, first, after)

        return build

    def _read_customers(self, query: EntityQuery, wanted: list[str]) -> list[Record]:
        shape = lookup_shape("customers")
        size = min(self.config.batch_size, CUSTOMER_ALIASES, shape.largest(self._max_cost, PAGE_LIMIT))
        label = f"{query.entity} lookup (CustomersByEmail)"
        records: list[Record] = []
        for start in range(0, len(wanted), size):
            batch = wanted[start : start + size]
            data = self._call(label, customers_request(batch))
            for i, asked in enumerate(batch):
                customer = data.get(f"c{i}")
                if customer is None:
                    continue  # no customer with that email
                if not isinstance(customer, dict):
                    raise MalformedResponse(f"{label}: c{i} is not an object", system=self.system)
                fields = customer_fields(customer)
                # Found by this email: it is the key even if the default address reads otherwise.
                fields["email"] = fields["email"] or asked
                records.append(_record(query, fields["email"], fields))
        return records

    # -- queries -----------------------------------------------------------------------------

    def _entity(self, query: EntityQuery) -> ShopifyEntityConfig:
        entity = self.config.entities.get(query.entity)
        if entity is None:
            known = ", ".join(sorted(self.config.entities)) or "(none)"
            raise QueryError(f"no entity {query.entity!r}; configured: {known}", system=self.system)
        key = KEY_FIELD[entity.type]
        if query.key != key:
            raise QueryError(
                f"{query.entity}: Shopify {entity.type} are keyed by {key!r}, not {query.key!r}", system=self.system
            )
        return entity

    def _pages(
        self, label: str, root: str, build: Callable[[str | None], GraphQLRequest]
    ) -> Iterator[list[Mapping[str, Any]]]:
        """The nodes of each page of connection ``root``; a caller that stops early pays for no more."""
        after: str | None = None
        for _ in range(MAX_PAGES):
            data = self._call(label, build(after))
            connection = data.get(root)
            nodes = connection.get("nodes") if isinstance(connection, dict) else None
            if not isinstance(connection, dict) or not isinstance(nodes, list):
                raise MalformedResponse(f"{label}: no {root} nodes in the response", system=self.system)
            yield [node for node in nodes if isinstance(node, dict)]
            info = connection.get("pageInfo")
            if not isinstance(info, dict) or not info.get("hasNextPage"):
                return
            after = info.get("endCursor")
            if not isinstance(after, str) or not after:
                raise MalformedResponse(f"{label}: a next page without an endCursor", system=self.system)
        logger.warning("%s: %s: stopped after %d pages; later ones are not read", self.system, label, MAX_PAGES)

    def _call(self, label: str, request: GraphQLRequest) -> Mapping[str, Any]:
        """The ``data`` of ``request``'s answer, paced, retried and translated."""
        return self._exchange.run(lambda attempt: self._attempt(label, request, attempt))

    def _attempt(self, label: str, request: GraphQLRequest, attempt: int) -> Mapping[str, Any]:
        reserved, waited = self.budget.before(self.budget.expected(request.shape, request.cost))
        self._exchange.add_wait(waited)

        def check(response: httpx.Response) -> bool:
            if response.status_code != 429:  # a 429's body says how long to wait
                self._exchange.check_status(response, label, attempt)
            return True

        response, raw = self._exchange.send(
            label, "POST", self._endpoint, attempt=attempt, check=check, json_body=request.body()
        )
        try:
            body = json.loads(raw or b"")
        except ValueError as exc:
            if response.status_code == 429:
                self.budget.refund(reserved)
                wait = retry_after_seconds(response)
                self._exchange.raise_transient(RateLimited, f"{label}: HTTP 429", wait, attempt)
            reason = f"{label}: response is not valid JSON (malformed or cut short)"
            raise Transient(MalformedResponse, reason) from exc
        report = CostReport.from_body(body)
        if report is None and response.status_code == 429:
            self.budget.refund(reserved)
        self._exchange.add_cost(self.budget.after(request.shape, reserved, report))
        if not isinstance(body, dict):
            raise MalformedResponse(f"{label}: the response is not a JSON object", system=self.system)
        codes = _error_codes(body.get("errors"))
        if "THROTTLED" in codes or response.status_code == 429:
            wait = self.budget.throttle_wait(report)
            wait = retry_after_seconds(response) if wait is None else wait
            self._exchange.raise_transient(RateLimited, f"{label}: throttled by Shopify", wait, attempt)
        if codes:
            self._refuse(label, codes, report, attempt)
        data = body.get("data")
        if not isinstance(data, dict):
            raise MalformedResponse(f"{label}: no data in the response", system=self.system)
        return data

    def _refuse(self, label: str, codes: list[str], report: CostReport | None, attempt: int) -> NoReturn:
        said = f"{label}: GraphQL error {', '.join(codes)}"
        if "MAX_COST_EXCEEDED" in codes:
            requested = f" (requested {report.requested:g} points)" if report and report.requested else ""
            raise QueryError(
                f"{said}{requested}: the query is over Shopify's per-query limit; "
                "syncwatch sized it wrong (a bug; lowering max_cost_per_query works around it)",
                system=self.system,
                attempts=attempt,
            )
        if "ACCESS_DENIED" in codes:
            raise AuthError(
                f"{said}; the access token lacks a scope this query needs "
                "(read_products, read_inventory, read_orders, read_customers)",
                system=self.system,
                attempts=attempt,
            )
        if "INTERNAL_SERVER_ERROR" in codes:
            raise Transient(ConnectorUnavailable, said)
        raise QueryError(said, system=self.system, attempts=attempt)


_ROOT: Mapping[EntityType, str] = {"inventory": "productVariants", "orders": "orders", "customers": "customers"}

_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")


def _error_codes(errors: Any) -> list[str]:
    """The distinct codes of GraphQL ``errors``, in order. Codes only: messages may quote customer data."""
    if not errors:
        return []
    if not isinstance(errors, list):
        return ["NO_CODE"]  # e.g. {"errors": "Not Found"}
    codes: dict[str, None] = {}
    for error in errors:
        extensions = error.get("extensions") if isinstance(error, dict) else None
        code = extensions.get("code") if isinstance(extensions, dict) else None
        if isinstance(code, str) and _CODE.fullmatch(code):
            codes[code] = None
        elif isinstance(error, dict) and error.get("message") == "Throttled":
            codes["THROTTLED"] = None
        else:
            codes["NO_CODE"] = None
    return list(codes)


def _keys(entity_type: EntityType, nodes: list[Mapping[str, Any]]) -> Iterator[str]:
    for node in nodes:
        if entity_type == "customers":
            email = node.get("defaultEmailAddress")
            key = email.get("emailAddress") if isinstance(email, dict) else None
        else:
            key = node.get(KEY_FIELD[entity_type])
        if isinstance(key, str) and key:
            yield key  # a variant without a SKU or a customer without an email cannot be matched


def _record(query: EntityQuery, key: str, flat: Mapping[str, Any]) -> Record:
    """The fields ``query`` asks for; one the record lacks is None and ``absent`` in ``problems``."""
    fields: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name in query.fields:
        if name not in flat:
            problems[name] = "absent"
        fields[name] = flat.get(name)
    updated_at = None
    if query.updated_at is not None:
        value = flat.get(query.updated_at)
        if query.updated_at not in flat:
            problems[query.updated_at] = "absent"
        elif value is None:
            problems[query.updated_at] = "empty"
        else:
            try:
                updated_at = parse_timestamp(value)
            except ValueError as exc:
                problems[query.updated_at] = str(exc)
    return Record(key=key, fields=fields, updated_at=updated_at, problems=problems)
