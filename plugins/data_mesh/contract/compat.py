"""Is a contract change safe for the consumers of the last published version? Classify every change.

    compatible  a new optional column, a widened type (integer -> number), a column made less
                restricted, a column no longer required, a new description or tag
    breaking    a removed (or renamed) column, any other type change (a narrowed type), a column newly
                required (or a new required column), a changed primary key, a changed partitioning
                (column or granularity), a column made more restricted

A breaking change to a published product is refused, at DAG parse and again at publish (`gate`):
the last published contract (the metadata store keeps the one each publication used) is the
reference, so editing a contract can never silently break the DAGs and people that read it. The
refusal names each change and the consumers it breaks (`governance.lifecycle.consumers`: the
consumer DAGs, and whoever read the affected columns in the last 30 days).

A breaking change is a new major version, and a new major is published side by side, never in
place (bumping the version in the same contract is refused too: the old major's consumers would
lose it at once): a new contract `<name>_v2.odcs.yaml` with version 2.0.0 is a new product, hence a
new Iceberg table and a new Asset (`sales.customer_orders_v2`); the old contract keeps its major and
becomes `status: deprecated` with an `endOfLife` SLA date and `customProperties.successor`. Both are
published until that date; then the old one is retired (`governance.lifecycle`) and its readers are
sent to the successor. A product named `<name>_v<N>` must carry major version N
(`major_matches_name`).

Pure and Airflow-free: a function of two `ProductSpec`s.
"""

from __future__ import annotations

from typing import NamedTuple

from data_mesh.contract.spec import Column, ProductSpec

WIDENINGS = frozenset({("integer", "number")})
_RESTRICTION = {"public": 0, "internal": 1, "confidential": 2, "restricted": 3}


class Change(NamedTuple):
    """One difference between the published contract and the new one."""

    kind: str  # column-added, column-removed, type-changed, required, primary-key, partitioning, ...
    column: str | None
    detail: str
    breaking: bool

    def __str__(self) -> str:
        return self.detail


def major(version: str) -> int:
    """The semantic version's major number (`2.1.0` -> 2); a version without one counts as 0."""
    head = version.strip().lstrip("vV").split(".", 1)[0]
    return int(head) if head.isdigit() else 0


def changes(old: ProductSpec, new: ProductSpec) -> list[Change]:
    """Every schema and contract change from `old` to `new`, in column order, breaking or not."""
    before = {c.name: c for c in old.columns}
    after = {c.name: c for c in new.columns}
    found = [_removed(c) for name, c in before.items() if name not in after]
    for name, column in after.items():
        if name not in before:
            found.append(_added(column))
        else:
            found.extend(_column_changes(before[name], column))
    if old.primary_key != new.primary_key:
        found.append(
            Change(
                "primary-key",
                None,
                f"primary key changed from {list(old.primary_key)} to {list(new.primary_key)}",
                True,
            )
        )
    if old.partitioning != new.partitioning:
        was, now = old.partitioning, new.partitioning
        detail = (
            f"partitioning changed from {was.column} ({was.granularity}) to {now.column} ({now.granularity})"
        )
        found.append(Change("partitioning", now.column, detail, True))
    return found


def _removed(column: Column) -> Change:
    return Change("column-removed", column.name, f"column {column.name} removed (or renamed)", True)


def _added(column: Column) -> Change:
    if column.required:
        return Change("column-added", column.name, f"new column {column.name} is required", True)
    return Change("column-added", column.name, f"new optional column {column.name}", False)


def _column_changes(was: Column, now: Column) -> list[Change]:
    name, found = now.name, []
    if was.logical_type != now.logical_type:
        widened = (was.logical_type, now.logical_type) in WIDENINGS
        how = "widened" if widened else "changed"
        detail = f"column {name}: type {how} from {was.logical_type} to {now.logical_type}"
        found.append(Change("type-changed", name, detail, not widened))
    if now.required and not was.required:
        found.append(Change("required", name, f"column {name} is newly required", True))
    elif was.required and not now.required:
        found.append(Change("required", name, f"column {name} is no longer required", False))
    if was.classification != now.classification:
        stricter = _RESTRICTION[now.classification] > _RESTRICTION[was.classification]
        how = "more" if stricter else "less"
        detail = f"column {name} made {how} restricted ({was.classification} -> {now.classification})"
        found.append(Change("classification", name, detail, stricter))
    return found


def gate(old: ProductSpec, new: ProductSpec) -> list[Change]:
    """The breaking changes `new` may not make in place (all of them: a new major is a new product)."""
    return [c for c in changes(old, new) if c.breaking]


def major_matches_name(spec: ProductSpec) -> str | None:
    """Why a major-suffixed product (`orders_v2`) has the wrong major version (None: it is fine)."""
    head, _, suffix = spec.name.rpartition("_v")
    if head and suffix.isdigit() and major(spec.version) != int(suffix):
        return f"{spec.name} is major {suffix}: its version must be {suffix}.x.y, not {spec.version}"
    return None
