"""`check_and_stage`: the checks, the read of the published keys and the staging of the file overlap;
whatever ends the step early leaves no staged file behind."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from data_mesh.contract.partition import parse_partition
from data_mesh.contract.registry import get_product
from data_mesh.pipeline.steps import check_and_stage
from data_mesh.storage.products import product_storage
from tests.unit.storage.test_products import ads_rows

DAY = "2026-11-20"


@pytest.fixture
def spec(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_MESH_STORAGE_ROOT", str(tmp_path / "warehouse"))
    monkeypatch.setenv("DATA_MESH_METADATA_URL", f"sqlite:///{tmp_path / 'metadata.db'}")
    return get_product("marketing.ads_performance")


def data_files(root: Path) -> list[Path]:
    return sorted((root / "warehouse").rglob("*.parquet"))


def test_a_passing_batch_is_staged_and_committed_as_one_version(spec, tmp_path):
    store = product_storage(spec)
    store.publish(ads_rows("2026-11-19", 3), "2026-11-19", "h", "earlier")  # keys to read back
    report, staged = check_and_stage(ads_rows(DAY, 5), spec, store, parse_partition("day", DAY))
    assert report.success and staged is not None and staged.rows == 5
    store.commit(staged, "h", "run")
    assert store.read_table(store.version()).num_rows == 8


def test_a_rejected_batch_leaves_no_staged_file(spec, tmp_path):
    store = product_storage(spec)
    bad = ads_rows(DAY, 5)
    index = bad.column_names.index("clicks")
    more_clicks = pa.array([20] * 5, bad.schema.field(index).type)  # than impressions (10): rejected
    report, staged = check_and_stage(
        bad.set_column(index, "clicks", more_clicks), spec, store, parse_partition("day", DAY)
    )
    assert not report.success and staged is None
    assert data_files(tmp_path) == []


def test_a_failed_read_of_the_published_keys_fails_the_step_and_leaves_no_staged_file(
    spec, tmp_path, monkeypatch
):
    store = product_storage(spec)

    def unreachable(*_args, **_kwargs):
        raise ConnectionError("catalog unreachable")

    monkeypatch.setattr(store, "published_keys", unreachable)
    with pytest.raises(ConnectionError, match="catalog unreachable"):
        check_and_stage(ads_rows(DAY, 5), spec, store, parse_partition("day", DAY))
    assert data_files(tmp_path) == []


def valid_orders(n: int) -> pa.Table:
    """n orders that pass the product's contract and GX suite (identifiers in their formats)."""
    from tests.unit.governance.test_sql import orders

    table = orders(n)
    for name, ids in (
        ("order_id", [f"ord-20261120-{i:06d}" for i in range(n)]),
        ("customer_id", [f"cus-{i:06d}" for i in range(n)]),
    ):
        index = table.column_names.index(name)
        table = table.set_column(index, table.schema.field(index), pa.array(ids, pa.string()))
    return table


def test_new_values_another_publisher_wrote_first_are_staged_with_its_tokens(tmp_path, monkeypatch):
    """The vault writes a first publication's new entries while the file is staged; when another
    publisher wrote the same values first, the file is staged again with that publisher's tokens
    and the first one is removed: no published token lacks its vault entry."""
    import pyarrow.compute as pc

    from data_mesh.governance.vault import Vault
    from data_mesh.metadata.store import GovernanceStore, dispose_engines
    from tests.unit.governance.test_sql import ORDERS

    monkeypatch.setenv("DATA_MESH_STORAGE_ROOT", str(tmp_path / "warehouse"))
    monkeypatch.setenv("DATA_MESH_METADATA_URL", f"sqlite:///{tmp_path / 'metadata.db'}")
    spec = get_product(ORDERS)
    batch = valid_orders(40)
    emails = batch.column("customer_email").to_pylist()
    real, winner = GovernanceStore.add_entries, []

    def racing(self, digests, tokens, seal):
        if not winner:  # the other publisher commits the same values first
            winner.append(None)
            winner.extend(Vault().tokens(emails))
        return real(self, digests, tokens, seal)

    monkeypatch.setattr(GovernanceStore, "add_entries", racing)
    store = product_storage(spec)
    report, staged = check_and_stage(batch, spec, store, parse_partition("day", DAY))
    assert report.success and staged is not None and len(data_files(tmp_path)) == 1
    store.commit(staged, "h", "run")
    stored = store.read_table(store.version()).column("customer_email")
    assert stored.to_pylist() == winner[1:] and pc.all(pc.starts_with(stored, "pii_")).as_py()
    assert Vault().values(winner[1:]) == dict(zip(winner[1:], emails, strict=True))
    dispose_engines()


def test_a_vault_that_fails_to_write_fails_the_step_and_leaves_no_staged_file(tmp_path, monkeypatch):
    from data_mesh.metadata.store import GovernanceStore, dispose_engines
    from tests.unit.governance.test_sql import ORDERS

    monkeypatch.setenv("DATA_MESH_STORAGE_ROOT", str(tmp_path / "warehouse"))
    monkeypatch.setenv("DATA_MESH_METADATA_URL", f"sqlite:///{tmp_path / 'metadata.db'}")

    def locked(*_args, **_kwargs):
        raise TimeoutError("the vault's database is locked")

    monkeypatch.setattr(GovernanceStore, "add_entries", locked)
    spec = get_product(ORDERS)
    with pytest.raises(TimeoutError, match="locked"):
        check_and_stage(valid_orders(40), spec, product_storage(spec), parse_partition("day", DAY))
    assert data_files(tmp_path) == []
    dispose_engines()
