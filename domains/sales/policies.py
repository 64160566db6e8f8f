"""The sales domain's own policies, on top of the platform's global ones (`data-mesh check`).

Each is a function of the product's contract, made a policy by `data_mesh.policy`; its id starts
with the domain. An `error` blocks the DAG at parse, a `warning` is reported only.
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
