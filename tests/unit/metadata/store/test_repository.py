"""Tests of the store's records: round trips of products, publications, validations, task runs and
access events, paging, search and summaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from _store_testing import (
    T0,
    assert_json,
    event,
    make_spec,
)
from sqlalchemy.exc import IntegrityError

from data_mesh.contract.spec import Column
from data_mesh.metadata.store import (
    MetadataStore,
    Page,
    PublicationRecord,
    TaskRunRecord,
    ValidationRecord,
)

# ---------------------------------------------------------------------------- round trips


def test_product_round_trip_and_upsert(store: MetadataStore):
    spec = make_spec()
    store.upsert_product(spec, "apiVersion: v3.0.2\nkind: DataContract\n")
    product = store.get_product("sales.customer_orders")
    assert product is not None
    assert (product.domain, product.name, product.owner, product.status) == (
        "sales",
        "customer_orders",
        "alice@example.com",
        "active",
    )
    assert product.version == "1.2.0"
    assert product.tags == ("orders", "Revenue")
    assert product.sla == {
        "frequency": "@daily",
        "latency_hours": 26.0,
        "retention_versions": 10,
        "retention_days": None,
        "end_of_life": None,
    }
    assert product.access["readers"] == ["finance", "marketing"]
    assert product.access["restricted_readers"] == ["finance"]
    assert [r["role"] for r in product.access["roles"]] == ["readers", "pii-readers"]
    assert product.access["roles"][1]["columns"] == ["customer_email"]
    assert [c["name"] for c in product.columns] == ["order_id", "order_date", "customer_email", "amount"]
    email = product.columns[2]
    assert email["classification"] == "restricted"
    assert email["logical_type"] == "string"
    assert email["description"] == "Buyer e-mail"
    assert product.columns[0]["required"] and product.columns[0]["unique"]
    assert product.contract.startswith("apiVersion: v3.0.2")
    assert product.contract_path.endswith("customer_orders.odcs.yaml")
    assert product.updated_at.tzinfo is not None
    data = assert_json(product)
    assert data["updated_at"].endswith("+00:00")

    store.upsert_product(make_spec(owner="carol@example.com"), "v2")
    again = store.get_product("sales.customer_orders")
    assert again.owner == "carol@example.com"
    assert again.contract == "v2"
    assert len(store.list_products()) == 1
    assert store.get_product("sales.nope") is None


def test_publication_round_trip(store: MetadataStore):
    summary = {
        "statistics": {"evaluated_expectations": 2, "successful_expectations": 2},
        "results": [
            {
                "type": "expect_column_values_to_not_be_null",
                "column": "order_id",
                "success": True,
                "unexpected_count": 0,
                "unexpected_percent": 0.0,
                "sample": [],
            }
        ],
    }
    record = PublicationRecord(
        product_id="sales.customer_orders",
        version=1,
        partition="2026-03-01",
        rows=1200,
        bytes=48_000,
        files=2,
        schema=[{"name": "order_id", "type": "string"}],
        schema_hash="ab" * 32,
        duration_s=3.5,
        dag_id="sales__customer_orders",
        run_id="scheduled__2026-03-01",
        task_id="publish",
        published_at=T0,
        validation_success=True,
        validation_summary=summary,
        inputs=(("crm.customers", 4), ("crm.accounts", None)),
    )
    pub_id = store.record_publication(record)
    assert isinstance(pub_id, int)
    got = store.get_publication("sales.customer_orders", 1)
    assert got == PublicationRecord(**{**record.__dict__, "id": pub_id})
    assert got.published_at == T0
    assert store.publication_inputs(pub_id) == [("crm.customers", 4), ("crm.accounts", None)]
    assert store.publication_inputs(pub_id)[0].to_dict() == {
        "input_product_id": "crm.customers",
        "input_version": 4,
    }
    data = assert_json(got)
    assert data["published_at"] == "2026-03-01T08:30:15.123456+00:00"
    assert data["inputs"] == [["crm.customers", 4], ["crm.accounts", None]]

    with pytest.raises(IntegrityError):
        store.record_publication(PublicationRecord(product_id="sales.customer_orders", version=1))

    for version in range(2, 6):
        store.record_publication(
            PublicationRecord(
                product_id="sales.customer_orders",
                version=version,
                rows=version * 100,
                published_at=T0 + timedelta(days=version),
            )
        )
    listed = store.list_publications("sales.customer_orders")
    assert [p.version for p in listed] == [5, 4, 3, 2, 1]
    assert listed[-1].inputs == (("crm.customers", 4), ("crm.accounts", None))
    assert [p.version for p in store.list_publications("sales.customer_orders", limit=2, offset=1)] == [4, 3]
    assert store.get_publication("sales.customer_orders").version == 5  # latest
    assert store.get_publication("sales.customer_orders", 99) is None
    assert store.list_publications("other.product") == []


def test_naive_datetimes_are_utc(store: MetadataStore):
    naive = datetime(2026, 1, 2, 3, 4, 5)
    store.record_publication(PublicationRecord(product_id="a.b", version=1, published_at=naive))
    assert store.get_publication("a.b", 1).published_at == naive.replace(tzinfo=UTC)
    other_tz = datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    store.record_publication(PublicationRecord(product_id="a.b", version=2, published_at=other_tz))
    assert store.get_publication("a.b", 2).published_at == naive.replace(tzinfo=UTC)


def test_validation_history(store: MetadataStore):
    for i in range(5):
        store.record_validation(
            ValidationRecord(
                product_id="sales.customer_orders",
                partition=f"2026-03-0{i + 1}",
                run_id=f"run-{i}",
                success=i != 3,
                evaluated=4,
                successful=4 if i != 3 else 2,
                failed=0 if i != 3 else 2,
                report={"results": [{"type": "expect_x", "success": i != 3}]},
                quarantine_path="/q/sales/2026-03-04" if i == 3 else None,
                created_at=T0 + timedelta(hours=i),
            )
        )
    store.record_validation(ValidationRecord(product_id="other.product", success=True, created_at=T0))
    history = store.quality_history("sales.customer_orders")
    assert [v.run_id for v in history] == [f"run-{i}" for i in range(5)]  # oldest -> newest
    failing = history[3]
    assert failing.success is False and failing.failed == 2
    assert failing.quarantine_path == "/q/sales/2026-03-04"
    assert failing.report == {"results": [{"type": "expect_x", "success": False}]}
    assert [v.run_id for v in store.quality_history("sales.customer_orders", limit=2)] == ["run-3", "run-4"]
    assert_json(failing)


def test_task_runs_upsert_per_try(store: MetadataStore):
    base = {"dag_id": "sales__customer_orders", "task_id": "build", "run_id": "r1", "hostname": "w1"}
    store.record_task_run(TaskRunRecord(**base, state="running", start_date=T0))
    store.record_task_run(
        TaskRunRecord(
            **base,
            state="failed",
            start_date=T0,
            end_date=T0 + timedelta(seconds=4),
            duration_s=4.0,
            error="Traceback...\nValueError: boom",
        )
    )
    store.record_task_run(
        TaskRunRecord(**base, try_number=2, state="success", start_date=T0 + timedelta(minutes=5))
    )
    store.record_task_run(TaskRunRecord(**{**base, "map_index": 3}, state="success", start_date=T0))
    store.record_task_run(
        TaskRunRecord(dag_id="other", task_id="t", run_id="r", state="success", start_date=T0)
    )

    runs = store.list_task_runs("sales__customer_orders")
    assert len(runs) == 3
    assert runs[0].try_number == 2 and runs[0].state == "success"  # newest first
    first_try = next(r for r in runs if r.try_number == 1 and r.map_index == -1)
    assert first_try.state == "failed"
    assert first_try.error.endswith("ValueError: boom")
    assert first_try.end_date == T0 + timedelta(seconds=4)
    assert first_try.duration_s == 4.0
    assert len(store.list_task_runs()) == 4
    assert len(store.list_task_runs(limit=2)) == 2
    assert_json(first_try)


def test_access_events_round_trip_paging_and_filters(store: MetadataStore):
    first_id = store.record_access(event())
    assert isinstance(first_id, int)
    events = [
        event(
            "domain:finance/dag:finance__monthly_revenue/task:build",
            principal_kind="task",
            path="task",
            rows=100,
            at=T0 + timedelta(minutes=i),
        )
        for i in range(1, 8)
    ]
    events.append(
        event("eve", allowed=False, reason="restricted column customer_email", rows=None, path="ui")
    )
    events.append(event("bob", product_id="crm.customers", path="cli", at=T0 + timedelta(hours=1)))
    assert store.record_access_many(events) == 9
    assert store.record_access_many([]) == 0

    page = store.list_access_events(product_id="sales.customer_orders", limit=3)
    assert isinstance(page, Page)
    assert page.total == 9 and len(page.items) == 3 and (page.limit, page.offset) == (3, 0)
    assert [e.at for e in page.items] == [T0 + timedelta(minutes=i) for i in (7, 6, 5)]  # newest first
    second = store.list_access_events(product_id="sales.customer_orders", limit=3, offset=3)
    assert [e.at for e in second.items] == [T0 + timedelta(minutes=i) for i in (4, 3, 2)]
    last = store.list_access_events(product_id="sales.customer_orders", limit=3, offset=6)
    assert len(last.items) == 3 and last.total == 9

    tasks = store.list_access_events(path="task")
    assert tasks.total == 7
    assert all(e.principal_kind == "task" for e in tasks.items)
    denied = store.list_access_events(allowed=False)
    assert denied.total == 1
    assert denied.items[0].principal == "eve" and denied.items[0].reason.startswith("restricted")
    assert store.list_access_events(allowed=True).total == 9
    bob = store.list_access_events(principal="bob")
    assert bob.total == 2
    assert store.list_access_events(principal="bob", product_id="crm.customers").total == 1
    assert store.list_access_events(principal="nobody").items == ()

    stored = store.list_access_events(principal="bob", product_id="sales.customer_orders").items[0]
    assert stored == event(id=first_id)
    assert stored.columns == ("order_id", "amount")
    data = assert_json(page)
    assert data["total"] == 9 and data["items"][0]["at"] == (T0 + timedelta(minutes=7)).isoformat()

    usage = store.usage_by_consumer("sales.customer_orders")
    principal, reads, rows, last_at = usage[0]
    assert principal == "domain:finance/dag:finance__monthly_revenue/task:build"
    assert (reads, rows, last_at) == (7, 700, T0 + timedelta(minutes=7))
    assert usage[1] == ("bob", 1, 10, T0)
    assert [u.principal for u in usage] == [principal, "bob"]  # eve was refused: no read
    assert_json(usage[0])


def test_usage_per_consumer_is_read_from_the_covering_index(store: MetadataStore):
    """The product page and `usage` aggregate every allowed read of a product: the plan reads the
    index made for it (migration 0007) and never the table rows, and the figures are unchanged."""
    from bench.api_timing import SqlCapture

    for n in range(30):
        store.record_access(event(principal=f"user{n % 3}", rows=n, at=T0 + timedelta(minutes=n)))
    store.record_access(event(principal="eve", allowed=False, rows=0, reason="no grant"))
    store.record_access(event(principal="user0", product_id="other.product", rows=5))
    with SqlCapture(store.engine) as captured:
        usage = store.usage_by_consumer("sales.customer_orders")
    assert [(u.principal, u.reads, u.rows) for u in usage] == [
        ("user0", 10, sum(range(0, 30, 3))),
        ("user1", 10, sum(range(1, 30, 3))),
        ("user2", 10, sum(range(2, 30, 3))),
    ]
    assert usage[2].last_at == T0 + timedelta(minutes=29)
    statement, parameters = captured.statements[-1]
    with store.engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()
        if store.engine.dialect.name == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            plan = " ".join(str(row[-1]) for row in cursor.fetchall())
            assert "COVERING INDEX ix_access_events_usage" in plan, plan
        else:
            # 32 rows would be scanned whole: ask which index serves it (for this transaction only)
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + statement, parameters)
            plan = " ".join(row[0] for row in cursor.fetchall())
            assert "Index Only Scan using ix_access_events_usage" in plan, plan


def test_records_validate_their_kinds(store: MetadataStore):
    assert event(columns=["a", "b"]).columns == ("a", "b")  # lists are accepted and frozen
    with pytest.raises(ValueError, match="path"):
        event(path="sql")
    with pytest.raises(ValueError, match="principal_kind"):
        event(principal_kind="robot")
    with pytest.raises(ValueError, match="upstream_kind"):
        store.add_lineage_edge("dag", "x", "product", "y")
    with pytest.raises(ValueError, match="downstream_kind"):
        store.add_lineage_edge("product", "x", "source", "y")


# ---------------------------------------------------------------------------- catalog search


@pytest.fixture
def catalog(store: MetadataStore) -> MetadataStore:
    store.upsert_product(make_spec(), "c1")
    store.upsert_product(
        make_spec(
            domain="finance",
            name="monthly_revenue",
            owner="Frank@Example.com",
            tags=("kpi",),
            columns=(Column("month", "date"), Column("revenue_eur", "number", description="orders total")),
        ),
        "c2",
    )
    store.upsert_product(
        make_spec(
            domain="crm", name="customers", owner="dora@example.com", tags=("master-data", "100%_clean")
        ),
        "c3",
    )
    return store


def _ids(summaries) -> list[str]:
    return [s.id for s in summaries]


def test_search_by_name_tag_owner_and_column(catalog: MetadataStore):
    assert _ids(catalog.list_products()) == [
        "crm.customers",
        "finance.monthly_revenue",
        "sales.customer_orders",
    ]
    assert _ids(catalog.list_products(search="MONTHLY")) == ["finance.monthly_revenue"]  # name
    assert _ids(catalog.list_products(search="kpi")) == ["finance.monthly_revenue"]  # tag
    assert _ids(catalog.list_products(search="revenue")) == [
        "finance.monthly_revenue",
        "sales.customer_orders",
    ]
    assert _ids(catalog.list_products(search="frank@")) == ["finance.monthly_revenue"]  # owner, case
    assert _ids(catalog.list_products(search="Customer_Email")) == ["crm.customers", "sales.customer_orders"]
    assert _ids(catalog.list_products(search="revenue_eur")) == ["finance.monthly_revenue"]  # column
    # a word only found in a column description, or in a classification, does not match
    assert catalog.list_products(search="zebra") == []
    assert catalog.list_products(search="restricted") == []
    assert _ids(catalog.list_products(search="100%")) == ["crm.customers"]  # LIKE wildcards escaped
    assert catalog.list_products(search="0%_c_") == []
    assert _ids(catalog.list_products(domain="sales")) == ["sales.customer_orders"]
    assert catalog.list_products(search="kpi", domain="sales") == []
    assert len(catalog.list_products(search="   ")) == 3


def test_summary_has_latest_publication_and_validation(catalog: MetadataStore):
    for version in (1, 2, 3):
        catalog.record_publication(
            PublicationRecord(
                product_id="sales.customer_orders",
                version=version,
                rows=version * 10,
                published_at=T0 + timedelta(days=version),
            )
        )
    catalog.record_validation(
        ValidationRecord(product_id="sales.customer_orders", success=True, created_at=T0)
    )
    catalog.record_validation(
        ValidationRecord(product_id="sales.customer_orders", success=False, created_at=T0 + timedelta(days=4))
    )
    by_id = {s.id: s for s in catalog.list_products()}
    sales = by_id["sales.customer_orders"]
    assert (sales.latest_version, sales.latest_rows) == (3, 30)
    assert sales.latest_published_at == T0 + timedelta(days=3)
    assert sales.latest_validation_success is False
    assert sales.latest_validated_at == T0 + timedelta(days=4)
    assert sales.owner == "alice@example.com" and sales.sla["latency_hours"] == 26.0
    crm = by_id["crm.customers"]
    assert (crm.latest_version, crm.latest_published_at, crm.latest_validation_success) == (None, None, None)
    data = assert_json(sales)
    assert data["latest_published_at"] == (T0 + timedelta(days=3)).isoformat()
