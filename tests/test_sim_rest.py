"""The Mintsoft- and Klaviyo-shaped simulators, read by syncwatch's real ``http`` connector.

One LoopbackServer serves both behind the Router; the connectors are built from
the demo config ``monitor/demo/config/syncwatch.yaml`` itself. Everything runs on one FixedClock: the
simulators' rate windows read it, and the connectors' back-off and pacing sleep
on it, so waiting out a 429 moves simulated time and no test sleeps.
"""

from __future__ import annotations

import random
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.clock import FixedClock
from monitor.config.yamlsource import load_yaml
from monitor.demo.sim.klaviyo import KlaviyoSimulator
from monitor.demo.sim.mintsoft import MintsoftSimulator
from monitor.demo.sim.ratelimits import Window, WindowLimiter
from monitor.demo.sim.router import Router
from monitor.demo.state import Profile, WmsOrder, WmsStock, WorldState
from monitor.errors import AuthError, ConnectorUnavailable, QueryError, RateLimited
from monitor.loopback import LoopbackRequest, LoopbackResponse, LoopbackServer
from probes.base import ConnectorContext, EntityQuery
from probes.http import HttpConnector, HttpSystemConfig

SYSTEMS_YAML = Path(__file__).resolve().parents[1] / "monitor" / "demo" / "config" / "syncwatch.yaml"
WMS_KEY, CRM_KEY = "wms-demo-key", "pk_demo_crm_key"
CRM_HEADERS = {"Authorization": f"Klaviyo-API-Key {CRM_KEY}", "revision": "2026-04-15"}
T0 = datetime(2026, 11, 27, 12, 0, 30, tzinfo=UTC)  # half past the minute: Retry-After must be computed
BASE = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)

STOCK = EntityQuery("stock", "sku", ("available",), "last_updated")
ORDERS = EntityQuery("orders", "order_number", ("status", "despatched_at", "tracking_number"), "last_updated")
PROFILES = EntityQuery("profiles", "email", ("consent", "last_order", "last_order_status"), "updated")


def seed() -> WorldState:
    """250 SKUs, 120 orders, 230 profiles (one email twice, in another case) a minute apart."""
    state = WorldState()
    for i in range(250):
        sku = f"SKU-{i:04d}"
        state.wms.stock[sku] = WmsStock(1000 + i, sku, level=i, last_updated=BASE + timedelta(minutes=i))
    for i in range(120):
        number = f"#{1001 + i}"
        shipped = i % 3 == 0
        state.wms.orders[number] = WmsOrder(
            id=50_000 + i,
            order_number=number,
            external_order_reference=str(5_600_000 + i),
            order_status_id=4 if shipped else 15,
            order_date=BASE + timedelta(minutes=i),
            last_updated=BASE + timedelta(minutes=i, seconds=30),
            email=f"customer{i}@example.co.uk",
            despatch_date=BASE + timedelta(hours=3, minutes=i) if shipped else None,
            tracking_number=f"RM{i:09d}GB" if shipped else None,
            courier="Royal Mail" if shipped else None,
            lines=[(f"SKU-{i:04d}", 1)],
        )
    for i in range(229):
        state.crm.profiles.append(
            Profile(
                id=f"01JDEMO{i:019d}",
                email=f"person{i}@example.co.uk",
                first_name="Person",
                last_name=str(i),
                created=BASE,
                updated=BASE + timedelta(minutes=i),
                consent="SUBSCRIBED" if i % 2 else "NEVER_SUBSCRIBED",
                consent_timestamp=BASE if i % 2 else None,
                last_order=f"#{1001 + i}" if i < 100 else None,
                last_order_status="FULFILLED" if i < 100 else None,
            )
        )
    state.crm.profiles.append(
        Profile("01JDEMOZZZDUPLICATE0000000", "Person7@Example.CO.UK", "Person", "Seven", BASE, BASE)
    )
    return state


