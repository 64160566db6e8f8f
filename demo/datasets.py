"""What the demo sources serve: a pure function of (seed, scale, request) (see `DemoWorld`).

Data comes from ``random.Random(f"{seed}:{key}")``, so two servers with the same seed serve identical
pages and a retried request gets exactly what the first one would have; tests use `DemoWorld` as the
expected answer. Standard library only. Amounts are all in USD.
"""

from __future__ import annotations

import calendar
import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from demo.world import COUNTRIES, COUNTRY_REGIONS, REGIONS

LEDGER_HEADER = ("entry_id", "posting_date", "account", "account_name", "region", "amount", "currency")
REGION_AT = LEDGER_HEADER.index("region")
WB_INDICATORS: dict[str, str] = {
    "SP.POP.TOTL": "Population, total",
    "NY.GDP.MKTP.CD": "GDP (current US$)",
    "NY.GDP.PCAP.CD": "GDP per capita (current US$)",
}
WB_FIRST_YEAR, WB_LAST_YEAR = 1990, 2024
WB_LAST_UPDATED = "2025-07-01"
WB_ERROR_BODY = [
    {"message": [{"id": "120", "key": "Invalid value", "value": "The provided parameter value is not valid"}]}
]


def _rng(seed: int, key: str) -> random.Random:
    return random.Random(f"{seed}:{key}")


def _money(value: float) -> str:
    return str(Decimal(value).quantize(Decimal("0.01")))


ADS_CHANNELS = ("search", "social", "display", "video", "email")
# channel -> (median daily impressions, click-through rate, cost per click US$, cost per mille US$)
_CHANNEL_PROFILE = {
    "search": (4000, 0.045, 1.20, 0.0),
    "social": (12000, 0.012, 0.60, 0.0),
    "display": (30000, 0.004, 0.0, 2.50),
    "video": (8000, 0.008, 0.0, 9.00),
    "email": (2500, 0.030, 0.10, 0.0),
}
_CAMPAIGN_WORDS = (
    ("Brand", "Holiday", "Spring", "Summer", "Back to School", "Black Friday", "Evergreen", "Launch"),
    ("Awareness", "Prospecting", "Retargeting", "Loyalty", "Promo", "Conversion"),
)
_FIRST = (
    "anna",
    "ben",
    "carla",
    "dev",
    "elena",
    "farid",
    "grace",
    "hiro",
    "ines",
    "jonas",
    "kemi",
    "liam",
    "maria",
    "noah",
    "olga",
    "priya",
    "quinn",
    "rosa",
    "sven",
    "tariq",
    "uma",
    "victor",
    "wei",
    "yara",
)
_LAST = (
    "smith",
    "garcia",
    "mueller",
    "rossi",
    "kim",
    "tanaka",
    "silva",
    "nowak",
    "dubois",
    "okafor",
    "singh",
    "chen",
    "larsen",
    "haddad",
    "brown",
    "lopez",
    "jansen",
    "kowalski",
    "novak",
    "ali",
)
_ORDER_STATUSES = ("placed", "shipped", "delivered", "cancelled", "returned")
_ORDER_STATUS_WEIGHTS = (15, 20, 50, 8, 7)
_COUNTRY_WEIGHTS = {"USA": 8, "DEU": 4, "GBR": 4, "FRA": 3, "BRA": 3, "IND": 3, "JPN": 3, "CAN": 2, "MEX": 2}


@lru_cache(maxsize=8)
def _campaigns(seed: int, scale: float) -> tuple[tuple[str, str, str], ...]:
    rng = _rng(seed, "ads:campaigns")
    out = []
    for i in range(1, max(1, round(300 * scale)) + 1):
        region = rng.choice(REGIONS)
        name = f"{rng.choice(_CAMPAIGN_WORDS[0])} {rng.choice(_CAMPAIGN_WORDS[1])} {region} #{i}"
        out.append((f"cmp-{i:04d}", name, region))
    return tuple(out)


