"""The ``http`` connector against a real loopback server (and httpx.MockTransport where cleaner).

Back-off and rate limiting run on a fake clock passed through ``ConnectorContext``:
no test sleeps. The one real wait is the timeout test's 0.2s client timeout.
"""

from __future__ import annotations

import base64
import json
import random
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from monitor.errors import (
    AuthError,
    ConnectorError,
    ConnectorTimeout,
    ConnectorUnavailable,
    MalformedResponse,
    QueryError,
    RateLimited,
    ResponseTooLarge,
)
from monitor.loopback import LoopbackRequest, LoopbackResponse, LoopbackServer
from probes.base import Connector, ConnectorContext, EntityQuery
from probes.http import HttpConnector, HttpSystemConfig
from probes.paths import MISSING, JsonPath, get_path
from tests.support import FakeClock

STOCK = EntityQuery("stock", "sku", ("available",), "last_updated")
ROWS = [
    {"SKU": f"SKU-{i:04d}", "Level": i, "LastUpdated": f"2024-05-01T10:{i % 60:02d}:00Z"} for i in range(1000)
]
BY_SKU = {row["SKU"]: row for row in ROWS}




@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[LoopbackRequest], LoopbackResponse]], LoopbackServer]]:
    servers: list[LoopbackServer] = []

    def start(handler: Callable[[LoopbackRequest], LoopbackResponse]) -> LoopbackServer:
        servers.append(LoopbackServer(handler))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture(scope="session")
def tls() -> ssl.SSLContext:
    # Building httpx's default TLS context takes ~30ms; one for the session keeps the suite quick.
    return ssl.create_default_context()


@pytest.fixture
def connect(clock: FakeClock, tls: ssl.SSLContext) -> Iterator[Callable[..., HttpConnector]]:
    opened: list[HttpConnector] = []

    def build(base_url: str, transport: httpx.BaseTransport | None = None, **overrides: Any) -> HttpConnector:
        transport = transport or httpx.HTTPTransport(verify=tls)
        raw: dict[str, Any] = {
            "kind": "http",
            "base_url": base_url,
            "retries": {"attempts": 4},
            "entities": {"stock": stock_entity()},
        }
        raw.update(overrides)
        config = HttpSystemConfig.model_validate(raw)
        ctx = ConnectorContext(sleep=clock.sleep, monotonic=clock.monotonic, http_transport=lambda: transport)
        opened.append(HttpConnector.open("wms", config, ctx))
        return opened[-1]

    yield build
    for connector in opened:
        connector.close()


def stock_entity(**overrides: Any) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "records": "",
        "fields": {"sku": "SKU", "available": "Level", "last_updated": "LastUpdated"},
        "lookup": {"path": "/api/Product/StockLevels", "params": {"SKU": "{keys}"}},
    }
    entity.update(overrides)
    return entity


def stock_handler(request: LoopbackRequest) -> LoopbackResponse:
    skus = (request.param("SKU") or "").split(",")
    return LoopbackResponse(body=[BY_SKU[s] for s in skus if s in BY_SKU])


def ok(body: Any) -> Callable[[LoopbackRequest], LoopbackResponse]:
    """A handler answering ``body`` to every request."""
    return lambda request: LoopbackResponse(body=body)


