"""Federated governance as code: the global policies, each domain's own, waivers and the report.

`check_product(spec)` runs the global policies (`builtin.py`) then the domain's
(`domains/<domain>/policies.py`, see `local.py`) and applies the contract's waivers (`base.py`).
`check_mesh(specs)` checks what spans products (inputs exist, a consumer may read its inputs).
The policies on the contract are enforced at DAG parse (`contract.registry`: a blocking finding is a
DAG import error naming the policy, the file and the field), in the tests, and reported by
`data-mesh check`; the policies on the data (`check_data`) on every batch at publish
(`pipeline.steps.validate`: a blocking finding rejects the batch to quarantine, naming the policy).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from data_mesh import conf
from data_mesh.contract.policies.base import (
    Finding,
    Policy,
    PolicyContext,
    Severity,
    Violation,
    policy,
    run_policies,
)
from data_mesh.contract.policies.builtin import GLOBAL_POLICIES
from data_mesh.contract.policies.local import local_policies
from data_mesh.contract.policies.mesh import check_mesh
from data_mesh.contract.spec import ProductSpec

__all__ = [
    "GLOBAL_POLICIES",
    "Finding",
    "Policy",
    "PolicyContext",
    "Severity",
    "Violation",
    "check_mesh",
    "check_data",
    "check_product",
    "default_context",
    "policies_for",
    "policy",
]


def default_context() -> PolicyContext:
    return PolicyContext(expectations_folder=conf.expectations_folder(), known_users=conf.known_users())


def policies_for(domain: str) -> tuple[Policy, ...]:
    """The global policies, then the domain's own."""
    return GLOBAL_POLICIES + local_policies(domain)


def check_product(spec: ProductSpec, ctx: PolicyContext | None = None) -> list[Finding]:
    """Every finding of every policy on the contract of `spec` (blocking ones have `.blocking`)."""
    contract = [p for p in policies_for(spec.domain) if p.on == "contract"]
    return run_policies(spec, contract, ctx or default_context())


def check_data(spec: ProductSpec, table: Any) -> list[Finding]:
    """Every finding of the policies on the data, on one batch (`table`, pyarrow) of `spec`.

    The contract's waivers apply; the waivers themselves (expired, unknown) are the contract
    check's findings, not repeated here.
    """
    on_data = [p for p in policies_for(spec.domain) if p.on == "data"]
    if not on_data:
        return []
    ctx = dataclasses.replace(default_context(), data=table)
    ids = {p.id for p in on_data}
    return [f for f in run_policies(spec, on_data, ctx) if f.policy in ids]
