"""How other engines reach a product's Iceberg table: the snippets the product page and the CLI show.

One place builds them from the live configuration (catalog URL without its password, warehouse,
the table's current metadata file), so the UI, `data-mesh table` (through `GET .../table`) and the
README say the same thing.
These are direct reads of the table files: they bypass the platform's access checks and audit,
which the governed paths (read_product, the SQL port, downloads) apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from data_mesh import conf
from data_mesh.contract.spec import ProductSpec


@dataclass(frozen=True)
class Snippet:
    engine: str
    code: str


def _jdbc_url(uri: str) -> str:
    """A JDBC URL for engines on the JVM (PostgreSQL); SQLite files are for local engines only."""
    from sqlalchemy.engine import make_url

    url = make_url(uri)
    if url.get_backend_name() == "postgresql":
        return f"jdbc:postgresql://{url.host or 'localhost'}:{url.port or 5432}/{url.database}"
    return f"jdbc:sqlite:{url.database}"


def table_snippets(spec: ProductSpec, metadata_location: str | None = None) -> list[Snippet]:
    """DuckDB, pyiceberg, Spark and Trino on `<domain>.<product>` in the `mesh` catalog."""
    from data_mesh.storage.catalog import CATALOG_NAME, catalog_display_url, warehouse_url

    uri, warehouse, table = catalog_display_url(), warehouse_url(), f"{spec.domain}.{spec.name}"
    location = metadata_location or "<metadata location: data-mesh table " + spec.id + ">"
    jdbc = _jdbc_url(conf.catalog_url())
    return [
        Snippet(
            "DuckDB (iceberg extension)",
            f"INSTALL iceberg; LOAD iceberg;\nSELECT * FROM iceberg_scan('{location}') LIMIT 10;",
        ),
        Snippet(
            "pyiceberg / pandas",
            "from pyiceberg.catalog.sql import SqlCatalog\n"
            f'catalog = SqlCatalog("{CATALOG_NAME}", uri="{uri}", warehouse="{warehouse}")\n'
            f'df = catalog.load_table("{table}").scan().to_pandas()',
        ),
        Snippet(
            "Spark (Iceberg JDBC catalog)",
            f"spark.sql.catalog.{CATALOG_NAME}=org.apache.iceberg.spark.SparkCatalog\n"
            f"spark.sql.catalog.{CATALOG_NAME}.type=jdbc\n"
            f"spark.sql.catalog.{CATALOG_NAME}.uri={jdbc}\n"
            f"spark.sql.catalog.{CATALOG_NAME}.warehouse={warehouse}\n"
            f"-- then: SELECT * FROM {CATALOG_NAME}.{table} VERSION AS OF 'v1'",
        ),
        Snippet(
            "Trino (Iceberg connector, JDBC catalog)",
            "connector.name=iceberg\niceberg.catalog.type=jdbc\n"
            f"iceberg.jdbc-catalog.catalog-name={CATALOG_NAME}\n"
            f"iceberg.jdbc-catalog.connection-url={jdbc}\n"
            f"iceberg.jdbc-catalog.default-warehouse-dir={warehouse}",
        ),
    ]


def table_info(spec: ProductSpec) -> dict[str, Any]:
    """Where the product's Iceberg table is and how engines read it: `GET .../table` and `data-mesh table`.

    Raises VersionNotFound before the first publication (there is no table to read yet).
    """
    from data_mesh.storage.catalog import CATALOG_NAME
    from data_mesh.storage.products import product_storage

    storage = product_storage(spec)
    location = storage.metadata_location()
    latest = storage.version()
    return {
        "product_id": spec.id,
        "catalog": CATALOG_NAME,
        "identifier": f"{spec.domain}.{spec.name}",
        "location": storage.uri,
        "metadata_location": location,
        "latest_snapshot": {
            "version": latest.version,
            "snapshot_id": latest.snapshot_id,
            "operation": latest.operation,
            "changed_partition": latest.changed_partition,
            "published_at": latest.published_at,
        },
        "snippets": [{"engine": s.engine, "code": s.code} for s in table_snippets(spec, location)],
        "note": "direct reads of the table files skip the platform's access checks and audit",
    }
