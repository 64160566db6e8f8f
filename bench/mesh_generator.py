"""A generated mesh of N domains x M products (default 20 x 10 = 200) for scale tests and benchmarks.

Written into a folder of its own (never this checkout's `domains/`): `domains/<d>/` (contracts,
transforms, an `__init__.py`), `expectations/<d>/` (GX suites) and `dags/<d>.py` (the same one-line
DAG file as a shipped domain). Point `DATA_MESH_HOME`, `DATA_MESH_DOMAINS_FOLDER`,
`DATA_MESH_EXPECTATIONS_FOLDER` and Airflow's dags folder at it (`GeneratedMesh.environment()`).

Shape (the shipped contracts' shapes, against the demo source server's endpoints):
- domain 0 holds the producers: even products read the ads API (`/ads/v1/campaign-performance`,
  page-number pagination, API key: marketing.ads_performance's shape), odd ones the CRM orders
  (`/crm/v1/orders`, cursor pagination, bearer token: sales.customer_orders without the customer
  join, so no PII); daily, on a clock.
- product j of domain k > 0 reads product j (its data) and product (j + 2) % M (same shape: the
  row count of its partition, `peer_rows`) of domain k - 1, so lineage is a chain 20 domains deep
  that also fans out sideways; scheduled on those two products' Assets, like finance.
- every product grants its readers by its contract's roles: the DAGs of its own next domain
  (`domains: [<k+1>]`, the one that reads it) and every signed-in person; no `*` for DAGs, so the
  parse-time grant check is exercised on every consumer.

Deterministic: the same arguments write the same bytes. Names: `mesh00`..`mesh19`, products
`ads_00`, `orders_01`, ... (the shape in the name, the position after it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DOMAINS = 20
PRODUCTS_PER_DOMAIN = 10

_ADS_COLUMNS = [
    ("date", "date", "date", "Day of the performance (UTC), the partition key."),
    ("campaign_id", "string", "varchar", "Ads platform campaign id."),
    ("campaign_name", "string", "varchar", "Campaign name as set by the marketing team."),
    ("channel", "string", "varchar", "search, social, display, video or email."),
    ("region", "string", "varchar", "Targeted sales region (NA, EMEA, APAC, LATAM)."),
    ("impressions", "integer", "bigint", "Ad impressions served."),
    ("clicks", "integer", "bigint", "Clicks on the ads."),
    ("cost", "number", "double", "Spend in USD."),
]
_ORDERS_COLUMNS = [
    ("order_id", "string", "varchar", "CRM order id."),
    ("order_date", "date", "date", "Day the order was placed (UTC), the partition key."),
    ("order_ts", "timestamp", "timestamp_tz", "When the order was placed."),
    ("customer_id", "string", "varchar", "CRM customer id."),
    ("status", "string", "varchar", "placed, shipped, delivered, cancelled or returned."),
    ("amount", "number", "double", "Order total in USD."),
    ("currency", "string", "varchar", "ISO 4217 currency of amount."),
    ("items", "integer", "bigint", "Number of line items."),
]
_PEER = ("peer_rows", "integer", "bigint", "Rows of the peer input's partition (the sideways lineage).")
_SHAPES = {
    "ads": {
        "columns": _ADS_COLUMNS,
        "keys": ["date", "campaign_id", "channel"],
        "partition": "date",
        "source": {
            "name": "campaign_performance",
            "connId": "marketing_ads_api",
            "endpoint": "/ads/v1/campaign-performance",
            "params": {"date": "{partition}"},
            "pagination": "page_number",
            "auth": "api_key",
            "pageSize": 500,
        },
    },
    "orders": {
        "columns": _ORDERS_COLUMNS,
        "keys": ["order_id"],
        "partition": "order_date",
        "source": {
            "name": "orders",
            "connId": "sales_crm_api",
            "endpoint": "/crm/v1/orders",
            "params": {"date": "{partition}"},
            "pagination": "cursor",
            "auth": "bearer",
            "pageSize": 500,
        },
    },
}

_PRODUCER_TRANSFORMS = {
    "ads": """