@dataclass
class Demo:
    state: WorldState
    clock: FixedClock
    wms: MintsoftSimulator
    crm: KlaviyoSimulator
    server: LoopbackServer
    http: httpx.Client
    tls: ssl.SSLContext
    opened: list[HttpConnector] = field(default_factory=list)

    def raw(self, system: str) -> dict[str, Any]:
        """The system's entry in the demo syncwatch.yaml, ``${...}`` substituted for this server."""
        environ = {"DEMO_URL": self.server.url, "DEMO_WMS_KEY": WMS_KEY, "DEMO_CRM_KEY": CRM_KEY,
                   "DEMO_SHOPIFY_TOKEN": "unused", "DEMO_ERP_URL": "sqlite://"}
        entry: dict[str, Any] = load_yaml(SYSTEMS_YAML, substitute_env=True, environ=environ).data["systems"][system]
        return entry

    def connector(self, system: str, **overrides: Any) -> HttpConnector:
        raw = {**self.raw(system), **overrides}
        ctx = ConnectorContext(
            sleep=self.clock.sleep,
            monotonic=self.clock.monotonic,
            http_transport=lambda: httpx.HTTPTransport(verify=self.tls),
        )
        self.opened.append(HttpConnector.open(system, HttpSystemConfig.model_validate(raw), ctx))
        return self.opened[-1]

    def wms_get(self, path: str, key: str | None = WMS_KEY, /, **params: str) -> httpx.Response:
        return self.http.get(f"/wms{path}", params=params, headers={"ms-apikey": key} if key else {})

    def crm_get(self, headers: dict[str, str] | None = None, /, **params: str) -> httpx.Response:
        return self.http.get("/crm/api/profiles", params=params, headers=CRM_HEADERS if headers is None else headers)


@pytest.fixture(scope="module")
def tls() -> ssl.SSLContext:
    return ssl.create_default_context()  # ~30ms each: build one for the module


@pytest.fixture
def demo(tls: ssl.SSLContext) -> Iterator[Demo]:
    state, clock = seed(), FixedClock(T0)
    wms = MintsoftSimulator(state, clock, api_key=WMS_KEY, prefix="/wms")
    crm = KlaviyoSimulator(state, clock, api_key=CRM_KEY, prefix="/crm")
    server = LoopbackServer(Router({"/wms": wms, "/crm": crm}))
    http = httpx.Client(base_url=server.url, transport=httpx.HTTPTransport(verify=tls))
    world = Demo(state, clock, wms, crm, server, http, tls)
    yield world
    for connector in world.opened:
        connector.close()
    http.close()
    server.close()
    assert not server.errors


def request(path: str, headers: dict[str, str], **params: str) -> LoopbackRequest:
    return LoopbackRequest("GET", path, {name: [value] for name, value in params.items()}, headers)


# -- systems.yaml -------------------------------------------------------------------------------------


def test_systems_yaml_entries_are_valid_http_systems(demo: Demo) -> None:
    wms, crm = demo.connector("wms"), demo.connector("crm")
    assert wms.config.base_url == f"{demo.server.url}/wms" and wms.config.timezone == "UTC"
    assert crm.config.headers["revision"].get_secret_value() == "2026-04-15"
    assert set(wms.config.entities) == {"stock", "orders"} and set(crm.config.entities) == {"profiles"}


# -- Mintsoft: stock ----------------------------------------------------------------------------------


def test_stock_lookup_returns_the_levels_of_the_skus_asked_in_one_batch(demo: Demo) -> None:
    records = demo.connector("wms").read(STOCK, ["SKU-0003", "SKU-0140", "NOPE"])
    assert {(r.key, r.fields["available"], r.updated_at) for r in records} == {
        ("SKU-0003", 3, BASE + timedelta(minutes=3)),
        ("SKU-0140", 140, BASE + timedelta(minutes=140)),
    }
    assert all(not r.problems for r in records)
    assert demo.wms.counters.requests == {"GET /api/Product/StockLevels": 1}


