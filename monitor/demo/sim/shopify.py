"""A Shopify Admin GraphQL API on loopback, answering from the demo world's ``WorldState.shopify``.

``POST /admin/api/{api_version}/graphql.json`` with ``{"query", "variables",
"operationName"}`` and the ``X-Shopify-Access-Token`` header, as Shopify takes it.
Queries are validated against ``shopify_schema.graphql``, a faithful subset of
Shopify's 2026-04 schema (``shopify_objects`` says how the world's records become
Shopify's objects, ``shopify_search`` which ``query:`` syntax is understood), and
run with graphql-core. Parsed and validated documents are cached by their text.

Execution is ``shopify_fast``'s projector: the operation's selections, compiled to
Python once per document, run over the same resolvers and objects, giving
graphql-core's ``data`` without its per-field machinery (and the actual cost on the
way). What it does not handle, or a request where anything goes wrong (a bad cursor,
a null where none is allowed), is run with graphql-core's ``execute_sync`` instead,
so the answer is always graphql-core's.
A cost analysis is kept for the next request with the same page sizes.
``ShopifySimulator(fast=False)`` does neither: every request analysed and run by graphql-core.

Cost and throttling follow Shopify (``shopify_cost`` has the rules): every
executed response carries ``extensions.cost``. An operation whose requested cost
is over 1,000 is refused with ``MAX_COST_EXCEEDED``; otherwise it needs that many
points in a leaky bucket of ``maximum_available`` points refilled at
``restore_rate`` a second on the injected clock. Short of points, the answer is
HTTP 200 with a ``THROTTLED`` error and ``actualQueryCost: null``; else the
requested cost is taken and the difference to the actual cost given back.
Requests Shopify rejects before cost analysis (a syntax, validation or variable
error) carry no ``extensions.cost``, as in the captured traffic.

Faults for system ``"shopify"``: in an ``outage`` every request is a 503 with a
plain body, before anything else; in a ``rate_storm`` every authorised, valid
query is ``THROTTLED`` (reporting an empty bucket). ``renamed`` is ignored here: a GraphQL API does not rename fields under
a client, and schema drift is modelled on the REST-shaped systems.

``usage`` counts what a benchmark needs (requests, THROTTLED answers, points
requested and charged); ``counters`` records statuses like the other simulators.
Not modelled: mutations, ``fulfillmentOrders``, Shopify's exact wording of some
errors (noted where it is ours), API versions other than the one served.
"""

from __future__ import annotations

import functools
import json
import math
import re
import threading
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    VariableDefinitionNode,
    build_schema,
    execute_sync,
    get_named_type,
    get_operation_ast,
    parse,
    print_ast,
    validate,
)
from graphql.execution.values import get_variable_values
from graphql.utilities import type_from_ast

from monitor.clock import Clock
from monitor.demo.sim.ratelimits import TrafficCounters
from monitor.demo.sim.router import strip_prefix
from monitor.demo.sim.shopify_cost import CostAnalysis, analyse, variables_read
from monitor.demo.sim.shopify_fast import Plan, Unfit, compile_plan, project
from monitor.demo.sim.shopify_resolvers import Resolvers
from monitor.demo.state import WorldState
from monitor.loopback import LoopbackRequest, LoopbackResponse

__all__ = ["ShopifySimulator", "ShopifyUsage", "shopify_schema", "MAX_QUERY_COST", "THROTTLE_DOCUMENTATION"]

SYSTEM = "shopify"
MAX_QUERY_COST = 1000
THROTTLE_DOCUMENTATION = "https://shopify.dev/api/usage/rate-limits"
_INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
_MISSING_QUERY = {"errors": {"query": "Required parameter missing or invalid"}}
_ONE_OF = frozenset({"CustomerIdentifierInput"})  # input types taking exactly one field
_CACHED_DOCUMENTS = 512
_CACHED_ANALYSES = 64  # per document
_ABSENT = object()  # a variable not sent
# orjson hands these to ``default`` (there is none, so it refuses them) rather than writing them itself.
_ORJSON_STRICT = (
    orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS
)
# graphql-core's lead-in to a variable error (3.2 and 3.3 word it differently); Shopify gives the rest.
_PREAMBLE = re.compile(r"^Variable '\$\w+' (got invalid value .*?; |has invalid value: )")


@functools.cache
def shopify_schema() -> GraphQLSchema:
    """The simulator's schema, built once per process from the packaged SDL."""
    sdl = resources.files(__package__).joinpath("shopify_schema.graphql").read_text(encoding="utf-8")
    return build_schema(sdl)


