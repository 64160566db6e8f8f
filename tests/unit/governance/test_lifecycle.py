"""Lifecycle from the contract status, on the task reader, the SQL port, the DAG builder and the CLI.

Each test edits a copy of the real domains (sales.customer_orders made draft, deprecated or retired)
and reads a really published table; the API and UI paths are in tests/unit/web/test_lifecycle_web.py.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from data_mesh.contract import registry
from data_mesh.contract.policies.mesh import check_mesh
from data_mesh.exceptions import ContractError, ProductRetired, UnknownProductError
from data_mesh.governance import lifecycle
from data_mesh.governance.access import Principal
from data_mesh.governance.reader import read_table
from data_mesh.governance.sql import run_sql
from data_mesh.metadata.store import AccessEvent
from tests.unit.governance import test_sql

REPO = Path(__file__).resolve().parents[3]
ORDERS = "sales.customer_orders"
SUCCESSOR = "sales.orders_v2"
VIEWER = Principal(name="viewer", kind="user", roles=frozenset({"viewer"}))
ADMIN = Principal(name="admin", kind="user", roles=frozenset({"admin"}))
OWNER = Principal(name="alice.sales", kind="user", roles=frozenset({"viewer"}))
FINANCE_TASK = Principal.for_task("finance__monthly_revenue", "transform", "finance")
SALES_TASK = Principal.for_task("sales__customer_orders", "transform", "sales")


def set_lifecycle(
    domains: Path, status: str, *, successor: str | None = None, end_of_life: date | None = None
) -> None:
    """Rewrite sales.customer_orders' contract with this status, successor and endOfLife."""
    path = domains / "sales" / "customer_orders.odcs.yaml"
    text = re.sub(r"(?m)^status: \w+$", f"status: {status}", path.read_text(encoding="utf-8"), count=1)
    if successor and "property: successor" not in text:
        text = text.replace(
            "\ncustomProperties:\n", f"\ncustomProperties:\n  - property: successor\n    value: {successor}\n"
        )
    if end_of_life:
        text = text.replace(
            "\nslaProperties:\n", f'\nslaProperties:\n  - property: endOfLife\n    value: "{end_of_life}"\n'
        )
    path.write_text(text, encoding="utf-8")
    registry._cache.clear()


@pytest.fixture
def domains(tmp_path, monkeypatch):
    folder = tmp_path / "domains"
    shutil.copytree(REPO / "domains", folder)
    monkeypatch.setenv("DATA_MESH_DOMAINS_FOLDER", str(folder))
    registry._cache.clear()
    yield folder
    registry._cache.clear()


@pytest.fixture
def published(domains, tmp_path, monkeypatch):
    """orders v1 (10 rows) and v2 (60 rows) really published, while the contract is still active."""
    from data_mesh.metadata.store import MetadataStore, dispose_engines

    monkeypatch.setenv("DATA_MESH_STORAGE_ROOT", str(tmp_path / "products"))
    monkeypatch.setenv("DATA_MESH_METADATA_URL", f"sqlite:///{tmp_path / 'meta.db'}")
    monkeypatch.setenv("DATA_MESH_OPENLINEAGE_TRANSPORT", "none")
    test_sql.publish(ORDERS, test_sql.orders(10), "2026-11-20", "manual__1")
    test_sql.publish(ORDERS, test_sql.orders(60), "2026-11-20", "manual__2")
    yield MetadataStore()
    dispose_engines()


def test_the_state_follows_the_status_and_the_end_of_life():
    spec = registry.get_product(ORDERS)
    assert lifecycle.state(spec) == "active"
    for status, expected in (("draft", "draft"), ("proposed", "draft"), ("deprecated", "deprecated")):
        assert lifecycle.state(dataclasses.replace(spec, status=status)) == expected
    assert lifecycle.state(dataclasses.replace(spec, status="retired")) == "retired"
    today = date(2026, 12, 3)
    ending = dataclasses.replace(
        spec, status="deprecated", sla=dataclasses.replace(spec.sla, end_of_life=today)
    )
    assert lifecycle.state(ending, today - timedelta(days=1)) == "deprecated"
    assert lifecycle.state(ending, today) == "retired"  # the end of life needs no contract change


