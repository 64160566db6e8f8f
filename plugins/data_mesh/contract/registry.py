"""Every product of the mesh, read from the domains' contracts (cached per file modification time).

`load_mesh()` is what the catalog shows: every valid product, plus each invalid contract as that
product's error (an invalid contract never hides the others). `load_products()` is what the DAG
builder and the policies need: all products valid, or a `ContractError` naming the first problem.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from data_mesh import conf
from data_mesh.contract.odcs import CONTRACT_SUFFIX, load_contract
from data_mesh.contract.policies import check_mesh, check_product
from data_mesh.contract.policies.local import POLICY_FILE
from data_mesh.contract.spec import ProductSpec
from data_mesh.exceptions import ContractError, UnknownProductError

log = logging.getLogger(__name__)
_cache: dict[Path, tuple[tuple[float, float, int], ProductSpec]] = {}


def contract_files(domain: str | None = None, folder: Path | None = None) -> list[Path]:
    root = folder or conf.domains_folder()
    pattern = f"{domain}/*{CONTRACT_SUFFIX}" if domain else f"*/*{CONTRACT_SUFFIX}"
    return sorted(root.glob(pattern))


def product_id_of(path: Path) -> str:
    """The product id a contract file stands for, read from its place (even when it is invalid)."""
    return f"{path.parent.name}.{path.name.removesuffix(CONTRACT_SUFFIX)}"


def load_product(path: Path) -> ProductSpec:
    """One contract, validated against ODCS and the global policies."""
    local = path.parent / POLICY_FILE
    # The domain's policies and the date (a waiver expires) decide too, not only the contract.
    mtime = (
        path.stat().st_mtime,
        local.stat().st_mtime if local.is_file() else 0.0,
        date.today().toordinal(),
    )
    cached = _cache.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    spec = load_contract(path)
    findings = check_product(spec)
    blocking = [f for f in findings if f.blocking]
    if blocking:
        first = blocking[0]
        more = f" (and {len(blocking) - 1} more: `data-mesh check`)" if len(blocking) > 1 else ""
        raise ContractError(str(path), first.field, f"policy {first.policy} violated: {first.message}{more}")
    for finding in findings:
        if finding.status == "violated":
            log.warning(
                "%s: %s: policy %s (warning): %s", path, finding.field, finding.policy, finding.message
            )
    expected_domain = path.parent.name
    if spec.domain != expected_domain:
        raise ContractError(str(path), "domain", f"{spec.domain!r} is declared in folder {expected_domain!r}")
    _cache[path] = (mtime, spec)
    return spec


def load_products(domain: str | None = None) -> dict[str, ProductSpec]:
    """The products of one domain, or of the whole mesh (then cross-product policies are checked)."""
    specs = {spec.id: spec for spec in map(load_product, contract_files(domain))}
    if domain is None:
        problems = check_mesh(specs)
        if problems:
            product, field, reason = problems[0]
            raise ContractError(product, field, reason)
    return specs


@dataclass(frozen=True)
class Mesh:
    """The catalog's view of the contracts: valid products and, per product id, why a contract is invalid."""

    products: dict[str, ProductSpec] = field(default_factory=dict)
    errors: dict[str, ContractError] = field(default_factory=dict)


def load_mesh() -> Mesh:
    """Every contract of every domain; one invalid contract is reported, never raised."""
    products: dict[str, ProductSpec] = {}
    errors: dict[str, ContractError] = {}
    for path in contract_files():
        try:
            spec = load_product(path)
        except ContractError as err:
            errors[product_id_of(path)] = err
        else:
            products[spec.id] = spec
    for product_id, field_name, reason in check_mesh(products):
        errors[product_id] = ContractError(products.pop(product_id).contract_path, field_name, reason)
    return Mesh(products, errors)


def get_product(product_id: str) -> ProductSpec:
    domain, _, name = product_id.partition(".")
    path = conf.domains_folder() / domain / f"{name}{CONTRACT_SUFFIX}"
    if not name or "/" in product_id or ".." in product_id or not path.is_file():
        raise UnknownProductError(product_id)
    return load_product(path)
