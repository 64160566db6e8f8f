"""A data product's ODPS v1.1.0 descriptor (Open Data Product Standard, Bitol / LF AI & Data).

One descriptor per product, built from its ODCS contract (`ProductSpec`) and what the catalog knows:

- identity: `id` is the product id the platform addresses it by (`sales.customer_orders`); name,
  domain, version and status are the contract's; owner team, support and tags too. `type` is
  `sourceAligned` for a product fetched only from HTTP sources, `aggregate` when it reads products.
- input ports: each upstream product (the contract's `inputs`), with the upstream contract's id and
  version, then each HTTP source: its Airflow Connection id and endpoint. Never a credential: the
  Connection is not even opened here (its host, login, password and extras stay in Airflow).
- output ports, each bound to the product's own ODCS contract (`contractId` + `version`): the Iceberg
  table (catalog, namespace, table; the catalog URL without its password), the governed SQL port
  (`POST /data-mesh/api/sql`, the product addressed as `domain.product`) and the download API.
- management ports: the product page of the catalog UI and the API endpoints about the product.

Every URL starts with `conf.public_url()` (DATA_MESH_PUBLIC_URL), so the API and `data-mesh
--local-admin odps` on the same configuration give the same descriptor. The descriptor is typed
dataclasses up to `to_dict()`, the serialization edge (`render()` gives JSON or YAML text).
Airflow-free and cheap to import: the metadata store, SQLAlchemy and PyYAML load inside functions.
The official JSON schema is vendored for the tests (tests/vendor/odps/); it is not needed here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from data_mesh import conf
from data_mesh.contract.spec import ProductSpec
from data_mesh.exceptions import ContractError, UnknownProductError

API_VERSION = "v1.1.0"
API_PREFIX = "/data-mesh/api"
UI_PREFIX = "/data-mesh/ui"
Format = Literal["json", "yaml"]
FORMATS: tuple[Format, ...] = ("json", "yaml")


@dataclass(frozen=True)
class Prop:
    """One `customProperties` entry: ODPS's place for anything the standard has no field for."""

    property: str
    value: Any

    def to_dict(self) -> dict[str, Any]:
        return {"property": self.property, "value": self.value}


@dataclass(frozen=True)
class ContractRef:
    id: str
    version: str


@dataclass(frozen=True)
class InputPort:
    name: str
    id: str
    version: str = ""
    contract_id: str = ""
    tags: tuple[str, ...] = ()
    custom: tuple[Prop, ...] = ()


@dataclass(frozen=True)
class OutputPort:
    name: str
    id: str
    type: str
    description: str
    version: str
    contract_id: str
    input_contracts: tuple[ContractRef, ...] = ()
    custom: tuple[Prop, ...] = ()


@dataclass(frozen=True)
class ManagementPort:
    name: str
    content: Literal["discoverability", "observability", "control"]
    url: str
    description: str
    type: str = "rest"


