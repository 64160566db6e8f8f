"""Transform of sales.customer_orders: CRM orders joined with the customers who placed them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from data_mesh import TransformContext

TERRITORIES = Path(__file__).with_name("territories.csv")
ORDER_FIELDS = ["id", "created_at", "customer_id", "status", "total.amount", "total.currency", "line_items"]
CUSTOMER_FIELDS = ["id", "email", "country_code"]


def build(ctx: TransformContext) -> pd.DataFrame:
    import pandas as pd

    orders = ctx.source("orders", fields=ORDER_FIELDS)
    customers = ctx.source("customers", fields=CUSTOMER_FIELDS).rename(
        columns={"id": "customer_id", "email": "customer_email", "country_code": "customer_country"}
    )
    territories = pd.read_csv(TERRITORIES, dtype=str, keep_default_na=False)  # "NA" is a region
    joined = orders.merge(
        customers[["customer_id", "customer_email", "customer_country"]], on="customer_id", how="left"
    )
    joined = joined.merge(territories, left_on="customer_country", right_on="country_code", how="left")
    placed_at = pd.to_datetime(joined["created_at"], utc=True, errors="coerce")
    return pd.DataFrame(
        {
            "order_id": joined["id"],
            "order_date": placed_at.dt.date,
            "order_ts": placed_at,
            "customer_id": joined["customer_id"],
            "customer_email": joined["customer_email"].str.lower(),
            "customer_country": joined["customer_country"],
            "region": joined["region"],
            "status": joined["status"],
            "amount": pd.to_numeric(joined["total.amount"], errors="coerce"),
            "currency": joined["total.currency"],
            "items": pd.to_numeric(joined["line_items"], errors="coerce").astype("Int64"),
        }
    )
