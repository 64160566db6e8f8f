"""The fetch under source faults, against the real demo server: each ends in a retry or a bounded failure.

Every failure test asserts the message (source, page, URL, cause, no secret: for a hang, which timeout
cut it) and the bound: the number of requests the server received. Wall time is not asserted here (a
shared machine makes it flaky); the timeouts' worst case is `RetryPolicy.worst_case_seconds`, tested below.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from data_mesh.contract.spec import HttpSource
from data_mesh.exceptions import SourceError
from data_mesh.sources.http import ConnectionInfo, RetryPolicy, fetch_source
from demo.source_server import DemoSourceServer
from tests.unit.sources.test_http import (
    ADS,
    CUSTOMERS,
    DAY,
    GDP,
    LEDGER,
    MONTH_VALUES,
    ORDERS,
    VALUES,
    assert_no_secret,
    read_ndjson,
)

FAST = RetryPolicy(max_attempts=4, backoff_seconds=0.001, max_backoff_seconds=0.01, read_timeout=5)

pytestmark = pytest.mark.usefixtures("no_faults")


@pytest.fixture()
def crm(server: DemoSourceServer) -> ConnectionInfo:
    return ConnectionInfo(server.url, password="demo-crm-token")


def fails(server: DemoSourceServer, key: str, source: HttpSource, conn, tmp_path, policy=FAST, values=VALUES):
    """(the SourceError, requests the server received) of a fetch that must fail."""
    before = server.requests[key]
    with pytest.raises(SourceError) as info:
        fetch_source(source, conn, tmp_path, values, policy=policy)
    error = info.value
    assert error.source_name == source.name and str(error).startswith(f"source {source.name!r}: ")
    assert_no_secret(str(error))
    return error, server.requests[key] - before


# ------------------------------------------------------------------------------------ connection reset


def test_a_few_resets_are_retried_and_the_pull_is_complete(server, crm, tmp_path: Path) -> None:
    clean = fetch_source(ORDERS, crm, tmp_path / "clean", VALUES, policy=FAST)
    server.set_fault("crm", "connection_reset", count=2, skip=1)  # pages 2 and its first retry
    before = server.requests["crm"]
    result = fetch_source(ORDERS, crm, tmp_path / "faulty", VALUES, policy=FAST)
    assert server.requests["crm"] - before == clean.pages + 2
    assert read_ndjson(result) == list(server.world.orders(DAY))
    assert (result.records, result.pages) == (clean.records, clean.pages)


def test_resets_that_never_stop_fail_after_max_attempts(server, crm, tmp_path: Path) -> None:
    server.set_fault("crm", "connection_reset", count=-1)
    error, made = fails(server, "crm", ORDERS, crm, tmp_path)
    assert made == FAST.max_attempts == 4 and error.status is None
    assert "page 1 failed after 4 attempts (last: the connection was reset by the source" in str(error)
    assert f"/crm/v1/orders?date={DAY}&limit=700" in error.url


# ---------------------------------------------------------------------------------------- truncated body


def test_a_truncated_page_is_retried(server, crm, tmp_path: Path) -> None:
    server.set_fault("crm", "truncated", count=1, skip=2)  # page 3 arrives cut short once
    before = server.requests["crm"]
    result = fetch_source(CUSTOMERS, crm, tmp_path, VALUES, policy=FAST)
    assert server.requests["crm"] - before == result.pages + 1
    assert read_ndjson(result) == list(server.world.customers())


def test_a_page_that_is_always_truncated_fails_naming_the_page(server, crm, tmp_path: Path) -> None:
    server.set_fault("crm", "truncated", count=-1, skip=1)  # page 1 is sound, page 2 never arrives whole
    error, made = fails(server, "crm", CUSTOMERS, crm, tmp_path)
    assert made == 1 + FAST.max_attempts
    message = str(error)
    assert "page 2 failed after 4 attempts (last: the connection closed before the body was" in message
    assert "bytes read" in message and "more expected" in message
    assert "cursor=" in error.url and "limit=1000" in error.url


def test_a_truncated_csv_export_is_retried_or_fails(server, tmp_path: Path) -> None:
    erp = ConnectionInfo(server.url, login="finance", password="demo-erp-password")
    server.set_fault("erp", "truncated", count=1)
    before = server.requests["erp"]
    result = fetch_source(LEDGER, erp, tmp_path / "ok", MONTH_VALUES, policy=FAST)
    assert server.requests["erp"] - before == 2
    assert result.records == len(list(server.world.ledger("2026-11")))
    server.set_fault("erp", "truncated", count=-1)
    error, made = fails(server, "erp", LEDGER, erp, tmp_path / "bad", values=MONTH_VALUES)
    assert made == FAST.max_attempts and "connection closed before the body was complete" in str(error)


def test_a_complete_but_malformed_body_is_not_retried(server, crm, tmp_path: Path) -> None:
    """Well-framed but not JSON: the source's bug, not the network's; retrying would not help."""
    server.set_fault("crm", "malformed", count=-1)
    error, made = fails(server, "crm", ORDERS, crm, tmp_path)
    assert made == 1 and "malformed JSON on page 1" in str(error) and error.status == 200


# ---------------------------------------------------------------------------------------- cursor loop


def test_a_looping_cursor_fails_at_once_naming_the_cursor(server, crm, tmp_path: Path) -> None:
    server.set_fault("crm", "cursor_loop", count=-1)
    error, made = fails(server, "crm", CUSTOMERS, crm, tmp_path)
    assert made == 2  # page 1 gave cursor C, page 2 (asked with C) gave C again: stop
    cursor = error.url.split("cursor=")[1]
    assert f"page 2: next_cursor {cursor!r} repeats the cursor page 1 returned; the source is looping" in str(
        error
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["customers-00001.ndjson"]  # page 2 never written


def test_a_loop_that_starts_later_is_caught_too(server, crm, tmp_path: Path) -> None:
    server.set_fault("crm", "cursor_loop", count=1, skip=2)  # page 4 answers page 4's cursor once
    error, made = fails(server, "crm", CUSTOMERS, crm, tmp_path)
    assert made == 4 and "page 4: next_cursor" in str(error) and "page 3 returned" in str(error)


def test_the_page_cap_stops_a_source_that_never_ends(server, tmp_path: Path, monkeypatch) -> None:
    ads = ConnectionInfo(server.url, password="demo-ads-key")
    capped = replace(ADS, page_size=50, max_pages=3)  # the day has ~26 pages of 50
    error, made = fails(server, "ads", capped, ads, tmp_path)
    assert made == 3 and error.status is None
    assert "page 4: more than 3 pages (the contract's maxPages or DATA_MESH_SOURCE_MAX_PAGES)" in str(error)
    monkeypatch.setenv("DATA_MESH_SOURCE_MAX_PAGES", "2")
    error, made = fails(server, "ads", replace(ADS, page_size=50), ads, tmp_path)
    assert made == 2 and "more than 2 pages" in str(error)
    whole = fetch_source(replace(ADS, page_size=1000), ads, tmp_path, VALUES, policy=FAST)
    assert whole.pages == 2  # exactly the cap is fine


# ------------------------------------------------------------------------------------------- hanging


def test_a_source_that_hangs_once_is_retried(server, tmp_path: Path) -> None:
    server.set_fault("worldbank", "hang", count=1, skip=1)
    policy = replace(FAST, read_timeout=0.3)
    before = server.requests["worldbank"]
    result = fetch_source(GDP, ConnectionInfo(server.url), tmp_path, VALUES, policy=policy)
    assert result.records == 240 and server.requests["worldbank"] - before == result.pages + 1


def test_a_source_that_always_hangs_fails_within_the_bound(server, tmp_path: Path) -> None:
    server.set_fault("worldbank", "hang", count=-1)  # headers and half a body, then an hour of silence
    policy = replace(FAST, max_attempts=3, read_timeout=0.3)
    error, made = fails(server, "worldbank", GDP, ConnectionInfo(server.url), tmp_path, policy)
    assert made == 3
    assert "page 1 failed after 3 attempts (last: no data for 0.3 s, the read timeout" in str(error)


def test_a_source_that_never_answers_fails_within_the_bound(server, tmp_path: Path) -> None:
    server.set_fault("worldbank", "slow", count=-1, delay=5)  # no status line at all
    policy = replace(FAST, max_attempts=3, read_timeout=0.3)
    error, made = fails(server, "worldbank", GDP, ConnectionInfo(server.url), tmp_path, policy)
    assert made == 3 and "no data for 0.3 s, the read timeout (ReadTimeout)" in str(error)


def test_a_trickle_is_cut_by_the_request_deadline(server, tmp_path: Path) -> None:
    """Bytes every 0.25 s never trip a 1 s read timeout; the 1 s deadline per request stops it."""
    server.set_fault("worldbank", "hang", count=-1, delay=0.25)  # 16 pieces: ~4 s per body
    policy = replace(FAST, max_attempts=2, read_timeout=1, request_timeout=1)
    error, made = fails(server, "worldbank", GDP, ConnectionInfo(server.url), tmp_path, policy)
    assert made == 2
    assert "took longer than 1 s (DATA_MESH_SOURCE_REQUEST_TIMEOUT_SECONDS)" in str(error)


def test_timeouts_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("DATA_MESH_SOURCE_CONNECT_TIMEOUT_SECONDS", "2")
    monkeypatch.setenv("DATA_MESH_SOURCE_READ_TIMEOUT_SECONDS", "7")
    monkeypatch.setenv("DATA_MESH_SOURCE_REQUEST_TIMEOUT_SECONDS", "30")
    policy = RetryPolicy(max_attempts=3, backoff_seconds=1, max_backoff_seconds=10)
    assert policy.timeout == (2, 7) and policy.request_timeout == 30
    assert policy.worst_case_seconds() == 3 * (2 + 30 + 7) + 1 + 2
    with pytest.raises(ValueError, match="request_timeout"):
        RetryPolicy(request_timeout=0)
