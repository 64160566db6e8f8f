"""The demo server's transport and delivery faults, seen from a bare HTTP client (no platform code)."""

from __future__ import annotations

import pytest
import requests

from demo.source_server import FAULT_KINDS, DemoSourceServer, start_server

CRM = {"Authorization": "Bearer demo-crm-token"}
ERP = ("finance", "demo-erp-password")
CUSTOMERS = "/crm/v1/customers"

pytestmark = pytest.mark.usefixtures("no_faults")


def customers(server: DemoSourceServer, cursor: str | None = None, **kwargs) -> requests.Response:
    params = {"cursor": cursor} if cursor else {}
    return requests.get(server.url + CUSTOMERS, params=params, headers=CRM, timeout=kwargs.pop("timeout", 5))


def test_the_new_kinds_are_listed() -> None:
    assert {"connection_reset", "truncated", "hang", "cursor_loop"} <= set(FAULT_KINDS)


def test_connection_reset_answers_nothing(server: DemoSourceServer) -> None:
    server.set_fault("crm", "connection_reset", count=1)
    before = server.requests["crm"]
    with pytest.raises(requests.ConnectionError) as info:
        customers(server)
    assert "ConnectionResetError" in repr(info.value) or "RemoteDisconnected" in repr(info.value)
    assert customers(server).status_code == 200  # count=1: the next request is answered
    assert server.requests["crm"] - before == 2  # the reset request is counted


def test_truncated_json_stops_short_of_its_content_length(server: DemoSourceServer) -> None:
    full = len(customers(server).content)
    server.set_fault("crm", "truncated", count=1)
    response = requests.get(server.url + CUSTOMERS, headers=CRM, timeout=5, stream=True)
    assert response.status_code == 200 and int(response.headers["Content-Length"]) == full
    with pytest.raises(requests.exceptions.ChunkedEncodingError, match="IncompleteRead"):
        _ = response.content
    assert customers(server).json()["data"]  # count=1


def test_truncated_csv_ends_without_its_last_chunk(server: DemoSourceServer) -> None:
    server.set_fault("erp", "truncated", count=1)
    url = server.url + "/erp/v1/ledger.csv"
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(url, params={"month": "2026-11"}, auth=ERP, timeout=5)
    assert requests.get(url, params={"month": "2026-11"}, auth=ERP, timeout=5).text.count("\n") > 1000


def test_hang_stalls_mid_body_past_a_read_timeout(server: DemoSourceServer) -> None:
    server.set_fault("crm", "hang", count=1)  # default delay: an hour
    with pytest.raises(requests.ConnectionError, match="Read timed out"):  # not an hour later
        customers(server, timeout=(2, 0.3))
    server.set_fault("crm", "hang", count=1, delay=0.01)  # a slow trickle still delivers the whole body
    assert len(customers(server).json()["data"]) == 100


def test_cursor_loop_repeats_the_cursor_it_was_given(server: DemoSourceServer) -> None:
    cursor = customers(server).json()["next_cursor"]
    server.set_fault("crm", "cursor_loop", count=-1)
    first = customers(server).json()
    assert first["next_cursor"] == cursor  # a first page (no cursor) is never affected
    again = customers(server, cursor).json()
    assert again["next_cursor"] == cursor and again["data"][0]["id"] == "cus-000101"
    with pytest.raises(ValueError, match="cursor-paginated"):
        server.set_fault("ads", "cursor_loop")


def test_skip_picks_which_requests_are_hit(server: DemoSourceServer) -> None:
    server.set_fault("crm", "server_error", count=2, skip=2)
    assert [customers(server).status_code for _ in range(5)] == [200, 200, 503, 503, 200]


def test_probability_is_deterministic_per_seed() -> None:
    patterns = []
    for _ in range(2):
        with start_server(port=0, seed=7, quiet=True) as srv:
            srv.set_fault("crm", "server_error", count=-1, probability=0.5)
            patterns.append([customers(srv).status_code for _ in range(12)])
    assert patterns[0] == patterns[1]
    assert {200, 503} == set(patterns[0])


def test_control_endpoint_takes_the_new_fields(server: DemoSourceServer) -> None:
    url = server.url + "/_control/faults"
    spec = {"source": "crm", "kind": "connection_reset", "count": 1, "skip": 1, "probability": 1}
    assert requests.post(url, json=spec, timeout=5).status_code == 201
    assert customers(server).status_code == 200
    with pytest.raises(requests.ConnectionError):
        customers(server)
    for bad, word in (
        ({"source": "crm", "kind": "hang", "skip": -1}, "skip"),
        ({"source": "crm", "kind": "hang", "probability": 0}, "probability"),
        ({"source": "erp", "kind": "cursor_loop"}, "cursor-paginated"),
        ({"source": "crm", "kind": "hang", "every": 2}, "every"),
    ):
        answer = requests.post(url, json=bad, timeout=5)
        assert answer.status_code == 400 and word in answer.json()["error"]


def test_stopping_ends_hanging_answers_at_once() -> None:
    srv = start_server(port=0, quiet=True)
    srv.set_fault("crm", "hang", count=1)
    with pytest.raises(requests.ConnectionError):
        customers(srv, timeout=(2, 0.2))
    srv.stop()  # returns: a hanging answer (an hour by default) would hold it until pytest's timeout
