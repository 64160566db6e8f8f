"""Transform of marketing.ads_performance: one row per day, campaign and channel."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from data_mesh import TransformContext

FIELDS = [
    "date",
    "campaign.id",
    "campaign.name",
    "channel",
    "region",
    "metrics.impressions",
    "metrics.clicks",
    "metrics.cost_micros",
]


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
            # the ads platform reports micro-units of the account currency (USD)
            "cost": pd.to_numeric(rows["metrics.cost_micros"], errors="coerce") / 1_000_000,
        }
    )
