"""`MetadataStore`: every read and write of the platform's metadata, one short transaction each."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping

from . import access_log
from . import models as m
from .engine import ensure_migrated, get_engine, inserted_id, write_connection
from .lineage import lineage_graph
from .records import (
    AccessEvent,
    ConsumerUsage,
    LineageEdge,
    LineageGraph,
    Page,
    ProductRecord,
    ProductSummary,
    PublicationInput,
    PublicationRecord,
    TaskRunRecord,
    ValidationRecord,
    as_utc,
    utcnow,
)

if TYPE_CHECKING:
    from datetime import datetime

    from data_mesh.contract.spec import ProductSpec


def _columns_json(spec: ProductSpec) -> list[dict[str, Any]]:
    return [
        {
            "name": c.name,
            "logical_type": c.logical_type,
            "required": c.required,
            "unique": c.unique,
            "primary_key": c.primary_key,
            "partitioned": c.partitioned,
            "classification": c.classification,
            "description": c.description,
        }
        for c in spec.columns
    ]


def _matches(row: RowMapping, term: str) -> bool:
    """Case-insensitive match of `term` on the product's id, name, owner, a tag or a column name."""
    texts = [row["id"], row["name"], row["owner"], *(row["tags"] or [])]
    texts += [c.get("name", "") for c in row["columns"] or [] if isinstance(c, dict)]
    return any(term in str(t).casefold() for t in texts)


def _product_fields(row: RowMapping) -> dict[str, Any]:
    """The columns every product record shares (summary and full record)."""
    return {
        "id": row["id"],
        "domain": row["domain"],
        "name": row["name"],
        "owner": row["owner"],
        "status": row["status"],
        "version": row["version"],
        "description": row["description"],
        "tags": tuple(row["tags"] or ()),
        "sla": dict(row["sla"] or {}),
        "updated_at": row["updated_at"],
    }


