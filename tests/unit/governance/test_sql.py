"""The governed SQL port: real DuckDB over real published products, every read audited."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import pytest

from data_mesh.exceptions import AccessDenied, UnknownProductError, VersionNotFound
from data_mesh.governance.access import Principal
from data_mesh.governance.sql import SqlError, SqlTimeout, product_refs, run_sql
from data_mesh.metadata.store import MetadataStore

ORDERS = "sales.customer_orders"
ADS = "marketing.ads_performance"
REGIONS = ["EMEA", "NA", "APAC", "LATAM"]
VIEWER = Principal(name="viewer", kind="user", roles=frozenset({"viewer"}))
ADMIN = Principal(name="admin", kind="user", roles=frozenset({"admin"}))


def orders(n: int, day: date = date(2026, 11, 20)):
    import pyarrow as pa

    from data_mesh.contract.registry import get_product
    from data_mesh.storage.arrow import arrow_schema

    rows = {
        "order_id": [f"o-{day}-{i:04d}" for i in range(n)],
        "order_date": [day] * n,
        "order_ts": [datetime(day.year, day.month, day.day, 9, i % 60, tzinfo=UTC) for i in range(n)],
        "customer_id": [f"c-{i % 7}" for i in range(n)],
        "customer_email": [f"buyer{i}@example.com" for i in range(n)],
        "customer_country": ["FRA"] * n,
        "region": [REGIONS[i % 4] for i in range(n)],
        "status": ["placed"] * n,
        "amount": [round(1.25 * (i + 1), 2) for i in range(n)],
        "currency": ["USD"] * n,
        "items": [i % 5 + 1 for i in range(n)],
    }
    return pa.Table.from_pydict(rows, schema=arrow_schema(get_product(ORDERS)))


def publish(product_id: str, table, partition: str, run_id: str) -> None:
    """Through the storage factory (whatever the storage back end is)."""
    from data_mesh.contract.registry import get_product
    from data_mesh.storage.products import product_storage

    product_storage(get_product(product_id)).publish(table, partition, "h", run_id)


@pytest.fixture
def published(tmp_path, monkeypatch):
    """orders: v1 = 10 rows, v2 = 60 rows (the same partition re-published); ads: 5 rows."""
    from data_mesh.metadata.store import dispose_engines
    from tests.unit.storage.test_products import ads_rows

    monkeypatch.setenv("DATA_MESH_STORAGE_ROOT", str(tmp_path / "products"))
    monkeypatch.setenv("DATA_MESH_METADATA_URL", f"sqlite:///{tmp_path / 'meta.db'}")
    monkeypatch.setenv("DATA_MESH_OPENLINEAGE_TRANSPORT", "none")
    publish(ORDERS, orders(10), "2026-11-20", "manual__1")
    publish(ORDERS, orders(60), "2026-11-20", "manual__2")
    publish(ADS, ads_rows("2026-11-01", 5), "2026-11-01", "r")
    yield MetadataStore()
    dispose_engines()


def events(store: MetadataStore, **filters):
    return store.list_access_events(limit=100, **filters).items


def test_group_by_matches_pandas(published):
    sql = f"SELECT region, sum(amount) AS total, count(*) AS n FROM {ORDERS} GROUP BY region ORDER BY region"
    result = run_sql(sql, VIEWER, path="api")
    frame = orders(60).to_pandas()
    expected = frame.groupby("region").agg(total=("amount", "sum"), n=("amount", "size")).sort_index()
    assert result.columns == ["region", "total", "n"]
    assert [r[0] for r in result.rows] == list(expected.index)
    assert [r[1] for r in result.rows] == pytest.approx(list(expected["total"]))
    assert [r[2] for r in result.rows] == list(expected["n"])
    assert not result.truncated and result.elapsed_ms > 0
    [read] = result.products
    assert (read.id, read.version, read.rows) == (ORDERS, 2, 60)


def test_the_access_event_lists_exactly_the_columns_read(published):
    run_sql(f"SELECT region, sum(amount) FROM {ORDERS} WHERE items > 2 GROUP BY 1", VIEWER, path="cli")
    [event] = events(published, product_id=ORDERS)
    assert event.allowed and event.path == "cli" and event.principal == "viewer" and event.version == 2
    assert list(event.columns) == ["region", "amount", "items"]  # contract order, nothing else
    assert event.rows == 60 and "SELECT region" in event.purpose


def test_star_means_the_columns_the_viewer_may_read(published):
    result = run_sql(f"SELECT * FROM {ORDERS}", VIEWER, path="api", limit=5)
    assert "customer_email" not in result.columns and "region" in result.columns
    [event] = events(published, product_id=ORDERS)
    assert "customer_email" not in event.columns
    admin = run_sql(f"SELECT * FROM {ORDERS}", ADMIN, path="api", limit=5)
    assert "customer_email" in admin.columns and "@" in admin.rows[0][admin.columns.index("customer_email")]


@pytest.mark.parametrize(
    "sql",
    [
        f"SELECT customer_email FROM {ORDERS}",
        f"SELECT region FROM {ORDERS} WHERE customer_email LIKE '%@example.com'",
        f"SELECT count(DISTINCT o.customer_email) FROM {ORDERS} o",
    ],
)
def test_a_forbidden_column_is_refused_naming_it_and_audited(published, sql):
    with pytest.raises(AccessDenied, match="customer_email"):
        run_sql(sql, VIEWER, path="api")
    [denied] = events(published, product_id=ORDERS)
    assert not denied.allowed and denied.principal == "viewer" and denied.rows == 0
    assert "customer_email" in denied.columns and denied.path == "api"


def test_time_travel_by_version_and_instant(published):
    result = run_sql(f'SELECT count(*) AS n FROM "{ORDERS}@v1"', VIEWER, path="api")
    assert result.rows == [[10]] and [p.version for p in result.products] == [1]
    result = run_sql(f'SELECT count(*) FROM "{ORDERS}@{datetime.now(UTC).isoformat()}"', VIEWER, path="api")
    assert result.rows == [[60]] and [p.version for p in result.products] == [2]
    both = run_sql(
        f'SELECT (SELECT count(*) FROM {ORDERS}) - (SELECT count(*) FROM "{ORDERS}@v1") AS grown',
        VIEWER,
        path="api",
    )
    assert both.rows == [[50]] and sorted(p.version for p in both.products) == [1, 2]
    with pytest.raises(VersionNotFound):
        run_sql(f'SELECT count(*) FROM "{ORDERS}@v9"', VIEWER, path="api")
    with pytest.raises(SqlError, match="after @ comes a version"):
        run_sql(f'SELECT count(*) FROM "{ORDERS}@yesterday"', VIEWER, path="api")


def test_unknown_product_names_it(published):
    with pytest.raises(UnknownProductError, match="sales.nope"):
        run_sql("SELECT * FROM sales.nope", VIEWER, path="api")
    with pytest.raises(UnknownProductError, match="etc.passwd"):
        run_sql("SELECT * FROM etc.passwd", VIEWER, path="api")


def test_bad_sql_carries_duckdbs_message(published):
    with pytest.raises(SqlError, match='Parser Error: syntax error at or near "GROUP"'):
        run_sql(f"SELECT region FROM {ORDERS} WHERE GROUP BY 1", VIEWER, path="api")
    with pytest.raises(SqlError, match='column "regoin" not found') as error:
        run_sql(f"SELECT regoin FROM {ORDERS}", VIEWER, path="api")
    assert "LINE 1: SELECT regoin FROM" in str(error.value) and "EXPLAIN" not in str(error.value)
    with pytest.raises(SqlError, match="empty"):
        run_sql("  ", VIEWER, path="api")
    assert not events(published)  # nothing read, nothing to record


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT * FROM read_csv('/etc/passwd')", "disabled by configuration"),
        ("SELECT * FROM '/etc/passwd'", "Table with name /etc/passwd does not exist"),
        ("SELECT content FROM read_text('/etc/hostname')", "disabled by configuration"),
        ("SELECT * FROM glob('/etc/*')", "disabled by configuration"),
        ("ATTACH '/tmp/x.db' AS x", "only SELECT"),
        (f"COPY (SELECT * FROM {ORDERS}) TO '/tmp/leak.csv'", "only SELECT"),
        ("INSTALL httpfs", "only SELECT"),
        ("LOAD httpfs", "only SELECT"),
        ("PRAGMA show_tables", "only SELECT"),
        ("SET enable_external_access = true", "only SELECT"),
        ("DESCRIBE SELECT 1", "only SELECT"),
        (f"SELECT 1; SELECT * FROM {ORDERS}", "one statement"),
        ("CREATE TABLE t AS SELECT 1", "only SELECT"),
        (f"-- a comment first\nDELETE FROM {ORDERS}", "only SELECT"),
        ("SELECT * FROM sqlite_scan('/tmp/x.db', 't')", "sqlite_scan.* is not in the catalog"),
        ("SELECT * FROM other.db.table_name", "unknown data product"),
    ],
)
def test_user_sql_cannot_touch_anything_else(published, tmp_path, sql, message):
    with pytest.raises((SqlError, UnknownProductError), match=message):
        run_sql(sql, ADMIN, path="api")
    assert not (tmp_path / "leak.csv").exists()


def test_a_second_product_the_principal_may_not_read_is_refused(published, monkeypatch):
    from dataclasses import replace

    from data_mesh.contract import registry
    from data_mesh.contract.spec import Access

    real = registry.get_product
    guarded = replace(real(ADS), access=Access.of(readers=("marketing",), people=("admin",)))
    monkeypatch.setattr(registry, "get_product", lambda pid: guarded if pid == ADS else real(pid))
    finance = Principal.for_task("finance__monthly_revenue", "transform", "finance")
    assert run_sql(f"SELECT count(*) FROM {ORDERS}", finance, path="task").rows == [[60]]
    with pytest.raises(AccessDenied, match="finance.*not among the readers"):
        run_sql(f"SELECT o.region, a.cost FROM {ORDERS} o JOIN {ADS} a USING (region)", finance, path="task")
    refused = events(published, allowed=False)
    assert [(e.product_id, e.principal) for e in refused] == [(ADS, finance.name)]
    assert len(events(published, product_id=ORDERS)) == 1  # the refused join read nothing


def test_a_slow_query_is_stopped_at_the_timeout(published):
    started = time.monotonic()
    with pytest.raises(SqlTimeout, match="1 s timeout"):
        run_sql(
            "SELECT count(*) FROM range(1000000000) a, range(1000000000) b", ADMIN, path="api", timeout_s=1
        )
    assert time.monotonic() - started < 5


def test_limit_and_offset_page_the_rows(published):
    sql = f"SELECT order_id FROM {ORDERS} ORDER BY order_id"
    every = sorted(orders(60).column("order_id").to_pylist())
    first = run_sql(sql, VIEWER, path="api", limit=25)
    assert [r[0] for r in first.rows] == every[:25] and first.truncated
    last = run_sql(sql, VIEWER, path="api", limit=25, offset=50)
    assert [r[0] for r in last.rows] == every[50:] and not last.truncated
    exact = run_sql(sql, VIEWER, path="api", limit=10, offset=50)
    assert [r[0] for r in exact.rows] == every[50:] and not exact.truncated
    beyond = run_sql(sql, VIEWER, path="api", limit=10, offset=100)
    assert beyond.rows == [] and beyond.columns == ["order_id"]
    with pytest.raises(SqlError, match="limit must be between"):
        run_sql(sql, VIEWER, path="api", limit=0)
    with pytest.raises(SqlError, match="offset"):
        run_sql(sql, VIEWER, path="api", offset=-1)


def test_ctes_and_queries_without_products(published):
    sql = f"WITH t AS (SELECT region, amount FROM {ORDERS}) SELECT count(*) FROM t WHERE amount > 10"
    assert run_sql(sql, VIEWER, path="api").rows == [[sum(1 for i in range(60) if 1.25 * (i + 1) > 10)]]
    assert run_sql("SELECT 41 + 1 AS answer", VIEWER, path="api").rows == [[42]]


def test_product_names_as_written():
    import duckdb

    [statement] = duckdb.extract_statements(
        f'SELECT * FROM {ORDERS} JOIN "{ORDERS}@v3" USING (order_id), "{ADS}@2026-11-20T10:00:00Z"'
    )
    refs = product_refs(statement)
    assert [(r.product_id, r.version) for r in refs] == [(ORDERS, None), (ORDERS, 3), (ADS, None)]
    assert refs[2].as_of == datetime(2026, 11, 20, 10, tzinfo=UTC)


def data_files(product_id: str) -> list[str]:
    """The local paths of the current version's Parquet files (what DuckDB could read directly)."""
    from data_mesh.contract.registry import get_product
    from data_mesh.storage.products import product_storage

    store = product_storage(get_product(product_id))
    return [url.removeprefix("file://") for url in store.data_files(store.version())]


