"""The Iceberg SQL catalog opened by several processes at once on a new database (a backfill's first runs).

pyiceberg creates the catalog's tables on first open (check, then create): processes racing on a new
database lost that race with "table iceberg_tables already exists" before `catalog._open` retried.
"""

from __future__ import annotations

import multiprocessing

PROCESSES = 8


def _open_at_once(barrier, url: str, warehouse: str, results) -> None:
    import os

    os.environ["DATA_MESH_CATALOG_URL"] = url
    os.environ["DATA_MESH_STORAGE_ROOT"] = warehouse
    from data_mesh.storage.catalog import get_catalog

    barrier.wait()
    try:
        get_catalog().list_namespaces()
        results.put("ok")
    except Exception as error:  # noqa: BLE001 - reported to the test
        results.put(f"{type(error).__name__}: {error}"[:300])


def test_processes_opening_a_new_catalog_at_once_all_succeed(tmp_path):
    import pyiceberg.catalog.sql  # noqa: F401 - imported before the fork: the children start together

    import data_mesh.storage.catalog  # noqa: F401

    context = multiprocessing.get_context("fork")
    for round_ in range(10):  # a new database each round: the race is on creating its tables
        barrier, results = context.Barrier(PROCESSES), context.Queue()
        url = f"sqlite:///{tmp_path / f'catalog{round_}.db'}"
        workers = [
            context.Process(target=_open_at_once, args=(barrier, url, str(tmp_path / "wh"), results))
            for _ in range(PROCESSES)
        ]
        for worker in workers:
            worker.start()
        outcomes = [results.get(timeout=120) for _ in workers]
        for worker in workers:
            worker.join(timeout=30)
        assert outcomes == ["ok"] * PROCESSES, outcomes


def _create_at_once(barrier, url: str, warehouse: str, results) -> None:
    import os

    os.environ["DATA_MESH_CATALOG_URL"] = url
    os.environ["DATA_MESH_STORAGE_ROOT"] = warehouse
    from data_mesh.contract.registry import get_product
    from data_mesh.storage.catalog import get_catalog
    from data_mesh.storage.products import product_storage

    storage = product_storage(get_product("sales.customer_orders"))
    get_catalog().list_namespaces()  # the catalog's own tables exist: this race is the product's table
    barrier.wait()
    try:
        storage._table(create=True)
        results.put("ok")
    except Exception as error:  # noqa: BLE001 - reported to the test
        results.put(f"{type(error).__name__}: {error}"[:300])


def test_first_publishers_creating_the_table_at_once_all_get_it(tmp_path):
    """The first runs of a backfill all find no table and create it: the losers use the winner's."""
    import pyiceberg.catalog.sql  # noqa: F401

    import data_mesh.storage.iceberg  # noqa: F401

    context = multiprocessing.get_context("fork")
    for round_ in range(3):
        barrier, results = context.Barrier(PROCESSES), context.Queue()
        url = f"sqlite:///{tmp_path / f'tables{round_}.db'}"
        warehouse = str(tmp_path / f"wh{round_}")
        workers = [
            context.Process(target=_create_at_once, args=(barrier, url, warehouse, results))
            for _ in range(PROCESSES)
        ]
        for worker in workers:
            worker.start()
        outcomes = [results.get(timeout=120) for _ in workers]
        for worker in workers:
            worker.join(timeout=30)
        assert outcomes == ["ok"] * PROCESSES, outcomes
