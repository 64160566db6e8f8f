"""Erasure (crypto-shredding): the subject's value is gone from every version, and the rules hold.

Each test publishes real Iceberg versions into a warehouse and a metadata store of its own, erases a
subject and then looks for the value everywhere: every kept version read with the admin grant,
DuckDB on every Parquet file of the warehouse, the vault, the receipt, the logs.
"""

from __future__ import annotations

import logging
import re
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from data_mesh.exceptions import AlreadyErased, NotAllowed, NothingToErase
from data_mesh.governance.access import Principal
from data_mesh.governance.erasure import DeletedRows, Holding, erase_subject
from data_mesh.governance.reader import read_table
from data_mesh.governance.vault import TOKEN_PREFIX, Vault
from data_mesh.metadata.store import GovernanceStore, MetadataStore
from tests.unit.governance.test_sql import ADMIN, ORDERS, VIEWER, orders, publish

REPO = Path(__file__).resolve().parents[3]
DAY1, DAY2 = date(2026, 11, 19), date(2026, 11, 20)
SUBJECT = "buyer3@example.com"  # in both days: one row in v1, two in v2
ONLY_IN_V2 = "buyer30@example.com"  # only in DAY2's 60 rows, so only in v2
COPY = "support.order_contacts"  # a downstream product that copied the addresses (see `with_copy`)


@pytest.fixture
def published(tmp_path, monkeypatch):
    """orders v1 = DAY1 (10 rows); v2 = v1 + DAY2 (60 rows): v2 keeps v1's data file."""
    from data_mesh.metadata.store import dispose_engines

    monkeypatch.setenv("DATA_MESH_STORAGE_ROOT", str(tmp_path / "products"))
    monkeypatch.setenv("DATA_MESH_METADATA_URL", f"sqlite:///{tmp_path / 'meta.db'}")
    monkeypatch.setenv("DATA_MESH_OPENLINEAGE_TRANSPORT", "none")
    publish(ORDERS, orders(10, DAY1), DAY1.isoformat(), "manual__1")
    publish(ORDERS, orders(60, DAY2), DAY2.isoformat(), "manual__2")
    yield tmp_path
    dispose_engines()


def emails(version: int, product: str = ORDERS, column: str = "customer_email") -> dict[str, str]:
    """order_id -> address of one version, read through the governed reader with the admin grant."""
    result = read_table(
        product, ADMIN, purpose="test", path="api", version=version, columns=["order_id", column]
    )
    return dict(zip(*(result.table.column(c).to_pylist() for c in ("order_id", column)), strict=True))


def expected(version: int, erased: set[str] = frozenset(), token: str | None = None) -> dict[str, str]:
    days = [(DAY1, 10)] + ([(DAY2, 60)] if version >= 2 else [])
    out = {}
    for day, n in days:
        for i in range(n):
            address = f"buyer{i}@example.com"
            out[f"o-{day}-{i:04d}"] = token if address in erased else address
    return out


def warehouse_rows(root: Path) -> list[tuple]:
    """Every row of every Parquet file under the warehouse, as DuckDB reads them (no platform code)."""
    files = [str(p) for p in root.rglob("*.parquet")]
    assert files
    with duckdb.connect() as con:
        return con.execute("SELECT * FROM read_parquet($1, union_by_name = true)", [files]).fetchall()


def storage(product: str = ORDERS):
    from data_mesh.contract.registry import get_product
    from data_mesh.storage.products import product_storage

    return product_storage(get_product(product))


def test_erasure_shreds_the_value_in_every_version_and_keeps_every_version(published, caplog):
    caplog.set_level(logging.DEBUG)
    token = Vault().token_of(SUBJECT)
    assert token and emails(1) == expected(1) and emails(2) == expected(2)

    result = erase_subject("customer_email", SUBJECT, actor=ADMIN, reason="GDPR request #123")

    assert result.holdings == (Holding(ORDERS, "customer_email", (1, 2)),) and result.deleted_rows is None
    receipt = result.receipt
    assert (receipt.requested_by, receipt.subject_column, receipt.token) == ("admin", "customer_email", token)
    assert receipt.holdings == [{"product": ORDERS, "column": "customer_email", "versions": [1, 2]}]
    assert receipt.reason == "GDPR request #123" and receipt.deleted_rows is None
    assert GovernanceStore().receipts(receipt_id=receipt.id) == [receipt]
    for version in (1, 2):  # the subject's rows show the token; every other address is unchanged
        assert emails(version) == expected(version, {SUBJECT}, token)
    assert [v.rows for v in storage().history()] == [10, 70]  # time travel: the same versions, same rows
    assert len([r for r in warehouse_rows(published / "products") if token in r]) == 2  # one per file
    assert not any(SUBJECT in str(row) for row in warehouse_rows(published / "products"))
    gov = GovernanceStore()
    assert gov.entry(Vault().keys.digest(SUBJECT)) is None and Vault().token_of(SUBJECT) is None
    assert SUBJECT not in str(receipt.to_dict()) and SUBJECT not in str(result.to_dict())
    [event] = gov.audit_events(action="erasure")
    assert event.actor == "admin" and event.detail["receipt"] == receipt.id and SUBJECT not in str(event)
    assert SUBJECT not in caplog.text