def mock(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.MockTransport:
    return httpx.MockTransport(handler)


# -- lookups --------------------------------------------------------------------------------


def test_1000_keys_in_batches_of_100_take_exactly_10_requests(serve, connect) -> None:
    server = serve(stock_handler)
    connector = connect(server.url)
    records = connector.read(STOCK, [row["SKU"] for row in ROWS])
    assert server.request_count == 10
    assert all(len(r.param("SKU").split(",")) == 100 for r in server.requests)
    assert sorted(r.key for r in records) == sorted(BY_SKU)
    first = next(r for r in records if r.key == "SKU-0007")
    assert first.fields == {"available": 7}
    assert first.updated_at == datetime(2024, 5, 1, 10, 7, tzinfo=UTC)
    assert connector.usage().requests == 10
    assert connector.usage().by_status == {"200": 10}


def test_batch_size_comes_from_the_entity_else_the_system(serve, connect) -> None:
    server = serve(stock_handler)
    keys = [row["SKU"] for row in ROWS[:100]]
    connect(server.url, batch_size=30).read(STOCK, keys)
    assert server.request_count == 4
    entity = stock_entity(lookup={"path": "/s", "params": {"SKU": "{keys}"}, "batch_size": 50})
    connect(server.url, batch_size=30, entities={"stock": entity}).read(STOCK, keys)
    assert server.request_count == 4 + 2


def test_duplicate_keys_are_asked_once(serve, connect) -> None:
    server = serve(stock_handler)
    records = connect(server.url).read(STOCK, ["SKU-0001", "SKU-0001", "SKU-0002"])
    assert server.requests[0].param("SKU") == "SKU-0001,SKU-0002"
    assert len(records) == 2


def test_key_format_and_separator_build_a_klaviyo_style_filter(serve, connect) -> None:
    server = serve(ok({"data": []}))
    entity = stock_entity(
        records="data",
        lookup={
            "path": "/api/profiles",
            "params": {"filter": "any(email,[{keys}])"},
            "key_format": "'{}'",
            "separator": ",",
        },
    )
    connect(server.url, entities={"stock": entity}).read(STOCK, ["a@x.co.uk", "b@y.co.uk"])
    assert server.requests[0].param("filter") == "any(email,['a@x.co.uk','b@y.co.uk'])"


def test_a_single_key_path_lookup_is_url_encoded_and_404_means_no_record(serve, connect) -> None:
    def handler(request: LoopbackRequest) -> LoopbackResponse:
        if request.path == "/api/Order/1001%2FA":
            return LoopbackResponse(body={"OrderNumber": "1001/A", "OrderStatusId": 4})
        return LoopbackResponse(404, {"Message": "not found"})

    server = serve(handler)
    entity = {"fields": {"number": "OrderNumber", "status": "OrderStatusId"}, "lookup": {"path": "/api/Order/{key}"}}
    connector = connect(server.url, entities={"order": entity})
    records = connector.read(EntityQuery("order", "number", ("status",)), ["1001/A", "9999"])
    assert [(r.key, r.fields) for r in records] == [("1001/A", {"status": 4})]
    assert server.request_count == 2
    assert connector.usage().by_status == {"200": 1, "404": 1}


def test_a_404_on_a_batch_lookup_is_a_query_error(serve, connect) -> None:
    server = serve(lambda request: LoopbackResponse(404, {}))
    with pytest.raises(QueryError, match="HTTP 404"):
        connect(server.url).read(STOCK, ["SKU-0001"])
    assert server.request_count == 1


def test_records_for_keys_not_asked_for_are_dropped_but_not_for_case_only(serve, connect) -> None:
    body = [{"SKU": "sku-0001", "Level": 1}, {"SKU": "SKU-0002", "Level": 2}, {"SKU": "OTHER", "Level": 3}]
    server = serve(ok(body))  # a server that ignores the filter
    records = connect(server.url).read(EntityQuery("stock", "sku", ("available",)), ["SKU-0001", "SKU-0002"])
    assert [r.key for r in records] == ["sku-0001", "SKU-0002"]


def test_a_duplicate_record_is_returned_twice(serve, connect) -> None:
    server = serve(ok([{"SKU": "A", "Level": 1}, {"SKU": "A", "Level": 2}]))
    records = connect(server.url).read(EntityQuery("stock", "sku", ("available",)), ["A"])
    assert [r.fields["available"] for r in records] == [1, 2]


def test_no_keys_no_requests(serve, connect) -> None:
    server = serve(stock_handler)
    assert connect(server.url).read(STOCK, []) == []
    assert server.request_count == 0


def test_records_without_a_key_are_skipped_and_counted(serve, connect) -> None:
    server = serve(ok([{"SKU": "A", "Level": 1}, {"Level": 2}, {"SKU": None}]))
    connector = connect(server.url)
    records = connector.read(EntityQuery("stock", "sku", ("available",)), ["A"])
    assert [r.key for r in records] == ["A"]
    assert connector.skipped_records == 2


def test_a_response_where_no_record_has_the_key_is_malformed_not_missing(serve, connect) -> None:
    server = serve(ok([{"Sku": "A", "Level": 1}, {"Sku": "B", "Level": 2}]))  # the API renamed SKU
    with pytest.raises(MalformedResponse, match="none of 2 records has a value for the key 'sku'"):
        connect(server.url).read(STOCK, ["A", "B"])
    assert server.request_count == 1  # a shape problem is not retried


def test_records_path_to_a_single_object_is_one_record(serve, connect) -> None:
    server = serve(ok({"data": {"SKU": "A", "Level": 5}}))
    records = connect(server.url, entities={"stock": stock_entity(records="data")}).read(STOCK, ["A"])
    assert [r.key for r in records] == ["A"]


@pytest.mark.parametrize(("body", "found"), [({"data": None}, 0), ({"data": []}, 0)])
def test_records_path_to_null_or_empty_list_is_no_records(serve, connect, body: Any, found: int) -> None:
    server = serve(ok(body))
    assert len(connect(server.url, entities={"stock": stock_entity(records="data")}).read(STOCK, ["A"])) == found


@pytest.mark.parametrize("body", [{"results": []}, {"data": "oops"}])
def test_records_path_absent_or_not_a_list_is_malformed(serve, connect, body: Any) -> None:
    server = serve(ok(body))
    with pytest.raises(MalformedResponse):
        connect(server.url, entities={"stock": stock_entity(records="data")}).read(STOCK, ["A"])


# -- fields and timestamps ------------------------------------------------------------------


KLAVIYO_PROFILE = {
    "id": "01H",
    "attributes": {
        "email": "jo@example.co.uk",
        "updated": "2024-05-01T09:30:00+01:00",
        "subscriptions": {"email": {"marketing": {"consent": "SUBSCRIBED", "can_receive_email_marketing": True}}},
        "tags": [{"name": "vip"}],
    },
    "plain": "top-level",
    "dotted.name": "literal",
}


def profile_connector(serve, connect, fields: dict[str, str], body: Any = None) -> HttpConnector:
    server = serve(ok({"data": [KLAVIYO_PROFILE] if body is None else body}))
    entity = {
        "records": "data",
        "fields": fields,
        "lookup": {"path": "/api/profiles", "params": {"filter": "any(email,[{keys}])"}, "key_format": "'{}'"},
    }
    return connect(server.url, entities={"profile": entity})


def test_field_paths_reach_nested_values_and_list_items(serve, connect) -> None:
    fields = {
        "email": "attributes.email",
        "consent": "attributes.subscriptions.email.marketing.consent",
        "first_tag": "attributes.tags.0.name",
        "updated": "attributes.updated",
    }
    connector = profile_connector(serve, connect, fields)
    query = EntityQuery("profile", "email", ("consent", "first_tag", "plain", "dotted.name"), "updated")
    (record,) = connector.read(query, ["jo@example.co.uk"])
    assert record.key == "jo@example.co.uk"
    # Undeclared names are read from the record's top-level key of that name, dots and all.
    assert record.fields == {
        "consent": "SUBSCRIBED",
        "first_tag": "vip",
        "plain": "top-level",
        "dotted.name": "literal",
    }
    assert record.updated_at == datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
    assert record.problems == {}


def test_missing_fields_are_problems_not_errors(serve, connect) -> None:
    fields = {"email": "attributes.email", "consent": "attributes.subscriptions.sms.marketing.consent"}
    connector = profile_connector(serve, connect, fields)
    (record,) = connector.read(EntityQuery("profile", "email", ("consent", "phone"), "updated"), ["jo@example.co.uk"])
    assert record.fields == {"consent": None, "phone": None}
    assert record.problems == {"consent": "absent", "phone": "absent", "updated": "absent"}
    assert record.updated_at is None


def test_a_null_value_is_a_value_not_a_problem(serve, connect) -> None:
    body = [{"attributes": {"email": "jo@example.co.uk", "phone": None}}]
    connector = profile_connector(serve, connect, {"email": "attributes.email", "phone": "attributes.phone"}, body)
    (record,) = connector.read(EntityQuery("profile", "email", ("phone",)), ["jo@example.co.uk"])
    assert record.fields == {"phone": None}
    assert record.problems == {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T11:00:00+01:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),  # naive is UTC
        ("2024-05-01T10:00:00.1234567Z", datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        (1714557600, datetime(2024, 5, 1, 10, tzinfo=UTC)),
        (1714557600.5, datetime(2024, 5, 1, 10, 0, 0, 500000, tzinfo=UTC)),
        ("1714557600", datetime(2024, 5, 1, 10, tzinfo=UTC)),
    ],
)
def test_updated_at_is_parsed_to_aware_utc(serve, connect, value: Any, expected: datetime) -> None:
    server = serve(ok([{"SKU": "A", "Level": 1, "LastUpdated": value}]))
    (record,) = connect(server.url).read(STOCK, ["A"])
    assert record.updated_at == expected
    assert record.updated_at.tzinfo is UTC
    assert record.problems == {}