@dataclass
class ShopifyUsage:
    """What the simulator was asked and charged; the numbers only grow."""

    requests: int = 0  # every HTTP request, whatever the answer
    queries: int = 0  # operations executed
    throttled: int = 0  # THROTTLED answers: an empty bucket or a rate storm
    max_cost_exceeded: int = 0
    points_requested: int = 0  # requestedQueryCost of the operations executed
    points_charged: int = 0  # their actualQueryCost: what stayed out of the bucket


@dataclass(frozen=True)
class _Prepared:
    document: DocumentNode | None
    errors: list[dict[str, Any]]
    fragments: dict[str, FragmentDefinitionNode] = field(default_factory=dict)
    plans: dict[int, Plan | None] = field(default_factory=dict)  # by id(operation); None: graphql-core's
    # Cost analyses by operation and the values of the variables they read (see _analyse).
    analyses: dict[tuple[int, tuple[Any, ...]], CostAnalysis] = field(default_factory=dict)
    reads: tuple[str, ...] = ()  # the variables analyses read


class _Bucket:
    """Shopify's leaky bucket: ``maximum`` points, ``rate`` points a second back, on the clock."""

    def __init__(self, clock: Clock, maximum: float, rate: float) -> None:
        self.clock = clock
        self.maximum = maximum
        self.rate = rate
        self.available = float(maximum)
        self._at: float | None = None

    def refill(self) -> float:
        now = self.clock.now().timestamp()
        if self._at is not None and now > self._at:
            self.available = min(float(self.maximum), self.available + (now - self._at) * self.rate)
        if self._at is None or now > self._at:
            self._at = now
        return self.available