def test_holdings_name_only_the_versions_whose_files_hold_the_token(published):
    result = erase_subject("customer_email", ONLY_IN_V2, actor=ADMIN)
    assert result.holdings == (Holding(ORDERS, "customer_email", (2,)),)
    assert emails(1) == expected(1)
    assert emails(2) == expected(2, {ONLY_IN_V2}, result.receipt.token)


def test_erasing_twice_says_when_it_was_erased(published):
    first = erase_subject("customer_email", SUBJECT, actor=ADMIN).receipt
    with pytest.raises(AlreadyErased) as again:
        erase_subject("customer_email", SUBJECT, actor=ADMIN)
    day = first.at.strftime("%Y-%m-%d")
    assert re.search(rf"already erased on {day} \d\d:\d\d UTC \(receipt #{first.id}\)", str(again.value))
    assert again.value.receipt_id == first.id and SUBJECT not in str(again.value)
    assert isinstance(again.value, ValueError) and len(GovernanceStore().receipts()) == 1


def test_an_unknown_subject_has_nothing_to_erase(published):
    with pytest.raises(NothingToErase, match="no published product holds this customer_email value") as error:
        erase_subject("customer_email", "nobody@example.com", actor=ADMIN)
    assert "nobody" not in str(error.value) and GovernanceStore().receipts() == []
    with pytest.raises(NothingToErase):  # matched exactly: another case is another value
        erase_subject("customer_email", SUBJECT.upper(), actor=ADMIN)


@pytest.mark.parametrize(
    "who",
    [
        VIEWER,
        Principal(name="alice.sales", kind="user", roles=frozenset({"user"})),  # owns the product
        Principal.for_task("sales__customer_orders", "publish", "sales"),  # the owning domain's DAG
        Principal(name="admin", kind="task", domain="sales", roles=frozenset({"admin"})),  # not a person
    ],
    ids=["viewer", "owner", "domain-task", "admin-named-task"],
)
def test_only_an_admin_may_erase_and_a_refusal_reveals_nothing(published, who):
    token = Vault().token_of(SUBJECT)
    for value in (SUBJECT, "nobody@example.com"):  # held or not: the same refusal
        with pytest.raises(NotAllowed, match="admin role") as refused:
            erase_subject("customer_email", value, actor=who, delete_rows=True)
        assert value not in str(refused.value)
    assert Vault().token_of(SUBJECT) == token and emails(2) == expected(2)
    assert [v.version for v in storage().history()] == [1, 2] and GovernanceStore().receipts() == []
    refusals = GovernanceStore().audit_events(action="erasure.refused")
    assert len(refusals) == 2 and all(e.actor == who.name for e in refusals)


def test_an_unknown_column_is_named(published):
    with pytest.raises(ValueError, match="'email' is not a restricted column.*customer_email"):
        erase_subject("email", SUBJECT, actor=ADMIN)
    assert Vault().token_of(SUBJECT) is not None


def test_delete_rows_writes_a_version_without_the_subject_and_keeps_the_older_ones(published, caplog):
    caplog.set_level(logging.DEBUG)
    token = Vault().token_of(SUBJECT)
    result = erase_subject("customer_email", SUBJECT, actor=ADMIN, delete_rows=True, reason="GDPR #7")

    assert result.deleted_rows == (DeletedRows(ORDERS, 3, 2),)
    assert result.receipt.deleted_rows == [{"product": ORDERS, "version": 3, "rows": 2}]
    assert result.holdings == (Holding(ORDERS, "customer_email", (1, 2)),)  # found before the delete
    latest = storage().version()
    assert (latest.version, latest.operation, latest.rows) == (3, "delete", 68)
    assert latest.changed_partition == f"{DAY1},{DAY2}" and latest.summary["data-mesh.deleted-rows"] == "2"
    subject_orders = {f"o-{DAY1}-0003", f"o-{DAY2}-0003"}
    current = emails(3)
    assert not subject_orders & current.keys() and token not in current.values()
    assert current == {k: v for k, v in expected(2).items() if k not in subject_orders}
    assert emails(2) == expected(2, {SUBJECT}, token) and emails(1) == expected(1, {SUBJECT}, token)
    assert [(v.version, v.operation) for v in storage().history()][-1] == (3, "delete")
    from data_mesh.storage.catalog import get_catalog

    assert "v3" in get_catalog().load_table(("sales", "customer_orders")).metadata.refs
    publication = MetadataStore().get_publication(ORDERS, 3)
    assert publication is not None and publication.operation == "delete" and publication.rows == 68
    assert publication.snapshot_id == latest.snapshot_id and publication.partition is None
    assert not any(SUBJECT in str(row) for row in warehouse_rows(published / "products"))
    assert SUBJECT not in caplog.text