def test_a_draft_exists_only_for_its_owners(published, domains):
    set_lifecycle(domains, "draft")
    for stranger in (VIEWER, FINANCE_TASK):
        with pytest.raises(UnknownProductError, match=ORDERS):
            read_table(ORDERS, stranger, purpose="peek", columns=["region"])
    with pytest.raises(UnknownProductError, match=ORDERS):
        run_sql(f"SELECT count(*) FROM {ORDERS}", VIEWER, path="api")
    for insider in (SALES_TASK, OWNER, ADMIN):
        assert read_table(ORDERS, insider, purpose="build", columns=["region"]).table.num_rows == 60
    assert run_sql(f"SELECT count(*) FROM {ORDERS}", OWNER, path="api").rows == [[60]]
    # finance's product reads it: another domain's draft is a DAG import error and a mesh finding
    from data_mesh.pipeline.dags import build_domain_dags

    with pytest.raises(ContractError, match=f"{ORDERS} is a draft: only domain 'sales' reads it"):
        build_domain_dags("finance")
    assert "sales__customer_orders" in build_domain_dags("sales")  # its own domain builds and reads it
    specs = {s.id: s for d in ("sales", "marketing", "finance") for s in registry.load_products(d).values()}
    problems = check_mesh(specs)
    assert ("finance.monthly_revenue", "customProperties.inputs") in [p[:2] for p in problems]


def test_a_deprecated_product_is_served_with_a_warning_and_its_consumers(published, domains, caplog):
    end = datetime.now(UTC).date() + timedelta(days=30)
    set_lifecycle(domains, "deprecated", successor=SUCCESSOR, end_of_life=end)
    with caplog.at_level(logging.WARNING, logger="data_mesh.governance.lifecycle"):
        result = read_table(ORDERS, FINANCE_TASK, purpose="revenue", columns=["region", "amount"])
    assert result.table.num_rows == 60
    [warning] = [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]
    assert FINANCE_TASK.name in warning and SUCCESSOR in warning and end.isoformat() in warning
    sql = run_sql(f"SELECT count(*) FROM {ORDERS}", VIEWER, path="api")
    assert sql.rows == [[60]] and sql.warnings == (lifecycle.notice(registry.get_product(ORDERS)),)
    assert SUCCESSOR in sql.to_dict()["warnings"][0]
    # who still reads it: finance's DAG (from the contracts) and both readers of the last 30 days
    old = datetime.now(UTC) - timedelta(days=45)
    published.record_access(AccessEvent("dave.gone", "user", ORDERS, "api", True, version=1, rows=1, at=old))
    consumers = lifecycle.consumers(registry.get_product(ORDERS), registry.load_products(), published)
    assert ("dag", "finance__monthly_revenue") in [(c.kind, c.name) for c in consumers]
    readers = {c.name: c.reads for c in consumers if c.kind == "reader"}
    assert readers == {FINANCE_TASK.name: 1, "viewer": 1}  # dave.gone read 45 days ago: not listed
    from data_mesh.pipeline.dags import build_domain_dags

    assert "finance__monthly_revenue" in build_domain_dags("finance")  # still buildable until its end


@pytest.mark.parametrize("how", ["retired", "past end of life"])
def test_a_retired_product_is_refused_naming_its_successor(published, domains, how):
    if how == "retired":
        set_lifecycle(domains, "retired", successor=SUCCESSOR)
    else:
        yesterday = datetime.now(UTC).date() - timedelta(days=1)
        set_lifecycle(domains, "deprecated", successor=SUCCESSOR, end_of_life=yesterday)
    for reader in (FINANCE_TASK, ADMIN, OWNER):
        with pytest.raises(ProductRetired, match=f"{ORDERS} is retired.*read its successor {SUCCESSOR}"):
            read_table(ORDERS, reader, purpose="revenue", columns=["region"])
    with pytest.raises(ProductRetired, match=SUCCESSOR):
        run_sql(f"SELECT count(*) FROM {ORDERS}", VIEWER, path="api")
    refused = published.list_access_events(product_id=ORDERS, allowed=False).items
    assert len(refused) == 4 and all(SUCCESSOR in e.reason for e in refused)  # every refusal audited
    from data_mesh.pipeline.dags import build_domain_dags

    assert "sales__customer_orders" not in build_domain_dags("sales")  # not published any more
    with pytest.raises(ContractError, match=f"{ORDERS} is retired; build from its successor {SUCCESSOR}"):
        build_domain_dags("finance")


def test_the_cli_warns_and_names_the_successor(published, domains, tmp_path, capsys):
    from data_mesh.cli import main

    set_lifecycle(domains, "deprecated", successor=SUCCESSOR)
    out = tmp_path / "orders.csv"
    assert main(["--local-admin", "download", ORDERS, "--format", "csv", "-o", str(out)]) == 0
    assert f"warning: {ORDERS} is deprecated; move to {SUCCESSOR}" in capsys.readouterr().err
    assert len(out.read_text().splitlines()) == 61
    assert main(["--local-admin", "sql", f"SELECT count(*) AS n FROM {ORDERS}"]) == 0
    assert f"move to {SUCCESSOR}" in capsys.readouterr().err
    set_lifecycle(domains, "retired", successor=SUCCESSOR)
    assert main(["--local-admin", "download", ORDERS, "-o", str(out)]) == 7
    assert f"{ORDERS} is retired: read its successor {SUCCESSOR}" in capsys.readouterr().err