@pytest.mark.parametrize(
    "template",
    [
        "SELECT * FROM read_parquet('{file}')",
        "SELECT customer_email FROM parquet_scan('{file}')",
        "SELECT * FROM read_parquet(['{file}'], hive_partitioning = false)",
        f"SELECT * FROM query_table('{ORDERS}')",
        "SELECT * FROM query('SELECT 1')",
        "SELECT * FROM glob('*')",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM read_blob('{file}')",
        "SELECT * FROM parquet_metadata('{file}')",
        "SELECT * FROM sniff_csv('/etc/passwd')",
        "SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT 1'))",
        "WITH leak AS (SELECT customer_email FROM read_parquet('{file}')) SELECT * FROM leak",
        f"SELECT region FROM {ORDERS} WHERE order_id IN (SELECT order_id FROM read_parquet('{{file}}'))",
        f"SELECT * FROM {ORDERS} o, LATERAL (SELECT * FROM read_parquet('{{file}}') LIMIT 1)",
        "SELECT (SELECT count(*) FROM (FROM glob('/etc/*')))",
        "SELECT 1 UNION ALL SELECT count(*) FROM system.main.read_csv('/etc/passwd')",
    ],
)
def test_no_table_function_reads_files_or_tables(published, tmp_path, template):
    """The execution database may read the product's files: the query may not name them itself."""
    sql = template.format(file=data_files(ORDERS)[0])
    with pytest.raises(SqlError, match=r"the table function \w+\(\) is not in the catalog of the SQL port"):
        run_sql(sql, ADMIN, path="api")
    assert not events(published)  # refused before anything was read


