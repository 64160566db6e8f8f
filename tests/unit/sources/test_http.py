"""The fetch step against the real demo server: pagination, streaming, retries and error reporting."""

from __future__ import annotations

import json
import logging
import pickle
import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from data_mesh.contract.spec import Auth, HttpSource
from data_mesh.exceptions import DataMeshError, SourceError
from data_mesh.sources.http import ConnectionInfo, RetryPolicy, fetch_source
from data_mesh.sources.staged import FetchResult, load_records
from demo.source_server import DemoSourceServer

DAY = "2026-11-22"
VALUES = {"partition": DAY, "start": DAY, "end": "2026-11-23", "year": "2026"}
MONTH_VALUES = {"partition": "2026-11", "start": "2026-11-01", "end": "2026-12-01", "year": "2026"}
FAST = RetryPolicy(max_attempts=4, backoff_seconds=0.001, max_backoff_seconds=0.01, read_timeout=5)
SECRETS = ("demo-ads-key", "demo-crm-token", "demo-erp-password", "s3cr3t-value")

ADS = HttpSource(
    name="ads",
    conn_id="marketing_ads_api",
    endpoint="/ads/v1/campaign-performance",
    params={"date": "{partition}"},
    pagination="page_number",
    auth=Auth.API_KEY,
    page_size=500,
)
ORDERS = HttpSource(
    name="orders",
    conn_id="sales_crm_api",
    endpoint="crm/v1/orders",
    params={"date": "{partition}"},
    pagination="cursor",
    auth=Auth.BEARER,
    page_size=700,
)
CUSTOMERS = HttpSource(
    name="customers",
    conn_id="sales_crm_api",
    endpoint="crm/v1/customers",
    pagination="cursor",
    auth=Auth.BEARER,
    page_size=1000,
)
LEDGER = HttpSource(
    name="ledger",
    conn_id="finance_erp",
    endpoint="erp/v1/ledger.csv",
    params={"month": "{partition}"},
    auth=Auth.BASIC,
    format="csv",
)
GDP = HttpSource(
    name="gdp",
    conn_id="world_bank_api",
    endpoint="v2/country/all/indicator/NY.GDP.MKTP.CD",
    params={"date": "2015:{year}"},
    pagination="world_bank",
    page_size=50,
)

# `server` (tests/conftest.py) is this module's own demo server; faults are cleared around each test.
pytestmark = pytest.mark.usefixtures("no_faults")


@pytest.fixture()
def conns(server: DemoSourceServer) -> dict[str, ConnectionInfo]:
    return {
        "ads": ConnectionInfo(server.url, password="demo-ads-key"),
        "crm": ConnectionInfo(server.url, password="demo-crm-token"),
        "erp": ConnectionInfo(server.url, login="finance", password="demo-erp-password"),
        "wb": ConnectionInfo(server.url),
    }


def read_ndjson(result: FetchResult) -> list[dict]:
    rows = []
    for path in result.files:
        with open(path, encoding="utf-8") as handle:
            rows += [json.loads(line) for line in handle]
    return rows


# ------------------------------------------------------------------------------------ pagination


