"""What a policy is, what it finds, and how a waiver changes a finding.

A policy has an id (`global.naming`, `sales.currency-documented`), a description, a severity
(`error` blocks; `warning` is reported only) and a check: a function of the product and a
`PolicyContext` that yields `Violation`s (the field at fault and the reason). A policy is about the
contract (`on="contract"`: checked at DAG parse, in the tests and by `data-mesh check`, where an
error is a DAG import error) or about the data (`on="data"`: checked on every batch at publish,
`ctx.data` holding it as an Arrow table, where an error rejects the batch to quarantine).
Policies are made with the `policy` decorator, in one file per set: the platform's global ones in
`builtin.py`, a domain's own in `domains/<domain>/policies.py` (see `local.py`).

Invariants:

* a waiver only ever downgrades the findings of the one policy it names, and only until its expiry
  date; an expired waiver is itself an error (`global.waiver-expired`), whatever it waived;
* a domain-local policy can only add findings: nothing a domain writes removes a global one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, Literal, NamedTuple

from data_mesh.contract.spec import ProductSpec

Severity = Literal["error", "warning"]
Status = Literal["violated", "waived"]
Target = Literal["contract", "data"]


class Violation(NamedTuple):
    """What a check yields: the contract field at fault and why."""

    field: str
    reason: str


@dataclass(frozen=True)
class PolicyContext:
    """What checks may look at besides the contract."""

    expectations_folder: Path
    known_users: frozenset[str] | None = None  # None: the platform does not know its users
    today: date = field(default_factory=date.today)  # per check: a dag-processor runs for days
    data: Any = None  # the batch being published (a pyarrow Table), for the policies on data


Check = Callable[[ProductSpec, PolicyContext], Iterable[Violation]]


@dataclass(frozen=True)
class Policy:
    id: str
    description: str
    severity: Severity
    check: Check
    scope: str = "global"  # "global", or the domain whose policies file declared it (`local.py`)
    on: Target = "contract"  # what it checks: the contract, or each batch at publish

    def to_dict(self) -> dict[str, str]:
        return {
            "id": self.id,
            "severity": self.severity,
            "scope": self.scope,
            "on": self.on,
            "description": self.description,
        }


def policy(
    policy_id: str, description: str, severity: Severity = "error", on: Target = "contract"
) -> Callable[[Check], Policy]:
    """Decorator: a check function becomes a `Policy` (a module-level name the loaders collect)."""
    if severity not in ("error", "warning"):
        raise ValueError(f"policy {policy_id}: severity is 'error' or 'warning', not {severity!r}")
    if on not in ("contract", "data"):
        raise ValueError(f"policy {policy_id}: on is 'contract' or 'data', not {on!r}")

    def make(check: Check) -> Policy:
        return Policy(policy_id, description, severity, check, on=on)

    return make


@dataclass(frozen=True)
class Finding:
    """One violation of one policy by one product, as reported (CLI, catalog, parse errors)."""

    policy: str
    severity: Severity
    product: str
    file: str
    field: str
    message: str
    status: Status = "violated"
    waiver: str = ""  # who approved the waiver and until when, when status is "waived"

    @property
    def blocking(self) -> bool:
        return self.severity == "error" and self.status == "violated"

    def to_dict(self) -> dict[str, str | bool]:
        return {
            "policy": self.policy,
            "severity": self.severity,
            "product": self.product,
            "file": self.file,
            "field": self.field,
            "message": self.message,
            "status": self.status,
            "waiver": self.waiver,
            "blocking": self.blocking,
        }


def run_policies(spec: ProductSpec, policies: Iterable[Policy], ctx: PolicyContext) -> list[Finding]:
    """Every finding of `policies` on `spec`, waivers applied (an expired waiver is an error)."""
    waivers = {w.policy: w for w in spec.waivers}
    findings: list[Finding] = []
    for pol in policies:
        waiver = waivers.get(pol.id)
        for violation in pol.check(spec, ctx):
            finding = Finding(
                pol.id, pol.severity, spec.id, spec.contract_path, violation.field, violation.reason
            )
            if waiver is not None and not waiver.expired(ctx.today):
                finding = replace(
                    finding,
                    status="waived",
                    waiver=f"approved by {waiver.approved_by} until {waiver.expires}: {waiver.reason}",
                )
            findings.append(finding)
    known = {pol.id for pol in policies}
    for index, waiver in enumerate(spec.waivers):
        where = f"customProperties.policyWaivers[{index}]"
        if waiver.expired(ctx.today):
            findings.append(
                Finding(
                    "global.waiver-expired", "error", spec.id, spec.contract_path, where,
                    f"the waiver of {waiver.policy} expired on {waiver.expires}: renew it or comply",
                )
            )  # fmt: skip
        elif waiver.policy not in known:
            findings.append(
                Finding(
                    "global.waiver-known", "warning", spec.id, spec.contract_path, where,
                    f"waives {waiver.policy!r}, which is no policy of this product",
                )
            )  # fmt: skip
    return findings
