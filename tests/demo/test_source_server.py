"""The demo source server: deterministic data, the documented envelopes, auth, validation and faults."""

from __future__ import annotations

import csv
import io
import json

import pytest
import requests

from demo.source_server import DemoSourceServer, start_server
from demo.world import COUNTRY_REGIONS

DAY = "2026-11-22"
ADS = "/ads/v1/campaign-performance"
ADS_KEY = {"X-Api-Key": "demo-ads-key"}
CRM = {"Authorization": "Bearer demo-crm-token"}
ERP = ("finance", "demo-erp-password")
WB_ERROR = [
    {"message": [{"id": "120", "key": "Invalid value", "value": "The provided parameter value is not valid"}]}
]

# `server` (tests/conftest.py) is this module's own demo server; faults are cleared around each test.
pytestmark = pytest.mark.usefixtures("no_faults")


def ads_page(url: str, page: int = 1, page_size: int = 500, day: str = DAY) -> requests.Response:
    params = {"date": day, "page": page, "page_size": page_size}
    return requests.get(url + ADS, params=params, headers=ADS_KEY, timeout=10)


def all_ads(url: str, page_size: int = 500) -> tuple[list[dict], dict]:
    first = ads_page(url, 1, page_size).json()
    rows = list(first["data"])
    for page in range(2, first["total_pages"] + 1):
        rows += ads_page(url, page, page_size).json()["data"]
    return rows, first


def all_cursor(url: str, path: str, params: dict) -> list[dict]:
    rows, cursor = [], None
    while True:
        query = {**params, "limit": 1000, **({"cursor": cursor} if cursor else {})}
        body = requests.get(url + path, params=query, headers=CRM, timeout=10).json()
        rows += body["data"]
        cursor = body["next_cursor"]
        if cursor is None:
            return rows


def ledger(url: str, month: str = "2026-11") -> list[dict]:
    response = requests.get(url + "/erp/v1/ledger.csv", params={"month": month}, auth=ERP, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def worldbank(url: str, codes: str = "all", indicator: str = "SP.POP.TOTL", **params) -> requests.Response:
    query = {"format": "json", **params}
    return requests.get(f"{url}/v2/country/{codes}/indicator/{indicator}", params=query, timeout=10)


# ------------------------------------------------------------------------------------------ basics


def test_health_and_unknown_endpoint(server: DemoSourceServer) -> None:
    assert requests.get(server.url + "/_control/health", timeout=5).json() == {"status": "ok"}
    missing = requests.get(server.url + "/nope", timeout=5)
    assert missing.status_code == 404 and "error" in missing.json()


def test_same_seed_same_data_other_seed_other_data(server: DemoSourceServer) -> None:
    twin, other = start_server(port=0, seed=42, quiet=True), start_server(port=0, seed=7, quiet=True)
    try:
        for srv in (twin, other):
            assert srv.url != server.url
        assert ads_page(twin.url, 2).json() == ads_page(server.url, 2).json()
        assert ads_page(other.url, 2).json() != ads_page(server.url, 2).json()
        assert all_cursor(twin.url, "/crm/v1/orders", {"date": DAY}) == all_cursor(
            server.url, "/crm/v1/orders", {"date": DAY}
        )
        assert ledger(twin.url) == ledger(server.url)
        assert worldbank(twin.url, page=3).json() == worldbank(server.url, page=3).json()
    finally:
        twin.stop()
        other.stop()


# --------------------------------------------------------------------------------------------- ads


def test_ads_pages_cover_the_day_once(server: DemoSourceServer) -> None:
    rows, first = all_ads(server.url, page_size=300)
    assert first["page"] == 1 and first["page_size"] == 300
    assert len(rows) == first["total"] >= 1200
    assert first["total_pages"] == -(-first["total"] // 300)
    keys = {(r["date"], r["campaign"]["id"], r["channel"]) for r in rows}
    assert len(keys) == len(rows)
    for row in rows:
        assert row["date"] == DAY
        assert row["channel"] in {"search", "social", "display", "video", "email"}
        assert row["region"] in {"NA", "EMEA", "APAC", "LATAM"}
        metrics = row["metrics"]
        assert 0 <= metrics["clicks"] <= metrics["impressions"]
        assert isinstance(metrics["cost_micros"], int) and metrics["cost_micros"] >= 0
    assert ads_page(server.url, first["total_pages"] + 1, 300).json()["data"] == []


def test_ads_scale_grows_the_volume() -> None:
    with start_server(port=0, scale=2, quiet=True) as big:
        assert ads_page(big.url).json()["total"] > 2400


@pytest.mark.parametrize("headers", [{}, {"X-Api-Key": "wrong"}, {"Authorization": "Bearer demo-ads-key"}])
def test_ads_requires_the_api_key(server: DemoSourceServer, headers: dict) -> None:
    response = requests.get(server.url + ADS, params={"date": DAY}, headers=headers, timeout=5)
    assert response.status_code == 401
    assert "demo-ads-key" not in response.text


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({}, "date"),
        ({"date": "2026-13-01"}, "date"),
        ({"date": "22/11/2026"}, "date"),
        ({"date": DAY, "page": "0"}, "page"),
        ({"date": DAY, "page": "x"}, "page"),
        ({"date": DAY, "page_size": "1001"}, "page_size"),
        ({"date": DAY, "colour": "red"}, "colour"),
    ],
)
def test_ads_rejects_bad_parameters(server: DemoSourceServer, params: dict, named: str) -> None:
    response = requests.get(server.url + ADS, params=params, headers=ADS_KEY, timeout=5)
    assert response.status_code == 400
    assert named in response.json()["error"]