@pytest.mark.parametrize(
    ("template", "error", "message"),
    [
        ("SELECT customer_email FROM '{file}'", UnknownProductError, "unknown data product"),
        ("SELECT current_setting('allowed_paths')", SqlError, r"current_setting\(\) is not in the catalog"),
        ("SELECT length(read_text('/etc/passwd'))", SqlError, r"read_text\(\) is not in the catalog"),
        ("SELECT sql FROM duckdb_views", SqlError, "duckdb_views is DuckDB's own catalog"),
        ("SELECT * FROM sqlite_master", SqlError, "sqlite_master is DuckDB's own catalog"),
        ("SELECT * FROM pg_settings", SqlError, "pg_settings is DuckDB's own catalog"),
    ],
)
def test_no_file_setting_or_catalog_by_name(published, template, error, message):
    with pytest.raises(error, match=message):
        run_sql(template.format(file=data_files(ORDERS)[0]), ADMIN, path="api")
    assert not events(published)


def test_allowed_table_functions_still_work(published):
    sql = "SELECT sum(x) AS s FROM range(4) t(x), unnest([10]) u(y), generate_series(1, 1)"
    assert run_sql(sql, VIEWER, path="api").rows == [[6]]


@pytest.fixture
def sources(monkeypatch):
    """The sources each query's execution database was built from (its views)."""
    from data_mesh.governance import sql, sql_views

    seen: list[list[sql_views.Source]] = []
    real = sql_views.execution

    def spy(found):
        seen.append(list(found))
        return real(found)

    monkeypatch.setattr(sql, "execution", spy)
    return seen


