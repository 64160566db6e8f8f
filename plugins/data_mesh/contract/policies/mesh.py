"""Policies across products: every input exists, is neither retired nor another domain's draft, and
its consumer may read it."""

from __future__ import annotations

from data_mesh.contract.spec import ProductSpec
from data_mesh.governance import lifecycle
from data_mesh.governance.access import domain_decision


def check_mesh(specs: dict[str, ProductSpec]) -> list[tuple[str, str, str]]:
    """(product id, field, reason) for each input that is unknown or that its consumer may not read."""
    problems = []
    for spec in specs.values():
        for upstream in spec.inputs:
            if upstream not in specs:
                problems.append((spec.id, "customProperties.inputs", f"unknown input product {upstream!r}"))
            elif problem := lifecycle.input_problem(specs[upstream], spec.domain):
                problems.append((spec.id, "customProperties.inputs", problem))
            else:
                decision = domain_decision(specs[upstream], spec.domain)
                if not decision.allowed:
                    problems.append((spec.id, "customProperties.inputs", f"{upstream}: {decision.reason}"))
    return problems