# --------------------------------------------------------------------------------------------- crm


def test_crm_orders_and_customers_are_consistent(server: DemoSourceServer) -> None:
    orders = all_cursor(server.url, "/crm/v1/orders", {"date": DAY})
    customers = all_cursor(server.url, "/crm/v1/customers", {})
    assert 1800 <= len(orders) <= 2200 and len(orders) == len(server.world.orders(DAY))
    assert len(customers) == 5000
    assert len({o["id"] for o in orders}) == len(orders)
    customer_ids = {c["id"] for c in customers}
    assert {o["customer_id"] for o in orders} <= customer_ids
    assert {c["country_code"] for c in customers} <= set(COUNTRY_REGIONS)
    order = orders[0]
    assert order["id"].startswith("ord-20261122-") and order["created_at"].startswith(DAY)
    assert order["status"] in {"placed", "shipped", "delivered", "cancelled", "returned"}
    assert isinstance(order["total"]["amount"], str) and float(order["total"]["amount"]) > 0
    assert order["total"]["currency"] == "USD" and order["line_items"] >= 1


def test_crm_cursor_is_opaque_and_checked(server: DemoSourceServer) -> None:
    url = server.url + "/crm/v1/orders"
    body = requests.get(url, params={"date": DAY, "limit": 10}, headers=CRM, timeout=5).json()
    cursor = body["next_cursor"]
    assert cursor and not cursor.isdigit()
    for bad in ("not-a-cursor", "!!!", "Zm9vYmFy", cursor + "="):
        response = requests.get(url, params={"date": DAY, "cursor": bad}, headers=CRM, timeout=5)
        assert response.status_code == 400 and "cursor" in response.json()["error"]
    # a cursor belongs to the query that issued it
    other_day = requests.get(url, params={"date": "2026-11-23", "cursor": cursor}, headers=CRM, timeout=5)
    assert other_day.status_code == 400


def test_crm_auth_and_validation(server: DemoSourceServer) -> None:
    url = server.url + "/crm/v1/orders"
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "demo-crm-token"}):
        assert requests.get(url, params={"date": DAY}, headers=headers, timeout=5).status_code == 401
    bad_limit = requests.get(url, params={"date": DAY, "limit": "5000"}, headers=CRM, timeout=5)
    assert bad_limit.status_code == 400 and "limit" in bad_limit.json()["error"]


# --------------------------------------------------------------------------------------------- erp


def test_erp_ledger_csv(server: DemoSourceServer) -> None:
    rows = ledger(server.url)
    assert 2000 <= len(rows) <= 5000
    assert list(rows[0]) == [
        "entry_id",
        "posting_date",
        "account",
        "account_name",
        "region",
        "amount",
        "currency",
    ]
    assert {r["region"] for r in rows} == {"NA", "EMEA", "APAC", "LATAM"}
    assert {(r["account"], r["account_name"]) for r in rows} == {
        ("4000", "Revenue"),
        ("5000", "COGS"),
        ("6100", "Marketing"),
        ("6200", "Salaries"),
    }
    for row in rows:
        assert row["posting_date"].startswith("2026-11-")
        assert (float(row["amount"]) > 0) == (row["account"] == "4000")
    assert len({r["entry_id"] for r in rows}) == len(rows)
    # every region books every account each month
    assert len({(r["region"], r["account"]) for r in rows}) == 16