class ShopifySimulator:
    """A LoopbackServer handler for the Shopify Admin GraphQL API; see the module docstring.

    ``prefix`` is the path it is mounted under (``/shopify`` behind a ``Router``).
    """

    system = SYSTEM

    def __init__(
        self,
        state: WorldState,
        clock: Clock,
        *,
        access_token: str,
        maximum_available: float = 2000,
        restore_rate: float = 100.0,
        api_version: str = "2026-04",
        prefix: str = "",
        fast: bool = True,
    ) -> None:
        self.state = state
        self.prefix = prefix
        self.api_version = api_version
        self.usage = ShopifyUsage()
        self.counters = TrafficCounters()
        self._clock = clock
        self._access_token = access_token
        self._bucket = _Bucket(clock, maximum_available, restore_rate)
        self._lock = threading.RLock()  # answers are built while holding it
        self._documents: dict[str, _Prepared] = {}
        self._path = f"/admin/api/{api_version}/graphql.json"
        self._fast = fast
        # Operations executed, by executor: "projected" (shopify_fast) or "graphql-core".
        self.executions: dict[str, int] = {"projected": 0, "graphql-core": 0}

    @property
    def available(self) -> float:
        """The points in the bucket now."""
        with self._lock:
            return self._bucket.refill()

    def __call__(self, request: LoopbackRequest) -> LoopbackResponse:
        path = strip_prefix(request.path, self.prefix)
        with self._lock:
            self.usage.requests += 1
        response = self._answer(request, path)
        self.counters.record(f"POST {self._path}" if path == self._path else "(no such endpoint)", response.status)
        return response

    def _answer(self, request: LoopbackRequest, path: str | None) -> LoopbackResponse:
        with self.state.lock:
            outage = SYSTEM in self.state.faults.outage
            storm = SYSTEM in self.state.faults.rate_storm
        if outage:
            return LoopbackResponse(503, b"Service Unavailable", {"Content-Type": "text/plain; charset=utf-8"})
        if path != self._path:
            return self._json(404, {"errors": "Not Found"})
        if request.method != "POST":
            return self._json(405, {"errors": "Method Not Allowed"})
        if request.headers.get("x-shopify-access-token") != self._access_token:
            return self._json(401, {"errors": _INVALID_TOKEN})
        try:
            payload = request.json()
        except ValueError:
            return self._json(400, _MISSING_QUERY)
        query = payload.get("query") if isinstance(payload, dict) else None
        variables = payload.get("variables") if isinstance(payload, dict) else None
        if isinstance(variables, str):  # some clients send the variables JSON-encoded
            try:
                variables = json.loads(variables) if variables.strip() else None
            except ValueError:
                variables = []
        if not isinstance(query, str) or not query.strip() or not isinstance(variables, dict | None):
            return self._json(400, _MISSING_QUERY)
        operation_name = payload.get("operationName") or None
        return self._json(200, self._run(query, variables or {}, operation_name, storm))

    def _run(self, query: str, variables: dict[str, Any], operation_name: str | None, storm: bool) -> dict[str, Any]:
        prepared = self._prepare(query)
        if prepared.document is None:
            return {"errors": prepared.errors}
        operation = get_operation_ast(prepared.document, operation_name)
        if operation is None:
            wanted = f'No operation named "{operation_name}"' if operation_name else "An operation name is required"
            return {"errors": [{"message": wanted}]}
        problems, coerced = _variable_problems(operation, variables)
        if problems:
            return {"errors": problems}
        schema = shopify_schema()
        assert schema.query_type is not None
        analysis = self._analyse(prepared, operation, variables)
        requested = analysis.requested
        if storm:
            return self._throttled(requested, 0.0)
        if analysis.problems:
            return {"errors": [error.formatted for error in analysis.problems], **self._refused(requested)}
        if requested > MAX_QUERY_COST:
            with self._lock:
                self.usage.max_cost_exceeded += 1
            return {
                "errors": [
                    {
                        "message": f"Query cost is {requested}, which exceeds the single query max cost limit "
                        f"({MAX_QUERY_COST}).\n\nSee {THROTTLE_DOCUMENTATION} for more information on how the "
                        "cost of a query is calculated.\n\nTo query larger amounts of data with fewer limits, "
                        "bulk operations should be used instead.",
                        "extensions": {
                            "code": "MAX_COST_EXCEEDED",
                            "cost": requested,
                            "maxCost": MAX_QUERY_COST,
                            "documentation": THROTTLE_DOCUMENTATION,
                        },
                    }
                ],
                **self._refused(requested),
            }
        with self._lock:
            level = self._bucket.refill()
            if requested > level:
                return self._throttled(requested, level)
            self._bucket.available -= requested
        now = self._clock.now()
        plan = self._plan(prepared, operation) if self._fast and coerced is not None else None
        resolvers = Resolvers(self.state.shopify, now)
        with self.state.lock:  # the world changes records in place: read them whole
            projected = project(plan, resolvers.root(), coerced, analysis) if plan is not None else None
            if projected is None:
                resolvers = Resolvers(self.state.shopify, now)  # none of the projector's search warnings
                result = execute_sync(
                    schema,
                    prepared.document,
                    root_value=resolvers.root(),
                    variable_values=variables,
                    operation_name=operation_name,
                )
        data: dict[str, Any] | None
        errors: list[GraphQLError] | None
        if projected is not None:
            data, errors, spent = projected[0], None, projected[1]
        else:
            data, errors, spent = result.data, result.errors, analysis.actual(result.data)
        actual = min(requested, spent)
        with self._lock:
            self._bucket.refill()
            self._bucket.available = min(float(self._bucket.maximum), self._bucket.available + requested - actual)
            self.usage.queries += 1
            self.usage.points_requested += requested
            self.usage.points_charged += actual
            self.executions["projected" if projected is not None else "graphql-core"] += 1
            cost = self._cost(requested, actual, self._bucket.available)
        body: dict[str, Any] = {}
        if errors:
            body["errors"] = [error.formatted for error in errors]
        body["data"] = data
        extensions: dict[str, Any] = {}
        if resolvers.search:
            extensions["search"] = resolvers.search
        extensions["cost"] = cost
        body["extensions"] = extensions
        return body

    def _analyse(
        self, prepared: _Prepared, operation: OperationDefinitionNode, variables: dict[str, Any]
    ) -> CostAnalysis:
        """``analyse``'s answer, kept for the next request with the same values of the variables it reads
        (page sizes, directive conditions): a lookup of 25 customers need not be costed 25 aliases at a time."""
        schema = shopify_schema()
        assert schema.query_type is not None
        if not self._fast:
            return analyse(schema.query_type, operation, prepared.fragments, variables)
        # Typed: 1 and 1.0 (and True) are equal keys, but not the same page size to the rules.
        values = tuple((type(value), value) for value in (variables.get(name, _ABSENT) for name in prepared.reads))
        key = (id(operation), values)
        try:
            cached = prepared.analyses.get(key)
        except TypeError:  # a list or an object: not a key, so not kept
            return analyse(schema.query_type, operation, prepared.fragments, variables)
        if cached is None:
            cached = analyse(schema.query_type, operation, prepared.fragments, variables)
            if len(prepared.analyses) >= _CACHED_ANALYSES:
                prepared.analyses.clear()
            prepared.analyses[key] = cached
        return cached

    def _plan(self, prepared: _Prepared, operation: OperationDefinitionNode) -> Plan | None:
        """The projector's plan for ``operation`` (compiled once per document), or None: graphql-core's."""
        key = id(operation)
        if key in prepared.plans:
            return prepared.plans[key]
        try:
            plan: Plan | None = compile_plan(shopify_schema(), operation, prepared.fragments)
        except Unfit:
            plan = None
        prepared.plans[key] = plan
        return plan

    def _prepare(self, query: str) -> _Prepared:
        prepared = self._documents.get(query)
        if prepared is not None:
            return prepared
        try:
            document = parse(query)
        except GraphQLError as error:
            prepared = _Prepared(None, [dict(error.formatted)])
        else:
            errors = validate(shopify_schema(), document)
            fragments = {
                definition.name.value: definition
                for definition in document.definitions
                if isinstance(definition, FragmentDefinitionNode)
            }
            prepared = _Prepared(
                None if errors else document,
                [dict(error.formatted) for error in errors],
                fragments,
                reads=variables_read(
                    d for d in document.definitions if isinstance(d, OperationDefinitionNode | FragmentDefinitionNode)
                ),
            )
        if len(self._documents) >= _CACHED_DOCUMENTS:  # a client generating queries: start again
            self._documents.clear()
        self._documents[query] = prepared
        return prepared

    # -- answers ------------------------------------------------------------------------------------

    def _cost(self, requested: int, actual: int | None, available: float) -> dict[str, Any]:
        return {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": {
                "maximumAvailable": _number(self._bucket.maximum),
                "currentlyAvailable": math.floor(available),
                "restoreRate": _number(self._bucket.rate),
            },
        }

    def _refused(self, requested: int) -> dict[str, Any]:
        """The cost extension of a query refused before it ran: nothing was charged."""
        with self._lock:
            return {"extensions": {"cost": self._cost(requested, None, self._bucket.refill())}}

    def _throttled(self, requested: int, available: float) -> dict[str, Any]:
        with self._lock:
            self.usage.throttled += 1
        return {
            "errors": [
                {
                    "message": "Throttled",
                    "extensions": {"code": "THROTTLED", "documentation": THROTTLE_DOCUMENTATION},
                }
            ],
            "extensions": {"cost": self._cost(requested, None, available)},
        }

    def _json(self, status: int, body: Any) -> LoopbackResponse:
        headers = {"Content-Type": "application/json; charset=utf-8", "X-Shopify-API-Version": self.api_version}
        return LoopbackResponse(status, _encode(body), headers)


