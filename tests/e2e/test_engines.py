"""Other engines read the same tables: DuckDB's own Iceberg extension and pyiceberg agree with the
platform's reader on every product, before and after a re-publication (no duplicates, no stale rows)."""

from __future__ import annotations

import pytest

from data_mesh.contract.registry import get_product
from data_mesh.storage.catalog import get_catalog
from data_mesh.storage.products import product_storage
from tests.e2e.conftest import DAY, run_dag
from tests.iceberg_engines import duckdb_with_iceberg

PRODUCTS = ("marketing.ads_performance", "sales.customer_orders", "finance.monthly_revenue")


def _platform_rows(product_id: str) -> list[tuple]:
    storage = product_storage(get_product(product_id))
    table = storage.read_table(storage.version())
    return sorted(tuple(row.values()) for row in table.to_pylist())


def _duckdb_rows(product_id: str) -> list[tuple]:
    spec = get_product(product_id)
    columns = ", ".join(f'"{c}"' for c in spec.column_names)
    con = duckdb_with_iceberg()
    try:
        location = product_storage(spec).metadata_location()
        return sorted(con.execute(f"SELECT {columns} FROM iceberg_scan('{location}')").fetchall())
    finally:
        con.close()


def _pyiceberg_rows(product_id: str) -> list[tuple]:
    spec = get_product(product_id)
    table = get_catalog().load_table(f"{spec.domain}.{spec.name}").scan(selected_fields=spec.column_names)
    return sorted(tuple(row[c] for c in spec.column_names) for row in table.to_arrow().to_pylist())


@pytest.mark.parametrize("product_id", PRODUCTS)
def test_duckdb_and_pyiceberg_read_exactly_what_the_platform_serves(product_id, products_published):
    expected = _platform_rows(product_id)
    assert expected, product_id
    assert _duckdb_rows(product_id) == expected
    assert _pyiceberg_rows(product_id) == expected


def test_engines_agree_after_a_republication(dagbag, products_published):
    before = _platform_rows("marketing.ads_performance")
    assert run_dag(dagbag, "marketing__ads_performance", DAY).state == "success"
    after = _platform_rows("marketing.ads_performance")
    assert len(after) == len(before)  # the partition was replaced, not appended to
    assert _duckdb_rows("marketing.ads_performance") == after


def test_a_direct_engine_read_sees_tokens_and_a_granted_read_sees_the_addresses(products_published):
    """The PII column is pseudonymized at rest: DuckDB's iceberg_scan on the table files sees only
    vault tokens; the governed reader with the contract's pii-readers grant (admin) sees the values,
    row for row the same table otherwise."""
    from data_mesh.governance.access import Principal
    from data_mesh.governance.reader import read_table
    from data_mesh.governance.vault import TOKEN_PREFIX

    spec = get_product("sales.customer_orders")
    con = duckdb_with_iceberg()
    try:
        location = product_storage(spec).metadata_location()
        direct = dict(
            con.execute(f"SELECT order_id, customer_email FROM iceberg_scan('{location}')").fetchall()
        )
    finally:
        con.close()
    assert direct and all(v is None or v.startswith(TOKEN_PREFIX) for v in direct.values())
    assert not any("@" in (v or "") for v in direct.values())
    admin = Principal(name="admin", kind="user", roles=frozenset({"admin"}))
    granted = read_table(spec.id, admin, purpose="test", path="api", columns=["order_id", "customer_email"])
    clear = dict(
        zip(*(granted.table.column(c).to_pylist() for c in ("order_id", "customer_email")), strict=True)
    )
    assert clear.keys() == direct.keys() and all("@" in v for v in clear.values() if v)
    pairs = {(direct[k], clear[k]) for k in direct if direct[k]}
    assert len({t for t, _ in pairs}) == len({e for _, e in pairs}) == len(pairs)  # one token per address