FIELDS = ["date", "campaign.id", "campaign.name", "channel", "region", "metrics.impressions",
          "metrics.clicks", "metrics.cost_micros"]


def build(ctx: TransformContext) -> pd.DataFrame:
    import pandas as pd

    rows = ctx.source("campaign_performance", fields=FIELDS)
    return pd.DataFrame(
        {
            "date": pd.to_datetime(rows["date"], errors="coerce").dt.date,
            "campaign_id": rows["campaign.id"],
            "campaign_name": rows["campaign.name"],
            "channel": rows["channel"],
            "region": rows["region"],
            "impressions": pd.to_numeric(rows["metrics.impressions"], errors="coerce").astype("Int64"),
            "clicks": pd.to_numeric(rows["metrics.clicks"], errors="coerce").astype("Int64"),
            "cost": pd.to_numeric(rows["metrics.cost_micros"], errors="coerce") / 1_000_000,
        }
    )
""",
    "orders": """
FIELDS = ["id", "created_at", "customer_id", "status", "total.amount", "total.currency", "line_items"]


def build(ctx: TransformContext) -> pd.DataFrame:
    import pandas as pd

    rows = ctx.source("orders", fields=FIELDS)
    placed_at = pd.to_datetime(rows["created_at"], utc=True, errors="coerce")
    return pd.DataFrame(
        {
            "order_id": rows["id"],
            "order_date": placed_at.dt.date,
            "order_ts": placed_at,
            "customer_id": rows["customer_id"],
            "status": rows["status"],
            "amount": pd.to_numeric(rows["total.amount"], errors="coerce"),
            "currency": rows["total.currency"],
            "items": pd.to_numeric(rows["line_items"], errors="coerce").astype("Int64"),
        }
    )
""",
}

_CONSUMER_TRANSFORM = """
PRIMARY, PEER = {primary!r}, {peer!r}
COLUMNS = {columns!r}


def build(ctx: TransformContext) -> pd.DataFrame:
    rows = ctx.read_input(PRIMARY, columns=COLUMNS)
    peer = ctx.read_input(PEER, columns=[COLUMNS[0]])
    return rows.assign(peer_rows=len(peer)).astype({{"peer_rows": "int64"}})