def test_stock_lookup_of_250_skus_takes_three_batches(demo: Demo) -> None:
    records = demo.connector("wms").read(STOCK, list(demo.state.wms.stock))
    assert len(records) == 250
    assert demo.wms.counters.requests["GET /api/Product/StockLevels"] == 3


def test_stock_levels_are_pascal_case_with_offsetless_utc_timestamps(demo: Demo) -> None:
    [level] = demo.wms_get("/api/Product/StockLevels", SKU="SKU-0001").json()
    assert level["SKU"] == "SKU-0001" and level["Level"] == 1 and level["ProductId"] == 1001
    assert level["WarehouseId"] == 1 and level["LastUpdated"] == "2026-11-27T09:01:00"
    [combined] = demo.wms_get("/api/Product/StockLevels", SKU="SKU-0001", WarehouseId="0").json()
    assert combined["WarehouseId"] == 0


def test_stock_levels_without_sku_are_paged(demo: Demo) -> None:
    last = demo.wms_get("/api/Product/StockLevels", PageNo="3", Limit="100").json()
    assert [row["SKU"] for row in last] == [f"SKU-{i:04d}" for i in range(200, 250)]
    assert demo.wms_get("/api/Product/StockLevels", PageNo="4").json() == []


def test_stock_changed_since_walks_every_page_oldest_first(demo: Demo) -> None:
    keys = demo.connector("wms").changed_since(STOCK, BASE + timedelta(minutes=20), 1000)
    assert keys == [f"SKU-{i:04d}" for i in range(20, 250)]
    pages = [r.param("PageNo") for r in demo.server.requests if r.path.endswith("/UpdatedSince")]
    assert pages == ["1", "2", "3"]
    assert demo.server.requests[0].param("FromDate") == "2026-11-27T09:20:00"


@pytest.mark.parametrize("from_date", ["2026-11-27T13:00:00", "2026-11-27T14:00:00+01:00", "2026-11-27T13:00:00Z"])
def test_updated_since_reads_a_from_date_without_offset_as_utc(demo: Demo, from_date: str) -> None:
    rows = demo.wms_get("/api/Product/StockLevels/UpdatedSince", FromDate=from_date).json()
    assert [row["SKU"] for row in rows] == [f"SKU-{i:04d}" for i in range(240, 250)]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"FromDate": "2026-11-27T10:00:00", "Limit": "101"}, "Limit cannot be more than 100."),
        ({"FromDate": "2026-11-27T10:00:00", "PageNo": "0"}, "PageNo and Limit must be 1 or more."),
        ({"FromDate": "2026-11-27T10:00:00", "Limit": "ten"}, "The value 'ten' is not valid for Limit."),
        ({}, "FromDate is required, e.g. FromDate=2026-11-27T10:00:00"),
        ({"FromDate": "yesterday"}, "The value 'yesterday' is not valid for FromDate."),
    ],
)
def test_bad_paging_and_dates_are_400_with_a_message(demo: Demo, params: dict[str, str], message: str) -> None:
    response = demo.wms_get("/api/Product/StockLevels/UpdatedSince", **params)
    assert (response.status_code, response.json()) == (400, {"Message": message})


def test_a_connector_asking_for_pages_of_101_gets_a_query_error(demo: Demo) -> None:
    paging = {"style": "page", "page_param": "PageNo", "size_param": "Limit", "page_size": 101}
    stock = demo.raw("wms")["entities"]["stock"]
    stock["list"]["pagination"] = paging
    with pytest.raises(QueryError, match="HTTP 400"):
        demo.connector("wms", entities={"stock": stock}).sample_keys(STOCK, 5, random.Random(1))


def test_product_list_sample_reads_every_page(demo: Demo) -> None:
    keys = demo.connector("wms").sample_keys(STOCK, 250, random.Random(7))
    assert sorted(keys) == sorted(demo.state.wms.stock)
    assert demo.wms.counters.requests["GET /api/Product/List"] == 3
    first = demo.wms_get("/api/Product/List", Limit="1").json()
    assert first == [{"ID": 1000, "SKU": "SKU-0000", "Name": "SKU-0000", "LastUpdated": "2026-11-27T09:00:00"}]


