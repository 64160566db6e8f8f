"""Contracts load strictly (ODCS + global policies); a broken one is a clear error and a DAG import error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from data_mesh.contract.odcs import load_contract
from data_mesh.contract.registry import contract_files, load_product, load_products
from data_mesh.exceptions import ContractError

REPO = Path(__file__).resolve().parents[3]
ORDERS = REPO / "domains" / "sales" / "customer_orders.odcs.yaml"


@pytest.mark.parametrize("path", contract_files(), ids=lambda p: p.name)
def test_every_contract_loads_and_complies(path):
    spec = load_product(path)
    assert spec.owner and spec.primary_key and spec.sources
    assert (REPO / "expectations" / spec.expectation_suite).is_file()


def test_mesh_has_the_three_domains():
    specs = load_products()
    assert set(specs) == {"marketing.ads_performance", "sales.customer_orders", "finance.monthly_revenue"}
    orders = specs["sales.customer_orders"]
    assert orders.restricted_columns == ("customer_email",)
    assert orders.column("customer_email").is_pii
    assert specs["finance.monthly_revenue"].inputs == ("sales.customer_orders", "marketing.ads_performance")


def _broken(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load(ORDERS.read_text())
    mutate(raw)
    folder = tmp_path / "sales"
    folder.mkdir(exist_ok=True)
    path = folder / "customer_orders.odcs.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda c: c.update(unknownKey=1), "unknownKey"),
        (lambda c: c.pop("status"), "status"),
        (lambda c: c["schema"][0]["properties"][0].update(logicalType="varchar"), "logicalType"),
        (lambda c: c["schema"][0]["properties"][4].update(classification="secret"), "classification"),
        (lambda c: c["team"]["members"].pop(0), "team.members"),
        (lambda c: c["customProperties"][1]["value"][0].pop("connId"), "connId"),
    ],
    ids=[
        "unknown-key",
        "missing-status",
        "bad-type",
        "bad-classification",
        "no-owner",
        "source-without-conn",
    ],
)
def test_invalid_contract_names_file_and_field(tmp_path, mutate, field):
    path = _broken(tmp_path, mutate)
    with pytest.raises(ContractError) as info:
        load_contract(path)
    assert str(path) in str(info.value) and field in str(info.value)


def test_pii_must_be_restricted(tmp_path, monkeypatch):
    path = _broken(tmp_path, lambda c: c["schema"][0]["properties"][4].update(classification="internal"))
    with pytest.raises(ContractError, match="customer_email.*restricted"):
        load_product(path)


def test_broken_contract_is_a_dag_import_error(tmp_path, monkeypatch, airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    domains = tmp_path / "domains"
    shutil.copytree(REPO / "domains", domains)
    contract = domains / "sales" / "customer_orders.odcs.yaml"
    contract.write_text(contract.read_text().replace("status: active", "status: shipping"))
    monkeypatch.setenv("DATA_MESH_DOMAINS_FOLDER", str(domains))
    bag = DagBag(dag_folder=str(REPO / "dags" / "sales.py"))
    assert "sales__customer_orders" not in bag.dags
    [(file, error)] = bag.import_errors.items()
    assert file.endswith("sales.py")
    assert "customer_orders.odcs.yaml" in error and "status" in error


def test_a_source_page_cap_is_read_and_checked(tmp_path):
    path = _broken(tmp_path, lambda c: c["customProperties"][1]["value"][0].update(maxPages=40))
    orders = load_contract(path).sources[0]
    assert orders.name == "orders" and orders.max_pages == 40
    assert all(s.max_pages is None for s in load_product(ORDERS).sources)  # DATA_MESH_SOURCE_MAX_PAGES
    for bad in (0, "ten", True):
        path = _broken(tmp_path, lambda c, bad=bad: c["customProperties"][1]["value"][0].update(maxPages=bad))
        with pytest.raises(ContractError, match="maxPages must be a positive integer"):
            load_contract(path)


def test_odcs_verdicts_are_remembered_only_for_texts_that_passed(tmp_path, monkeypatch):
    """A DAG parse does not import the ODCS model for a contract text that passed before; a changed
    or failing text is always validated, and a read-only cache folder only means no caching."""
    from open_data_contract_standard.model import OpenDataContractStandard

    monkeypatch.setenv("DATA_MESH_CACHE_DIR", str(tmp_path / "cache"))
    good = _broken(tmp_path, lambda c: None)
    checked: list[str] = []
    real = OpenDataContractStandard.model_validate.__func__

    def counting(cls, raw, *args, **kwargs):
        checked.append(raw["id"])
        return real(cls, raw, *args, **kwargs)

    monkeypatch.setattr(OpenDataContractStandard, "model_validate", classmethod(counting))
    assert load_contract(good).id == load_contract(good).id == "sales.customer_orders"
    assert len(checked) == 1 and len(list((tmp_path / "cache" / "odcs-valid").iterdir())) == 1
    bad = _broken(tmp_path, lambda c: c.update(unknownKey=1))  # the same file, now invalid
    for _ in range(2):
        with pytest.raises(ContractError, match="unknownKey"):
            load_contract(bad)
    assert len(checked) == 3 and len(list((tmp_path / "cache" / "odcs-valid").iterdir())) == 1

    monkeypatch.setenv("DATA_MESH_CACHE_DIR", "/proc/no-such-cache")  # cannot be created
    assert load_contract(_broken(tmp_path, lambda c: None)).id == "sales.customer_orders"
    assert len(checked) == 4
