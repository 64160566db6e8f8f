"""Global governance policies, as code, applied to every product of every domain.

A domain cannot opt out: a contract that breaks a policy is a `ContractError`, so its DAG shows up
as an import error in the Airflow UI instead of publishing a non-compliant product.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

from data_mesh.contract.spec import ProductSpec
from data_mesh.governance.access import domain_decision

_SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
_PII_NAMES = re.compile(r"(e_?mail|phone|ssn|birth|first_?name|last_?name|address|iban)", re.IGNORECASE)
_STATUSES = {"proposed", "draft", "active", "deprecated", "retired"}

Violation = tuple[str, str]  # (field, reason)


def _naming(spec: ProductSpec) -> Iterator[Violation]:
    for field, value in (("domain", spec.domain), ("name", spec.name)):
        if not _SNAKE.match(value):
            yield field, f"{value!r} must be snake_case so product ids are addressable"
    for col in spec.columns:
        if not _SNAKE.match(col.name):
            yield f"column {col.name}", "column names must be snake_case"


def _documented(spec: ProductSpec) -> Iterator[Violation]:
    if len(spec.description) < 20:
        yield "description.purpose", "every product explains its purpose (20 characters at least)"
    for col in spec.columns:
        if not col.description:
            yield f"column {col.name}", "every column has a description"


def _pii_restricted(spec: ProductSpec) -> Iterator[Violation]:
    for col in spec.columns:
        if _PII_NAMES.search(col.name) and col.classification != "restricted":
            yield f"column {col.name}", "looks like personal data: classify it 'restricted'"


def _lifecycle(spec: ProductSpec) -> Iterator[Violation]:
    if spec.status not in _STATUSES:
        yield "status", f"{spec.status!r} is not one of {sorted(_STATUSES)}"
    if spec.sla.latency_hours is None:
        yield "slaProperties", "a latency SLA is required so consumers know when data is stale"


def _identified(spec: ProductSpec) -> Iterator[Violation]:
    if not spec.primary_key:
        yield "schema[0].properties", "a primary key is required (primaryKey: true)"


def _buildable(spec: ProductSpec) -> Iterator[Violation]:
    if not spec.transform or ":" not in spec.transform:
        yield "customProperties.transform", "declare the transform as 'module:function'"
    if not spec.sources and not spec.inputs:
        yield "customProperties", "a product is built from at least one source or input product"


POLICIES: tuple[Callable[[ProductSpec], Iterator[Violation]], ...] = (
    _naming,
    _documented,
    _pii_restricted,
    _lifecycle,
    _identified,
    _buildable,
)


def check_product(spec: ProductSpec, expectations_folder: Path) -> list[Violation]:
    """Every violation of every global policy (empty when the product complies)."""
    violations = [v for policy in POLICIES for v in policy(spec)]
    if not (expectations_folder / spec.expectation_suite).is_file():
        violations.append(
            ("schema[0].quality", f"suite {spec.expectation_suite} not in {expectations_folder}")
        )
    return violations


def check_mesh(specs: dict[str, ProductSpec]) -> list[tuple[str, str, str]]:
    """Policies across products: inputs exist and a consumer may read what it depends on."""
    problems = []
    for spec in specs.values():
        for upstream in spec.inputs:
            if upstream not in specs:
                problems.append((spec.id, "customProperties.inputs", f"unknown input product {upstream!r}"))
            else:
                decision = domain_decision(specs[upstream], spec.domain)
                if not decision.allowed:
                    problems.append((spec.id, "customProperties.inputs", f"{upstream}: {decision.reason}"))
    return problems