"""

_TRANSFORM_HEADER = '''"""Transform of {product_id} (generated by bench/mesh_generator.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from data_mesh import TransformContext
'''


@dataclass(frozen=True)
class GeneratedProduct:
    id: str
    shape: str  # "ads" or "orders"
    inputs: tuple[str, ...]  # upstream product ids (none for a producer)

    @property
    def domain(self) -> str:
        return self.id.partition(".")[0]

    @property
    def name(self) -> str:
        return self.id.partition(".")[2]

    @property
    def dag_id(self) -> str:
        return self.id.replace(".", "__")


@dataclass(frozen=True)
class GeneratedMesh:
    root: Path
    domains: tuple[str, ...]
    products: tuple[GeneratedProduct, ...] = field(repr=False)

    @property
    def dags_folder(self) -> Path:
        return self.root / "dags"

    def environment(self) -> dict[str, str]:
        """The settings that make the platform (and Airflow's DagBag) use this mesh."""
        return {
            "DATA_MESH_HOME": str(self.root),
            "DATA_MESH_DOMAINS_FOLDER": str(self.root / "domains"),
            "DATA_MESH_EXPECTATIONS_FOLDER": str(self.root / "expectations"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
        }


def domain_name(k: int) -> str:
    return f"mesh{k:02d}"


def plan(domains: int = DOMAINS, per_domain: int = PRODUCTS_PER_DOMAIN) -> list[GeneratedProduct]:
    """Which products exist and what each reads (no files)."""
    if domains < 1 or per_domain < 3:
        raise ValueError(
            f"a generated mesh needs >= 1 domain and >= 3 products each, not {domains}x{per_domain}"
        )
    products = []
    for k in range(domains):
        for j in range(per_domain):
            shape = "ads" if j % 2 == 0 else "orders"
            inputs: tuple[str, ...] = ()
            if k > 0:
                peer = (j + 2) % per_domain
                if peer % 2 != j % 2:  # an odd count of products: keep the peer of the same shape
                    peer = j
                inputs = (_product_id(k - 1, j), _product_id(k - 1, peer))
                inputs = tuple(dict.fromkeys(inputs))
            products.append(GeneratedProduct(_product_id(k, j), shape, inputs))
    return products


def _product_id(k: int, j: int) -> str:
    shape = "ads" if j % 2 == 0 else "orders"
    return f"{domain_name(k)}.{shape}_{j:02d}"


def generate_mesh(root: Path, domains: int = DOMAINS, per_domain: int = PRODUCTS_PER_DOMAIN) -> GeneratedMesh:
    """Write the mesh under `root` (created; existing files of the same names are overwritten)."""
    products = plan(domains, per_domain)
    names = tuple(domain_name(k) for k in range(domains))
    (root / "domains").mkdir(parents=True, exist_ok=True)
    (root / "domains" / "__init__.py").write_text('"""Generated domains."""\n')
    (root / "dags").mkdir(exist_ok=True)
    for k, domain in enumerate(names):
        folder = root / "domains" / domain
        folder.mkdir(exist_ok=True)
        (folder / "__init__.py").write_text(f'"""The generated domain {domain}."""\n')
        (root / "expectations" / domain).mkdir(parents=True, exist_ok=True)
        readers = [domain_name(k + 1)] if k + 1 < domains else []
        (root / "dags" / f"{domain}.py").write_text(
            f'"""Airflow DAGs of the generated domain {domain}."""\n\n'
            "from data_mesh import build_domain_dags\n\n"
            f'globals().update(build_domain_dags("{domain}"))\n'
        )
        for product in (p for p in products if p.domain == domain):
            _write_product(root, product, readers)
    return GeneratedMesh(root, names, tuple(products))


def _columns(product: GeneratedProduct) -> list[tuple[str, str, str, str]]:
    columns = list(_SHAPES[product.shape]["columns"])
    return columns + [_PEER] if product.inputs else columns


def _write_product(root: Path, product: GeneratedProduct, readers: list[str]) -> None:
    folder = root / "domains" / product.domain
    contract = yaml.safe_dump(_contract(product, readers), sort_keys=False, width=110)
    (folder / f"{product.name}.odcs.yaml").write_text(contract)
    suite = json.dumps(_suite(product), indent=2) + "\n"
    (root / "expectations" / product.domain / f"{product.name}.json").write_text(suite)
    if product.inputs:
        base = [c[0] for c in _SHAPES[product.shape]["columns"]]
        peer = product.inputs[-1]
        body = _CONSUMER_TRANSFORM.format(primary=product.inputs[0], peer=peer, columns=base)
    else:
        body = _PRODUCER_TRANSFORMS[product.shape]
    (folder / f"{product.name}.py").write_text(_TRANSFORM_HEADER.format(product_id=product.id) + body)


def _contract(product: GeneratedProduct, readers: list[str]) -> dict:
    shape = _SHAPES[product.shape]
    keys, partition = shape["keys"], shape["partition"]
    domain, name = product.domain, product.name
    properties = []
    for column, logical, physical, description in _columns(product):
        prop: dict = {
            "name": column,
            "logicalType": logical,
            "physicalType": physical,
            "required": column != "campaign_name",
        }
        if column in keys:
            prop.update(primaryKey=True, primaryKeyPosition=keys.index(column) + 1)
        if column == partition:
            prop.update(partitioned=True, partitionKeyPosition=1)
        prop.update(
            classification="confidential" if column in ("cost", "amount") else "internal",
            description=description,
        )
        if column == partition:
            prop["customProperties"] = [{"property": "partitionGranularity", "value": "day"}]
        properties.append(prop)
    sla = [{"property": "latency", "value": 48 if product.inputs else 36, "unit": "h",
            "element": f"{name}.{partition}"}]  # fmt: skip
    if not product.inputs:
        sla.insert(0, {"property": "frequency", "value": "@daily"})
    custom: list[dict] = [{"property": "transform", "value": f"domains.{domain}.{name}:build"}]
    if product.inputs:
        custom.append({"property": "inputs", "value": list(product.inputs)})
    else:
        custom.append({"property": "sources", "value": [shape["source"]]})
    read_by = {"property": "domains", "value": readers} if readers else None
    warehouse = "${DATA_MESH_STORAGE_ROOT:-data/products}"
    return {
        "apiVersion": "v3.2.0",
        "kind": "DataContract",
        "id": f"urn:datacontract:{domain}:{name}",
        "name": name,
        "version": "1.0.0",
        "status": "active",
        "domain": domain,
        "tenant": "acme",
        "tags": ["generated", product.shape],
        "description": {
            "purpose": f"Generated {product.shape} product of the scale mesh ({product.id}).",
            "usage": "Scale tests and benchmarks of the platform (200 products, chained lineage).",
        },
        "team": {"name": f"{domain}-data", "members": [{"username": f"{domain}.owner", "role": "owner"}]},
        "support": [{"channel": f"#{domain}-data", "tool": "slack"}],
        "roles": [
            {
                "role": "readers",
                "access": "read",
                "description": "The next domain's DAGs (its consumers) and every signed-in person.",
                "customProperties": [
                    p for p in (read_by, {"property": "airflowRoles", "value": ["*"]}) if p is not None
                ],
            }
        ],
        "slaProperties": sla,
        "servers": [
            {
                "server": "mesh",
                "type": "iceberg",
                "environment": "production",
                "catalog": "mesh",
                "catalogUrl": "${DATA_MESH_CATALOG_URL:-sqlite:///data/metadata.db}",
                "namespace": domain,
                "warehouse": warehouse,
            },
            {
                "server": "local",
                "type": "local",
                "environment": "dev",
                "format": "parquet",
                "path": f"{warehouse}/{domain}/{name}/data/*/*.parquet",
            },
        ],  # fmt: skip
        "schema": [
            {
                "name": name,
                "physicalName": name,
                "physicalType": "table",
                "description": "One row per order." if product.shape == "orders" else "One row per ad day.",
                "quality": [
                    {
                        "type": "custom",
                        "engine": "great-expectations",
                        "implementation": f"{domain}/{name}.json",
                    }
                ],
                "properties": properties,
            }
        ],
        "customProperties": custom,
    }


def _suite(product: GeneratedProduct) -> dict:
    columns = [c[0] for c in _columns(product)]

    def expectation(kind: str, **kwargs: object) -> dict:
        return {"type": kind, "kwargs": kwargs, "meta": {}, "severity": "critical"}

    expectations = [
        expectation("expect_table_row_count_to_be_between", min_value=1, max_value=10_000_000),
        expectation("expect_table_columns_to_match_set", column_set=columns, exact_match=True),
        *(
            expectation("expect_column_values_to_not_be_null", column=c)
            for c in columns
            if c != "campaign_name"
        ),
    ]
    if product.shape == "orders":
        expectations.append(expectation("expect_column_values_to_be_unique", column="order_id"))
        expectations.append(
            expectation(
                "expect_column_values_to_match_regex", column="order_id", regex=r"^ord-[0-9]{8}-[0-9]{6}$"
            )
        )
    else:
        expectations.append(expectation("expect_column_values_to_be_between", column="cost", min_value=0))
    return {"name": product.id, "expectations": expectations}


if __name__ == "__main__":
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "generated-mesh")
    mesh = generate_mesh(target)
    print(f"{len(mesh.products)} products in {len(mesh.domains)} domains written to {target}")
