"""A domain's own policies: `domains/<domain>/policies.py`, stricter rules without platform code.

The file defines checks with `data_mesh.policy` (the public API); every module-level `Policy` is
applied to that domain's products, after the global ones. Their ids start with the domain
(`sales.currency-documented`), so a report names whose rule it is and a domain cannot shadow a
global policy. A file that fails to import, or a policy id outside the domain, is a `ContractError`
naming the file: the domain's DAGs show it as an import error rather than skipping the rules.
"""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path

from data_mesh import conf
from data_mesh.contract.policies.base import Policy
from data_mesh.exceptions import ContractError

POLICY_FILE = "policies.py"
_cache: dict[Path, tuple[float, tuple[Policy, ...]]] = {}


def local_policies(domain: str, folder: Path | None = None) -> tuple[Policy, ...]:
    """The policies of `domains/<domain>/policies.py` (none when the domain has no such file)."""
    path = (folder or conf.domains_folder()) / domain / POLICY_FILE
    if not path.is_file():
        return ()
    mtime = path.stat().st_mtime
    cached = _cache.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    module_spec = importlib.util.spec_from_file_location(f"data_mesh_policies_{domain}", path)
    if module_spec is None or module_spec.loader is None:
        raise ContractError(str(path), "policies", "not a Python module")
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as error:  # the domain's code: any error is the domain's import error
        raise ContractError(str(path), "policies", f"{type(error).__name__}: {error}") from error
    found = []
    for value in vars(module).values():
        if isinstance(value, Policy):
            if not value.id.startswith(f"{domain}."):
                raise ContractError(
                    str(path), value.id, f"a policy of domain {domain!r} has an id starting with '{domain}.'"
                )
            found.append(replace(value, scope=domain))
    policies = tuple(sorted(found, key=lambda p: p.id))
    _cache[path] = (mtime, policies)
    return policies
