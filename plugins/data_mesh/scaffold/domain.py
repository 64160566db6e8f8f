"""`data-mesh new-domain`: a domain's folders, its DAG file, and who owns it.

A domain is `domains/<d>/` (a package: the transforms are `domains.<d>.<product>`), `dags/<d>.py` (the
same one line as every domain: `build_domain_dags("<d>")` picks up each contract the folder holds) and
`expectations/<d>/`. Its team is recorded in `domains/<d>/domain.yaml` (owner, team name, support
channel) so `new-product` can write it into each contract's `team`; for a domain made by hand before
the scaffolding (no domain.yaml), the team of its first contract is used.

A name the naming policy (`global.naming`) rejects is refused before anything is written, as is a
domain that already exists (any of its three places), so a typo never half-creates one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from data_mesh import conf
from data_mesh.contract.odcs import CONTRACT_SUFFIX
from data_mesh.contract.policies.builtin import valid_name

DOMAIN_FILE = "domain.yaml"
NAMING_RULE = "snake_case: lowercase letters, digits and _, starting with a letter"


@dataclass(frozen=True)
class DomainInfo:
    """Who owns a domain: every new product's contract gets this team."""

    name: str
    owner: str
    team: str
    support_channel: str = ""
    support_url: str = ""


@dataclass(frozen=True)
class Layout:
    """Where a checkout keeps a domain's files (DATA_MESH_HOME, DATA_MESH_DOMAINS_FOLDER, ...)."""

    domains: Path
    expectations: Path
    dags: Path

    @classmethod
    def current(cls) -> Layout:
        return cls(conf.domains_folder(), conf.expectations_folder(), conf.home() / "dags")


def check_name(kind: str, name: str) -> None:
    """ValueError naming the rule when the naming policy would reject `name`."""
    if not valid_name(name):
        raise ValueError(
            f"{kind} name {name!r} is rejected by the naming policy global.naming ({NAMING_RULE})"
        )


def new_domain(
    name: str,
    owner: str,
    *,
    team: str | None = None,
    support_channel: str = "",
    support_url: str = "",
    layout: Layout | None = None,
) -> list[Path]:
    """Create the domain; the files written, in order. ValueError (nothing written) when refused."""
    layout = layout or Layout.current()
    check_name("domain", name)
    owner = owner.strip()
    if not owner or any(ch.isspace() for ch in owner):
        raise ValueError(f"--owner {owner!r}: give the owner's user name (no spaces)")
    known = conf.known_users()
    if known is not None and owner not in known:
        raise ValueError(f"--owner {owner!r} is not a known user (DATA_MESH_KNOWN_USERS)")
    places = [layout.domains / name, layout.dags / f"{name}.py", layout.expectations / name]
    existing = [str(p) for p in places if p.exists()]
    if existing:
        raise ValueError(f"domain {name!r} already exists: {', '.join(existing)}")
    info = DomainInfo(name, owner, team or f"{name.replace('_', '-')}-team", support_channel, support_url)
    folder = layout.domains / name
    folder.mkdir(parents=True)
    package = folder / "__init__.py"
    package.write_text(f'"""The {name} domain: its products\' transforms (and its own policies)."""\n')
    record = folder / DOMAIN_FILE
    record.write_text(_domain_yaml(info), encoding="utf-8")
    layout.dags.mkdir(parents=True, exist_ok=True)
    dag_file = layout.dags / f"{name}.py"
    dag_file.write_text(
        f'"""Airflow DAGs of the {name} domain: one DAG per data product declared in domains/{name}/."""\n\n'
        "from data_mesh import build_domain_dags\n\n"
        f'globals().update(build_domain_dags("{name}"))\n',
        encoding="utf-8",
    )
    (layout.expectations / name).mkdir(parents=True)
    return [package, record, dag_file, layout.expectations / name]


def _domain_yaml(info: DomainInfo) -> str:
    raw = {"domain": info.name, "team": {"name": info.team, "owner": info.owner}}
    if info.support_channel:
        raw["support"] = {"channel": info.support_channel, "url": info.support_url}
    header = "# Written by `data-mesh new-domain`: the team every new product's contract gets.\n"
    return header + yaml.safe_dump(raw, sort_keys=False)


def domain_info(name: str, layout: Layout | None = None) -> DomainInfo:
    """The domain's team, from domain.yaml or else its first contract; ValueError for no such domain."""
    layout = layout or Layout.current()
    folder = layout.domains / name
    if not folder.is_dir():
        raise ValueError(
            f"unknown domain {name!r} (no {folder}): run `data-mesh new-domain {name} --owner ...`"
        )
    record = folder / DOMAIN_FILE
    if record.is_file():
        raw = yaml.safe_load(record.read_text(encoding="utf-8")) or {}
        team, support = raw.get("team") or {}, raw.get("support") or {}
        if not team.get("owner"):
            raise ValueError(f"{record}: team.owner is missing")
        return DomainInfo(
            name, str(team["owner"]), str(team.get("name") or f"{name}-team"),
            str(support.get("channel") or ""), str(support.get("url") or ""),
        )  # fmt: skip
    for contract in sorted(folder.glob(f"*{CONTRACT_SUFFIX}")):
        raw = yaml.safe_load(contract.read_text(encoding="utf-8")) or {}
        members = (raw.get("team") or {}).get("members") or []
        owner = next((m.get("username") for m in members if m.get("role") == "owner"), None)
        if owner:
            support = (raw.get("support") or [{}])[0]
            return DomainInfo(
                name, str(owner), str(raw["team"].get("name") or f"{name}-team"),
                str(support.get("channel") or ""), str(support.get("url") or ""),
            )  # fmt: skip
    raise ValueError(f"domain {name!r} has no {DOMAIN_FILE} and no contract naming an owner: add {record}")