# -- Mintsoft: orders ---------------------------------------------------------------------------------


def test_order_lookup_searches_one_order_number_per_call(demo: Demo) -> None:
    records = demo.connector("wms").read(ORDERS, ["#1001", "#1002", "#9999"])
    by_key = {r.key: r for r in records}
    assert set(by_key) == {"#1001", "#1002"}
    assert by_key["#1001"].fields == {
        "status": "DESPATCHED",
        "despatched_at": "2026-11-27T12:00:00",
        "tracking_number": "RM000000000GB",
    }
    assert by_key["#1002"].fields == {"status": "AWAITINGPICKING", "despatched_at": None, "tracking_number": None}
    assert by_key["#1002"].updated_at == BASE + timedelta(minutes=1, seconds=30)
    assert demo.wms.counters.requests["GET /api/Order/Search"] == 3
    assert [r.param("OrderNumber") for r in demo.server.requests] == ["#1001", "#1002", "#9999"]


def test_order_search_sends_mintsoft_order_fields(demo: Demo) -> None:
    [order] = demo.wms_get("/api/Order/Search", OrderNumber="#1004").json()
    assert order["ID"] == 50_003 and order["ExternalOrderReference"] == "5600003"
    assert (order["OrderStatusId"], order["OrderStatus"]) == (4, "DESPATCHED")
    assert order["CourierServiceName"] == "Royal Mail" and order["Email"] == "customer3@example.co.uk"
    assert order["OrderItems"] == [{"SKU": "SKU-0003", "Quantity": 1}]
    assert demo.wms_get("/api/Order/Search", OrderNumber="#1").json() == []
    assert demo.wms_get("/api/Order/Search").status_code == 400


def test_orders_changed_since_and_listing_walk_their_pages(demo: Demo) -> None:
    wms = demo.connector("wms")
    assert wms.changed_since(ORDERS, BASE + timedelta(minutes=100), 1000) == [f"#{1001 + i}" for i in range(100, 120)]
    assert sorted(wms.sample_keys(ORDERS, 500, random.Random(3))) == sorted(demo.state.wms.orders)
    assert demo.wms.counters.requests["GET /api/Order/List"] == 1 + 2


def test_order_list_filters_by_status(demo: Demo) -> None:
    rows = demo.wms_get("/api/Order/List", OrderStatusId="4", IncludeOrderItems="true").json()
    assert len(rows) == 40 and {row["OrderStatus"] for row in rows} == {"DESPATCHED"}
    assert rows[0]["OrderItems"] == [{"SKU": "SKU-0000", "Quantity": 1}]


def test_order_statuses_list_the_account_statuses(demo: Demo) -> None:
    statuses = demo.wms_get("/api/Order/Statuses").json()
    assert [(s["ID"], s["Name"]) for s in statuses][:3] == [(1, "NEW"), (4, "DESPATCHED"), (9, "ON_BACK_ORDER")]
    assert statuses[0] == {
        "ID": 1,
        "Name": "NEW",
        "ExternalName": "New",
        "LastUpdated": "2024-01-08T09:00:00",
        "LastUpdatedByUser": "system",
    }


def test_paths_and_parameter_names_are_case_insensitive_as_in_aspnet(demo: Demo) -> None:
    rows = demo.wms_get("/api/product/stocklevels", sku="SKU-0002").json()
    assert [row["SKU"] for row in rows] == ["SKU-0002"]


# -- Mintsoft: auth, limits, faults -----------------------------------------------------------------


def test_wms_needs_its_api_key_in_the_header_or_the_query(demo: Demo) -> None:
    denied = {"Message": "Authorization has been denied for this request."}
    assert demo.wms_get("/api/Order/Statuses", None).json() == denied
    assert demo.wms_get("/api/Order/Statuses", "wrong").status_code == 401
    assert demo.wms_get("/api/Order/Statuses", None, APIKey=WMS_KEY).status_code == 200
    with pytest.raises(AuthError):
        demo.connector("wms", auth={"type": "header", "name": "ms-apikey", "value": "wrong"}).read(STOCK, ["SKU-0001"])


