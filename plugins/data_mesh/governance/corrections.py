"""Governed corrections: a product's steward updates or deletes rows, published as a new version.

    correct("sales.customer_orders", where={"order_id": "ord-20261120-000042"},
            set_values={"status": "returned"}, reason="customer returned the order", actor=alice)

Invariants:

* only a steward corrects (`access.may_steward`: the owning team or an admin), always with a reason;
* a correction is a publication: each partition holding a matched row is read whole from the
  current version, its restricted columns re-identified (the GX suite sees real values), corrected,
  then validated exactly like a pipeline's batch (contract conform, contract rules, the GX suite,
  `pipeline.steps.check_and_stage`) and committed as a new version that replaces that partition
  (one version per partition, one after another). Every partition is validated before the first
  commit: a refusal publishes nothing and the previous version keeps being served;
* rows the correction does not match are written back exactly as stored (their vault tokens
  included); a restricted value in `where` is matched through its token and one in `set` is
  tokenized by the vault, so nothing is ever stored in clear;
* the commit's run id is `correction__<UTC time>__<actor>`, its snapshot summary carries the reason
  and the actor, the version is recorded in the metadata store like any publication, and an audit
  event (`correction`, or `correction.refused`) names where/set (restricted values as "***"), the
  rows, the versions and the reason.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from data_mesh.contract import registry
from data_mesh.contract.partition import PartitionWindow, parse_partition
from data_mesh.contract.spec import ProductSpec
from data_mesh.governance.access import Principal, may_steward
from data_mesh.governance.correction_rows import (
    Applied,
    CorrectionConflict,
    CorrectionError,
    CorrectionRejected,
    InvalidCorrection,
    NoRowsMatched,
    NothingToChange,
    NotSteward,
    apply,
    as_stored,
    masked,
    matching,
    partition_keys,
    typed,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from data_mesh.pipeline.context import RunInfo, ValidationSummary
    from data_mesh.quality.report import ValidationReport
    from data_mesh.storage.products import ProductStorage, ProductVersion, StagedPartition

__all__ = [  # the errors (each with its HTTP `status`), the results and `correct`
    "CorrectionConflict", "CorrectionError", "CorrectionRejected", "CorrectionResult",
    "InvalidCorrection", "NoRowsMatched", "NotSteward", "NothingToChange", "PartitionCorrection",
    "correct",
]  # fmt: skip

log = logging.getLogger(__name__)

# Keys of the snapshot summary; `IcebergProduct.commit` stores each summary key as
# `data-mesh.validation.<key>`, so these read `data-mesh.validation.correction.reason`, ...
REASON = "correction.reason"
ACTOR = "correction.actor"
MAX_REASON = 1000


@dataclass(frozen=True)
class PartitionCorrection:
    """One corrected partition, published as one new version."""

    partition: str
    version: int
    snapshot_id: int
    rows_matched: int
    rows_changed: int  # rows whose values changed (update) or rows removed (delete)
    rows: int  # rows of the partition in the new version
    validation: dict[str, Any]  # success, evaluated, successful, failed


@dataclass(frozen=True)
class CorrectionResult:
    product: str
    action: Literal["update", "delete"]
    previous_version: int  # the version the correction was read from (still readable: time travel)
    version: int  # the newest version it published
    versions: list[int]
    partitions: list[PartitionCorrection]
    rows_matched: int
    rows_changed: int
    rows_deleted: int
    where: dict[str, Any]  # restricted values shown as "***"
    set_values: dict[str, Any]
    reason: str
    actor: str
    run_id: str
    validation: dict[str, Any]  # summed over the partitions
    message: str
    published_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["set"] = data.pop("set_values")
        return data


@dataclass(frozen=True)
class _Checked:
    """A corrected partition that passed validation, staged (invisible) for its commit."""

    window: PartitionWindow
    applied: Applied
    staged: StagedPartition
    report: ValidationReport
    schema: pa.Schema


def correct(
    product_id: str,
    *,
    where: Mapping[str, str | None],
    set_values: Mapping[str, str | None] | None = None,
    delete: bool = False,
    reason: str | None,
    actor: Principal,
) -> CorrectionResult:
    """Update (`set_values`) or delete the rows of the current version matching `where`, as a steward.

    Raises a `CorrectionError` (its `status` is the HTTP status) and publishes nothing when refused:
    NotSteward 403, InvalidCorrection 400, NoRowsMatched 404, NothingToChange / CorrectionConflict
    409, CorrectionRejected 422 (the validation report's message). An unknown product or one never
    published raises UnknownProductError / VersionNotFound (404).
    """
    from data_mesh.storage.products import product_storage

    spec = registry.get_product(product_id)
    shown = {"where": masked(spec, where), "set": masked(spec, set_values), "delete": delete}
    if not may_steward(spec, actor):
        _audit(spec, actor, "correction.refused", **shown, reason=reason, why="not a steward")
        raise NotSteward(
            f"{actor.name} may not correct {spec.id}: only its owning team ({spec.owner}) or an admin may"
        )
    reason = _reason(reason)
    match, updates = _asked(spec, where, set_values, delete)
    store = product_storage(spec)
    base = store.version()
    stored_match = as_stored(spec, match, create=False)
    keys = _located(spec, store, base, stored_match)
    if not keys:
        raise NoRowsMatched(
            f"no row of {spec.id} v{base.version} matches {shown['where']}: nothing published"
        )
    stored_updates = as_stored(spec, updates, create=True) if not delete else None
    applied = {}
    for key in keys:
        window = parse_partition(spec.partitioning.granularity, key)
        rows = store.read_table(base, window=window)
        applied[key] = apply(rows, matching(rows, stored_match), stored_updates, delete)
    if not any(a.changed for a in applied.values()):
        raise NothingToChange(
            f"the matching rows ({sum(a.matched for a in applied.values())}) of {spec.id} v{base.version} "
            f"already hold {shown['set']}: nothing published"
        )
    checked = _validate_all(spec, store, base, applied, actor, reason, shown)
    run = _run(spec, actor)
    try:
        published = _commit_all(spec, store, base, checked, run, reason, actor, delete)
    except CorrectionConflict as conflict:
        if conflict.published:  # the partitions committed before the conflict are published
            _audit(spec, actor, "correction", **shown, reason=reason, versions=conflict.published,
                   previous_version=base.version, run_id=run.run_id, partial=str(conflict))  # fmt: skip
        raise
    result = _result(spec, base, published, run, shown, reason, actor, delete, applied)
    _audit(
        spec,
        actor,
        "correction",
        **shown,
        reason=reason,
        rows_matched=result.rows_matched,
        rows_changed=result.rows_changed,
        version=result.version,
        versions=result.versions,
        partitions=[p.partition for p in result.partitions],
        previous_version=base.version,
        run_id=run.run_id,
    )
    log.info("%s (by %s: %s)", result.message, actor.name, reason)
    return result


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise InvalidCorrection("a correction needs a reason (why the published data is wrong)")
    if len(text) > MAX_REASON:
        raise InvalidCorrection(f"the reason is longer than {MAX_REASON} characters")
    return text


def _asked(
    spec: ProductSpec,
    where: Mapping[str, str | None],
    set_values: Mapping[str, str | None] | None,
    delete: bool,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The typed `where` and `set` values; InvalidCorrection for anything a correction cannot be."""
    if not where:
        raise InvalidCorrection("where must name at least one column and its value")
    if delete and set_values:
        raise InvalidCorrection("a correction either sets values or deletes rows, not both")
    if not delete and not set_values:
        raise InvalidCorrection("nothing to correct: give set (column values) or delete")
    match = typed(spec, where, "where")
    updates = typed(spec, set_values or {}, "set")
    if spec.partitioning.column in updates:
        raise InvalidCorrection(
            f"{spec.partitioning.column} is the partition column of {spec.id}: a correction cannot move "
            "rows to another partition (delete them, and publish the right partition)"
        )
    return match, updates


def _located(
    spec: ProductSpec, store: ProductStorage, base: ProductVersion, conditions: Mapping[str, Any]
) -> list[str]:
    """The partitions of `base` holding a row that matches (reads the matched columns only)."""
    column = spec.partitioning.column
    wanted = list(dict.fromkeys([*conditions, column]))
    rows = store.read_table(base, columns=wanted)
    hits = rows.filter(matching(rows, conditions)).column(column).to_pylist()
    return partition_keys(spec, hits)


def _validate_all(
    spec: ProductSpec,
    store: ProductStorage,
    base: ProductVersion,
    applied: dict[str, Applied],
    actor: Principal,
    reason: str,
    shown: dict[str, Any],
) -> list[_Checked]:
    """Validate and stage every changed partition; the first refusal discards them all and raises."""
    checked: list[_Checked] = []
    try:
        for key, rows in applied.items():
            if rows.changed:
                checked.append(
                    _validate(spec, store, parse_partition(spec.partitioning.granularity, key), rows)
                )
    except CorrectionRejected as refused:
        for done in checked:
            store.discard(done.staged)
        _audit(spec, actor, "correction.refused", **shown, reason=reason, why=str(refused))
        raise CorrectionRejected(
            f"correction of {spec.id} refused, nothing published (v{base.version} is still served): "
            f"{refused}",
            refused.report,
        ) from None
    except BaseException:
        for done in checked:
            store.discard(done.staged)
        raise
    return checked


def _validate(spec: ProductSpec, store: ProductStorage, window: PartitionWindow, rows: Applied) -> _Checked:
    """The corrected partition, re-identified, through the publication's checks, staged as stored."""
    from data_mesh.exceptions import ContractViolation
    from data_mesh.pipeline.steps import check_and_stage
    from data_mesh.quality.conform import conform
    from data_mesh.quality.report import ValidationReport

    clear = _reidentified(spec, rows.table)
    try:
        table = conform(clear.to_pandas(), spec)
    except ContractViolation as violation:
        report = ValidationReport.from_violation(spec.id, violation)
        raise CorrectionRejected(f"partition {window.key}: {report.summary_text()}", report) from None
    report, staged = check_and_stage(table, spec, store, window, stored=rows.table)
    if staged is None:
        raise CorrectionRejected(f"partition {window.key}: {report.summary_text()}", report)
    return _Checked(window, rows, staged, report, table.schema)


def _reidentified(spec: ProductSpec, table: pa.Table) -> pa.Table:
    restricted = [c for c in spec.restricted_columns if c in table.column_names]
    if not restricted:
        return table
    from data_mesh.governance.vault import Vault

    return Vault().reidentify(table, restricted)


def _run(spec: ProductSpec, actor: Principal) -> RunInfo:
    from data_mesh.pipeline.context import RunInfo

    moment = datetime.now(UTC).isoformat(timespec="microseconds")
    return RunInfo(
        dag_id=spec.dag_id, run_id=f"correction__{moment}__{actor.name}"[:250], task_id="correction"
    )


def _commit_all(
    spec: ProductSpec,
    store: ProductStorage,
    base: ProductVersion,
    checked: list[_Checked],
    run: RunInfo,
    reason: str,
    actor: Principal,
    delete: bool,
) -> list[tuple[_Checked, ProductVersion, ValidationSummary]]:
    """Commit the staged partitions one after another, each as a new version."""
    from data_mesh.pipeline import recorder
    from data_mesh.pipeline.context import Transformed, Validated, ValidationSummary
    from data_mesh.storage.arrow import schema_hash

    published: list[tuple[_Checked, ProductVersion, ValidationSummary]] = []
    ours: set[int] = set()
    for index, item in enumerate(checked):
        try:
            _refuse_concurrent(spec, store, base, item.window.key, ours, published)
        except CorrectionConflict:
            for rest in checked[index:]:
                store.discard(rest.staged)
            raise
        report = item.report
        summary = ValidationSummary(report.success, report.evaluated, report.successful, report.failed)
        props = {
            **dataclasses.asdict(summary),
            REASON: reason,
            ACTOR: actor.name,
            "correction.action": "delete" if delete else "update",
            "correction.rows": item.applied.changed,
        }
        started = time.monotonic()
        digest = schema_hash(item.schema)
        committed = store.commit(item.staged, digest, run.run_id, props)
        ours.add(committed.version)
        validated = Validated(
            transformed=Transformed(item.window.key, item.staged.file, item.staged.rows),
            staged_partition=item.staged,
            schema_hash=digest,
            schema=[{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in item.schema],
            validation=summary,
            report=report.to_dict(),
        )
        recorder.publication(spec, run, committed, validated, duration_s=time.monotonic() - started)
        published.append((item, committed, summary))
    return published


def _refuse_concurrent(
    spec: ProductSpec,
    store: ProductStorage,
    base: ProductVersion,
    key: str,
    ours: set[int],
    published: list[Any],
) -> None:
    """A version published since `base` by someone else that replaced `key` would be overwritten."""
    others = [
        v.version
        for v in store.history()
        if v.version > base.version and v.version not in ours and v.changed_partition == key
    ]
    if others:
        done = ", ".join(f"v{p.version} ({c.window.key})" for c, p, _ in published) or "nothing"
        raise CorrectionConflict(
            f"partition {key} of {spec.id} was published as v{others[-1]} while the correction was "
            f"being validated: it was not corrected (published by this correction: {done}); try again",
            [p.version for _, p, _ in published],
        )


def _result(
    spec: ProductSpec,
    base: ProductVersion,
    published: list[tuple[_Checked, ProductVersion, ValidationSummary]],
    run: RunInfo,
    shown: dict[str, Any],
    reason: str,
    actor: Principal,
    delete: bool,
    applied: dict[str, Applied],
) -> CorrectionResult:
    parts = [
        PartitionCorrection(
            partition=item.window.key,
            version=version.version,
            snapshot_id=version.snapshot_id,
            rows_matched=item.applied.matched,
            rows_changed=item.applied.changed,
            rows=item.staged.rows,
            validation=dataclasses.asdict(summary),
        )
        for item, version, summary in published
    ]
    changed = sum(p.rows_changed for p in parts)
    verb = "deleted" if delete else "changed"
    listed = ", ".join(f"v{p.version} ({p.partition})" for p in parts)
    message = f"{changed} row{'' if changed == 1 else 's'} {verb} in {spec.id}: published {listed}"
    if len(parts) > 1:
        message += f", {len(parts)} partitions, one version each, one after another"
    totals = {k: sum(p.validation[k] for p in parts) for k in ("evaluated", "successful", "failed")}
    return CorrectionResult(
        product=spec.id,
        action="delete" if delete else "update",
        previous_version=base.version,
        version=parts[-1].version,
        versions=[p.version for p in parts],
        partitions=parts,
        rows_matched=sum(a.matched for a in applied.values()),
        rows_changed=changed,
        rows_deleted=changed if delete else 0,
        where=shown["where"],
        set_values=shown["set"],
        reason=reason,
        actor=actor.name,
        run_id=run.run_id,
        validation={"success": all(p.validation["success"] for p in parts), **totals},
        message=message,
    )


def _audit(spec: ProductSpec, actor: Principal, action: str, **detail: Any) -> None:
    from data_mesh.metadata.store import GovernanceStore

    GovernanceStore().audit(actor.name, action, spec.id, **detail)
