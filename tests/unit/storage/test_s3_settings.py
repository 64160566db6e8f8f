"""The warehouse's S3 settings come from the Airflow Connection `data_mesh_s3` (variables override it).

One test publishes and reads a product on a local moto S3 server with nothing but the Connection
(the catalog on SQLite), as the distributed run's workers do.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from data_mesh.storage import s3
from data_mesh.storage.s3 import S3SettingsError, s3_properties

CONN_ENV = "AIRFLOW_CONN_DATA_MESH_S3"


@pytest.fixture(autouse=True)
def fresh(monkeypatch) -> Iterator[None]:
    for name in (*s3.ENV_OVERRIDES.values(), CONN_ENV, "DATA_MESH_S3_CONN_ID"):
        monkeypatch.delenv(name, raising=False)
    s3.connection_properties.cache_clear()
    yield
    s3.connection_properties.cache_clear()


def _connection(monkeypatch, endpoint: str = "http://127.0.0.1:9000", conn_env: str = CONN_ENV) -> None:
    monkeypatch.setenv(
        conn_env,
        json.dumps(
            {
                "conn_type": "aws",
                "login": "mesh-key",
                "password": "mesh-secret",
                "extra": {"endpoint_url": endpoint, "region_name": "eu-west-1"},
            }
        ),
    )


def test_the_connection_gives_keys_endpoint_and_region(monkeypatch):
    _connection(monkeypatch)
    assert s3_properties("s3://bucket/products") == {
        "s3.access-key-id": "mesh-key",
        "s3.secret-access-key": "mesh-secret",
        "s3.region": "eu-west-1",
        "s3.endpoint": "http://127.0.0.1:9000",
    }


def test_variables_override_the_connection_key_by_key(monkeypatch):
    _connection(monkeypatch)
    monkeypatch.setenv("DATA_MESH_S3_ENDPOINT", "http://minio:9000/")
    props = s3_properties("s3://bucket/products")
    assert props["s3.endpoint"] == "http://minio:9000" and props["s3.secret-access-key"] == "mesh-secret"


def test_the_connection_id_is_a_setting(monkeypatch):
    _connection(monkeypatch, conn_env="AIRFLOW_CONN_OBJECT_STORE")
    monkeypatch.setenv("DATA_MESH_S3_CONN_ID", "object_store")
    assert s3_properties("s3://bucket/p")["s3.access-key-id"] == "mesh-key"


def test_a_local_warehouse_needs_no_s3_settings(monkeypatch, tmp_path):
    _connection(monkeypatch, endpoint="not a url")  # never read for a local folder
    assert s3_properties(str(tmp_path)) == {} and s3_properties(f"file://{tmp_path}") == {}


def test_no_connection_and_no_variable_leaves_the_default_chain():
    assert s3_properties("s3://bucket/products") == {}


@pytest.mark.parametrize("endpoint", ["minio:9000", "ftp://host/", "http://"])
def test_a_bad_endpoint_names_the_connection(monkeypatch, endpoint):
    _connection(monkeypatch, endpoint=endpoint)
    with pytest.raises(S3SettingsError, match=r"Airflow Connection 'data_mesh_s3'.*http\(s\) URL"):
        s3_properties("s3://bucket/products")


def test_a_bad_endpoint_variable_is_named(monkeypatch):
    monkeypatch.setenv("DATA_MESH_S3_ENDPOINT", "localhost:9000")
    with pytest.raises(S3SettingsError, match="DATA_MESH_S3_ENDPOINT"):
        s3_properties("s3://bucket/products")


def test_publish_and_read_on_s3_with_only_the_connection(monkeypatch, tmp_path):
    import boto3
    from moto.server import ThreadedMotoServer

    from data_mesh.contract.registry import get_product
    from data_mesh.storage.products import product_storage
    from tests.unit.storage.test_products import ads_rows

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        _connection(monkeypatch, endpoint=endpoint)
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="eu-west-1",
            aws_access_key_id="mesh-key",
            aws_secret_access_key="mesh-secret",
        )
        client.create_bucket(
            Bucket="mesh-conn", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        monkeypatch.setenv("DATA_MESH_STORAGE_ROOT", "s3://mesh-conn/products")
        monkeypatch.setenv("DATA_MESH_METADATA_URL", f"sqlite:///{tmp_path / 'metadata.db'}")
        spec = get_product("marketing.ads_performance")
        store = product_storage(spec)
        published = store.publish(ads_rows("2026-11-01", 7), "2026-11-01", "h", "run-1")
        assert published.version == 1
        keys = [o["Key"] for o in client.list_objects_v2(Bucket="mesh-conn")["Contents"]]
        assert any(k.startswith("products/marketing/ads_performance/data/") for k in keys), keys
        assert product_storage(spec).read_table(store.version()).num_rows == 7
    finally:
        server.stop()