def test_naive_timestamps_can_be_read_in_the_systems_time_zone(serve, connect) -> None:
    server = serve(ok([{"SKU": "A", "Level": 1, "LastUpdated": "2024-05-01T11:00:00"}]))
    (record,) = connect(server.url, timezone="Europe/London").read(STOCK, ["A"])
    assert record.updated_at == datetime(2024, 5, 1, 10, tzinfo=UTC)  # BST


@pytest.mark.parametrize(
    ("value", "problem"),
    [("yesterday", "not an ISO 8601 timestamp"), (True, "expected a timestamp"), (None, "empty"),
     ({"at": 1}, "expected a timestamp"), (1e20, "out of range")],
)
def test_an_unreadable_updated_at_is_a_problem_on_that_field(serve, connect, value: Any, problem: str) -> None:
    server = serve(ok([{"SKU": "A", "Level": 1, "LastUpdated": value}]))
    (record,) = connect(server.url).read(STOCK, ["A"])
    assert record.updated_at is None
    assert problem in record.problems["last_updated"]
    assert record.fields == {"available": 1}


# -- auth and headers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth", "check"),
    [
        ({"type": "none"}, lambda r: "authorization" not in r.headers),
        ({"type": "bearer", "token": "tok-1"}, lambda r: r.headers["authorization"] == "Bearer tok-1"),
        (
            {"type": "basic", "username": "ops", "password": "pw-2"},
            lambda r: r.headers["authorization"] == "Basic " + base64.b64encode(b"ops:pw-2").decode(),
        ),
        ({"type": "header", "name": "ms-apikey", "value": "key-3"}, lambda r: r.headers["ms-apikey"] == "key-3"),
        ({"type": "query", "name": "APIKey", "value": "key-4"}, lambda r: r.param("APIKey") == "key-4"),
    ],
)
def test_each_auth_style_reaches_the_server(serve, connect, auth: dict[str, str], check: Callable[..., bool]) -> None:
    server = serve(stock_handler)
    connect(server.url, auth=auth).read(STOCK, ["SKU-0001"])
    assert check(server.requests[0])
    assert server.requests[0].param("SKU") == "SKU-0001"


def test_static_headers_are_sent(serve, connect) -> None:
    server = serve(stock_handler)
    connect(server.url, headers={"revision": "2026-04-15", "Accept": "application/vnd.api+json"}).read(STOCK, ["A"])
    assert server.requests[0].headers["revision"] == "2026-04-15"
    assert server.requests[0].headers["accept"] == "application/vnd.api+json"
    assert server.requests[0].headers["user-agent"].startswith("syncwatch/")


def test_query_auth_is_also_sent_on_next_page_urls(serve, connect) -> None:
    def handler(request: LoopbackRequest) -> LoopbackResponse:
        if request.param("page") == "2":
            return LoopbackResponse(body={"data": [{"SKU": "B"}], "next": None})
        return LoopbackResponse(body={"data": [{"SKU": "A"}], "next": "/list?page=2"})

    server = serve(handler)
    entity = listing({"style": "next_url", "next_path": "next"})
    connector = connect(server.url, auth={"type": "query", "name": "APIKey", "value": "k"}, entities={"stock": entity})
    assert sorted(connector.sample_keys(STOCK, 10, random.Random(1))) == ["A", "B"]
    assert [r.param("APIKey") for r in server.requests] == ["k", "k"]


def test_secrets_never_show_in_the_config_repr() -> None:
    config = HttpSystemConfig.model_validate(
        {
            "kind": "http",
            "base_url": "https://api.example.com",
            "auth": {"type": "basic", "username": "ops", "password": "hunter2"},
            "headers": {"X-Client-Secret": "hunter3"},
            "entities": {"stock": stock_entity()},
        }
    )
    for secret in ("hunter2", "hunter3"):
        assert secret not in repr(config) and secret not in str(config)
        assert secret not in config.model_dump_json()


