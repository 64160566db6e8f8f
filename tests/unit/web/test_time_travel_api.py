"""Time travel over the API: GET /api/products/{id}/download?version= or ?as_of= (governed reads)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest

from data_mesh.storage.products import product_storage
from tests.unit.governance import test_sql
from tests.unit.governance.test_sql import ORDERS
from tests.unit.web.test_sql_api import client_as

published = test_sql.published  # orders v1 (10 rows) and v2 (60 rows)

pytestmark = pytest.mark.usefixtures("auth_manager")  # tests/unit/web/conftest.py


def _rows(answer) -> int:
    assert answer.status_code == 200, answer.text
    return pq.read_table(io.BytesIO(answer.content)).num_rows


def test_latest_version_and_as_of(published):
    from data_mesh.contract.registry import get_product

    viewer = client_as("viewer")
    url = f"/api/products/{ORDERS}/download"
    assert _rows(viewer.get(url, params={"columns": "order_id,amount"})) == 60
    assert _rows(viewer.get(url, params={"columns": "order_id", "version": 1})) == 10
    v1 = product_storage(get_product(ORDERS)).version(version=1)  # its snapshot's commit time
    as_of = viewer.get(url, params={"columns": "order_id", "as_of": v1.published_at})
    assert _rows(as_of) == 10 and as_of.headers["X-Data-Mesh-Version"] == "1"
    before = (datetime.now(UTC) - timedelta(days=365)).isoformat()
    missing = viewer.get(url, params={"columns": "order_id", "as_of": before})
    assert missing.status_code == 404 and "no version published at or before" in missing.json()["detail"]
    both = viewer.get(url, params={"version": 1, "as_of": before})
    assert both.status_code == 400 and "version or as_of" in both.json()["detail"]
    refused = viewer.get(url, params={"version": 1})  # every column: customer_email is restricted
    assert refused.status_code == 403 and "customer_email" in refused.json()["detail"]
