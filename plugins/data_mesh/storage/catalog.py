"""The Iceberg catalog of the mesh: a SQL catalog in the platform's metadata database.

One table per product (namespace = domain, table = product) in a `pyiceberg` `SqlCatalog` whose two
tables (`iceberg_tables`, `iceberg_namespace_properties`) live in the metadata database
(`DATA_MESH_CATALOG_URL`, default `DATA_MESH_METADATA_URL`: the SQLite file by default, PostgreSQL in
production). It is the layout of Iceberg's Java JDBC catalog, so Spark, Trino and Flink configured
with a JDBC catalog on the same database see the same tables.

The warehouse is `DATA_MESH_STORAGE_ROOT` (a local folder, as a file:// URL, or any s3:// URL); S3
settings come from the Airflow Connection `data_mesh_s3` or `DATA_MESH_S3_*` (storage/s3.py).
pyiceberg is imported here only, and this module is imported only by code that reads or writes
products (never at DAG parse time).
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from data_mesh import conf
from data_mesh.storage.s3 import s3_properties

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog

CATALOG_NAME = "mesh"
_lock = threading.Lock()
_catalogs: dict[tuple[Any, ...], SqlCatalog] = {}


def warehouse_url(root: str | None = None) -> str:
    """The warehouse location as a URL: a local folder becomes file:///abs/path."""
    root = root or conf.storage_root()
    if "://" in root:
        return root.rstrip("/")
    return "file://" + os.path.abspath(root)


def catalog_properties(root: str | None = None) -> dict[str, str]:
    """The pyiceberg properties of the mesh catalog (the same ones the README gives other engines)."""
    props = {"uri": conf.catalog_url(), "warehouse": warehouse_url(root)}
    props.update(s3_properties(props["warehouse"]))
    return props


def catalog_display_url() -> str:
    """The catalog's database URL as it may be shown (UI, lineage): never with its password."""
    from sqlalchemy.engine import make_url

    return make_url(conf.catalog_url()).render_as_string(hide_password=True)


def get_catalog(root: str | None = None) -> SqlCatalog:
    """The process's catalog for this configuration (one per process: forked children make their own)."""
    from pyiceberg.catalog.sql import SqlCatalog

    props = catalog_properties(root)
    key = (os.getpid(), *sorted(props.items()))
    with _lock:
        if key not in _catalogs:
            _catalogs[key] = _open(SqlCatalog, props)
        return _catalogs[key]


def _open(catalog_class: type[SqlCatalog], props: dict[str, str], attempts: int = 3) -> SqlCatalog:
    """Open the catalog; on a new database it creates its two tables.

    Several processes opening a new database at once (the first runs of a backfill) race on that
    CREATE TABLE: pyiceberg checks, then creates, so the loser fails with "table iceberg_tables
    already exists" (SQLite) or a duplicate table (PostgreSQL). Opening again finds the tables.
    """
    import time

    from sqlalchemy.exc import DBAPIError

    for attempt in range(1, attempts + 1):
        try:
            return catalog_class(CATALOG_NAME, **props)
        except DBAPIError as error:
            text = str(error).lower()
            if attempt == attempts or not ("already exists" in text or "duplicate" in text):
                raise
            time.sleep(0.2 * attempt)
    raise AssertionError("unreachable")


def ensure_namespace(catalog: SqlCatalog, namespace: str) -> None:
    """Create the namespace (a domain) unless it exists; two first publishers of a domain at once
    both get it (SqlCatalog reports the loser's insert as an IntegrityError, not "already exists")."""
    from pyiceberg.exceptions import NamespaceAlreadyExistsError
    from sqlalchemy.exc import IntegrityError

    try:
        catalog.create_namespace(namespace)
    except NamespaceAlreadyExistsError:
        pass
    except IntegrityError:
        if not catalog.namespace_exists(namespace):
            raise