# -- pagination -----------------------------------------------------------------------------

KEYS_250 = [f"K{i:03d}" for i in range(250)]


def all_keys(connector: HttpConnector) -> list[str]:
    return sorted(connector.sample_keys(STOCK, 10_000, random.Random(0)))


def listing(pagination: dict[str, Any], records: str = "data", params: dict[str, str] | None = None) -> dict[str, Any]:
    return stock_entity(records=records, list={"path": "/list", "params": params or {}, "pagination": pagination})


def test_cursor_pagination(serve, connect) -> None:
    def handler(request: LoopbackRequest) -> LoopbackResponse:
        start = int(request.param("cursor") or 0)
        nxt = start + 100 if start + 100 < len(KEYS_250) else None
        page = [{"SKU": k} for k in KEYS_250[start : start + 100]]
        return LoopbackResponse(body={"data": page, "meta": {"next_cursor": nxt}})

    server = serve(handler)
    pagination = {"style": "cursor", "cursor_param": "cursor", "cursor_path": "meta.next_cursor"}
    connector = connect(server.url, entities={"stock": listing(pagination, params={"status": "active"})})
    assert all_keys(connector) == KEYS_250
    assert [r.param("cursor") for r in server.requests] == [None, "100", "200"]
    assert all(r.param("status") == "active" for r in server.requests)


def test_page_pagination_stops_at_a_short_page(serve, connect) -> None:
    def handler(request: LoopbackRequest) -> LoopbackResponse:
        number, size = int(request.param("PageNo") or 0), int(request.param("Limit") or 0)
        return LoopbackResponse(body=[{"SKU": k} for k in KEYS_250[(number - 1) * size : number * size]])

    server = serve(handler)
    pagination = {"style": "page", "page_param": "PageNo", "size_param": "Limit", "page_size": 100}
    connector = connect(server.url, entities={"stock": listing(pagination, records="")})
    assert all_keys(connector) == KEYS_250
    assert [r.param("PageNo") for r in server.requests] == ["1", "2", "3"]


def test_page_pagination_with_an_exact_multiple_ends_on_an_empty_page(serve, connect) -> None:
    def handler(request: LoopbackRequest) -> LoopbackResponse:
        number = int(request.param("page") or 0)
        return LoopbackResponse(body=[{"SKU": k} for k in KEYS_250[:200][number * 100 : (number + 1) * 100]])

    server = serve(handler)
    pagination = {"style": "page", "page_size": 100, "start_page": 0}
    connector = connect(server.url, entities={"stock": listing(pagination, records="")})
    assert all_keys(connector) == KEYS_250[:200]
    assert [r.param("page") for r in server.requests] == ["0", "1", "2"]


def test_link_header_pagination(serve, connect) -> None:
    def handler(request: LoopbackRequest) -> LoopbackResponse:
        start = int(request.param("offset") or 0)
        headers = {}
        if start + 100 < len(KEYS_250):
            headers["Link"] = f'</list?offset={start + 100}>; rel="next", </list?offset=0>; rel="first"'
        return LoopbackResponse(body=[{"SKU": k} for k in KEYS_250[start : start + 100]], headers=headers)

    server = serve(handler)
    connector = connect(server.url, entities={"stock": listing({"style": "link"}, records="")})
    assert all_keys(connector) == KEYS_250
    assert server.request_count == 3


@pytest.mark.parametrize("absolute", [True, False])
def test_next_url_pagination(serve, connect, absolute: bool) -> None:
    holder: dict[str, str] = {}

    def handler(request: LoopbackRequest) -> LoopbackResponse:
        start = int(request.param("page[cursor]") or 0)
        nxt = None
        if start + 100 < len(KEYS_250):
            nxt = f"{holder['url'] if absolute else ''}/api/profiles?page%5Bcursor%5D={start + 100}"
        page = [{"SKU": k} for k in KEYS_250[start : start + 100]]
        return LoopbackResponse(body={"data": page, "links": {"self": "x", "next": nxt}})

    server = serve(handler)
    holder["url"] = server.url
    entity = stock_entity(
        records="data",
        list={
            "path": "/api/profiles",
            "params": {"page[size]": "100"},
            "pagination": {"style": "next_url", "next_path": "links.next"},
        },
    )
    connector = connect(server.url, entities={"stock": entity})
    assert all_keys(connector) == KEYS_250
    assert server.request_count == 3
    assert server.requests[0].param("page[size]") == "100"


def test_a_next_url_on_another_host_is_refused(serve, connect) -> None:
    server = serve(ok({"data": [{"SKU": "A"}], "next": "https://evil.example.com/steal"}))
    entity = listing({"style": "next_url", "next_path": "next"})
    with pytest.raises(MalformedResponse, match="another host"):
        connect(server.url, entities={"stock": entity}).sample_keys(STOCK, 5, random.Random(0))
    assert server.request_count == 1


def test_lookup_responses_can_be_paginated_too(serve, connect) -> None:
    def handler(request: LoopbackRequest) -> LoopbackResponse:
        if request.param("cursor") == "c2":
            return LoopbackResponse(body={"data": [{"SKU": "B", "Level": 2}], "next": None})
        return LoopbackResponse(body={"data": [{"SKU": "A", "Level": 1}], "next": "c2"})

    server = serve(handler)
    lookup = {
        "path": "/s",
        "params": {"SKU": "{keys}"},
        "pagination": {"style": "cursor", "cursor_param": "cursor", "cursor_path": "next"},
    }
    connector = connect(server.url, entities={"stock": stock_entity(records="data", lookup=lookup)})
    assert sorted(r.key for r in connector.read(STOCK, ["A", "B"])) == ["A", "B"]
    assert server.requests[1].param("SKU") == "A,B"


