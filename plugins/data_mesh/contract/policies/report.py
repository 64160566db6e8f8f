"""`data-mesh check`: every policy on every contract, per domain, as text or JSON.

Reads the contracts in the domains folder (what CI and a domain team's checkout hold), not the
api-server: it is the same check the DAG parse makes, run before a change is merged. A contract
that is not valid ODCS is reported as that product's `contract.valid` error; the others still run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from data_mesh.contract.odcs import load_contract
from data_mesh.contract.policies import check_mesh, check_product, default_context, policies_for
from data_mesh.contract.policies.base import Finding
from data_mesh.contract.registry import contract_files, product_id_of
from data_mesh.contract.spec import ProductSpec
from data_mesh.exceptions import ContractError


@dataclass
class DomainReport:
    domain: str
    products: dict[str, list[Finding]] = field(default_factory=dict)

    def count(self, severity: str, status: str = "violated") -> int:
        return sum(
            1 for fs in self.products.values() for f in fs if f.severity == severity and f.status == status
        )

    @property
    def waived(self) -> int:
        return sum(1 for fs in self.products.values() for f in fs if f.status == "waived")


@dataclass
class PolicyReport:
    domains: dict[str, DomainReport]
    policies: dict[str, list[dict[str, str]]]  # domain -> the policies that applied

    @property
    def blocking(self) -> int:
        return sum(1 for d in self.domains.values() for fs in d.products.values() for f in fs if f.blocking)

    def to_dict(self) -> dict[str, Any]:
        return {
            "blocking": self.blocking,
            "domains": {
                name: {
                    "errors": d.count("error"),
                    "warnings": d.count("warning"),
                    "waived": d.waived,
                    "policies": self.policies[name],
                    "products": {pid: [f.to_dict() for f in fs] for pid, fs in d.products.items()},
                }
                for name, d in self.domains.items()
            },
        }

    def to_text(self) -> str:
        lines = []
        for name, d in self.domains.items():
            lines.append(
                f"domain {name}: {len(d.products)} product(s), {d.count('error')} error(s), "
                f"{d.count('warning')} warning(s), {d.waived} waived; {len(self.policies[name])} policies"
            )
            for pid, findings in d.products.items():
                lines.append(f"  {pid:<40} {'FAIL' if any(f.blocking for f in findings) else 'ok'}")
                for f in findings:
                    label = "waived" if f.status == "waived" else f.severity
                    lines.append(f"    {label:<8} {f.policy:<28} {f.field}: {f.message}")
                    if f.waiver:
                        lines.append(f"             {f.waiver}")
        lines.append(f"{self.blocking} blocking finding(s)")
        return "\n".join(lines)


def check_domains(domain: str | None = None) -> PolicyReport:
    """The report for one domain, or for every domain of the mesh (then cross-product rules too)."""
    ctx = default_context()
    domains: dict[str, DomainReport] = {}
    policies: dict[str, list[dict[str, str]]] = {}
    specs: dict[str, ProductSpec] = {}
    for path in contract_files(domain):
        name = path.parent.name
        report = domains.setdefault(name, DomainReport(name))
        try:
            applied = policies.setdefault(name, [])  # none when the domain's policies file fails
            if not applied:
                applied.extend(p.to_dict() for p in policies_for(name))
            spec = load_contract(path)
        except ContractError as error:
            product_id = product_id_of(path)
            report.products[product_id] = [
                Finding("contract.valid", "error", product_id, str(path), error.field, error.reason)
            ]
            continue
        specs[spec.id] = spec
        report.products[spec.id] = check_product(spec, ctx)
    if domain is None:
        for product_id, field_name, reason in check_mesh(specs):
            spec = specs[product_id]
            domains[spec.domain].products[product_id].append(
                Finding("global.inputs-readable", "error", product_id, spec.contract_path, field_name, reason)
            )
    return PolicyReport(domains, policies)
