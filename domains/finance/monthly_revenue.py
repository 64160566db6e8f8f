"""Transform of finance.monthly_revenue: booked and order revenue, marketing spend and ROAS per region.

Upstream products (sales, marketing) are read through the platform's governed reader; the ledger
and the World Bank population come from this domain's own sources.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from data_mesh import TransformContext

REVENUE_ACCOUNT = "4000"
NOT_REVENUE = ["cancelled", "returned"]


def build(ctx: TransformContext) -> pd.DataFrame:
    import pandas as pd

    ledger = ctx.source("ledger", fields=["account", "region", "amount"])
    ledger["amount"] = pd.to_numeric(ledger["amount"], errors="coerce")
    booked = ledger[ledger["account"] == REVENUE_ACCOUNT].groupby("region")["amount"].sum()

    orders = ctx.read_input(
        "sales.customer_orders", columns=["order_id", "region", "customer_country", "status", "amount"]
    )
    sold = orders[~orders["status"].isin(NOT_REVENUE)].groupby("region")
    ads = ctx.read_input("marketing.ads_performance", columns=["region", "cost"])
    spend = ads.groupby("region")["cost"].sum()

    population = _population_by_region(
        ctx.source("population", fields=["countryiso3code", "date", "value"]), orders
    )

    out = pd.DataFrame(
        {
            "booked_revenue": booked,
            "order_revenue": sold["amount"].sum(),
            "orders": sold["order_id"].count(),
            "marketing_spend": spend,
            "population": population,
        }
    )
    out = out.rename_axis("region").reset_index()
    out[["booked_revenue", "order_revenue", "marketing_spend"]] = (
        out[["booked_revenue", "order_revenue", "marketing_spend"]].fillna(0.0).round(2)
    )
    out["orders"] = out["orders"].fillna(0).astype("int64")
    out["roas"] = (out["order_revenue"] / out["marketing_spend"].where(out["marketing_spend"] > 0)).round(4)
    people_millions = out["population"].where(out["population"] > 0) / 1_000_000
    out["revenue_per_million_people"] = (out["order_revenue"] / people_millions).round(2)
    out.insert(0, "month", ctx.window.key)
    return out


def _population_by_region(indicator: pd.DataFrame, orders: pd.DataFrame) -> pd.Series:
    """Latest World Bank population per country, summed over the sales regions of those countries."""
    import pandas as pd

    indicator = indicator.assign(value=pd.to_numeric(indicator["value"], errors="coerce")).dropna(
        subset=["value"]
    )
    latest = indicator.sort_values("date").groupby("countryiso3code")["value"].last()
    regions = orders.drop_duplicates("customer_country").set_index("customer_country")["region"]
    return latest.groupby(regions.reindex(latest.index)).sum().round().astype("int64")