def test_more_pages_than_max_pages_is_an_error_not_an_endless_loop(serve, connect) -> None:
    server = serve(ok({"data": [{"SKU": "A"}], "next": "again"}))
    pagination = {"style": "cursor", "cursor_param": "c", "cursor_path": "next", "max_pages": 5}
    with pytest.raises(QueryError, match="more than 5 pages"):
        connect(server.url, entities={"stock": listing(pagination)}).sample_keys(STOCK, 1, random.Random(0))
    assert server.request_count == 5


# -- changed_since and sample_keys ------------------------------------------------------------

SINCE = datetime(2024, 5, 1, 9, 30, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("since_format", "sent"),
    [
        ("iso", "2024-05-01T09:30:15Z"),
        ("epoch", "1714555815"),
        ("%Y-%m-%dT%H:%M:%S", "2024-05-01T09:30:15"),
        ("%d/%m/%Y %H:%M", "01/05/2024 09:30"),
    ],
)
def test_changed_since_formats_since(serve, connect, since_format: str, sent: str) -> None:
    server = serve(ok([{"SKU": "A"}, {"SKU": "B"}, {"SKU": "A"}]))
    changed = {
        "path": "/api/Product/StockLevels/UpdatedSince",
        "params": {"FromDate": "{since}"},
        "since_format": since_format,
    }
    connector = connect(server.url, entities={"stock": stock_entity(changed=changed)})
    assert connector.changed_since(STOCK, SINCE, 100) == ["A", "B"]
    assert server.requests[0].param("FromDate") == sent
    assert server.requests[0].path == "/api/Product/StockLevels/UpdatedSince"


def test_changed_since_in_the_path_is_url_encoded(serve, connect) -> None:
    server = serve(ok([]))
    changed = {"path": "/changes/{since}", "since_format": "%Y-%m-%d %H:%M"}
    connect(server.url, entities={"stock": stock_entity(changed=changed)}).changed_since(STOCK, SINCE, 10)
    assert server.requests[0].path == "/changes/2024-05-01%2009%3A30"


def test_changed_since_stops_paging_at_the_limit(serve, connect) -> None:
    def handler(request: LoopbackRequest) -> LoopbackResponse:
        number = int(request.param("page") or 1)
        return LoopbackResponse(body=[{"SKU": f"P{number}-{i}"} for i in range(10)])

    server = serve(handler)
    changed = {"path": "/c", "params": {"since": "{since}"}, "pagination": {"style": "page", "page_size": 10}}
    keys = connect(server.url, entities={"stock": stock_entity(changed=changed)}).changed_since(STOCK, SINCE, 25)
    assert len(keys) == 25
    assert server.request_count == 3


def test_changed_since_without_an_endpoint_is_empty(serve, connect) -> None:
    server = serve(stock_handler)
    connector = connect(server.url)
    assert connector.changed_since(STOCK, SINCE, 10) == []
    assert connector.sample_keys(STOCK, 10, random.Random(0)) == []
    assert server.request_count == 0


def test_sample_keys_is_uniform_over_the_listing(connect) -> None:
    population = [f"K{i:02d}" for i in range(50)]
    transport = mock(lambda request: httpx.Response(200, json=[{"SKU": k} for k in population]))
    entity = listing({"style": "none"}, records="")
    connector = connect("https://wms.example.com", transport=transport, entities={"stock": entity})
    rng = random.Random(42)
    counts: Counter[str] = Counter()
    for _ in range(400):
        sample = connector.sample_keys(STOCK, 10, rng)
        assert len(sample) == len(set(sample)) == 10
        counts.update(sample)
    # 400 draws of 10 from 50: each key expected 80 times; a loose band keeps the test stable.
    assert set(counts) == set(population)
    assert 45 < min(counts.values()) and max(counts.values()) < 120


def test_sample_keys_returns_all_when_the_listing_is_smaller(serve, connect) -> None:
    server = serve(ok([{"SKU": "A"}, {"SKU": "B"}, {"SKU": "B"}]))
    connector = connect(server.url, entities={"stock": listing({"style": "none"}, records="")})
    assert sorted(connector.sample_keys(STOCK, 10, random.Random(0))) == ["A", "B"]
    assert connector.sample_keys(STOCK, 0, random.Random(0)) == []
    assert server.request_count == 1