def test_the_views_read_the_version_files_and_only_them(published, sources):
    from data_mesh.governance import sql_views

    result = run_sql(f"SELECT region, count(*) FROM {ORDERS} GROUP BY 1", VIEWER, path="api")
    assert sum(r[1] for r in result.rows) == 60
    [[source]] = sources
    assert source.table is None and list(source.files) == data_files(ORDERS)
    assert source.read == ("region",)
    with sql_views.execution([source]) as con:  # the kept database of that query
        [(allowed,)] = con.execute("SELECT current_setting('allowed_paths')").fetchall()
        assert allowed == data_files(ORDERS)
        with pytest.raises(Exception, match="disabled by configuration"):
            con.execute("SELECT * FROM read_text('/etc/hostname')")
        with pytest.raises(Exception, match="configuration has been locked"):
            con.execute("SET enable_external_access = true")
        # the view has nothing but the column the query read: the others are typed NULLs
        assert con.execute(f"SELECT count(order_id), count(region) FROM {ORDERS}").fetchall() == [(0, 60)]
        assert "customer_email" not in [d[0] for d in con.execute(f"FROM {ORDERS}").description]


def test_a_granted_restricted_column_is_reidentified_through_the_reader(published, sources):
    result = run_sql(f"SELECT customer_email, region FROM {ORDERS} ORDER BY order_id", ADMIN, path="api")
    assert result.rows[0][0] == "buyer0@example.com"
    [[source]] = sources
    assert source.table is not None and source.files == ()  # the vault's values, never the tokens
    run_sql(f"SELECT region FROM {ORDERS}", ADMIN, path="api")  # the same admin, no restricted column
    assert sources[1][0].table is None