def test_unknown_paths_are_404(demo: Demo) -> None:
    assert demo.wms_get("/api/Nothing").status_code == 404
    assert demo.http.get("/elsewhere/api/Order/Statuses").status_code == 404
    assert demo.wms.counters.requests["(no such endpoint)"] == 1


def test_more_than_the_minute_s_requests_is_429_until_the_next_clock_minute(demo: Demo) -> None:
    clock = FixedClock(T0)
    wms = MintsoftSimulator(demo.state, clock, api_key=WMS_KEY, requests_per_minute=3)
    statuses = [wms(request("/api/Order/Statuses", {"ms-apikey": WMS_KEY})) for _ in range(4)]
    assert [r.status for r in statuses] == [200, 200, 200, 429]
    assert statuses[-1].headers == {"Retry-After": "30"}
    clock.advance(29)
    assert wms(request("/api/Order/Statuses", {"ms-apikey": WMS_KEY})).headers == {"Retry-After": "1"}
    clock.advance(1)
    assert wms(request("/api/Order/Statuses", {"ms-apikey": WMS_KEY})).status == 200
    assert wms.counters.requests == {"GET /api/Order/Statuses": 6}
    assert wms.counters.throttled == {"GET /api/Order/Statuses": 2}


def test_the_connector_waits_out_a_429_on_the_shared_clock(demo: Demo) -> None:
    for _ in range(120):  # the integration's own traffic spends the minute's budget
        assert demo.wms(request("/wms/api/Order/Statuses", {"ms-apikey": WMS_KEY})).status == 200
    wms = demo.connector("wms")
    records = wms.read(STOCK, ["SKU-0001"])
    assert [r.key for r in records] == ["SKU-0001"]
    assert demo.wms.counters.throttled == {"GET /api/Product/StockLevels": 1}
    assert demo.clock.now() == T0 + timedelta(seconds=30)
    assert wms.usage().retries == 1 and wms.usage().by_status == {"429": 1, "200": 1}


def test_wms_outage_is_unavailable_after_the_retries(demo: Demo) -> None:
    demo.state.faults.outage.add("wms")
    with pytest.raises(ConnectorUnavailable) as caught:
        demo.connector("wms").read(STOCK, ["SKU-0001"])
    assert caught.value.attempts == 4
    assert demo.wms.counters.statuses == {503: 4}


def test_wms_rate_storm_is_rate_limited_after_the_retries(demo: Demo) -> None:
    demo.state.faults.rate_storm.add("wms")
    assert demo.wms_get("/api/Order/Statuses").headers["Retry-After"] == "30"
    with pytest.raises(RateLimited):
        demo.connector("wms").read(ORDERS, ["#1001"])
    assert demo.wms.counters.throttled["GET /api/Order/Search"] == 4


def test_a_renamed_wms_field_is_a_problem_on_the_record(demo: Demo) -> None:
    demo.state.faults.renamed[("wms", "stock")] = ("Level", "Quantity")
    demo.state.faults.renamed[("wms", "orders")] = ("OrderStatus", "OrderStatusName")
    wms = demo.connector("wms")
    [stock] = wms.read(STOCK, ["SKU-0005"])
    assert (stock.fields, stock.problems) == ({"available": None}, {"available": "absent"})
    [order] = wms.read(ORDERS, ["#1005"])
    assert order.problems == {"status": "absent"} and order.fields["tracking_number"] is None
    assert demo.wms_get("/api/Product/StockLevels", SKU="SKU-0005").json()[0]["Quantity"] == 5


# -- Klaviyo: profiles -------------------------------------------------------------------------------


