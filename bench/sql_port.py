"""The governed SQL port and time travel, each against a baseline measured in the same run.

1. `SELECT region, count(*), sum(amount) FROM sales.customer_orders GROUP BY region` over 1M order
   rows published as the product's Iceberg table:
   (a) DuckDB over a plain Parquet file of the same rows (no governance);
   (b) the governed port in process: `run_sql` (access decision, governed read of the columns the
       query uses, audit event, DuckDB with external access off);
   (c) the same through the plugin's HTTP API (`POST /api/sql`, FastAPI ASGI client, JSON answer);
   (d) `run_sql` as a query never seen before: everything the port keeps (its DuckDB databases for
       planning and execution, the parsed text, the plan, the version's file list; see
       `governance.sql_duckdb`) forgotten before each run, as for a new query after a publication.
   Target: b/a <= 2.
2. Time travel: reading v1 of a 10-version product through the governed reader, against reading its
   current version. Target <= 1.5.

Each comparison runs its cases in turns (a, b, c, d, a, b, ...), REPEAT turns after one warm-up, and
reports medians: on a shared machine, a slow spell then slows every case alike rather than one.
Everything runs in this process, in a throwaway warehouse and metadata database.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

ROWS = 1_000_000
REPEAT = 15
SQL = "SELECT region, count(*) AS orders, sum(amount) AS amount FROM sales.customer_orders GROUP BY region"


def _medians(**runs: Callable[[], Any]) -> dict[str, float]:
    """The median time of each run, the runs taking turns; one warm-up each (imports, caches, pools)."""
    for run in runs.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(REPEAT):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(spent) for name, spent in times.items()}


def main() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DATA_MESH_STORAGE_ROOT"] = f"{tmp}/warehouse"
        os.environ["DATA_MESH_METADATA_URL"] = f"sqlite:///{tmp}/metadata.db"
        os.environ["DATA_MESH_OPENLINEAGE_TRANSPORT"] = "none"
        _throwaway_vault()
        return _measure(Path(tmp))


def _throwaway_vault() -> None:
    """Keys of a throwaway PII vault (the product's restricted column is stored as tokens), unless the
    environment already configures one."""
    import json

    from data_mesh import conf
    from data_mesh.governance.vault import new_keys

    variable = f"AIRFLOW_CONN_{conf.vault_conn_id().upper()}"
    if variable not in os.environ:
        keys = new_keys()
        conn = {
            "conn_type": "generic",
            "password": keys["password"],
            "extra": {"hmac_secret": keys["hmac_secret"]},
        }
        os.environ[variable] = json.dumps(conn)


def _measure(tmp: Path) -> dict:
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bench.publish import make_orders
    from data_mesh.contract.registry import get_product
    from data_mesh.governance.access import Principal
    from data_mesh.governance.reader import read_table
    from data_mesh.governance.sql import run_sql
    from data_mesh.storage.arrow import schema_hash
    from data_mesh.storage.products import product_storage

    orders = make_orders(ROWS)
    plain = tmp / "orders.parquet"
    pq.write_table(orders, plain)
    spec = get_product("sales.customer_orders")
    store = product_storage(spec)
    store.publish(orders, "2026-11-20", schema_hash(orders.schema), "bench")
    analyst = Principal(name="bench-analyst", kind="user", roles=frozenset({"viewer"}))

    def first_of_its_shape() -> Any:
        from data_mesh.governance.sql_duckdb import forget

        forget()
        return run_sql(SQL, analyst, path="api")

    port = _medians(
        a=lambda: duckdb.sql(SQL.replace("sales.customer_orders", f"'{plain}'")).fetchall(),
        b=lambda: run_sql(SQL, analyst, path="api"),
        c=_http_client(SQL),
        d=first_of_its_shape,
    )
    baseline, governed, http, new_shape = port["a"], port["b"], port["c"], port["d"]
    expected = sorted(duckdb.sql(SQL.replace("sales.customer_orders", f"'{plain}'")).fetchall())
    answer = run_sql(SQL, analyst, path="api")
    got = sorted(tuple(r) for r in answer.rows)
    same = [
        (g[0], g[1]) == (e[0], e[1]) and abs(g[2] - e[2]) < 1e-6 * abs(e[2])
        for g, e in zip(got, expected, strict=False)
    ]
    assert len(got) == len(expected) and all(same), f"the port answers differently: {got} vs {expected}"

    # a 10-version product: 10 daily partitions of 100k rows, one version each
    days = [f"2026-11-{d:02d}" for d in range(11, 21)]
    small = pa.Table.from_batches(orders.slice(0, 100_000).to_batches())
    for day in days:
        dated = small.set_column(
            small.schema.get_field_index("order_date"),
            small.schema.field("order_date"),
            pa.array([date.fromisoformat(day)] * small.num_rows, pa.date32()),
        )
        dated = dated.set_column(
            dated.schema.get_field_index("order_id"),
            dated.schema.field("order_id"),
            pa.array([f"ord-{day}-{i:06d}" for i in range(small.num_rows)]),
        )
        store.publish(dated, day, "h", f"bench-{day}")
    first = store.versions()[-10]
    travelled = _medians(
        current=lambda: read_table(spec.id, analyst, purpose="bench", path="api", columns=["amount"]),
        travel=lambda: read_table(
            spec.id, analyst, purpose="bench", path="api", version=first, columns=["amount"]
        ),
    )
    current, travel = travelled["current"], travelled["travel"]
    return {
        "rows": ROWS,
        "a_duckdb_plain_parquet_s": round(baseline, 4),
        "b_governed_in_process_s": round(governed, 4),
        "c_governed_http_s": round(http, 4),
        "d_first_query_of_its_shape_s": round(new_shape, 4),
        "b_over_a": round(governed / baseline, 2),
        "c_over_a": round(http / baseline, 2),
        "d_over_a": round(new_shape / baseline, 2),
        "time_travel_v1_s": round(travel, 4),
        "current_version_s": round(current, 4),
        "time_travel_over_current": round(travel / current, 2),
        "targets": {"b_over_a": "<= 2", "time_travel_over_current": "<= 1.5"},
    }


def _http_client(sql: str) -> Callable[[], Any]:
    from airflow.api_fastapi import app as airflow_app
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.testclient import TestClient

    from data_mesh.web.app import create_app

    airflow_app.create_auth_manager()  # as the api-server does at startup
    app = create_app()
    user = _viewer()
    app.dependency_overrides[get_user] = lambda: user
    client = TestClient(app)

    def call() -> Any:
        answer = client.post("/api/sql", json={"sql": sql})
        assert answer.status_code == 200, answer.text
        return answer.json()

    return call


def _viewer() -> Any:
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return SimpleAuthManagerUser(username="bench-analyst", role="viewer")


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=1))
