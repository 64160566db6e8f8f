"""Real Airflow: producers triggered through the REST API, the consumer triggered by their Assets."""

from __future__ import annotations

import pytest

from data_mesh.contract.registry import get_product
from data_mesh.metadata.store import MetadataStore
from data_mesh.storage.products import product_storage

pytestmark = pytest.mark.integration


def test_producers_trigger_consumer_through_assets(mesh_published):
    for dag_id, run in mesh_published.items():
        assert run["state"] == "success", f"{dag_id}: {run}"
    assert mesh_published["finance__monthly_revenue"]["run_type"] == "asset_triggered"

    manifest = product_storage(get_product("finance.monthly_revenue")).version()
    # unpaused producers also run their latest daily interval: the consumer builds the newest month
    upstream_months = {
        p.partition[:7]
        for product in ("sales.customer_orders", "marketing.ads_performance")
        for p in MetadataStore().list_publications(product, limit=10)
    }
    store = product_storage(get_product("finance.monthly_revenue"))
    months = store.partitions(manifest)
    assert months and set(months) <= upstream_months
    assert manifest.rows == 4 * len(months)  # one row per region and month