def test_profile_lookup_matches_emails_case_insensitively_and_returns_duplicates(demo: Demo) -> None:
    records = demo.connector("crm").read(PROFILES, ["PERSON7@example.co.uk", "person150@example.co.uk", "x@y.z"])
    keys = sorted(r.key for r in records)
    assert keys == ["Person7@Example.CO.UK", "person150@example.co.uk", "person7@example.co.uk"]
    by_key = {r.key: r for r in records}
    assert by_key["person7@example.co.uk"].fields == {
        "consent": "SUBSCRIBED",
        "last_order": "#1008",
        "last_order_status": "FULFILLED",
    }
    assert by_key["person7@example.co.uk"].updated_at == BASE + timedelta(minutes=7)
    # Nothing was set on the duplicate or on person150: Klaviyo sends no such property at all.
    assert by_key["Person7@Example.CO.UK"].problems == {"last_order": "absent", "last_order_status": "absent"}
    assert by_key["person150@example.co.uk"].fields["consent"] == "NEVER_SUBSCRIBED"
    [sent] = demo.server.requests
    assert sent.param("filter") == "any(email,['PERSON7@example.co.uk','person150@example.co.uk','x@y.z'])"


def test_profile_lookup_batches_follow_links_next_when_duplicates_overflow_a_page(demo: Demo) -> None:
    emails = [f"person{i}@example.co.uk" for i in range(229)]
    assert len(demo.connector("crm").read(PROFILES, emails)) == 229 + 1  # person7 twice
    # Three batches of up to 100 emails; the first matches 101 profiles, so it has a second page.
    assert demo.crm.counters.requests == {"GET /api/profiles": 4}
    assert [r.param("page[cursor]") is not None for r in demo.server.requests] == [False, True, False, False]


def test_profiles_are_json_api_with_subscriptions_only_when_asked(demo: Demo) -> None:
    response = demo.crm_get(filter="equals(email,'person1@EXAMPLE.co.uk')")
    assert response.headers["content-type"] == "application/vnd.api+json"
    [profile] = response.json()["data"]
    assert profile["type"] == "profile" and profile["id"] == "01JDEMO0000000000000000001"
    assert profile["links"]["self"] == f"{demo.server.url}/crm/api/profiles/01JDEMO0000000000000000001/"
    attributes = profile["attributes"]
    assert attributes["updated"] == "2026-11-27T09:01:00+00:00" and "subscriptions" not in attributes
    assert attributes["properties"] == {"last_order": "#1002", "last_order_status": "FULFILLED"}
    params = {"filter": "equals(email,'person1@example.co.uk')", "additional-fields[profile]": "subscriptions"}
    asked = demo.crm_get(**params)
    marketing = asked.json()["data"][0]["attributes"]["subscriptions"]["email"]["marketing"]
    assert marketing["consent"] == "SUBSCRIBED" and marketing["can_receive_email_marketing"] is True
    assert marketing["consent_timestamp"] == "2026-11-27T09:00:00+00:00" and marketing["suppression"] == []


def test_sparse_fieldsets_keep_only_the_attributes_asked(demo: Demo) -> None:
    params = {"filter": "equals(id,'01JDEMO0000000000000000003')", "fields[profile]": "email,properties.last_order"}
    [profile] = demo.crm_get(**params).json()["data"]
    assert profile["attributes"] == {"email": "person3@example.co.uk", "properties": {"last_order": "#1004"}}


def test_profiles_changed_since_follow_links_next(demo: Demo) -> None:
    keys = demo.connector("crm").changed_since(PROFILES, BASE + timedelta(minutes=99), 1000)
    assert keys == [f"person{i}@example.co.uk" for i in range(100, 229)]
    assert demo.crm.counters.requests["GET /api/profiles"] == 2
    assert demo.server.requests[0].param("filter") == "greater-than(updated,2026-11-27T10:39:00Z)"


