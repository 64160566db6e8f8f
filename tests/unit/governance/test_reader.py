"""The governed reader: access policy per consuming domain and column, every read audited."""

from __future__ import annotations

import pytest

from data_mesh.exceptions import AccessDenied, UnknownProductError
from data_mesh.governance.access import Principal
from data_mesh.governance.reader import read_table
from data_mesh.metadata.store import MetadataStore
from tests.unit.storage.test_products import ads_rows


@pytest.fixture
def published(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_MESH_STORAGE_ROOT", str(tmp_path / "products"))
    monkeypatch.setenv("DATA_MESH_METADATA_URL", f"sqlite:///{tmp_path / 'meta.db'}")
    from data_mesh.contract.registry import get_product
    from data_mesh.storage.products import product_storage

    product_storage(get_product("marketing.ads_performance")).publish(
        ads_rows("2026-11-01", 5), "2026-11-01", "h", "r"
    )
    return MetadataStore()


def test_task_read_is_recorded(published):
    reader = Principal.for_task("finance__monthly_revenue", "transform", "finance")
    result = read_table("marketing.ads_performance", reader, purpose="roas", columns=["region", "cost"])
    assert result.table.column_names == ["region", "cost"] and result.table.num_rows == 5
    [event] = published.list_access_events(product_id="marketing.ads_performance").items
    assert event.allowed and event.principal == reader.name and event.rows == 5 and event.version == 1
    assert list(event.columns) == ["region", "cost"] and event.purpose == "roas" and event.path == "task"


def test_restricted_columns_need_a_grant(published, monkeypatch):
    from dataclasses import replace

    from data_mesh.contract import registry
    from data_mesh.contract.spec import Access

    spec = registry.get_product("marketing.ads_performance")
    guarded = replace(spec, access=Access.of(readers=("finance",)))
    monkeypatch.setattr(registry, "get_product", lambda product_id: guarded)
    outsider = Principal.for_task("hr__headcount", "transform", "hr")
    with pytest.raises(AccessDenied, match="hr.*not among the readers"):
        read_table("marketing.ads_performance", outsider, purpose="curiosity")
    [denied] = published.list_access_events(allowed=False).items
    assert denied.principal == outsider.name and denied.rows == 0


def test_people_need_a_role_for_pii(published, monkeypatch):
    viewer = Principal(name="viewer", kind="user")
    with pytest.raises(AccessDenied, match="restricted columns"):
        read_table("sales.customer_orders", viewer, purpose="look", path="api")
    assert published.list_access_events(principal="viewer", allowed=False).total == 1


def test_bad_requests_name_the_problem(published):
    reader = Principal(name="admin", kind="user", roles=frozenset({"admin"}))
    with pytest.raises(UnknownProductError, match="unknown data product 'sales.nope'"):
        read_table("sales.nope", reader, purpose="x")
    with pytest.raises(UnknownProductError):
        read_table("../../etc/passwd", reader, purpose="x")
    with pytest.raises(ValueError, match="no column"):
        read_table("marketing.ads_performance", reader, purpose="x", columns=["salary"])


def test_batches_stream_a_version_in_the_asked_column_order(published):
    from data_mesh.governance.reader import read_batches

    reader = Principal(name="analyst", kind="user")
    manifest, schema, batches = read_batches(
        "marketing.ads_performance", reader, purpose="export", path="cli", columns=["cost", "region"]
    )
    batches = list(batches)
    assert schema.names == ["cost", "region"] and all(b.schema == schema for b in batches)
    assert sum(b.num_rows for b in batches) == manifest.rows == 5
    [event] = published.list_access_events(principal="analyst").items
    assert event.allowed and event.rows == 5 and event.path == "cli"
