"""A 200-product mesh (bench/mesh_generator.py: 20 domains of 10, chained across domains) in a temp folder.

What a platform team relies on at that size: every DAG file parses with no import error in a real
DagBag (each consumer's grant checked at parse against its upstream contracts' roles), `data-mesh
check` passes, and the catalog API and pages answer for all 200 products, with the lineage the
publications record (`pipeline.recorder.register_products`, what every publish calls).
"""

from __future__ import annotations

import time

import pytest
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
from airflow.api_fastapi.core_api.security import get_user
from fastapi.testclient import TestClient

from bench.mesh_generator import DOMAINS, PRODUCTS_PER_DOMAIN, generate_mesh
from data_mesh.cli import main as cli

TOTAL = DOMAINS * PRODUCTS_PER_DOMAIN


@pytest.fixture(scope="module")
def mesh(tmp_path_factory):
    """The generated mesh, and this module's settings pointing the platform at it."""
    from data_mesh.metadata.store import dispose_engines

    root = tmp_path_factory.mktemp("mesh200")
    generated = generate_mesh(root)
    patch = pytest.MonkeyPatch()
    for name, value in generated.environment().items():
        patch.setenv(name, value)
    patch.setenv("DATA_MESH_METADATA_URL", f"sqlite:///{root / 'metadata.db'}")
    patch.setenv("DATA_MESH_STORAGE_ROOT", str(root / "products"))
    yield generated
    patch.undo()
    dispose_engines()


def test_generator_writes_200_products_chained_across_domains(mesh):
    assert len(mesh.domains) == 20 and len(mesh.products) == TOTAL
    contracts = sorted((mesh.root / "domains").glob("*/*.odcs.yaml"))
    suites = sorted((mesh.root / "expectations").glob("*/*.json"))
    assert len(contracts) == len(suites) == TOTAL
    assert len(list(mesh.dags_folder.glob("*.py"))) == 20
    by_id = {p.id: p for p in mesh.products}
    assert by_id["mesh00.ads_00"].inputs == ()
    assert by_id["mesh07.orders_09"].inputs == ("mesh06.orders_09", "mesh06.orders_01")
    for product in mesh.products:
        assert all(int(u[4:6]) == int(product.domain[4:6]) - 1 for u in product.inputs), product


def test_every_dag_file_parses_without_import_error(mesh):
    from airflow.dag_processing.dagbag import DagBag

    started = time.perf_counter()
    dagbag = DagBag(dag_folder=str(mesh.dags_folder))
    seconds = time.perf_counter() - started
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {p.dag_id for p in mesh.products}
    consumer = dagbag.dags["mesh12__ads_04"]
    assert type(consumer.timetable).__name__ == "AssetTriggeredTimetable"  # on its upstreams' Assets
    assert {a.name for a in consumer.timetable.asset_condition.objects} == {
        "mesh11.ads_04",
        "mesh11.ads_06",
    }
    assert [t.task_id for t in consumer.tasks] == ["fetch", "transform", "validate", "publish", "cleanup"]
    print(f"DagBag of {TOTAL} products in 20 files: {seconds:.1f} s")


def test_a_consumer_without_a_grant_is_an_import_error_naming_it(mesh, tmp_path):
    """The grants are real: a product two domains down is not granted, and its DAG says so."""
    from airflow.dag_processing.dagbag import DagBag

    contract = mesh.root / "domains" / "mesh05" / "ads_02.odcs.yaml"
    original = contract.read_text()
    try:
        contract.write_text(original.replace("- mesh04.ads_02\n", "- mesh03.ads_02\n", 1))
        dagbag = DagBag(dag_folder=str(mesh.dags_folder / "mesh05.py"))
        (error,) = dagbag.import_errors.values()
        assert "mesh03.ads_02" in error and "no grant for domain 'mesh05'" in error
    finally:
        contract.write_text(original)


def test_data_mesh_check_passes_on_the_whole_mesh(mesh, capsys):
    assert cli(["check"]) == 0
    report = capsys.readouterr().out
    assert report.count(" ok\n") == TOTAL and "0 blocking finding(s)" in report


@pytest.fixture
def catalog(mesh):
    """The plugin's app as the api-server mounts it, for a signed-in viewer; lineage recorded."""
    from airflow.api_fastapi import app as airflow_app

    from data_mesh.contract.registry import load_products
    from data_mesh.pipeline.recorder import register_products
    from data_mesh.web.app import create_app

    register_products(list(load_products().values()))
    before = airflow_app._AuthManagerState.instance
    airflow_app.create_auth_manager()  # the app-wide PLUGINS view check runs for real
    app = create_app()
    app.dependency_overrides[get_user] = lambda: SimpleAuthManagerUser(username="viewer", role="viewer")
    yield TestClient(app)
    airflow_app._AuthManagerState.instance = before


def _get(client: TestClient, path: str, **params):
    """The page answers (its time is measured by `python -m bench mesh_scale`, not asserted here)."""
    answer = client.get(path, params=params)
    assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
    return answer


def test_catalog_lists_200_products_and_answers_product_and_lineage_pages(catalog):
    _get(catalog, "/api/products")  # warm: contracts parsed once, then cached by mtime
    listed = _get(catalog, "/api/products").json()
    assert listed["total"] == TOTAL
    assert {p["id"] for p in listed["products"]} >= {"mesh00.ads_00", "mesh19.orders_09"}
    assert _get(catalog, "/api/products", domain="mesh07").json()["total"] == 10

    middle = "mesh10.orders_05"
    detail = _get(catalog, f"/api/products/{middle}").json()
    assert detail["inputs"] == ["mesh09.orders_05", "mesh09.orders_07"]
    assert {c["name"] for c in detail["lifecycle"]["consumers"]} == {
        "mesh11__orders_05",
        "mesh11__orders_03",
    }

    lineage = _get(catalog, f"/api/products/{middle}/lineage", depth=3).json()
    products = {n["id"] for n in lineage["nodes"] if n["kind"] == "product"}
    # three hops up and down the chain, each hop fanning out sideways to the peer
    assert {"mesh07.orders_05", "mesh13.orders_05", "mesh09.orders_07", "mesh11.orders_03"} <= products
    assert not {"mesh06.orders_05", "mesh14.orders_05"} & products

    page = _get(catalog, f"/ui/products/{middle}")
    assert middle in page.text and "mesh09.orders_05" in page.text and "<svg" in page.text
    catalog_page = _get(catalog, "/ui/")
    assert catalog_page.text.count("mesh19.") >= 10