class MetadataStore:
    """The platform's metadata store (its own database, never Airflow's).

    `engine_or_url`: an `Engine`, a SQLAlchemy URL, or None for `data_mesh.conf.metadata_url()`.
    The schema is migrated on first use of an engine in a process. Every method is one short
    transaction, so one store may be shared by the threads of a process.
    """

    def __init__(self, engine_or_url: Engine | str | None = None) -> None:
        if isinstance(engine_or_url, Engine):
            self.engine = ensure_migrated(engine_or_url)
        else:
            self.engine = get_engine(engine_or_url)

    def __repr__(self) -> str:
        return f"MetadataStore({self.engine.url.render_as_string()!r})"

    # ------------------------------------------------------------------ helpers

    def _insert(self, table: sa.Table) -> Any:
        """An INSERT supporting ON CONFLICT on both backends."""
        name = self.engine.dialect.name
        if name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table)
        if name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            return sqlite_insert(table)
        raise NotImplementedError(f"metadata store does not support {name}")  # pragma: no cover

    def _read(self) -> Any:
        return self.engine.connect()

    # ------------------------------------------------------------------ writes

    def upsert_product(self, spec: ProductSpec, contract_text: str) -> None:
        """Insert or update a product from its spec and the contract text (ODCS YAML)."""
        values = {
            "id": spec.id,
            "domain": spec.domain,
            "name": spec.name,
            "owner": spec.owner,
            "status": spec.status,
            "version": spec.version,
            "description": spec.description,
            "tags": list(spec.tags),
            "sla": _sla(spec),
            "access": {
                "readers": list(spec.access.readers),
                "restricted_readers": list(spec.access.restricted_readers),
                "roles": [dataclasses.asdict(r) for r in spec.access.roles],
            },
            "columns": _columns_json(spec),
            "contract_path": spec.contract_path,
            "contract": contract_text,
            "updated_at": utcnow(),
        }
        stmt = self._insert(m.products).values(values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[m.products.c.id],
            set_={k: stmt.excluded[k] for k in values if k != "id"},
        )
        with write_connection(self.engine) as conn:
            conn.execute(stmt)

    def record_publication(self, record: PublicationRecord) -> int:
        """Insert a publication and its inputs; returns its id.

        Raises `sqlalchemy.exc.IntegrityError` when (product_id, version) is already published.
        """
        values = {
            f.name: getattr(record, f.name)
            for f in dataclasses.fields(record)
            if f.name not in ("id", "inputs")
        }
        values["published_at"] = as_utc(record.published_at)
        with write_connection(self.engine) as conn:
            result = conn.execute(sa.insert(m.publications).values(values))
            publication_id = inserted_id(result)
            if record.inputs:
                conn.execute(
                    sa.insert(m.publication_inputs),
                    [
                        {"publication_id": publication_id, "input_product_id": pid, "input_version": ver}
                        for pid, ver in record.inputs
                    ],
                )
        return publication_id

    def record_validation(self, record: ValidationRecord) -> int:
        """Insert one validation run (passing or failing); returns its id."""
        values = {f.name: getattr(record, f.name) for f in dataclasses.fields(record) if f.name != "id"}
        with write_connection(self.engine) as conn:
            result = conn.execute(sa.insert(m.validation_runs).values(values))
            return inserted_id(result)

    def record_task_run(self, record: TaskRunRecord) -> None:
        """Insert or update one try of a task instance; a `running` record never replaces a final one
        (a record replayed late from the listener's spool cannot regress the try)."""
        values = {f.name: getattr(record, f.name) for f in dataclasses.fields(record) if f.name != "id"}
        key = ("dag_id", "task_id", "run_id", "map_index", "try_number")
        stmt = self._insert(m.task_runs).values(values)
        current = m.task_runs.c.state
        stmt = stmt.on_conflict_do_update(
            index_elements=[m.task_runs.c[k] for k in key],
            set_={k: stmt.excluded[k] for k in values if k not in key},
            where=sa.or_(stmt.excluded.state != "running", current.is_(None), current == "running"),
        )
        with write_connection(self.engine) as conn:
            conn.execute(stmt)

    def add_lineage_edge(
        self, upstream_kind: str, upstream_id: str, downstream_kind: str, downstream_id: str
    ) -> bool:
        """Add a product-level lineage edge; idempotent. Returns True when the edge is new.

        upstream_kind: "source" | "product"; downstream_kind: "product" | "dag".
        """
        edge = LineageEdge(upstream_kind, upstream_id, downstream_kind, downstream_id)  # validates kinds
        stmt = (
            self._insert(m.lineage_edges)
            .values(**edge.to_dict(), created_at=utcnow())
            .on_conflict_do_nothing(
                index_elements=["upstream_kind", "upstream_id", "downstream_kind", "downstream_id"]
            )
        )
        with write_connection(self.engine) as conn:
            return conn.execute(stmt).rowcount > 0

    @staticmethod
    def _access_values(event: AccessEvent) -> dict[str, Any]:
        values = {f.name: getattr(event, f.name) for f in dataclasses.fields(event) if f.name != "id"}
        values["columns"] = list(event.columns) if event.columns is not None else None
        return values

    def record_access(self, event: AccessEvent) -> int:
        """Insert one access event; returns its id."""
        with write_connection(self.engine) as conn:
            result = conn.execute(sa.insert(m.access_events).values(self._access_values(event)))
            return inserted_id(result)

    def record_access_many(self, events: Iterable[AccessEvent]) -> int:
        """Insert many access events in one transaction; returns how many."""
        rows = [self._access_values(e) for e in events]
        if not rows:
            return 0
        with write_connection(self.engine) as conn:
            conn.execute(sa.insert(m.access_events), rows)
        return len(rows)

    # ------------------------------------------------------------------ products

    def list_products(
        self, search: str | None = None, domain: str | None = None, ids: Iterable[str] | None = None
    ) -> list[ProductSummary]:
        """Catalog lines ordered by domain and name, with the latest publication and validation.

        `search` matches (case-insensitive substring) the name, a tag, the owner or a column name;
        `ids` restricts the lines to these products (the catalog passes the products it knows).
        """
        p, pub, val = m.products, m.publications, m.validation_runs
        # Correlated look-ups use the (product_id, version) and (product_id, id) indexes per product
        # instead of grouping every publication and validation of the store.
        latest_version = (
            sa.select(sa.func.max(pub.c.version)).where(pub.c.product_id == p.c.id).scalar_subquery()
        )
        latest_validation = (
            sa.select(sa.func.max(val.c.id)).where(val.c.product_id == p.c.id).scalar_subquery()
        )
        newest_partition = (
            sa.select(sa.func.max(pub.c.partition)).where(pub.c.product_id == p.c.id).scalar_subquery()
        )
        lp, lv = pub.alias("lp"), val.alias("lv")
        term = (search or "").strip().casefold()
        query = (
            sa.select(
                p.c.id,
                p.c.domain,
                p.c.name,
                p.c.owner,
                p.c.status,
                p.c.version,
                p.c.description,
                p.c.tags,
                p.c.sla,
                p.c.updated_at,
                lp.c.version.label("latest_version"),
                lp.c.published_at.label("latest_published_at"),
                lp.c.rows.label("latest_rows"),
                lv.c.success.label("latest_validation_success"),
                lv.c.created_at.label("latest_validated_at"),
                newest_partition.label("newest_partition"),
            )  # fmt: skip
            .select_from(
                p.outerjoin(lp, sa.and_(lp.c.product_id == p.c.id, lp.c.version == latest_version)).outerjoin(
                    lv, lv.c.id == latest_validation
                )
            )
            .order_by(p.c.domain, p.c.name)
        )
        if ids is not None:
            query = query.where(p.c.id.in_(list(ids)))
        if domain:
            query = query.where(p.c.domain == domain)
        if term:
            # Coarse filter in SQL (JSON as text), exact match on the decoded values below; the
            # columns JSON is only decoded when there is something to match.
            query = query.add_columns(p.c["columns"]).where(
                sa.or_(
                    p.c.id.icontains(term, autoescape=True),
                    p.c.owner.icontains(term, autoescape=True),
                    sa.cast(p.c.tags, sa.Text).icontains(term, autoescape=True),
                    sa.cast(p.c["columns"], sa.Text).icontains(term, autoescape=True),
                )
            )
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            ProductSummary(
                **_product_fields(r),
                latest_version=r["latest_version"],
                latest_published_at=r["latest_published_at"],
                latest_rows=r["latest_rows"],
                latest_validation_success=(
                    None if r["latest_validation_success"] is None else bool(r["latest_validation_success"])
                ),
                latest_validated_at=r["latest_validated_at"],
                newest_partition=r["newest_partition"],
            )
            for r in rows
            if not term or _matches(r, term)
        ]

    def get_product(self, product_id: str) -> ProductRecord | None:
        with self._read() as conn:
            r = conn.execute(sa.select(m.products).where(m.products.c.id == product_id)).mappings().first()
        if r is None:
            return None
        return ProductRecord(
            **_product_fields(r),
            access=dict(r["access"] or {}),
            columns=tuple(r["columns"] or ()),
            contract_path=r["contract_path"],
            contract=r["contract"],
        )

    # ------------------------------------------------------------------ publications

    @staticmethod
    def _inputs_by_publication(conn: Connection, ids: Sequence[int]) -> dict[int, list[tuple[str, Any]]]:
        out: dict[int, list[tuple[str, Any]]] = {i: [] for i in ids}
        if not ids:
            return out
        pi = m.publication_inputs
        query = (
            sa.select(pi.c.publication_id, pi.c.input_product_id, pi.c.input_version)
            .where(pi.c.publication_id.in_(ids))
            .order_by(pi.c.id)
        )
        for pid, product, version in conn.execute(query):
            out[pid].append((product, version))
        return out

    def _publications(self, query: sa.Select) -> list[PublicationRecord]:
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
            inputs = self._inputs_by_publication(conn, [r["id"] for r in rows])
        names = {f.name for f in dataclasses.fields(PublicationRecord)} - {"inputs"}
        return [
            PublicationRecord(
                **{k: r[k] for k in names},
                inputs=tuple(inputs[r["id"]]),
            )
            for r in rows
        ]

    def list_publications(self, product_id: str, limit: int = 50, offset: int = 0) -> list[PublicationRecord]:
        """Publications of a product, newest version first."""
        pub = m.publications
        query = (
            sa.select(pub)
            .where(pub.c.product_id == product_id)
            .order_by(pub.c.version.desc())
            .limit(limit)
            .offset(offset)
        )
        return self._publications(query)

    def get_publication(self, product_id: str, version: int | None = None) -> PublicationRecord | None:
        """One publication of a product; the latest one when `version` is None."""
        pub = m.publications
        query = sa.select(pub).where(pub.c.product_id == product_id)
        if version is None:
            query = query.order_by(pub.c.version.desc()).limit(1)
        else:
            query = query.where(pub.c.version == version)
        found = self._publications(query)
        return found[0] if found else None

    def publication_inputs(self, publication_id: int) -> list[PublicationInput]:
        """The (input_product_id, input_version) pairs a publication was built from."""
        with self._read() as conn:
            pairs = self._inputs_by_publication(conn, [publication_id])[publication_id]
        return [PublicationInput(product, version) for product, version in pairs]

    # ------------------------------------------------------------------ quality, runs

    def quality_history(self, product_id: str, limit: int = 100) -> list[ValidationRecord]:
        """The latest `limit` validations of a product, oldest to newest."""
        val = m.validation_runs
        query = (
            sa.select(val)
            .where(val.c.product_id == product_id)
            .order_by(val.c.created_at.desc(), val.c.id.desc())
            .limit(limit)
        )
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        records = [ValidationRecord(**{k: r[k] for k in r}) for r in rows]
        records.reverse()
        return records

    def list_task_runs(self, dag_id: str | None = None, limit: int = 100) -> list[TaskRunRecord]:
        """Task tries, newest first (by start date, else the time they were recorded)."""
        tr = m.task_runs
        query = (
            sa.select(tr)
            .order_by(sa.func.coalesce(tr.c.start_date, tr.c.recorded_at).desc(), tr.c.id.desc())
            .limit(limit)
        )
        if dag_id is not None:
            query = query.where(tr.c.dag_id == dag_id)
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        return [TaskRunRecord(**{k: r[k] for k in r}) for r in rows]

    # ------------------------------------------------------------------ lineage and access log

    def lineage(self, product_id: str, depth: int = 1) -> LineageGraph:
        """The product's lineage: upstream and downstream edges up to `depth` hops."""
        with self._read() as conn:
            return lineage_graph(conn, product_id, depth)

    def list_access_events(
        self,
        product_id: str | None = None,
        principal: str | None = None,
        path: str | None = None,
        allowed: bool | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[AccessEvent]:
        """Access events, newest first, filtered; `total` counts every match."""
        with self._read() as conn:
            return access_log.list_access_events(conn, product_id, principal, path, allowed, limit, offset)

    def usage_by_consumer(
        self, product_id: str, since: datetime | None = None, columns: Sequence[str] | None = None
    ) -> list[ConsumerUsage]:
        """Allowed reads of a product per principal (since `since`, of any of `columns`, if given),
        most reads first."""
        with self._read() as conn:
            return access_log.usage_by_consumer(conn, product_id, since, columns)


def _sla(spec: ProductSpec) -> dict[str, Any]:
    """The SLA as JSON (the end-of-life date as an ISO string)."""
    end = spec.sla.end_of_life
    return {**dataclasses.asdict(spec.sla), "end_of_life": end.isoformat() if end else None}


__all__ = ["MetadataStore"]