def test_greater_or_equal_and_and_combine(demo: Demo) -> None:
    text = "and(greater-or-equal(updated,2026-11-27T12:00:00Z),less-than(updated,2026-11-27T12:03:00+00:00))"
    data = demo.crm_get(filter=text).json()["data"]
    assert [p["attributes"]["email"] for p in data] == [f"person{i}@example.co.uk" for i in (180, 181, 182)]


def test_profile_listing_pages_with_absolute_next_and_prev_links(demo: Demo) -> None:
    first = demo.crm_get().json()
    assert len(first["data"]) == 20 and first["links"]["prev"] is None
    assert first["links"]["next"].startswith(f"{demo.server.url}/crm/api/profiles?")
    second = demo.http.get(first["links"]["next"], headers=CRM_HEADERS).json()
    assert second["data"][0]["id"] == "01JDEMO0000000000000000020"
    back = demo.http.get(second["links"]["prev"], headers=CRM_HEADERS).json()
    assert [p["id"] for p in back["data"]] == [p["id"] for p in first["data"]]
    keys = demo.connector("crm").sample_keys(PROFILES, 1000, random.Random(5))
    assert len(keys) == 230 and demo.crm.counters.requests["GET /api/profiles"] == 3 + 3


def test_cursor_pages_stay_stable_when_a_profile_arrives_between_them(demo: Demo) -> None:
    first = demo.crm_get(**{"page[size]": "5"}).json()
    demo.state.crm.profiles.append(Profile("01JDEMO0", "early@example.co.uk", "E", "Arly", BASE, BASE))
    second = demo.http.get(first["links"]["next"], headers=CRM_HEADERS).json()
    assert second["data"][0]["id"] == "01JDEMO0000000000000000005"


def test_sort_by_updated_either_way(demo: Demo) -> None:
    newest = demo.crm_get(**{"sort": "-updated", "page[size]": "2"}).json()["data"]
    assert [p["attributes"]["email"] for p in newest] == ["person228@example.co.uk", "person227@example.co.uk"]
    oldest = demo.crm_get(**{"sort": "updated", "page[size]": "2"}).json()["data"]
    assert [p["attributes"]["updated"] for p in oldest] == ["2026-11-27T09:00:00+00:00"] * 2


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"page[size]": "101"}, "page[size]"),
        ({"page[size]": "0"}, "page[size]"),
        ({"filter": "equals(phone_number,'+44')"}, "filter"),
        ({"filter": "any(email,'a@b')"}, "filter"),
        ({"filter": "greater-than(updated,soon)"}, "filter"),
        ({"filter": "equals(email,"}, "filter"),
        ({"page[cursor]": "not-a-cursor"}, "page[cursor]"),
        ({"sort": "first_name"}, "sort"),
        ({"additional-fields[profile]": "predictive_analytics"}, "additional-fields[profile]"),
    ],
)
def test_invalid_parameters_are_400_naming_the_parameter(demo: Demo, params: dict[str, str], parameter: str) -> None:
    response = demo.crm_get(**params)
    [error] = response.json()["errors"]
    assert (response.status_code, error["code"], error["source"]) == (400, "invalid", {"parameter": parameter})


# -- Klaviyo: auth, limits, faults -------------------------------------------------------------------


def test_crm_needs_its_key_and_a_revision(demo: Demo) -> None:
    missing = demo.crm_get({"revision": "2026-04-15"})
    assert (missing.status_code, missing.json()["errors"][0]["code"]) == (401, "not_authenticated")
    wrong = demo.crm_get({"Authorization": "Klaviyo-API-Key nope", "revision": "2026-04-15"})
    assert (wrong.status_code, wrong.json()["errors"][0]["code"]) == (401, "authentication_failed")
    no_revision = demo.crm_get({"Authorization": f"Klaviyo-API-Key {CRM_KEY}"})
    assert no_revision.status_code == 400 and no_revision.json()["errors"][0]["source"] == {"header": "revision"}
    auth = {"type": "header", "name": "Authorization", "value": "Klaviyo-API-Key nope"}
    with pytest.raises(AuthError):
        demo.connector("crm", auth=auth).read(PROFILES, ["person1@example.co.uk"])
    with pytest.raises(QueryError, match="HTTP 400"):
        demo.connector("crm", headers={}).read(PROFILES, ["person1@example.co.uk"])