def _ad_metrics(rng: random.Random, channel: str) -> dict[str, int]:
    median, ctr, cpc, cpm = _CHANNEL_PROFILE[channel]
    impressions = max(1, int(rng.lognormvariate(math.log(median), 0.7)))
    clicks = min(impressions, int(impressions * ctr * rng.uniform(0.5, 1.5)))
    cost = (clicks * cpc + impressions / 1000 * cpm) * rng.uniform(0.8, 1.2)
    return {"impressions": impressions, "clicks": clicks, "cost_micros": int(cost * 1_000_000)}


@lru_cache(maxsize=32)
def ads_day(seed: int, scale: float, day: str) -> tuple[dict[str, Any], ...]:
    """Campaign x channel performance of one day; ~85 % of the 300*scale*5 combinations ran."""
    rng = _rng(seed, f"ads:{day}")
    rows = []
    for cid, name, region in _campaigns(seed, scale):
        for channel in ADS_CHANNELS:
            if rng.random() >= 0.85:
                continue
            rows.append(
                {
                    "date": day,
                    "campaign": {"id": cid, "name": name},
                    "channel": channel,
                    "region": region,
                    "metrics": _ad_metrics(rng, channel),
                }
            )
    return tuple(rows)


def customer_count(scale: float) -> int:
    return max(1, round(5000 * scale))


@lru_cache(maxsize=8)
def customers(seed: int, scale: float) -> tuple[dict[str, Any], ...]:
    """The CRM's customer master; ids are dense (cus-000001 ...) so orders can reference any of them."""
    rng = _rng(seed, "crm:customers")
    codes = list(COUNTRY_REGIONS)
    weights = [_COUNTRY_WEIGHTS.get(c, 1) for c in codes]
    n = customer_count(scale)
    start = datetime(2018, 1, 1, tzinfo=UTC)
    span = int((datetime(2026, 1, 1, tzinfo=UTC) - start).total_seconds())
    offsets = sorted(rng.randrange(span) for _ in range(n))
    rows = []
    for i, offset in enumerate(offsets, 1):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        rows.append(
            {
                "id": f"cus-{i:06d}",
                "email": f"{first}.{last}{i}@example.com",
                "country_code": rng.choices(codes, weights)[0],
                "created_at": iso_z(start + timedelta(seconds=offset)),
            }
        )
    return tuple(rows)


def iso_z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@lru_cache(maxsize=32)
def orders_day(seed: int, scale: float, day: str) -> tuple[dict[str, Any], ...]:
    """The orders created on one day (~2,000*scale), in creation order."""
    rng = _rng(seed, f"crm:orders:{day}")
    n = max(1, round(2000 * scale * rng.uniform(0.9, 1.1)))
    n_customers = customer_count(scale)
    midnight = datetime.fromisoformat(day).replace(tzinfo=UTC)
    compact = day.replace("-", "")
    rows = []
    for i, second in enumerate(sorted(rng.randrange(86400) for _ in range(n)), 1):
        line_items = rng.choices((1, 2, 3, 4, 5, 6), (40, 25, 15, 10, 6, 4))[0]
        amount = sum(rng.uniform(5, 250) for _ in range(line_items))
        rows.append(
            {
                "id": f"ord-{compact}-{i:06d}",
                "created_at": iso_z(midnight + timedelta(seconds=second)),
                "customer_id": f"cus-{rng.randint(1, n_customers):06d}",
                "status": rng.choices(_ORDER_STATUSES, _ORDER_STATUS_WEIGHTS)[0],
                "total": {"amount": _money(amount), "currency": "USD"},
                "line_items": line_items,
            }
        )
    return tuple(rows)


# account -> (name, sign, entries per region per day as (low, high), typical amount)
_ACCOUNTS = {
    "4000": ("Revenue", 1, (10, 16), 3000.0),
    "5000": ("COGS", -1, (5, 8), 2000.0),
    "6100": ("Marketing", -1, (2, 4), 1200.0),
}
_SALARY_DEPARTMENTS = 20


