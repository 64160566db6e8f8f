"""Erasure after the real DAGs published: a customer's e-mail address leaves no trace in any version.

The product DAGs run for real with dag.test() against the demo sources, in a warehouse and a
metadata store of this module only (the erasure shreds a vault entry, which other modules must not
see). sales.customer_orders is published twice (the same day re-run: two versions, two data files),
finance.monthly_revenue is built downstream from it. One customer's address is erased; then every
kept version of both products, read with the admin grant, is searched in every string column.
"""

from __future__ import annotations

from collections import Counter

import pytest

from data_mesh.contract.registry import get_product
from data_mesh.governance.access import Principal
from data_mesh.governance.reader import read_table
from data_mesh.storage.products import product_storage
from tests.e2e.conftest import DAY, run_dag
from tests.iceberg_engines import duckdb_with_iceberg

ORDERS, REVENUE = "sales.customer_orders", "finance.monthly_revenue"
ADMIN = Principal(name="admin", kind="user", roles=frozenset({"admin"}))


@pytest.fixture(scope="module", autouse=True)
def own_stores(tmp_path_factory, airflow_db):
    """Warehouse, metadata store, staging, quarantine and OpenLineage file of this module only.

    Airflow's database is reset on the way in and out: its Assets are addressed by the warehouse
    URL, and an Asset name seen at another URL would be inactive for the other modules' DAGs.
    """
    from airflow.utils import db

    from data_mesh.metadata.store import dispose_engines

    db.resetdb()
    root = tmp_path_factory.mktemp("erasure")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATA_MESH_STORAGE_ROOT", str(root / "products"))
        patch.setenv("DATA_MESH_METADATA_URL", f"sqlite:///{root / 'metadata.db'}")
        patch.setenv("DATA_MESH_STAGING_ROOT", str(root / "staging"))
        patch.setenv("DATA_MESH_QUARANTINE_ROOT", str(root / "quarantine"))
        patch.setenv("DATA_MESH_OPENLINEAGE_FILE", str(root / "openlineage.jsonl"))
        yield root
        dispose_engines()
    db.resetdb()


@pytest.fixture(scope="module")
def published_twice(own_stores, dagbag, products_published):
    """The three products published, then sales.customer_orders re-run for DAY (its v2)."""
    assert run_dag(dagbag, "sales__customer_orders", DAY).state == "success"
    for product in (ORDERS, REVENUE):  # in this module's stores, not the session's
        assert (
            product_storage(get_product(product)).uri
            == f"file://{own_stores}/products/{product.replace('.', '/')}"
        )
        assert (own_stores / "products" / product.replace(".", "/") / "data").is_dir()
    assert [v.version for v in product_storage(get_product(ORDERS)).history()] == [1, 2]
    return True


def every_version(product_id: str) -> dict[int, list[dict]]:
    """Each kept version's rows, every column, read through the governed reader as an admin."""
    storage = product_storage(get_product(product_id))
    return {
        v.version: read_table(
            product_id, ADMIN, purpose="erasure check", path="api", version=v.version
        ).table.to_pylist()
        for v in storage.history()
    }


def strings(rows: list[dict]) -> list[str]:
    return [value for row in rows for value in row.values() if isinstance(value, str)]


def test_an_erased_address_is_in_no_version_of_the_product_or_downstream(published_twice):
    from data_mesh.governance.erasure import Holding, erase_subject
    from data_mesh.governance.vault import Vault

    before = every_version(ORDERS)
    counts = Counter(r["customer_email"] for r in before[2] if r["customer_email"])
    subject, orders_of_subject = counts.most_common(1)[0]
    assert "@" in subject and all(
        any(r["customer_email"] == subject for r in rows) for rows in before.values()
    )
    token = Vault().token_of(subject)
    revenue_before = every_version(REVENUE)

    result = erase_subject("customer_email", subject, actor=ADMIN, reason="GDPR request (e2e)")

    assert result.holdings == (Holding(ORDERS, "customer_email", (1, 2)),)
    assert result.receipt.token == token and subject not in str(result.to_dict())
    after = every_version(ORDERS)
    assert after.keys() == before.keys()
    for version, rows in after.items():
        assert len(rows) == len(before[version])  # time travel: every version, every row
        assert not any(subject in value for value in strings(rows)), f"{ORDERS} v{version}"
        mine = [r for r in rows if r["customer_email"] == token]
        assert len(mine) == sum(1 for r in before[version] if r["customer_email"] == subject)
        others = {r["order_id"]: r["customer_email"] for r in rows if r["customer_email"] != token}
        assert others == {
            r["order_id"]: r["customer_email"] for r in before[version] if r["customer_email"] != subject
        }
    assert len(mine) == orders_of_subject
    revenue_after = every_version(REVENUE)
    assert revenue_after == revenue_before and revenue_after
    for version, rows in revenue_after.items():
        assert not any(subject in value for value in strings(rows)), f"{REVENUE} v{version}"

    con = duckdb_with_iceberg()  # another engine on the table files: tokens only, the value nowhere
    try:
        location = product_storage(get_product(ORDERS)).metadata_location()
        direct = con.execute(f"SELECT * FROM iceberg_scan('{location}')").fetchall()
    finally:
        con.close()
    assert direct and not any(subject in str(row) for row in direct)
    assert sum(1 for row in direct if token in row) == orders_of_subject
    assert Vault().values([token]) == {}  # nothing maps the token back