# -- faults -----------------------------------------------------------------------------------


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def test_timeout(serve, connect, clock, release) -> None:
    def handler(request: LoopbackRequest) -> LoopbackResponse:
        release.wait(5)
        return LoopbackResponse(body=[])

    server = serve(handler)
    connector = connect(server.url, timeout="200ms", retries={"attempts": 2})
    with pytest.raises(ConnectorTimeout, match="no answer within 0.2s") as caught:
        connector.read(STOCK, ["A"])
    assert caught.value.attempts == 2
    assert connector.usage().by_status == {"timeout": 2}
    assert clock.sleeps == [0.5]
    release.set()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused(connect, clock) -> None:
    connector = connect(f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(ConnectorUnavailable, match="connection failed") as caught:
        connector.read(STOCK, ["A"])
    assert caught.value.attempts == 4
    assert clock.sleeps == [0.5, 1.0, 2.0]
    assert connector.usage().by_status == {"connection_error": 4}
    assert connector.usage().retries == 3


def test_a_dropped_connection_is_unavailable_and_retried(serve, connect) -> None:
    responses = iter([LoopbackResponse(drop=True), LoopbackResponse(body=[{"SKU": "A", "Level": 1}])])
    server = serve(lambda request: next(responses))
    assert [r.key for r in connect(server.url).read(STOCK, ["A"])] == ["A"]
    assert server.request_count == 2


def test_429_honours_retry_after_seconds_then_succeeds(serve, connect, clock) -> None:
    responses = iter([LoopbackResponse(429, {}, {"Retry-After": "7"}), LoopbackResponse(body=[{"SKU": "A"}])])
    server = serve(lambda request: next(responses))
    connector = connect(server.url)
    assert [r.key for r in connector.read(STOCK, ["A"])] == ["A"]
    assert clock.now == 7.0
    assert clock.sleeps == [7.0]
    usage = connector.usage()
    assert (usage.requests, usage.by_status, usage.retries, usage.waited_seconds) == (2, {"429": 1, "200": 1}, 1, 7.0)


def test_429_honours_retry_after_as_an_http_date(connect, clock) -> None:
    now = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            headers = {
                "Date": format_datetime(now, usegmt=True),
                "Retry-After": format_datetime(now + timedelta(seconds=30), usegmt=True),
            }
            return httpx.Response(429, headers=headers)
        return httpx.Response(200, json=[{"SKU": "A"}])

    connector = connect("https://wms.example.com", transport=mock(handler))
    assert len(connector.read(STOCK, ["A"])) == 1
    assert clock.sleeps == [30.0]


def test_a_retry_after_longer_than_allowed_gives_up_at_once(serve, connect, clock) -> None:
    server = serve(lambda request: LoopbackResponse(429, {}, {"Retry-After": "3600"}))
    with pytest.raises(RateLimited, match="asks to wait 3600s, longer than retries.max_retry_after"):
        connect(server.url).read(STOCK, ["A"])
    assert server.request_count == 1
    assert clock.now == 0.0


def test_429_forever_is_rate_limited_after_the_attempts(serve, connect, clock) -> None:
    server = serve(lambda request: LoopbackResponse(429, {}))
    with pytest.raises(RateLimited, match="HTTP 429") as caught:
        connect(server.url).read(STOCK, ["A"])
    assert caught.value.attempts == 4 and server.request_count == 4
    assert clock.sleeps == [0.5, 1.0, 2.0]
    assert "(after 4 attempts)" in str(caught.value)


def test_5xx_then_success(serve, connect, clock) -> None:
    responses = iter(
        [LoopbackResponse(503, {}), LoopbackResponse(502, b"bad gateway"), LoopbackResponse(body=[{"SKU": "A"}])]
    )
    server = serve(lambda request: next(responses))
    connector = connect(server.url)
    assert [r.key for r in connector.read(STOCK, ["A"])] == ["A"]
    assert connector.usage().by_status == {"503": 1, "502": 1, "200": 1}
    assert clock.sleeps == [0.5, 1.0]


def test_5xx_forever_is_unavailable_with_capped_backoff(serve, connect, clock) -> None:
    server = serve(lambda request: LoopbackResponse(500, {}))
    connector = connect(server.url, retries={"attempts": 6, "backoff": "1s", "max_backoff": "5s"})
    with pytest.raises(ConnectorUnavailable, match="HTTP 500") as caught:
        connector.read(STOCK, ["A"])
    assert caught.value.attempts == 6 and server.request_count == 6
    assert clock.sleeps == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_malformed_json_is_retried_then_raised(serve, connect) -> None:
    server = serve(lambda request: LoopbackResponse(200, b"<html>maintenance</html>", {"Content-Type": "text/html"}))
    with pytest.raises(MalformedResponse, match="not valid JSON"):
        connect(server.url).read(STOCK, ["A"])
    assert server.request_count == 4


def test_truncated_json_then_success(serve, connect) -> None:
    responses = iter([LoopbackResponse(200, b'[{"SKU": "A", "Le'), LoopbackResponse(body=[{"SKU": "A"}])])
    server = serve(lambda request: next(responses))
    assert len(connect(server.url).read(STOCK, ["A"])) == 1
    assert server.request_count == 2


def test_a_transfer_cut_short_is_malformed(serve, connect) -> None:
    server = serve(lambda request: LoopbackResponse(200, b'[{"SKU": "A"', {"Content-Length": "500"}))
    with pytest.raises(MalformedResponse, match="cut short"):
        connect(server.url, retries={"attempts": 2}).read(STOCK, ["A"])
    assert server.request_count == 2


def test_a_huge_streamed_response_stops_at_the_limit_and_is_not_retried(serve, connect) -> None:
    sent: list[int] = []

    def endless() -> Iterator[bytes]:
        yield b"["
        while len(sent) < 10_000:  # bounded so the server thread always ends
            sent.append(1)
            yield b'{"SKU": "A", "Level": 1},' * 100

    server = serve(lambda request: LoopbackResponse(200, endless()))
    connector = connect(server.url, max_response_bytes=100_000)
    with pytest.raises(ResponseTooLarge, match="larger than max_response_bytes"):
        connector.read(STOCK, ["A"])
    assert server.request_count == 1
    assert len(sent) < 10_000


def test_a_declared_content_length_over_the_limit_is_refused_unread(serve, connect) -> None:
    server = serve(ok([{"SKU": "A", "Level": i} for i in range(1000)]))
    with pytest.raises(ResponseTooLarge):
        connect(server.url, max_response_bytes=1000).read(STOCK, ["A"])
    assert server.request_count == 1


@pytest.mark.parametrize("chunked", [True, False])
def test_a_body_of_exactly_the_limit_is_read(serve, connect, chunked: bool) -> None:
    body = json.dumps([{"SKU": "A", "Level": 1}]).encode()
    server = serve(lambda request: LoopbackResponse(200, iter([body[:5], body[5:]]) if chunked else body))
    assert len(connect(server.url, max_response_bytes=len(body)).read(STOCK, ["A"])) == 1
    with pytest.raises(ResponseTooLarge):
        connect(server.url, max_response_bytes=len(body) - 1).read(STOCK, ["A"])


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_are_not_retried(serve, connect, clock, status: int) -> None:
    server = serve(lambda request: LoopbackResponse(status, {"detail": "bad key"}))
    with pytest.raises(AuthError, match=f"HTTP {status}"):
        connect(server.url).read(STOCK, ["A"])
    assert server.request_count == 1 and clock.now == 0.0


def test_a_bad_request_is_a_query_error_not_retried(serve, connect) -> None:
    server = serve(lambda request: LoopbackResponse(400, {"errors": [{"detail": "jo@example.co.uk is invalid"}]}))
    with pytest.raises(QueryError, match="HTTP 400") as caught:
        connect(server.url).read(STOCK, ["jo@example.co.uk"])
    assert server.request_count == 1
    assert "jo@example" not in str(caught.value)


def test_redirects_are_not_followed(serve, connect) -> None:
    server = serve(lambda request: LoopbackResponse(302, b"", {"Location": "https://elsewhere.example.com/"}))
    with pytest.raises(QueryError, match="redirect"):
        connect(server.url).read(STOCK, ["A"])
    assert server.request_count == 1


def test_error_messages_carry_no_secret_query_string_or_body(serve, connect) -> None:
    server = serve(lambda request: LoopbackResponse(500, {"customer": "jo@example.co.uk"}))
    entity = stock_entity(lookup={"path": "/api/profiles", "params": {"filter": "any(email,[{keys}])"}})
    connector = connect(
        server.url,
        auth={"type": "query", "name": "APIKey", "value": "s3cr3t-key"},
        headers={"revision": "2026-04-15"},
        entities={"stock": entity},
    )
    with pytest.raises(ConnectorError) as caught:
        connector.read(STOCK, ["jo@example.co.uk"])
    chain: list[BaseException] = []
    error: BaseException | None = caught.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    for text in map(str, chain):
        assert "s3cr3t" not in text and "APIKey" not in text and "?" not in text and "@" not in text
    assert str(caught.value) == "wms: stock lookup: GET /api/profiles: HTTP 500 (after 4 attempts)"


def test_a_single_key_lookup_error_names_the_template_not_the_key(serve, connect) -> None:
    server = serve(lambda request: LoopbackResponse(500, {}))
    entity = {"lookup": {"path": "/api/profiles/{key}"}}
    with pytest.raises(ConnectorUnavailable) as caught:
        connector = connect(server.url, entities={"profile": entity})
        connector.read(EntityQuery("profile", "email", ()), ["jo@example.co.uk"])
    assert "/api/profiles/{key}" in str(caught.value) and "jo@" not in str(caught.value)


def test_an_unknown_entity_is_a_query_error(serve, connect) -> None:
    with pytest.raises(QueryError, match="no entity 'order'; configured: stock"):
        connect(serve(stock_handler).url).read(EntityQuery("order", "id", ()), ["1"])


# -- rate limiting and usage ------------------------------------------------------------------


def test_requests_are_paced_at_the_api_share_of_the_rate_limit(serve, connect, clock) -> None:
    server = serve(stock_handler)
    connector = connect(server.url, rate_limit={"requests": 60, "per": "1m"}, api_share="10%", batch_size=1)
    connector.read(STOCK, ["SKU-0001", "SKU-0002", "SKU-0003", "SKU-0004", "SKU-0005"])
    assert server.request_count == 5
    assert clock.sleeps == pytest.approx([10.0] * 4)  # 6/min is one request every 10s
    usage = connector.usage()
    assert usage.rate_limit_waits == 4 and usage.waited_seconds == pytest.approx(40.0)


def test_retries_also_pass_the_rate_limiter(serve, connect, clock) -> None:
    responses = iter([LoopbackResponse(503, {}), LoopbackResponse(body=[])])
    server = serve(lambda request: next(responses))
    connector = connect(server.url, rate_limit={"requests": 60, "per": "1m"}, api_share="10%")
    connector.read(STOCK, ["A"])
    assert clock.sleeps == pytest.approx([0.5, 9.5])  # back-off, then the bucket's remainder


def test_reset_usage_starts_counting_again(serve, connect) -> None:
    server = serve(stock_handler)
    connector = connect(server.url)
    connector.read(STOCK, ["A"])
    snapshot = connector.usage()
    connector.reset_usage()
    assert snapshot.requests == 1
    assert connector.usage().requests == 0 and connector.usage().by_status == {}


def test_open_builds_a_connector_through_the_context(clock: FakeClock) -> None:
    config = validate(base_url="https://wms.example.com/v2")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[])

    ctx = ConnectorContext(sleep=clock.sleep, monotonic=clock.monotonic, http_transport=lambda: mock(handler))
    with HttpConnector.open("wms", config, ctx) as connector:
        assert isinstance(connector, Connector)
        connector.read(STOCK, ["A"])
    assert seen[0].url.path == "/v2/api/Product/StockLevels"