def test_delete_rows_renumbers_after_losing_a_race(published, monkeypatch, caplog):
    """A publisher commits while the delete is prepared: the delete loses, re-reads, lands as v4 and
    also deletes the subject's row the publisher just added."""
    from data_mesh.storage import deletes

    original = deletes._matching
    calls = []

    def raced(product, table, row_filter):
        found = original(product, table, row_filter)
        if not calls:
            calls.append(1)
            publish(ORDERS, orders(5, date(2026, 11, 21)), "2026-11-21", "manual__3")  # v3, with the subject
        return found

    monkeypatch.setattr(deletes, "_matching", raced)
    result = erase_subject("customer_email", SUBJECT, actor=ADMIN, delete_rows=True)
    assert result.deleted_rows == (DeletedRows(ORDERS, 4, 3),)
    history = storage().history()
    assert [(v.version, v.operation) for v in history][-2:] == [(3, "append"), (4, "delete")]
    assert "delete as v3 lost a race" in caplog.text
    assert history[-1].rows == 75 - 3 and history[-2].rows == 75


def test_delete_rows_leaves_a_product_whose_current_version_does_not_hold_the_subject(published):
    publish(ORDERS, orders(5, DAY1).slice(0, 3), DAY1.isoformat(), "manual__3")  # v3: DAY1 without buyer3
    publish(ORDERS, orders(60, DAY2).slice(0, 3), DAY2.isoformat(), "manual__4")  # v4: DAY2 without buyer3
    result = erase_subject("customer_email", SUBJECT, actor=ADMIN, delete_rows=True)
    assert result.holdings == (Holding(ORDERS, "customer_email", (1, 2, 3)),)
    assert result.deleted_rows == () and result.receipt.deleted_rows == []
    assert storage().version().version == 4


@pytest.fixture
def with_copy(published, tmp_path, monkeypatch):
    """The mesh plus `support.order_contacts`: a copy of the orders whose restricted column is
    `contact_email` (another name for the same addresses); published once from DAY2."""
    domains, suites = tmp_path / "domains", tmp_path / "expectations"
    for folder, source in ((domains, REPO / "domains"), (suites, REPO / "expectations")):
        folder.mkdir()
        for domain in ("sales", "marketing", "finance"):
            (folder / domain).symlink_to(source / domain)
        (folder / "support").mkdir()
    contract = (REPO / "domains/sales/customer_orders.odcs.yaml").read_text()
    for old, new in (
        ("customer_orders", "order_contacts"),
        ("domain: sales", "domain: support"),
        ("namespace: sales", "namespace: support"),
        ("implementation: sales/", "implementation: support/"),
        ("customer_email", "contact_email"),
    ):
        contract = contract.replace(old, new)
    (domains / "support/order_contacts.odcs.yaml").write_text(contract)
    suite = (REPO / "expectations/sales/customer_orders.json").read_text()
    (suites / "support/order_contacts.json").write_text(suite.replace("customer_email", "contact_email"))
    shutil.copy(REPO / "domains/__init__.py", domains / "__init__.py")
    monkeypatch.setenv("DATA_MESH_DOMAINS_FOLDER", str(domains))
    monkeypatch.setenv("DATA_MESH_EXPECTATIONS_FOLDER", str(suites))
    copy = orders(60, DAY2)
    copy = copy.rename_columns(["contact_email" if c == "customer_email" else c for c in copy.column_names])
    publish(COPY, copy, DAY2.isoformat(), "manual__copy")
    return published


def test_a_downstream_copy_is_found_and_shredded_too(with_copy):
    token = Vault().token_of(SUBJECT)
    assert emails(1, COPY, "contact_email")[f"o-{DAY2}-0003"] == SUBJECT
    result = erase_subject("customer_email", SUBJECT, actor=ADMIN, delete_rows=True)
    assert result.holdings == (
        Holding(ORDERS, "customer_email", (1, 2)),
        Holding(COPY, "contact_email", (1,)),
    )
    assert result.deleted_rows == (DeletedRows(ORDERS, 3, 2), DeletedRows(COPY, 2, 1))
    assert emails(1, COPY, "contact_email")[f"o-{DAY2}-0003"] == token
    assert f"o-{DAY2}-0003" not in emails(2, COPY, "contact_email")
    assert not any(SUBJECT in str(row) for row in warehouse_rows(with_copy / "products"))
    assert all(v.startswith(TOKEN_PREFIX) or "@" in v for v in emails(1, COPY, "contact_email").values())