def ledger_rows(seed: int, scale: float, month: str) -> Iterator[list[str]]:
    """GL lines of one month in posting order: daily revenue/COGS/marketing, salaries on the 25th."""
    rng = _rng(seed, f"erp:ledger:{month}")
    year, mon = int(month[:4]), int(month[5:7])
    compact = f"{year:04d}{mon:02d}"
    seq = 0
    for day in range(1, calendar.monthrange(year, mon)[1] + 1):
        posting = f"{year:04d}-{mon:02d}-{day:02d}"
        for region in REGIONS:
            for account, count, typical in _ledger_day_plan(rng, scale, day):
                name, sign = (_ACCOUNTS[account][:2]) if account in _ACCOUNTS else ("Salaries", -1)
                for _ in range(count):
                    seq += 1
                    amount = sign * typical * rng.lognormvariate(0, 0.5)
                    yield [f"JE-{compact}-{seq:06d}", posting, account, name, region, _money(amount), "USD"]


def _ledger_day_plan(rng: random.Random, scale: float, day: int) -> list[tuple[str, int, float]]:
    plan = [
        (account, max(1, round(rng.randint(*counts) * scale)), typical)
        for account, (_name, _sign, counts, typical) in _ACCOUNTS.items()
    ]
    if day == 25:
        plan.append(("6200", max(1, round(_SALARY_DEPARTMENTS * scale)), 60000.0))
    return plan


@lru_cache(maxsize=8)
def worldbank_series(seed: int) -> dict[tuple[str, str], dict[int, float | int | None]]:
    """(indicator, iso3) -> {year: value}; walked back from 2024 sizes, with a few missing observations."""
    out: dict[tuple[str, str], dict[int, float | int | None]] = {}
    for iso3, (_iso2, _name, pop_m, gdp_b) in COUNTRIES.items():
        rng = _rng(seed, f"worldbank:{iso3}")
        pop, gdp = pop_m * 1e6, gdp_b * 1e9
        pop_growth = rng.uniform(-0.002, 0.025)
        gdp_growth = rng.uniform(0.02, 0.08)
        pops: dict[int, float | int | None] = {}
        gdps: dict[int, float | int | None] = {}
        pcap: dict[int, float | int | None] = {}
        for year in range(WB_LAST_YEAR, WB_FIRST_YEAR - 1, -1):
            pops[year] = None if rng.random() < 0.01 else int(pop)
            gdps[year] = None if rng.random() < 0.04 else round(gdp, 2)
            pcap[year] = None if pops[year] is None or gdps[year] is None else round(gdp / pop, 2)
            pop /= 1 + pop_growth * rng.uniform(0.7, 1.3)
            gdp /= 1 + gdp_growth + rng.gauss(0, 0.06)
        out[("SP.POP.TOTL", iso3)] = pops
        out[("NY.GDP.MKTP.CD", iso3)] = gdps
        out[("NY.GDP.PCAP.CD", iso3)] = pcap
    return out


class DemoWorld:
    """The data every source serves, as a function of (seed, scale); tests use it as the expected answer."""

    def __init__(self, seed: int = 42, scale: float = 1) -> None:
        self.seed, self.scale = seed, scale

    def ads(self, day: str) -> tuple[dict[str, Any], ...]:
        return ads_day(self.seed, self.scale, day)

    def orders(self, day: str) -> tuple[dict[str, Any], ...]:
        return orders_day(self.seed, self.scale, day)

    def customers(self) -> tuple[dict[str, Any], ...]:
        return customers(self.seed, self.scale)

    def ledger(self, month: str) -> Iterator[list[str]]:
        return ledger_rows(self.seed, self.scale, month)

    def worldbank_rows(self, indicator: str, iso3_codes: list[str], first: int, last: int) -> list[dict]:
        """Rows as the World Bank API shapes them: countries by name, years descending."""
        series = worldbank_series(self.seed)
        rows = []
        for iso3 in sorted(iso3_codes, key=lambda c: COUNTRIES[c][1]):
            iso2, name = COUNTRIES[iso3][:2]
            for year in range(min(last, WB_LAST_YEAR), max(first, WB_FIRST_YEAR) - 1, -1):
                rows.append(
                    {
                        "indicator": {"id": indicator, "value": WB_INDICATORS[indicator]},
                        "country": {"id": iso2, "value": name},
                        "countryiso3code": iso3,
                        "date": str(year),
                        "value": series[(indicator, iso3)][year],
                        "unit": "",
                        "obs_status": "",
                        "decimal": 0,
                    }
                )
        return rows