def _encode(body: dict[str, Any]) -> bytes:
    """The body as JSON: an executed query's answer (output-coerced values, or ours) by orjson; the rest,
    which may echo what the client sent (a NaN, a huge integer), and what orjson would write differently
    or refuses (a datetime, a subclass of a built-in type), by the standard library."""
    if "data" in body:
        try:
            return orjson.dumps(body, option=_ORJSON_STRICT)
        except orjson.JSONEncodeError:
            pass
    return json.dumps(body).encode()


def _number(value: float) -> float | int:
    """2000, not 2000.0, as Shopify prints whole numbers."""
    return int(value) if float(value).is_integer() else value


def _variable_problems(
    operation: OperationDefinitionNode, variables: dict[str, Any]
) -> tuple[list[dict[str, Any]], Any]:
    """Variables that do not fit their declared types, in Shopify's ``INVALID_VARIABLE`` shape, and
    the coerced values (as ``get_variable_values`` gives them) when there are none."""
    schema = shopify_schema()
    definitions = operation.variable_definitions or ()
    errors = get_variable_values(schema, definitions, variables, max_errors=50)
    problems: list[tuple[VariableDefinitionNode, str]] = []
    if isinstance(errors, list):
        for error in errors:
            node = error.nodes[0] if error.nodes else None
            if isinstance(node, VariableDefinitionNode):
                explanation = _PREAMBLE.sub("", error.message)
                problems.append((node, explanation))
    else:
        for definition in definitions:
            type_ = type_from_ast(schema, definition.type)
            value = variables.get(definition.variable.name.value)
            if type_ is not None and get_named_type(type_).name in _ONE_OF and isinstance(value, dict):
                given = sum(1 for item in value.values() if item is not None)
                if given != 1:
                    name = get_named_type(type_).name
                    problems.append((definition, f"'{name}' requires exactly one argument, but {given} were provided."))
    shaped = []
    for definition, explanation in problems:
        name = definition.variable.name.value
        located = GraphQLError("", nodes=definition).locations or []
        shaped.append(
            {
                "message": f"Variable ${name} of type {print_ast(definition.type)} was provided invalid value",
                "locations": [{"line": at.line, "column": at.column} for at in located],
                "extensions": {
                    "code": "INVALID_VARIABLE",
                    "value": variables.get(name),
                    "problems": [{"path": [], "explanation": explanation}],
                },
            }
        )
    return shaped, None if isinstance(errors, list) else errors