@dataclass(frozen=True)
class Descriptor:
    """An ODPS descriptor; `to_dict()` is its standard form (camelCase, empty fields left out)."""

    id: str
    name: str
    domain: str
    version: str
    status: str
    type: str
    tenant: str
    purpose: str
    usage: str
    limitations: str
    tags: tuple[str, ...]
    input_ports: tuple[InputPort, ...]
    output_ports: tuple[OutputPort, ...]
    management_ports: tuple[ManagementPort, ...]
    support: tuple[tuple[str, str], ...]  # (channel, url)
    team_name: str
    team: tuple[tuple[str, str], ...]  # (username, role)
    custom: tuple[Prop, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        description = {"purpose": self.purpose, "usage": self.usage, "limitations": self.limitations}
        team = {"name": self.team_name, "members": [_compact(username=u, role=r) for u, r in self.team]}
        return _compact(
            apiVersion=API_VERSION,
            kind="DataProduct",
            id=self.id,
            name=self.name,
            version=self.version,
            status=self.status,
            domain=self.domain,
            type=self.type,
            tenant=self.tenant,
            description=_compact(**description),
            tags=list(self.tags),
            inputPorts=[_input(p) for p in self.input_ports],
            outputPorts=[_output(p) for p in self.output_ports],
            managementPorts=[
                _compact(name=p.name, content=p.content, type=p.type, url=p.url, description=p.description)
                for p in self.management_ports
            ],
            support=[_compact(channel=c, url=u) for c, u in self.support],
            team=_compact(**team),
            customProperties=[p.to_dict() for p in self.custom],
        )


def _compact(**fields: Any) -> dict[str, Any]:
    """The fields with a value: ODPS leaves an unknown field out rather than empty."""
    return {k: v for k, v in fields.items() if v not in ("", None, [], {}, ())}


def _input(port: InputPort) -> dict[str, Any]:
    return _compact(
        id=port.id,
        name=port.name,
        version=port.version,
        contractId=port.contract_id,
        tags=list(port.tags),
        customProperties=[p.to_dict() for p in port.custom],
    )


def _output(port: OutputPort) -> dict[str, Any]:
    return _compact(
        id=port.id,
        name=port.name,
        description=port.description,
        type=port.type,
        version=port.version,
        contractId=port.contract_id,
        inputContracts=[{"id": c.id, "version": c.version} for c in port.input_contracts],
        customProperties=[p.to_dict() for p in port.custom],
    )


def _upstream_ports(spec: ProductSpec, base: str, lookup: Callable[[str], ProductSpec]) -> list[InputPort]:
    ports = []
    for product_id in spec.inputs:
        custom = [Prop("type", "dataProduct"), Prop("productId", product_id)]
        try:
            upstream = lookup(product_id)
        except (UnknownProductError, ContractError) as error:  # named, never hidden nor fatal
            ports.append(
                InputPort(
                    product_id,
                    f"{spec.id}:input:{product_id}",
                    tags=("data-product",),
                    custom=(*custom, Prop("unresolved", str(error))),
                )
            )
            continue
        custom.append(Prop("descriptor", f"{base}{API_PREFIX}/products/{product_id}/odps"))
        ports.append(
            InputPort(
                product_id,
                f"{spec.id}:input:{product_id}",
                upstream.version,
                upstream.contract_id,
                ("data-product",),
                tuple(custom),
            )
        )
    return ports


def _source_ports(spec: ProductSpec) -> list[InputPort]:
    """HTTP sources: the Connection's id and the endpoint; the Connection itself is never read."""
    return [
        InputPort(
            source.name,
            f"{spec.id}:source:{source.name}",
            tags=("http-source",),
            custom=(
                Prop("type", "http"),
                Prop("connectionId", source.conn_id),
                Prop("endpoint", source.endpoint),
                Prop("format", source.format),
                Prop("pagination", source.pagination),
                Prop("authentication", source.auth.value),  # the scheme; the secret is the Connection's
            ),
        )
        for source in spec.sources
    ]


def _output_ports(
    spec: ProductSpec, base: str, inputs: tuple[ContractRef, ...], latest_version: int | None
) -> list[OutputPort]:
    from data_mesh.storage.catalog import CATALOG_NAME, catalog_display_url, warehouse_url

    latest = (Prop("latestVersion", latest_version),) if latest_version else ()
    api = f"{base}{API_PREFIX}"
    table = OutputPort(
        name="iceberg-table",
        id=f"{spec.id}:iceberg",
        type="iceberg",
        description=f"The Apache Iceberg table {CATALOG_NAME}.{spec.domain}.{spec.name}: one snapshot per "
        "version, tagged v<N>. Direct reads skip the platform's access checks and audit.",
        version=spec.version,
        contract_id=spec.contract_id,
        input_contracts=inputs,
        custom=(
            Prop("catalog", CATALOG_NAME),
            Prop("namespace", spec.domain),
            Prop("table", spec.name),
            Prop("catalogType", "sql (Iceberg JDBC catalog layout)"),
            Prop("catalogUri", catalog_display_url()),  # never with its password
            Prop("warehouse", warehouse_url()),
            Prop("partitionColumn", spec.partitioning.column),
            *latest,
        ),
    )
    sql = OutputPort(
        name="sql",
        id=f"{spec.id}:sql",
        type="sql",
        description=f"The governed SQL port: one SELECT in DuckDB naming the product {spec.id} (time "
        f'travel: "{spec.id}@v3" or "{spec.id}@<ISO time>"); every read is access-checked and audited.',
        version=spec.version,
        contract_id=spec.contract_id,
        custom=(
            Prop("url", f"{api}/sql"),
            Prop("method", "POST"),
            Prop("tableName", spec.id),
            Prop("engine", "duckdb"),
            Prop("formats", ["json", "csv", "parquet"]),
            *latest,
        ),
    )
    download = OutputPort(
        name="download",
        id=f"{spec.id}:download",
        type="rest",
        description="Download a version as Parquet or CSV through the governed reader (?version= or "
        "?as_of= to travel in time; ?columns= to choose columns).",
        version=spec.version,
        contract_id=spec.contract_id,
        custom=(
            Prop("url", f"{api}/products/{spec.id}/download"),
            Prop("method", "GET"),
            Prop("versionUrl", f"{api}/products/{spec.id}/versions/{{version}}/download"),
            Prop("formats", ["parquet", "csv"]),
            *latest,
        ),
    )
    return [table, sql, download]


# (name, content, path under /data-mesh/api/products/<id>, what it is)
_MANAGEMENT: tuple[tuple[str, Literal["discoverability", "observability", "control"], str, str], ...] = (
    ("descriptor", "discoverability", "/odps", "This ODPS descriptor (?format=yaml for YAML)."),
    ("detail", "discoverability", "", "Contract, schema with classifications, latest publication, health."),
    ("versions", "discoverability", "/versions", "Published versions, newest first."),
    (
        "table",
        "discoverability",
        "/table",
        "The Iceberg table and how DuckDB, pyiceberg, Spark, Trino read it.",
    ),
    ("lineage", "observability", "/lineage", "Upstream and downstream lineage (?depth=)."),
    ("quality", "observability", "/quality", "Validation history and pass rate."),
    ("metrics", "observability", "/metrics", "Task runs of the product's DAG and rows per publication."),
    ("openlineage", "observability", "/openlineage", "The product's OpenLineage RunEvents."),
    ("usage", "observability", "/usage", "Reads per consumer: rows, columns, purposes, last read."),
    ("access", "control", "/access", "Your readable and masked columns, the roles, grants and requests."),
    ("access-requests", "control", "/access-requests", "POST: request access to columns, with a purpose."),
    ("policies", "control", "/policies", "Every governance policy's finding on the contract."),
)


def _management_ports(spec: ProductSpec, base: str) -> list[ManagementPort]:
    page = ManagementPort(
        name="catalog-page",
        content="discoverability",
        url=f"{base}{UI_PREFIX}/products/{spec.id}",
        description="The product's page in the Airflow UI (Data Products): contract, schema, versions, "
        "quality, lineage, access and a governed query panel.",
    )
    api = f"{base}{API_PREFIX}/products/{spec.id}"
    return [page, *(ManagementPort(n, c, f"{api}{p}", d) for n, c, p, d in _MANAGEMENT)]


def build_descriptor(
    spec: ProductSpec,
    *,
    base_url: str | None = None,
    lookup: Callable[[str], ProductSpec] | None = None,
    latest_version: int | None = None,
) -> Descriptor:
    """The product's descriptor; `lookup` finds upstream products (default: the contract registry)."""
    from data_mesh.contract import registry

    base = (base_url or conf.public_url()).rstrip("/")
    upstream = _upstream_ports(spec, base, lookup or registry.get_product)
    inputs = tuple(ContractRef(p.contract_id, p.version) for p in upstream if p.contract_id)
    custom = [Prop("owner", spec.owner), Prop("dagId", spec.dag_id)]
    if spec.sla.frequency:
        custom.append(Prop("frequency", spec.sla.frequency))
    return Descriptor(
        id=spec.id,
        name=spec.name,
        domain=spec.domain,
        version=spec.version,
        status=spec.status,
        type="aggregate" if spec.inputs else "sourceAligned",
        tenant=spec.tenant,
        purpose=spec.description,
        usage=spec.usage,
        limitations=spec.limitations,
        tags=spec.tags,
        input_ports=(*upstream, *_source_ports(spec)),
        output_ports=tuple(_output_ports(spec, base, inputs, latest_version)),
        management_ports=tuple(_management_ports(spec, base)),
        support=spec.support,
        team_name=spec.team_name,
        team=spec.team,
        custom=tuple(custom),
    )


def product_descriptor(product_id: str) -> Descriptor:
    """The descriptor of a product of the mesh, with its latest published version (if any).

    Raises UnknownProductError for an unknown product and ContractError for an invalid contract.
    """
    from data_mesh.contract import registry
    from data_mesh.metadata.store import MetadataStore

    spec = registry.get_product(product_id)
    publication = MetadataStore().get_publication(spec.id)
    return build_descriptor(spec, latest_version=publication.version if publication else None)


def render(document: dict[str, Any], fmt: str = "json") -> str:
    """The descriptor's text: JSON (2-space indent) or YAML, keys in the standard's order."""
    if fmt == "json":
        import json

        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        import yaml

        return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    raise ValueError(f"unknown descriptor format {fmt!r}: use one of {', '.join(FORMATS)}")