# -- config validation ------------------------------------------------------------------------


def validate(**overrides: Any) -> HttpSystemConfig:
    raw: dict[str, Any] = {"kind": "http", "base_url": "https://api.example.com", "entities": {"stock": stock_entity()}}
    raw.update(overrides)
    return HttpSystemConfig.model_validate(raw)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"base_url": "ftp://x"}, "http:// or https://"),
        ({"base_url": "https://api.example.com/?APIKey=1"}, "query string"),
        ({"auth": {"type": "oauth"}}, "does not match any of the expected tags"),
        ({"auth": {"type": "bearer"}}, "token"),
        ({"rate_limit": {"requests": 10, "per": "0s"}}, "longer than 0s"),
        ({"rate_limit": {"requests": 10, "per": "1m"}, "api_share": "0%"}, "no requests"),
        ({"timezone": "Mars/Olympus"}, "time zone"),
        ({"surprise": 1}, "Extra inputs are not permitted"),
        ({"entities": {"stock": stock_entity(lookup={"path": "/s"})}}, "{key}"),
        ({"entities": {"stock": stock_entity(lookup={"path": "/s/{key}", "params": {"a": "{keys}"}})}}, "not both"),
        (
            {"entities": {"stock": stock_entity(lookup={"path": "/s", "params": {"a": "{keys}"}, "key_format": "x"})}},
            "key_format",
        ),
        (
            {"entities": {"stock": stock_entity(lookup={"path": "/s", "params": {"a": "{keys}"}, "key_format": "{}}"})}},
            "key_format",
        ),
        (
            {"entities": {"stock": stock_entity(lookup={"path": "/s", "params": {"a": "{keys}"}, "key_format": "{}{0}"})}},
            "key_format",
        ),
        ({"entities": {"stock": stock_entity(lookup={"path": "https://evil/s/{key}"})}}, "relative to base_url"),
        ({"entities": {"stock": stock_entity(lookup={"path": "/s?x={key}"})}}, "under params"),
        ({"entities": {"stock": stock_entity(changed={"path": "/c"})}}, "{since}"),
        ({"entities": {"stock": stock_entity(changed={"path": "/c/{since}", "since_format": "rfc"})}}, "since_format"),
        ({"entities": {"stock": stock_entity(fields={"sku": "a..b"})}}, "empty segment"),
        ({"entities": {"stock": stock_entity(list={"path": "/l", "pagination": {"style": "page"}})}}, "page_size"),
        (
            {"entities": {"stock": listing({"style": "cursor", "cursor_param": "c", "cursor_path": "n", "size": 3})}},
            "Extra inputs",
        ),
    ],
)
def test_bad_config_is_refused_with_a_useful_message(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("{", r"\{").replace("}", r"\}").replace("?", r"\?")):
        validate(**overrides)


