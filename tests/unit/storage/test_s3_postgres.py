"""The production shape: the Iceberg catalog on PostgreSQL, the warehouse on S3 (a local moto server).

Concurrent publishers all land with distinct version numbers and nothing lost; a reader running
during the publications only ever sees a whole version. PostgreSQL comes from the same settings as
the store tests (DATA_MESH_TEST_POSTGRES_URL, or the default local server): these tests skip when
none answers and the variable is unset, and fail when it is set but unreachable.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from data_mesh.contract.registry import get_product
from data_mesh.storage.products import product_storage
from tests.unit.metadata.store._store_testing import postgres_schema, reachable_postgres
from tests.unit.storage.test_products import ads_rows

BUCKET = "mesh"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def postgres_catalog_url() -> Iterator[str]:
    with postgres_schema(reachable_postgres(), prefix="dm_iceberg") as url:
        yield url


@pytest.fixture
def s3_warehouse(monkeypatch, postgres_catalog_url) -> Iterator[str]:
    import boto3
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    keys = {"aws_access_key_id": "mesh-test", "aws_secret_access_key": "mesh-test-secret"}
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **keys).create_bucket(Bucket=BUCKET)
    for name, value in {
        "DATA_MESH_S3_ENDPOINT": endpoint,
        "DATA_MESH_S3_REGION": "us-east-1",
        "DATA_MESH_S3_ACCESS_KEY_ID": keys["aws_access_key_id"],
        "DATA_MESH_S3_SECRET_ACCESS_KEY": keys["aws_secret_access_key"],
        "DATA_MESH_STORAGE_ROOT": f"s3://{BUCKET}/warehouse",
        "DATA_MESH_METADATA_URL": postgres_catalog_url,
    }.items():
        monkeypatch.setenv(name, value)
    try:
        yield endpoint
    finally:
        server.stop()


def test_concurrent_publishers_on_s3_and_postgres(s3_warehouse):
    spec = get_product("marketing.ads_performance")
    store = product_storage(spec)
    assert store.uri == f"s3://{BUCKET}/warehouse/marketing/ads_performance"
    first = store.publish(ads_rows("2026-11-01", 5), "2026-11-01", "h", "create")
    assert first.version == 1 and store.metadata_location().startswith(f"s3://{BUCKET}/warehouse/")

    valid_totals = {5}
    for n in range(1, 5):  # the total after any subset of the publishers below: 5 + sum of a subset
        valid_totals |= {t + 10 + n for t in list(valid_totals)}
    seen: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def read_while_publishing() -> None:
        while not stop.is_set():
            reader = product_storage(spec)
            seen.append(reader.read_table(reader.version()).num_rows)

    def publish(day: int) -> None:
        try:
            rows = ads_rows(f"2026-11-1{day}", 10 + day)
            product_storage(spec).publish(rows, f"2026-11-1{day}", "h", f"r{day}")
        except BaseException as error:  # noqa: BLE001 - asserted below
            errors.append(error)

    reader = threading.Thread(target=read_while_publishing)
    reader.start()
    writers = [threading.Thread(target=publish, args=(d,)) for d in range(1, 5)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    reader.join()
    assert not errors, errors
    assert store.versions() == [1, 2, 3, 4, 5]
    latest = store.version()
    assert latest.rows == 5 + sum(10 + d for d in range(1, 5))
    assert sorted(store.version(v).run_id for v in range(2, 6)) == ["r1", "r2", "r3", "r4"]
    assert seen and set(seen) <= valid_totals, f"a reader saw a partial version: {sorted(set(seen))}"
    # time travel on S3: version 1 is still whole
    assert store.read_table(store.version(version=1)).num_rows == 5