def test_page_number_pagination_fetches_everything(server, conns, tmp_path: Path) -> None:
    result = fetch_source(ADS, conns["ads"], tmp_path, VALUES, policy=FAST)
    expected = server.world.ads(DAY)
    assert result.source == "ads" and result.format == "json"
    assert result.pages == -(-len(expected) // 500) == len(result.files)
    assert [Path(f).name for f in result.files] == [f"ads-{p:05d}.ndjson" for p in range(1, result.pages + 1)]
    rows = read_ndjson(result)
    assert result.records == len(rows) == len(expected)
    assert rows == list(expected)  # streamed files hold every record, in order, untouched
    assert len({(r["campaign"]["id"], r["channel"]) for r in rows}) == len(rows)
    assert result.bytes == sum(Path(f).stat().st_size for f in result.files)


@pytest.mark.parametrize(("source", "expected"), [(ORDERS, "orders"), (CUSTOMERS, "customers")])
def test_cursor_pagination_fetches_everything(server, conns, tmp_path: Path, source, expected) -> None:
    result = fetch_source(source, conns["crm"], tmp_path, VALUES, policy=FAST)
    truth = server.world.orders(DAY) if expected == "orders" else server.world.customers()
    rows = read_ndjson(result)
    assert result.records == len(rows) == len(truth)
    assert len({r["id"] for r in rows}) == len(rows)
    assert result.pages == -(-len(truth) // source.page_size)


def test_world_bank_pagination_fetches_everything(server, conns, tmp_path: Path) -> None:
    requests_before = server.requests["worldbank"]
    result = fetch_source(GDP, conns["wb"], tmp_path, VALUES, policy=FAST)
    rows = read_ndjson(result)
    assert result.records == len(rows) == 24 * 10  # 24 countries x 2015..2024
    assert result.pages == 5 and server.requests["worldbank"] - requests_before == 5
    assert len({(r["countryiso3code"], r["date"]) for r in rows}) == len(rows)


def test_world_bank_without_data_gives_no_files(conns, tmp_path: Path) -> None:
    source = HttpSource("old", "wb", GDP.endpoint, {"date": "1900:1901"}, "world_bank")
    result = fetch_source(source, conns["wb"], tmp_path, VALUES, policy=FAST)
    assert (result.records, result.files, result.pages) == (0, (), 1)
    assert list(load_records(result)) == []


def test_csv_is_streamed_to_one_file(server, conns, tmp_path: Path) -> None:
    result = fetch_source(LEDGER, conns["erp"], tmp_path, MONTH_VALUES, policy=FAST)
    assert result.format == "csv" and result.files == (str(tmp_path / "ledger.csv"),) and result.pages == 1
    assert result.records == len(list(server.world.ledger("2026-11")))
    assert result.bytes == (tmp_path / "ledger.csv").stat().st_size
    frames = list(load_records(result, csv_chunksize=1000))
    assert len(frames) == -(-result.records // 1000)
    frame = pd.concat(frames)
    assert len(frame) == result.records
    assert list(frame.columns) == [
        "entry_id",
        "posting_date",
        "account",
        "account_name",
        "region",
        "amount",
        "currency",
    ]
    assert all(pd.api.types.is_string_dtype(dtype) for dtype in frame.dtypes)  # the transform decides types
    assert frame["account"].iloc[0] == "4000"  # not 4000 the integer


def test_load_records_flattens_nested_json(conns, tmp_path: Path) -> None:
    result = fetch_source(ADS, conns["ads"], tmp_path, VALUES, policy=FAST)
    frames = list(load_records(result))
    assert len(frames) == len(result.files)
    frame = pd.concat(frames, ignore_index=True)
    assert len(frame) == result.records
    assert {
        "campaign.id",
        "campaign.name",
        "metrics.impressions",
        "metrics.clicks",
        "metrics.cost_micros",
    } <= set(frame.columns)
    assert (frame["metrics.clicks"] <= frame["metrics.impressions"]).all()


def test_csv_empty_cells_become_missing(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,\n,2\n", encoding="utf-8")
    (frame,) = load_records(FetchResult("x", (str(path),), 2, 1, path.stat().st_size, "csv"))
    assert frame["a"].isna().tolist() == [False, True] and frame["b"].isna().tolist() == [True, False]


def test_stale_files_of_the_source_are_removed(conns, tmp_path: Path) -> None:
    (tmp_path / "ads-00099.ndjson").write_text('{"stale": true}\n')
    (tmp_path / "ads-extra-00001.ndjson").write_text('{"other source": true}\n')
    result = fetch_source(ADS, conns["ads"], tmp_path, VALUES, policy=FAST)
    assert not (tmp_path / "ads-00099.ndjson").exists()
    assert (tmp_path / "ads-extra-00001.ndjson").exists()
    assert sorted(p.name for p in tmp_path.glob("ads-0*.ndjson")) == [Path(f).name for f in result.files]


def test_user_agent_and_template_errors(server, conns, tmp_path: Path) -> None:
    source = HttpSource("ads", "x", ADS.endpoint, {"date": "{nope}"}, "page_number", Auth.API_KEY)
    with pytest.raises(ValueError, match="nope"):
        fetch_source(source, conns["ads"], tmp_path, VALUES, policy=FAST)
    from data_mesh.sources.http import USER_AGENT

    assert USER_AGENT == "data-mesh/0.1"


# ---------------------------------------------------------------------------------------- errors


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_wrong_credentials_fail_with_401(server, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="data_mesh.sources.http")
    cases = [
        (ADS, ConnectionInfo(server.url, password="s3cr3t-value")),
        (ORDERS, ConnectionInfo(server.url, password="s3cr3t-value")),
        (LEDGER, ConnectionInfo(server.url, login="finance", password="s3cr3t-value")),
    ]
    for source, conn in cases:
        before = server.requests
        with pytest.raises(SourceError) as info:
            fetch_source(source, conn, tmp_path, MONTH_VALUES if source is LEDGER else VALUES, policy=FAST)
        error = info.value
        assert error.status == 401 and "401" in str(error) and error.source_name == source.name
        assert isinstance(error, DataMeshError)
        assert_no_secret(str(error))
        assert sum(server.requests.values()) - sum(before.values()) == 1  # a 401 is never retried
    assert_no_secret(caplog.text)


def test_missing_secret_is_reported_before_any_request(server, tmp_path: Path) -> None:
    before = server.requests["ads"]
    with pytest.raises(SourceError, match="no secret"):
        fetch_source(ADS, ConnectionInfo(server.url), tmp_path, VALUES, policy=FAST)
    assert server.requests["ads"] == before


def test_bad_parameter_400_names_it_and_is_not_retried(server, conns, tmp_path: Path) -> None:
    source = HttpSource(
        "ads", "x", ADS.endpoint, {"date": "{partition}"}, "page_number", Auth.API_KEY
    )
    before = server.requests["ads"]
    with pytest.raises(SourceError) as info:
        fetch_source(source, conns["ads"], tmp_path, {"partition": "2026-02-30"}, policy=FAST)
    assert info.value.status == 400
    assert "'date' is not a valid date" in str(info.value)
    assert server.requests["ads"] - before == 1


def test_rate_limit_is_retried_after_retry_after(server, conns, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="data_mesh.sources.http")
    server.set_fault("crm", "rate_limit", count=2, retry_after=1)  # honoured: two 1 s waits
    before = server.requests["crm"]
    result = fetch_source(CUSTOMERS, conns["crm"], tmp_path, VALUES, policy=FAST)
    assert result.records == 5000
    assert server.requests["crm"] - before == result.pages + 2
    retries = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(retries) == 2 and "HTTP 429" in retries[0].getMessage()
    assert len(
        [r for r in caplog.records if "page" in r.getMessage() and "records (HTTP 200)" in r.getMessage()]
    ) == (result.pages)
    assert_no_secret(caplog.text)


@pytest.mark.parametrize(
    ("source", "key"), [(ADS, "ads"), (ORDERS, "crm"), (LEDGER, "erp"), (GDP, "worldbank")]
)
def test_transient_503_is_retried(server, conns, tmp_path: Path, source: HttpSource, key: str) -> None:
    conn = {"ads": conns["ads"], "crm": conns["crm"], "erp": conns["erp"], "worldbank": conns["wb"]}[key]
    values = MONTH_VALUES if source is LEDGER else VALUES
    clean = fetch_source(source, conn, tmp_path / "clean", values, policy=FAST)
    server.set_fault(key, "server_error", count=2)
    before = server.requests[key]
    result = fetch_source(source, conn, tmp_path / "faulty", values, policy=FAST)
    assert server.requests[key] - before == clean.pages + 2
    assert (result.records, result.pages, result.bytes) == (clean.records, clean.pages, clean.bytes)


def test_persistent_503_gives_up_after_max_attempts(server, conns, tmp_path: Path) -> None:
    server.set_fault("ads", "server_error", count=-1)
    before = server.requests["ads"]
    policy = RetryPolicy(max_attempts=3, backoff_seconds=0.001, max_backoff_seconds=0.01)
    with pytest.raises(SourceError) as info:
        fetch_source(ADS, conns["ads"], tmp_path, VALUES, policy=policy)
    assert server.requests["ads"] - before == 3
    assert info.value.status == 503
    assert "3 attempts" in str(info.value) and "HTTP 503" in str(info.value)
    assert_no_secret(str(info.value))


def test_persistent_429_gives_up_too(server, conns, tmp_path: Path) -> None:
    server.set_fault("worldbank", "rate_limit", count=-1, retry_after=0)
    before = server.requests["worldbank"]
    with pytest.raises(SourceError) as info:
        fetch_source(GDP, conns["wb"], tmp_path, VALUES, policy=FAST)
    assert info.value.status == 429 and server.requests["worldbank"] - before == FAST.max_attempts


def test_read_timeout_is_retried(server, conns, tmp_path: Path) -> None:
    server.set_fault("worldbank", "slow", count=1, delay=0.5)
    policy = RetryPolicy(max_attempts=3, backoff_seconds=0.001, max_backoff_seconds=0.01, read_timeout=0.1)
    before = server.requests["worldbank"]
    result = fetch_source(GDP, conns["wb"], tmp_path, VALUES, policy=policy)
    assert result.records == 240 and server.requests["worldbank"] - before == result.pages + 1


def test_connection_refused_is_retried_then_fails(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conn = ConnectionInfo("127.0.0.1", schema="http", port=port, password="s3cr3t-value")
    with pytest.raises(SourceError) as info:
        fetch_source(ORDERS, conn, tmp_path, VALUES, policy=FAST)
    assert info.value.status is None and f"{FAST.max_attempts} attempts" in str(info.value)
    assert "ConnectionError" in str(info.value)
    assert_no_secret(str(info.value))


def test_malformed_json_fails_with_the_page_number(server, conns, tmp_path: Path) -> None:
    server.set_fault("crm", "malformed", count=1)
    with pytest.raises(SourceError, match="malformed JSON on page 1"):
        fetch_source(ORDERS, conns["crm"], tmp_path, VALUES, policy=FAST)
    server.set_fault("ads", "malformed", count=-1)
    with pytest.raises(SourceError, match="malformed JSON on page 1") as info:
        fetch_source(ADS, conns["ads"], tmp_path, VALUES, policy=FAST)
    assert info.value.status == 200


def test_malformed_csv_fails(server, conns, tmp_path: Path) -> None:
    server.set_fault("erp", "malformed", count=1)
    with pytest.raises(SourceError, match="malformed CSV"):
        fetch_source(LEDGER, conns["erp"], tmp_path, MONTH_VALUES, policy=FAST)


def test_world_bank_error_body_fails(server, conns, tmp_path: Path) -> None:
    source = HttpSource("bad", "wb", "v2/country/all/indicator/NOT.REAL", pagination="world_bank")
    with pytest.raises(SourceError) as info:
        fetch_source(source, conns["wb"], tmp_path, VALUES, policy=FAST)
    assert "World Bank API error" in str(info.value) and "Invalid value" in str(info.value)
    assert "120" in str(info.value)


def test_missing_records_field_fails(server, conns, tmp_path: Path) -> None:
    source = HttpSource(
        "ads",
        "x",
        ADS.endpoint,
        {"date": "{partition}"},
        "page_number",
        Auth.API_KEY,
        records_field="items",
    )
    with pytest.raises(SourceError, match="page 1 has no 'items' field"):
        fetch_source(source, conns["ads"], tmp_path, VALUES, policy=FAST)


def test_schema_drift_is_fetched_as_is(server, conns, tmp_path: Path) -> None:
    """Drift is the domain's to detect (validation), not a transport error."""
    server.set_fault("ads", "schema_drift", count=-1)
    result = fetch_source(ADS, conns["ads"], tmp_path, VALUES, policy=FAST)
    frame = pd.concat(load_records(result))
    assert "metrics.clicks" not in frame.columns and len(frame) == len(server.world.ads(DAY))


def test_source_error_pickles() -> None:
    error = SourceError("ads", "http://x/y?date=1", 503, "boom")
    clone = pickle.loads(pickle.dumps(error))
    assert (clone.source_name, clone.url, clone.status, clone.reason) == (
        "ads",
        "http://x/y?date=1",
        503,
        "boom",
    )
    assert str(clone) == str(error)


# ------------------------------------------------------------------------------ connection & policy


def test_connection_base_url_variants() -> None:
    assert ConnectionInfo("http://127.0.0.1:8900/").base_url == "http://127.0.0.1:8900"
    assert ConnectionInfo("https://api.worldbank.org").base_url == "https://api.worldbank.org"
    assert ConnectionInfo("api.example.com", schema="https").base_url == "https://api.example.com"
    assert ConnectionInfo("localhost", port=8900).base_url == "http://localhost:8900"
    assert ConnectionInfo("http://localhost", port=8900).base_url == "http://localhost:8900"
    assert ConnectionInfo("https://u:p@host.example/api/").base_url == "https://host.example/api"
    with pytest.raises(ValueError):
        ConnectionInfo("").base_url  # noqa: B018
    with pytest.raises(ValueError):
        ConnectionInfo("db.example", schema="public").base_url  # noqa: B018


def test_connection_from_airflow_and_repr_hides_the_secret() -> None:
    conn = SimpleNamespace(
        host="127.0.0.1",
        schema="http",
        port=8900,
        login="finance",
        password="s3cr3t-value",
        extra_dejson={"a": 1},
    )
    info = ConnectionInfo.from_airflow(conn)
    assert info.base_url == "http://127.0.0.1:8900"
    assert (info.login, info.password, dict(info.extra)) == ("finance", "s3cr3t-value", {"a": 1})
    assert "s3cr3t-value" not in repr(info)


def test_retry_after_parsing_and_backoff() -> None:
    policy = RetryPolicy(backoff_seconds=1, max_backoff_seconds=10)
    assert policy.retry_after("3") == 3
    assert policy.retry_after("120") == 120  # not capped by the backoff: `get` compares it with the maximum
    assert policy.retry_after(None) is None and policy.retry_after("soon") is None
    future = format_datetime(datetime.now(UTC) + timedelta(seconds=5), usegmt=True)
    assert 0 < policy.retry_after(future) <= 5
    past = format_datetime(datetime.now(UTC) - timedelta(seconds=50), usegmt=True)
    assert policy.retry_after(past) == 0
    for attempt in range(1, 10):
        ceiling = min(10, 2 ** (attempt - 1))
        assert ceiling / 2 <= policy.backoff(attempt) <= ceiling
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


def test_a_two_second_retry_after_really_waits(server, conns, tmp_path: Path) -> None:
    """The wait is the server's (2 s), not our backoff (FAST waits at most 0.01 s)."""
    server.set_fault("erp", "rate_limit", count=1, retry_after=2)
    before = server.requests["erp"]
    started = time.monotonic()
    result = fetch_source(LEDGER, conns["erp"], tmp_path, MONTH_VALUES, policy=FAST)
    waited = time.monotonic() - started
    assert result.records > 0 and server.requests["erp"] - before == 2
    assert 2.0 <= waited < 7.0, f"Retry-After: 2 took {waited:.2f} s"


def test_a_retry_after_beyond_the_maximum_fails_at_once(server, conns, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DATA_MESH_MAX_RETRY_AFTER_SECONDS", "3")
    policy = RetryPolicy(max_attempts=4, backoff_seconds=0.001, max_backoff_seconds=0.01)
    assert policy.max_retry_after_seconds == 3
    server.set_fault("erp", "rate_limit", count=1, retry_after=3600)
    before = server.requests["erp"]
    with pytest.raises(SourceError) as info:
        fetch_source(LEDGER, conns["erp"], tmp_path, MONTH_VALUES, policy=policy)
    message = str(info.value)
    assert "retry after 3600 s, more than the maximum 3 s (DATA_MESH_MAX_RETRY_AFTER_SECONDS)" in message
    assert server.requests["erp"] - before == 1  # no second request, no hour-long sleep
    server.clear_faults()
