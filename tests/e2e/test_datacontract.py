"""datacontract-cli, the reference tool for ODCS, on every contract: lint, then test against the products
the real DAGs publish.

datacontract-cli lives in a venv of its own (.venv-datacontract, from requirements-datacontract.lock, built
by `make test`): beside apache-airflow it would downgrade python-dateutil, typer and duckdb.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from data_mesh.contract.registry import get_product
from data_mesh.storage.products import product_storage
from tests.e2e.conftest import REPO

CONTRACTS = sorted((REPO / "domains").glob("*/*.odcs.yaml"))
PRODUCTS = {f"{path.parent.name}.{path.name.removesuffix('.odcs.yaml')}": path for path in CONTRACTS}

# The native DuckDB type of each physicalType the contracts use, for the columns the platform writes
# (conform.arrow_type: string, date32, timestamp[us, UTC], float64, int64, bool read as these).
DUCKDB_TYPES = {
    "varchar": "VARCHAR",
    "date": "DATE",
    "timestamp_tz": "TIMESTAMP WITH TIME ZONE",
    "double": "DOUBLE",
    "bigint": "BIGINT",
    "boolean": "BOOLEAN",
}
# datacontract-cli 1.2.8 casts parquet files into the contract's types, so it leaves their type checks
# out with this warning (and an overall result of "warning"); test_physical_types_are_the_published_types
# compares them instead.
UNCHECKED_TYPES = "Checking types in parquet files is not supported yet."


def datacontract(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    executable = Path(
        os.environ.get("DATACONTRACT_BIN") or REPO / ".venv-datacontract" / "bin" / "datacontract"
    )
    if not executable.is_file():
        pytest.fail(
            f"{executable} is missing: `make datacontract` installs it (requirements-datacontract.lock)"
        )
    return subprocess.run(
        [str(executable), *args],
        cwd=cwd,  # a folder of the test's own: no stray .env is read
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def explain(out: subprocess.CompletedProcess) -> str:
    return f"exit code {out.returncode}\n--- stdout\n{out.stdout}\n--- stderr\n{out.stderr}"


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda path: path.name)
def test_datacontract_lint(contract, tmp_path):
    report = tmp_path / "lint.json"
    out = datacontract("lint", str(contract), "--output", str(report), "--output-format=json", cwd=tmp_path)
    assert out.returncode == 0, explain(out)
    result = json.loads(report.read_text())
    assert result["result"] == "passed", explain(out)
    assert result["checks"] and all(c["result"] == "passed" for c in result["checks"]), explain(out)


@pytest.fixture(scope="module")
def published_root(products_published, tmp_path_factory) -> Path:
    """A storage root holding exactly the data files of each product's current Iceberg snapshot.

    The contracts' server path reads every file under the product's data/ folder, and the session's
    storage root keeps older versions' files until retention prunes them (other modules republish the
    same partitions; old snapshots' files stay for time travel), so the current version's files are
    linked into a root of this module's own, at the paths the table keeps them under.
    """
    root = tmp_path_factory.mktemp("published")
    for product in PRODUCTS:
        store = product_storage(get_product(product))
        current = store.version()
        files = [f.removeprefix("file://") for f in store.data_files(current)]
        assert files, product
        table_root = store.uri.removeprefix("file://")
        for source in files:
            target = root / store.spec.domain / store.spec.name / os.path.relpath(source, table_root)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, target)
            except OSError:
                shutil.copyfile(source, target)
    return root


@pytest.mark.parametrize("product", sorted(PRODUCTS))
def test_datacontract_test_passes_on_published_product(product, published_root, tmp_path):
    report = tmp_path / "test.json"
    out = datacontract(
        "test",
        str(PRODUCTS[product]),
        "--server",
        "local",
        "--output",
        str(report),
        "--output-format=json",
        cwd=tmp_path,
        env={"DATA_MESH_STORAGE_ROOT": str(published_root)},
    )
    assert out.returncode == 0, explain(out)
    result = json.loads(report.read_text())
    checks = result["checks"]
    not_passed = [c for c in checks if c["result"] != "passed"]
    # anything but the type checks datacontract-cli cannot run on parquet is a failure
    unchecked = [c for c in not_passed if c["type"] == "field_type" and c["reason"] == UNCHECKED_TYPES]
    assert not_passed == unchecked and all(c["result"] == "warning" for c in unchecked), explain(out)
    assert result["result"] == ("warning" if not_passed else "passed"), explain(out)
    # the data was read: one passed presence check per column of the contract
    contract = yaml.safe_load(PRODUCTS[product].read_text())
    columns = {p["name"] for p in contract["schema"][0]["properties"]}
    present = {c["field"] for c in checks if c["result"] == "passed" and c["type"] == "field_is_present"}
    assert present == columns, explain(out)


@pytest.mark.parametrize("product", sorted(PRODUCTS))
def test_physical_types_are_the_published_types(product, published_root):
    import duckdb

    contract = yaml.safe_load(PRODUCTS[product].read_text())
    declared = {p["name"]: p["physicalType"] for p in contract["schema"][0]["properties"]}
    assert set(declared.values()) <= set(DUCKDB_TYPES), declared
    files = sorted(str(p) for p in published_root.glob(f"{product.replace('.', '/')}/data/*/*.parquet"))
    assert files
    described = duckdb.sql(f"describe select * from read_parquet({files!r})").fetchall()
    native = {column[0]: column[1] for column in described}
    wrong = {
        name: f"declared {declared.get(name)!r}, published {native.get(name)!r}"
        for name in declared.keys() | native.keys()
        if DUCKDB_TYPES.get(declared.get(name, "")) != native.get(name)
    }
    assert not wrong, wrong
