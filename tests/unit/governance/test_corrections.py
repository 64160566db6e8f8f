"""Governed corrections try to break the rules: who, why, what changes, what is validated, what is stored.

Real publications into a tmp warehouse (valid for the GX suite of sales.customer_orders), real
corrections through `governance.corrections.correct`, the versions compared whole.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_mesh.contract.registry import get_product
from data_mesh.governance.access import Principal
from data_mesh.governance.corrections import (
    CorrectionRejected,
    InvalidCorrection,
    NoRowsMatched,
    NothingToChange,
    NotSteward,
    correct,
)
from data_mesh.governance.reader import read_table
from data_mesh.governance.vault import TOKEN_PREFIX, Vault
from data_mesh.metadata.store import GovernanceStore, MetadataStore

ORDERS = "sales.customer_orders"
DAY1, DAY2 = date(2026, 11, 20), date(2026, 11, 21)
OWNER = Principal(name="alice.sales", kind="user", roles=frozenset({"viewer"}))  # the contract's owner
ADMIN = Principal(name="admin", kind="user", roles=frozenset({"admin"}))
VIEWER = Principal(name="viewer", kind="user", roles=frozenset({"viewer"}))
RETURNED = "customer returned the order"


def order_id(day: date, i: int) -> str:
    return f"ord-{day:%Y%m%d}-{i:06d}"


def orders(day: date, n: int, shipped: int = 0) -> pa.Table:
    """`n` valid orders of `day` (the first `shipped` of them shipped, the others placed)."""
    from data_mesh.storage.arrow import arrow_schema

    rows = {
        "order_id": [order_id(day, i) for i in range(n)],
        "order_date": [day] * n,
        "order_ts": [datetime(day.year, day.month, day.day, 9, i, tzinfo=UTC) for i in range(n)],
        "customer_id": [f"cus-{i:06d}" for i in range(n)],
        "customer_email": [f"buyer{i}.{day:%d}@example.com" for i in range(n)],
        "customer_country": ["FRA"] * n,
        "region": [["EMEA", "NA", "APAC", "LATAM"][i % 4] for i in range(n)],
        "status": ["shipped" if i < shipped else "placed" for i in range(n)],
        "amount": [round(2.5 * (i + 1), 2) for i in range(n)],
        "currency": ["USD"] * n,
        "items": [i % 3 + 1 for i in range(n)],
    }
    return pa.Table.from_pydict(rows, schema=arrow_schema(get_product(ORDERS)))


def storage():
    from data_mesh.storage.products import product_storage

    return product_storage(get_product(ORDERS))


@pytest.fixture
def published(tmp_path, monkeypatch):
    """orders: v1 = 6 rows of DAY1 (one shipped), v2 = + 3 rows of DAY2 (all placed)."""
    from data_mesh.metadata.store import dispose_engines

    monkeypatch.setenv("DATA_MESH_STORAGE_ROOT", str(tmp_path / "products"))
    monkeypatch.setenv("DATA_MESH_METADATA_URL", f"sqlite:///{tmp_path / 'meta.db'}")
    monkeypatch.setenv("DATA_MESH_OPENLINEAGE_TRANSPORT", "none")
    storage().publish(orders(DAY1, 6, shipped=1), DAY1.isoformat(), "h", "manual__1")
    storage().publish(orders(DAY2, 3), DAY2.isoformat(), "h", "manual__2")
    yield storage()
    dispose_engines()


def stored(version: int | None = None) -> list[dict]:
    """A whole version as stored (tokens), ordered by order_id."""
    store = storage()
    rows = store.read_table(store.version(version)).to_pylist()
    return sorted(rows, key=lambda r: r["order_id"])


def differences(before: list[dict], after: list[dict]) -> dict[str, dict[str, tuple]]:
    """order_id -> {column: (before, after)} for every cell that differs (rows present in both)."""
    old = {r["order_id"]: r for r in before}
    return {
        r["order_id"]: {c: (old[r["order_id"]][c], v) for c, v in r.items() if old[r["order_id"]][c] != v}
        for r in after
        if any(old[r["order_id"]][c] != v for c, v in r.items())
    }


def audits(action: str) -> list:
    return GovernanceStore().audit_events(product_id=ORDERS, action=action)


@pytest.mark.parametrize("actor", [OWNER, ADMIN], ids=["owner", "admin"])
def test_a_steward_sets_one_order_returned_as_a_new_version(published, actor):
    before = stored()
    target = order_id(DAY1, 3)
    result = correct(
        ORDERS, where={"order_id": target}, set_values={"status": "returned"}, reason=RETURNED, actor=actor
    )

    assert (result.previous_version, result.version, result.versions) == (2, 3, [3])
    assert (result.rows_matched, result.rows_changed, result.rows_deleted) == (1, 1, 0)
    assert [p.partition for p in result.partitions] == [DAY1.isoformat()] and result.validation["success"]
    after = stored()
    assert len(after) == len(before) == 9
    assert differences(before, after) == {target: {"status": ("placed", "returned")}}
    assert stored(2) == before  # time travel: v2 is still readable, unchanged

    version = published.version()
    assert version.run_id.startswith("correction__") and version.run_id.endswith(f"__{actor.name}")
    assert version.summary["data-mesh.validation.correction.reason"] == RETURNED
    assert version.summary["data-mesh.validation.correction.actor"] == actor.name
    assert version.changed_partition == DAY1.isoformat()
    [publication] = [p for p in MetadataStore().list_publications(ORDERS) if p.version == 3]
    assert publication.run_id == version.run_id and publication.validation_success
    [event] = audits("correction")
    assert event.actor == actor.name and event.detail["reason"] == RETURNED
    assert event.detail["where"] == {"order_id": target} and event.detail["set"] == {"status": "returned"}
    assert event.detail["version"] == 3 and event.detail["rows_changed"] == 1


def test_delete_removes_exactly_the_matched_row(published):
    before = stored()
    target = order_id(DAY2, 1)
    result = correct(ORDERS, where={"order_id": target}, delete=True, reason="test order", actor=OWNER)
    assert (result.action, result.version, result.rows_deleted) == ("delete", 3, 1)
    after = stored()
    assert [r for r in before if r["order_id"] != target] == after
    assert stored(2) == before and result.partitions[0].rows == 2


def test_several_conditions_and_partitions_publish_one_version_each(published):
    before = stored()
    result = correct(
        ORDERS,
        where={"customer_id": "cus-000002", "status": "placed"},
        set_values={"items": "2"},
        reason="a line item was counted twice",
        actor=OWNER,
    )
    assert result.versions == [3, 4] and [p.partition for p in result.partitions] == [
        "2026-11-20",
        "2026-11-21",
    ]
    assert "2 partitions" in result.message and "one after another" in result.message
    assert differences(before, stored()) == {
        order_id(DAY1, 2): {"items": (3, 2)},
        order_id(DAY2, 2): {"items": (3, 2)},
    }
    assert [v.run_id for v in published.history()[2:]] == [result.run_id] * 2


def test_a_viewer_is_refused_and_nothing_is_published(published):
    with pytest.raises(NotSteward, match="only its owning team") as refused:
        correct(
            ORDERS,
            where={"order_id": order_id(DAY1, 0)},
            set_values={"status": "returned"},
            reason=RETURNED,
            actor=VIEWER,
        )
    assert refused.value.status == 403
    assert published.versions() == [1, 2]
    [event] = audits("correction.refused")
    assert event.actor == "viewer" and event.detail["why"] == "not a steward"


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_no_reason_is_refused(published, reason):
    with pytest.raises(InvalidCorrection, match="needs a reason") as refused:
        correct(
            ORDERS,
            where={"order_id": order_id(DAY1, 0)},
            set_values={"status": "returned"},
            reason=reason,
            actor=OWNER,
        )
    assert refused.value.status == 400 and published.versions() == [1, 2]


@pytest.mark.parametrize(
    ("where", "set_values", "message"),
    [
        (
            {"order_id": order_id(DAY1, 0)},
            {"amount": "-5"},
            "expect_column_values_to_be_between(column=amount)",
        ),
        ({"order_id": order_id(DAY1, 0)}, {"status": ""}, "contract:required"),
        ({"order_id": order_id(DAY1, 0)}, {"status": "teleported"}, "column=status"),
        (
            {"order_id": order_id(DAY1, 0)},
            {"order_id": order_id(DAY1, 1)},
            "expect_column_values_to_be_unique",
        ),
        ({"order_id": order_id(DAY1, 0)}, {"order_id": order_id(DAY2, 1)}, "contract:primary_key"),
        ({"order_id": order_id(DAY1, 0)}, {"customer_id": "not-a-customer"}, "column=customer_id"),
    ],
    ids=[
        "negative-amount",
        "required-empty",
        "not-in-set",
        "duplicate-key",
        "key-in-other-partition",
        "regex",
    ],
)
def test_a_correction_that_breaks_the_contract_is_refused(published, where, set_values, message):
    before = stored()
    with pytest.raises(CorrectionRejected) as refused:
        correct(ORDERS, where=where, set_values=set_values, reason="break it", actor=ADMIN)
    assert refused.value.status == 422 and message in str(refused.value)
    assert "nothing published (v2 is still served)" in str(refused.value)
    assert published.versions() == [1, 2] and stored() == before
    [event] = audits("correction.refused")
    assert message in event.detail["why"]


def test_a_refusal_in_one_partition_publishes_no_partition(published):
    # Deleting every placed order leaves DAY1 its shipped order but empties DAY2 (row count >= 1).
    with pytest.raises(CorrectionRejected, match="(?s)partition 2026-11-21: .*row_count.*observed 0"):
        correct(ORDERS, where={"status": "placed"}, delete=True, reason="wipe", actor=ADMIN)
    assert published.versions() == [1, 2]
    # DAY1 passed and was staged, then discarded: the table's folder holds only v2's files
    written = {str(f) for f in Path(published.uri.removeprefix("file://"), "data").rglob("*.parquet")}
    assert written == {f.removeprefix("file://") for f in published.data_files(published.version())}


@pytest.mark.parametrize(
    ("where", "set_values", "message"),
    [
        ({"order_id": order_id(DAY1, 0)}, {"items": "many"}, "column items: 'many' is not a integer value"),
        ({"order_id": order_id(DAY1, 0)}, {"amount": "1,5"}, "column amount"),
        ({"order_ts": "yesterday"}, {"status": "returned"}, "column order_ts"),
        ({"orderid": order_id(DAY1, 0)}, {"status": "returned"}, "no column(s) ['orderid'] (in where)"),
        ({"order_id": order_id(DAY1, 0)}, {"state": "returned"}, "no column(s) ['state'] (in set)"),
        ({"order_id": order_id(DAY1, 0)}, {"order_date": "2026-11-21"}, "partition column"),
        ({}, {"status": "returned"}, "where must name"),
        ({"order_id": order_id(DAY1, 0)}, {}, "nothing to correct"),
    ],
)
def test_bad_columns_and_values_are_refused_before_anything_is_read(published, where, set_values, message):
    with pytest.raises(InvalidCorrection) as refused:
        correct(ORDERS, where=where, set_values=set_values, reason="r", actor=OWNER)
    assert refused.value.status == 400 and message in str(refused.value)
    assert published.versions() == [1, 2]


def test_delete_and_set_together_are_refused(published):
    with pytest.raises(InvalidCorrection, match="not both"):
        correct(
            ORDERS,
            where={"order_id": order_id(DAY1, 0)},
            set_values={"status": "returned"},
            delete=True,
            reason="r",
            actor=OWNER,
        )


def test_no_match_and_no_change_publish_nothing(published):
    with pytest.raises(NoRowsMatched, match="no row of sales.customer_orders v2 matches") as missing:
        correct(
            ORDERS,
            where={"order_id": "ord-20991231-000001"},
            set_values={"status": "returned"},
            reason="r",
            actor=OWNER,
        )
    assert missing.value.status == 404
    with pytest.raises(NothingToChange, match="already hold") as same:
        correct(
            ORDERS,
            where={"order_id": order_id(DAY1, 0)},
            set_values={"status": "shipped"},
            reason="r",
            actor=OWNER,
        )
    assert same.value.status == 409 and published.versions() == [1, 2]


def _clear_values_on_disk() -> list[str]:
    files = storage().data_files(storage().version())
    emails = pa.concat_tables([pq.read_table(f, columns=["customer_email"]) for f in files])
    return [e for e in emails.column(0).to_pylist() if e is not None and not e.startswith(TOKEN_PREFIX)]


def test_a_restricted_column_is_written_as_a_token_and_read_back_with_a_grant(published):
    before = stored()
    target = order_id(DAY1, 4)
    result = correct(
        ORDERS,
        where={"order_id": target},
        set_values={"customer_email": "new@example.com"},
        reason="the customer changed address",
        actor=OWNER,
    )
    assert result.set_values == {"customer_email": "***"}
    files = storage().data_files(storage().version())
    on_disk = pa.concat_tables([pq.read_table(f) for f in files]).column("customer_email").to_pylist()
    assert not any("@" in v for v in on_disk) and all(v.startswith(TOKEN_PREFIX) for v in on_disk)
    changed = differences(before, stored())
    assert list(changed) == [target] and list(changed[target]) == ["customer_email"]
    assert changed[target]["customer_email"][1] == Vault().token_of("new@example.com")

    granted = read_table(ORDERS, ADMIN, purpose="support", path="api", columns=["order_id", "customer_email"])
    emails = dict(
        zip(*(granted.table.column(c).to_pylist() for c in ("order_id", "customer_email")), strict=True)
    )
    assert emails[target] == "new@example.com" and emails[order_id(DAY1, 3)] == "buyer3.20@example.com"
    [event] = audits("correction")
    assert "new@example.com" not in json.dumps(event.detail) and event.detail["set"] == {
        "customer_email": "***"
    }
    assert "new@example.com" not in json.dumps(result.to_dict())


def test_a_restricted_column_in_where_matches_through_its_token(published):
    result = correct(
        ORDERS,
        where={"customer_email": "buyer2.21@example.com"},
        set_values={"status": "cancelled"},
        reason="fraud",
        actor=ADMIN,
    )
    assert result.where == {"customer_email": "***"} and result.partitions[0].partition == "2026-11-21"
    assert {r["order_id"]: r["status"] for r in stored()}[order_id(DAY2, 2)] == "cancelled"
    with pytest.raises(NoRowsMatched):  # never tokenized: the vault creates nothing for a lookup
        correct(
            ORDERS,
            where={"customer_email": "nobody@example.com"},
            set_values={"status": "cancelled"},
            reason="fraud",
            actor=ADMIN,
        )
    assert Vault().token_of("nobody@example.com") is None


def test_an_erased_value_stays_erased_through_a_correction(published):
    vault = Vault()
    erased = stored()[1]["customer_email"]  # DAY1 row 1's token
    GovernanceStore().erase(
        vault.keys.digest("buyer1.20@example.com"),
        requested_by="dpo",
        subject_column="customer_email",
        holdings=[],
        deleted_rows=None,
        reason="gdpr",
        pages=vault,
    )
    before = stored()
    correct(
        ORDERS,
        where={"order_id": order_id(DAY1, 0)},
        set_values={"status": "returned"},
        reason=RETURNED,
        actor=OWNER,
    )
    after = stored()
    assert after[1]["customer_email"] == erased  # the same token, not re-tokenized
    assert list(differences(before, after)) == [order_id(DAY1, 0)]
    assert _clear_values_on_disk() == []


def test_a_partition_published_meanwhile_is_not_overwritten(published, monkeypatch):
    from data_mesh.governance import corrections
    from data_mesh.governance.corrections import CorrectionConflict

    validate_all = corrections._validate_all

    def then_a_pipeline_run_publishes_day2(*args, **kwargs):
        checked = validate_all(*args, **kwargs)
        storage().publish(orders(DAY2, 3), DAY2.isoformat(), "h", "scheduled__rerun")  # v3
        return checked

    monkeypatch.setattr(corrections, "_validate_all", then_a_pipeline_run_publishes_day2)
    with pytest.raises(CorrectionConflict, match="partition 2026-11-21 .* was published as v3") as conflict:
        correct(
            ORDERS, where={"customer_id": "cus-000002"}, set_values={"items": "2"}, reason="r", actor=OWNER
        )
    assert conflict.value.status == 409 and conflict.value.published == [4]
    assert [v.run_id.split("__")[0] for v in published.history()] == [
        "manual",
        "manual",
        "scheduled",
        "correction",
    ]
    assert {r["order_id"]: r["items"] for r in stored()}[order_id(DAY2, 2)] == 3  # the rerun's row, kept
    [event] = audits("correction")
    assert event.detail["versions"] == [4] and "v3" in event.detail["partial"]
