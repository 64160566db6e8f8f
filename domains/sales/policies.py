"""The sales domain's own policies, on top of the platform's global ones (`data-mesh check`).

Each is made a policy by `data_mesh.policy`; its id starts with the domain. A policy on the contract
runs at DAG parse (an `error` blocks the DAG); one `on="data"` runs on every batch at publish
(`ctx.data`, an Arrow table: an `error` rejects the batch to quarantine). A `warning` is reported only.
"""

from __future__ import annotations

from collections.abc import Iterator

from data_mesh import PolicyContext, ProductSpec, Violation, policy


@policy("sales.amount-has-currency", "Every money amount travels with its ISO 4217 currency column.")
def amount_has_currency(spec: ProductSpec, ctx: PolicyContext) -> Iterator[Violation]:
    names = set(spec.column_names)
    for column in spec.columns:
        if column.name.endswith("amount") and "currency" not in names:
            yield Violation(f"column {column.name}", "a money amount needs a `currency` column beside it")


@policy(
    "sales.daily-partitions",
    "Sales products are partitioned by day, so a late order rebuilds one day.",
    "warning",
)
def daily_partitions(spec: ProductSpec, ctx: PolicyContext) -> Iterator[Violation]:
    if spec.partitioning.granularity != "day":
        yield Violation("schema[0].properties", f"partitioned by {spec.partitioning.granularity}, not day")


@policy(
    "sales.usd-amounts",
    "Sales amounts are invoiced in USD (the contracts say so): another currency is flagged at publish.",
    "warning",
    on="data",
)
def usd_amounts(spec: ProductSpec, ctx: PolicyContext) -> Iterator[Violation]:
    import pyarrow.compute as pc

    if "currency" not in ctx.data.column_names:
        return
    others = pc.sum(pc.invert(pc.equal(ctx.data.column("currency"), "USD"))).as_py() or 0
    if others:
        yield Violation("column currency", f"{others} row(s) in another currency than USD")
