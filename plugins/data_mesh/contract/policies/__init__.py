"""Federated governance as code: the global policies, each domain's own, waivers and the report.

`check_product(spec)` runs the global policies (`builtin.py`) then the domain's
(`domains/<domain>/policies.py`, see `local.py`) and applies the contract's waivers (`base.py`).
`check_mesh(specs)` checks what spans products (inputs exist, a consumer may read its inputs).
They are enforced at DAG parse (`contract.registry`: a blocking finding is a DAG import error
naming the policy, the file and the field), in the tests, and reported by `data-mesh check`.
"""

from __future__ import annotations

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
    """Every finding of every policy that applies to `spec` (blocking ones have `.blocking`)."""
    return run_policies(spec, policies_for(spec.domain), ctx or default_context())