def test_erp_auth_and_validation(server: DemoSourceServer) -> None:
    url = server.url + "/erp/v1/ledger.csv"
    response = requests.get(url, params={"month": "2026-11"}, auth=("finance", "wrong"), timeout=5)
    assert response.status_code == 401 and "WWW-Authenticate" in response.headers
    for month in ("2026-13", "2026-11-01", "nov"):
        response = requests.get(url, params={"month": month}, auth=ERP, timeout=5)
        assert response.status_code == 400 and "month" in response.json()["error"]


# -------------------------------------------------------------------------------------- world bank


def test_worldbank_real_body_shape(server: DemoSourceServer) -> None:
    response = worldbank(server.url, indicator="NY.GDP.MKTP.CD", date="2015:2024", per_page=50)
    assert response.status_code == 200
    meta, rows = response.json()
    assert meta == {
        "page": 1,
        "pages": 5,
        "per_page": 50,
        "total": 240,
        "sourceid": "2",
        "lastupdated": meta["lastupdated"],
    }
    row = rows[0]
    assert set(row) == {
        "indicator",
        "country",
        "countryiso3code",
        "date",
        "value",
        "unit",
        "obs_status",
        "decimal",
    }
    assert row["indicator"] == {"id": "NY.GDP.MKTP.CD", "value": "GDP (current US$)"}
    assert row["country"] == {"id": "AR", "value": "Argentina"} and row["countryiso3code"] == "ARG"
    assert [r["date"] for r in rows[:10]] == [str(y) for y in range(2024, 2014, -1)]


def test_worldbank_all_pages_one_row_per_country_year(server: DemoSourceServer) -> None:
    rows, page = [], 1
    while True:
        meta, data = worldbank(server.url, page=page, per_page=100, date="2000:2024").json()
        rows += data or []
        if page >= meta["pages"]:
            break
        page += 1
    assert len(rows) == meta["total"] == 24 * 25
    assert len({(r["countryiso3code"], r["date"]) for r in rows}) == len(rows)
    assert any(r["value"] is None for r in rows)
    assert all(isinstance(r["value"], int) for r in rows if r["value"] is not None)  # population


def test_worldbank_country_lists_and_derived_indicator(server: DemoSourceServer) -> None:
    def values(indicator: str) -> dict:
        body = worldbank(server.url, "bra;DE", indicator, date="2020:2024").json()
        return {(r["countryiso3code"], r["date"]): r["value"] for r in body[1]}

    pop, gdp, pcap = values("SP.POP.TOTL"), values("NY.GDP.MKTP.CD"), values("NY.GDP.PCAP.CD")
    assert {k[0] for k in pop} == {"BRA", "DEU"} and len(pop) == 10
    for key, value in pcap.items():
        if value is not None:
            assert value == pytest.approx(gdp[key] / pop[key], rel=1e-3)


def test_worldbank_invalid_requests_answer_200_with_the_error_body(server: DemoSourceServer) -> None:
    for response in (
        worldbank(server.url, indicator="NOT.AN.INDICATOR"),
        worldbank(server.url, codes="XXX"),
        worldbank(server.url, date="20x0"),
        worldbank(server.url, page="0"),
        requests.get(server.url + "/v2/country/all/indicator/SP.POP.TOTL", timeout=5),  # no format=json
    ):
        assert response.status_code == 200
        assert response.json() == WB_ERROR


def test_worldbank_page_without_rows_is_null(server: DemoSourceServer) -> None:
    meta, rows = worldbank(server.url, date="1900:1901").json()
    assert meta["total"] == 0 and rows is None


# ------------------------------------------------------------------------------------------ faults


