"""The platform's global policies: every product of every domain, before any domain's own.

A domain cannot opt out of these; a contract can only carry a waiver with an approver and an expiry
date (see `base.py`). Each check names the contract field at fault, so a DAG import error points at
the line to change.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from data_mesh.contract.policies.base import Policy, PolicyContext, Violation, policy
from data_mesh.contract.spec import ProductSpec

_SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
_PII_NAMES = re.compile(r"(e_?mail|phone|ssn|birth|first_?name|last_?name|address|iban)", re.IGNORECASE)
_STATUSES = {"proposed", "draft", "active", "deprecated", "retired"}
_MIN_PURPOSE = 20


def valid_name(value: str) -> bool:
    """Whether `global.naming` accepts a domain, product or column name (the scaffolding asks too)."""
    return bool(_SNAKE.match(value))


def looks_personal(column: str) -> bool:
    """Whether `global.pii-restricted` takes a column name for personal data."""
    return bool(_PII_NAMES.search(column))


@policy("global.naming", "Domain, product and column names are snake_case, so every id is addressable.")
def naming(spec: ProductSpec, ctx: PolicyContext) -> Iterator[Violation]:
    for field, value in (("domain", spec.domain), ("name", spec.name)):
        if not valid_name(value):
            yield Violation(field, f"{value!r} must be snake_case so product ids are addressable")
    for col in spec.columns:
        if not _SNAKE.match(col.name):
            yield Violation(f"column {col.name}", "column names must be snake_case")


@policy("global.documented", "The product states its purpose and every column has a description.")
def documented(spec: ProductSpec, ctx: PolicyContext) -> Iterator[Violation]:
    if len(spec.description) < _MIN_PURPOSE:
        yield Violation(
            "description.purpose", f"every product explains its purpose ({_MIN_PURPOSE} characters at least)"
        )
    for col in spec.columns:
        if not col.description:
            yield Violation(f"column {col.name}", "every column has a description")


@policy(
    "global.decided",
    "Nothing the scaffolding left TODO remains: a person wrote the purpose, usage, every column's "
    "description and classification.",
)
def decided(spec: ProductSpec, ctx: PolicyContext) -> Iterator[Violation]:
    for field in spec.todos:
        yield Violation(field, "still TODO (left by `data-mesh new-product`): a person decides it")


@policy(
    "global.pii-restricted",
    "Columns that look like personal data are classified restricted, so they are pseudonymized at rest.",
)
def pii_restricted(spec: ProductSpec, ctx: PolicyContext) -> Iterator[Violation]:
    for col in spec.columns:
        if looks_personal(col.name) and col.classification != "restricted":
            yield Violation(f"column {col.name}", "looks like personal data: classify it 'restricted'")


@policy("global.lifecycle-status", "The contract status is one of the lifecycle states.")
def lifecycle_status(spec: ProductSpec, ctx: PolicyContext) -> Iterator[Violation]:
    if spec.status not in _STATUSES:
        yield Violation("status", f"{spec.status!r} is not one of {sorted(_STATUSES)}")


@policy("global.latency-sla", "A latency SLA says consumers when the data is stale.")
def latency_sla(spec: ProductSpec, ctx: PolicyContext) -> Iterator[Violation]:
    if spec.sla.latency_hours is None:
        yield Violation("slaProperties", "a latency SLA is required so consumers know when data is stale")


@policy("global.primary-key", "A primary key identifies each row (corrections, erasure, joins).")
def primary_key(spec: ProductSpec, ctx: PolicyContext) -> Iterator[Violation]:
    if not spec.primary_key:
        yield Violation("schema[0].properties", "a primary key is required (primaryKey: true)")


@policy("global.suite-present", "The Great Expectations suite the contract names exists.")
def suite_present(spec: ProductSpec, ctx: PolicyContext) -> Iterator[Violation]:
    if not (ctx.expectations_folder / spec.expectation_suite).is_file():
        yield Violation(
            "schema[0].quality", f"suite {spec.expectation_suite} not in {ctx.expectations_folder}"
        )


@policy("global.owner-exists", "The owner is a member of the team and a known user of the platform.")
def owner_exists(spec: ProductSpec, ctx: PolicyContext) -> Iterator[Violation]:
    if spec.owner not in {name for name, _ in spec.team}:
        yield Violation("team.members", f"the owner {spec.owner!r} is not a member of the team")
    elif ctx.known_users is not None and spec.owner not in ctx.known_users:
        yield Violation(
            "team.members", f"the owner {spec.owner!r} is not a known user (DATA_MESH_KNOWN_USERS)"
        )


@policy("global.buildable", "The product names its transform and what it is built from.")
def buildable(spec: ProductSpec, ctx: PolicyContext) -> Iterator[Violation]:
    if not spec.transform or ":" not in spec.transform:
        yield Violation("customProperties.transform", "declare the transform as 'module:function'")
    if not spec.sources and not spec.inputs:
        yield Violation("customProperties", "a product is built from at least one source or input product")


@policy("global.major-version", "A new major is a new product: `<name>_v<N>` carries version N.x.y.")
def major_version(spec: ProductSpec, ctx: PolicyContext) -> Iterator[Violation]:
    from data_mesh.contract.compat import major_matches_name

    problem = major_matches_name(spec)
    if problem:
        yield Violation("version", problem)


@policy(
    "global.support-channel", "Consumers know where to ask: the contract lists a support channel.", "warning"
)
def support_channel(spec: ProductSpec, ctx: PolicyContext) -> Iterator[Violation]:
    if not spec.support:
        yield Violation("support", "no support channel: consumers cannot reach the owning team")


EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"


@policy(
    "global.no-undeclared-pii",
    "No personal data hides in a column that is not classified restricted (checked on every batch).",
    on="data",
)
def no_undeclared_pii(spec: ProductSpec, ctx: PolicyContext) -> Iterator[Violation]:
    import pyarrow as pa
    import pyarrow.compute as pc

    table = ctx.data
    for column in spec.columns:
        if column.is_pii or column.name not in table.column_names:
            continue
        values = table.column(column.name)
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            continue
        found = pc.sum(pc.match_substring_regex(values, EMAIL_PATTERN)).as_py() or 0
        if found:  # never the values themselves: they are the personal data
            yield Violation(
                f"column {column.name}",
                f"{found} value(s) look like e-mail addresses in a {column.classification} column: classify "
                "it restricted (pseudonymized at rest) or stop publishing them",
            )


GLOBAL_POLICIES: tuple[Policy, ...] = (
    naming,
    documented,
    decided,
    pii_restricted,
    lifecycle_status,
    latency_sla,
    primary_key,
    suite_present,
    owner_exists,
    buildable,
    major_version,
    support_channel,
    no_undeclared_pii,
)