def test_burst_and_steady_limits_are_429_throttled_with_retry_after(demo: Demo) -> None:
    clock = FixedClock(T0)
    crm = KlaviyoSimulator(demo.state, clock, api_key=CRM_KEY, burst_per_second=2, steady_per_minute=3)
    def get() -> LoopbackResponse:
        return crm(request("/api/profiles", {name.lower(): value for name, value in CRM_HEADERS.items()}))

    assert [get().status, get().status] == [200, 200]
    burst = get()
    assert burst.status == 429 and burst.headers["Retry-After"] == "1"
    assert burst.body["errors"][0]["code"] == "throttled"
    clock.advance(1)
    assert get().status == 200
    steady = get()
    assert steady.headers["Retry-After"] == "29"
    assert steady.body["errors"][0]["detail"] == "Request was throttled. Expected available in 29 seconds."
    clock.advance(29)
    assert get().status == 200
    assert crm.counters.throttled == {"GET /api/profiles": 2}


def test_the_connector_waits_out_klaviyo_s_burst_limit(demo: Demo) -> None:
    headers = {k.lower(): v for k, v in CRM_HEADERS.items()}
    for _ in range(75):
        assert demo.crm(request("/crm/api/profiles", headers)).status == 200
    crm = demo.connector("crm")
    assert len(crm.read(PROFILES, ["person2@example.co.uk"])) == 1
    assert demo.crm.counters.throttled == {"GET /api/profiles": 1}
    assert demo.clock.now() == T0 + timedelta(seconds=1) and crm.usage().retries == 1


def test_crm_outage_and_rate_storm_are_connector_errors(demo: Demo) -> None:
    crm = demo.connector("crm")
    demo.state.faults.outage.add("crm")
    with pytest.raises(ConnectorUnavailable):
        crm.read(PROFILES, ["person1@example.co.uk"])
    demo.state.faults.outage.clear()
    demo.state.faults.rate_storm.add("crm")
    with pytest.raises(RateLimited):
        crm.read(PROFILES, ["person1@example.co.uk"])
    assert demo.crm.counters.statuses == {503: 4, 429: 4}


def test_a_renamed_crm_attribute_is_a_problem_on_the_record(demo: Demo) -> None:
    demo.state.faults.renamed[("crm", "profiles")] = ("properties.last_order_status", "properties.order_state")
    [record] = demo.connector("crm").read(PROFILES, ["person4@example.co.uk"])
    assert record.problems == {"last_order_status": "absent"} and record.fields["last_order"] == "#1005"


# -- router and limiter --------------------------------------------------------------------------------


def test_router_dispatches_by_the_longest_prefix_and_checks_mounts() -> None:
    def answer(name: str) -> Any:
        return lambda request: LoopbackResponse(body=name)

    router = Router({"/shop": answer("shop"), "/shop/admin": answer("admin")})
    assert router(request("/shop/admin/graphql.json", {})).body == "admin"
    assert router(request("/shop", {})).body == "shop"
    assert router(request("/shopping", {})).status == 404
    with pytest.raises(ValueError, match="prefix='/crm'"):
        Router({"/wms": KlaviyoSimulator(WorldState(), FixedClock(T0), api_key="k", prefix="/crm")})
    with pytest.raises(ValueError, match="leading slash"):
        Router({"wms/": answer("wms")})


def test_window_limiter_counts_only_admitted_requests_per_window() -> None:
    clock = FixedClock(datetime(2026, 11, 27, 12, 0, 59, 500_000, tzinfo=UTC))
    limiter = WindowLimiter(clock, [Window(1, 60)])
    assert [limiter.admit(), limiter.admit(), limiter.admit()] == [None, 1, 1]  # 0.5s left: rounded up
    clock.advance(0.5)
    assert limiter.admit() is None