def test_request_counters_and_control_endpoint(server: DemoSourceServer) -> None:
    before = server.requests
    ads_page(server.url)
    requests.get(server.url + ADS, params={"date": DAY}, timeout=5)  # 401 counts too
    assert server.requests["ads"] == before["ads"] + 2
    assert server.requests["crm"] == before["crm"]

    response = requests.post(
        server.url + "/_control/faults", json={"source": "crm", "kind": "server_error", "count": 1}, timeout=5
    )
    assert response.status_code == 201
    url = server.url + "/crm/v1/customers"
    assert requests.get(url, headers=CRM, timeout=5).status_code == 503
    assert requests.get(url, headers=CRM, timeout=5).status_code == 200

    server.set_fault("*", "server_error", count=-1)
    assert requests.delete(server.url + "/_control/faults", timeout=5).status_code == 200
    assert ads_page(server.url).status_code == 200
    bad = requests.post(server.url + "/_control/faults", json={"source": "crm", "kind": "meteor"}, timeout=5)
    assert bad.status_code == 400 and "kind" in bad.json()["error"]
    with pytest.raises(ValueError):
        server.set_fault("nope", "slow")


def test_rate_limit_and_server_error_faults(server: DemoSourceServer) -> None:
    server.set_fault("ads", "rate_limit", count=2, retry_after=3)
    for _ in range(2):
        limited = ads_page(server.url)
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "3"
        assert limited.json()["retry_after"] == 3
    assert ads_page(server.url).status_code == 200

    server.set_fault("*", "server_error", count=-1)
    for _ in range(3):
        assert worldbank(server.url).status_code == 503
    server.clear_faults()
    assert worldbank(server.url).status_code == 200


def test_slow_fault_still_answers(server: DemoSourceServer) -> None:
    server.set_fault("worldbank", "slow", count=1, delay=0.05)
    assert worldbank(server.url).status_code == 200


def test_malformed_bodies(server: DemoSourceServer) -> None:
    server.set_fault("ads", "malformed")
    response = ads_page(server.url)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)
    server.set_fault("erp", "malformed")
    rows = ledger(server.url)
    assert len(rows) < 1000 and any(None in r.values() for r in rows[-1:])  # cut in the middle of a line


def test_data_faults_per_source(server: DemoSourceServer) -> None:
    server.set_fault("ads", "schema_drift")
    assert all("clicks" not in r["metrics"] for r in ads_page(server.url).json()["data"])
    server.set_fault("ads", "null_keys")
    ads_ids = [r["campaign"]["id"] for r in ads_page(server.url).json()["data"]]
    assert None in ads_ids and any(ads_ids)
    server.set_fault("ads", "out_of_range")
    assert any(r["metrics"]["impressions"] < 0 for r in ads_page(server.url).json()["data"])
    assert all(r["metrics"]["impressions"] >= 0 for r in ads_page(server.url).json()["data"])  # count=1

    url = server.url + "/crm/v1/orders"
    server.set_fault("crm", "schema_drift")
    drifted = requests.get(url, params={"date": DAY}, headers=CRM, timeout=5).json()["data"]
    assert all("customer_id" not in r for r in drifted)
    server.set_fault("crm", "null_keys")
    assert any(
        r["id"] is None
        for r in requests.get(url, params={"date": DAY}, headers=CRM, timeout=5).json()["data"]
    )
    server.set_fault("crm", "out_of_range")
    data = requests.get(url, params={"date": DAY}, headers=CRM, timeout=5).json()["data"]
    assert any(r["total"]["amount"].startswith("-") for r in data)

    server.set_fault("erp", "schema_drift")
    assert "region" not in ledger(server.url)[0]
    server.set_fault("erp", "out_of_range")
    assert any(r["account"] == "4000" and r["amount"].startswith("-") for r in ledger(server.url))
    # the cached data itself was never mutated
    assert all(r["metrics"].get("clicks") is not None for r in server.world.ads(DAY))
    assert all(r["campaign"]["id"] for r in server.world.ads(DAY))


def test_server_log_has_no_credentials(server: DemoSourceServer, capsys: pytest.CaptureFixture) -> None:
    with start_server(port=0) as loud:
        ads_page(loud.url)
        requests.get(loud.url + "/crm/v1/customers", headers=CRM, timeout=5)
        requests.get(loud.url + "/erp/v1/ledger.csv", params={"month": "2026-11"}, auth=ERP, timeout=5)
    err = capsys.readouterr().err
    assert "GET /ads/v1/campaign-performance?date=2026-11-22&page=1&page_size=500 200" in err
    for secret in ("demo-ads-key", "demo-crm-token", "demo-erp-password", "ZmluYW5jZT"):
        assert secret not in err