def test_a_version_with_delete_files_is_read_by_the_reader(published, sources, monkeypatch):
    from dataclasses import replace

    from data_mesh.storage.iceberg import IcebergProduct

    real = IcebergProduct.version

    def with_deletes(self, *args, **kwargs):
        found = real(self, *args, **kwargs)
        return replace(found, summary={**found.summary, "total-delete-files": "1"})

    monkeypatch.setattr(IcebergProduct, "version", with_deletes)
    result = run_sql(f"SELECT sum(amount) FROM {ORDERS}", VIEWER, path="api")
    assert result.rows[0][0] == pytest.approx(sum(1.25 * (i + 1) for i in range(60)))
    assert sources[0][0].table is not None


def test_a_column_an_old_version_predates_is_a_typed_null(published, monkeypatch):
    from dataclasses import replace

    from data_mesh.contract import registry
    from data_mesh.contract.spec import Column
    from tests.unit.storage.test_products import ads_rows

    real = registry.get_product
    wider = replace(real(ADS), columns=(*real(ADS).columns, Column("note", "string")))
    monkeypatch.setattr(registry, "get_product", lambda pid: wider if pid == ADS else real(pid))
    publish(ADS, ads_rows("2026-11-02", 2, wider), "2026-11-02", "r2")
    old = run_sql(f'SELECT count(*), count(note), max(note) FROM "{ADS}@v1"', ADMIN, path="api")
    assert old.rows == [[5, 0, None]] and old.types[2] == "string"
    new = run_sql(f"SELECT count(*), count(note) FROM {ADS}", ADMIN, path="api")  # two files, one older
    assert new.rows == [[7, 2]]
    [read] = new.products
    assert read.columns == ("note",) and read.version == 2


def test_concurrent_queries_share_the_kept_database(published):
    from concurrent.futures import ThreadPoolExecutor

    sql = f"SELECT region, count(*) AS n FROM {ORDERS} GROUP BY 1 ORDER BY 1"
    expected = run_sql(sql, VIEWER, path="api").rows
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: run_sql(sql, VIEWER, path="api").rows, range(8)))
    assert answers == [expected] * 8
    assert len(events(published, product_id=ORDERS)) == 9  # one access event per query, each recorded


def test_the_watchdog_fires_armed_callbacks_only():
    import threading

    from data_mesh.governance.sql_duckdb import watchdog

    fired: list[str] = []
    done = threading.Event()
    late = watchdog.arm(0.05, lambda: fired.append("disarmed"))
    watchdog.arm(0.1, lambda: (fired.append("armed"), done.set()))
    watchdog.disarm(late)
    assert done.wait(5) and fired == ["armed"]