def test_defaults_and_declared_fields() -> None:
    config = validate(rate_limit={"requests": 750, "per": "1m"})
    assert config.retries.attempts == 4
    assert config.max_response_bytes == 20_000_000
    assert config.requests_per_second() == pytest.approx(1.25)
    assert config.entities["stock"].declared_fields() == frozenset({"sku", "available", "last_updated"})
    assert validate(entities={"stock": stock_entity(fields={})}).entities["stock"].declared_fields() is None
    assert json.loads(config.model_dump_json())["entities"]["stock"]["records"] == ""


# -- paths --------------------------------------------------------------------------------------


def test_paths() -> None:
    body = {"data": {"items": [{"sku": "A"}, {"sku": None}]}, "a.b": 1, "0": "zero"}
    assert get_path(body, "") is body
    assert get_path(body, "data.items.0.sku") == "A"
    assert get_path(body, "data.items.-1.sku") is None
    assert get_path(body, "data.items.1.sku") is None
    assert get_path(body, "data.items.2.sku") is MISSING
    assert get_path(body, "data.items.x") is MISSING
    assert get_path(body, "data.items.0.sku.deeper") is MISSING
    assert get_path(body, "a\\.b") == 1
    assert get_path(body, "0") == "zero"
    assert not MISSING and repr(MISSING) == "MISSING"
    assert JsonPath("x.y") == "x.y" and JsonPath("x.y").parts == (("x", None), ("y", None))
    for bad in ("a..b", ".a", "a.", "a\\b"):
        with pytest.raises(ValueError):
            JsonPath(bad)


# -- the loopback server itself -------------------------------------------------------------


def test_loopback_server_records_requests_and_reports_handler_errors() -> None:
    def handler(request: LoopbackRequest) -> LoopbackResponse:
        if request.path == "/boom":
            raise RuntimeError("handler bug")
        return LoopbackResponse(201, {"echo": request.json()}, {"X-Test": "1"})

    with LoopbackServer(handler) as server, httpx.Client(base_url=server.url) as client:
        response = client.post("/echo?a=1&a=2", json={"n": 1})
        assert (response.status_code, response.json(), response.headers["x-test"]) == (201, {"echo": {"n": 1}}, "1")
        assert client.get("/boom").status_code == 500
        assert server.requests[0].query == {"a": ["1", "2"]} and server.requests[0].method == "POST"
        assert server.request_count == 2
        assert [type(e) for e in server.errors] == [RuntimeError]
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/after-close", timeout=1)


def test_in_process_transport_answers_as_the_loopback_server_does() -> None:
    from monitor.loopback import InProcessTransport

    def handler(request: LoopbackRequest) -> LoopbackResponse:
        return LoopbackResponse(
            201, {"path": request.path, "sku": request.query.get("SKU"), "key": request.headers.get("ms-apikey")},
            headers={"X-Seen": "1"},
        )

    params = {"SKU": "A,B#1"}
    headers = {"ms-apikey": "k"}
    with LoopbackServer(handler) as server, httpx.Client() as real:
        over_socket = real.get(server.url + "/api/x", params=params, headers=headers)
    with httpx.Client(transport=InProcessTransport(handler)) as direct:
        in_process = direct.get("http://127.0.0.1:9/api/x", params=params, headers=headers)
    assert in_process.status_code == over_socket.status_code == 201
    assert in_process.json() == over_socket.json() == {"path": "/api/x", "sku": ["A,B#1"], "key": "k"}
    assert in_process.headers["x-seen"] == "1"
