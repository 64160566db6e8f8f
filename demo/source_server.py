"""A deterministic HTTP server standing in for the four business systems the demo domains fetch from.

Sources (the key in brackets is what fault injection and request counters use):

* [ads] ads platform  ``GET /ads/v1/campaign-performance?date=&page=&page_size=`` (header ``X-Api-Key``)
* [crm] CRM           ``GET /crm/v1/orders?date=&limit=&cursor=`` and ``GET /crm/v1/customers?limit=&cursor=``
                      (header ``Authorization: Bearer ...``)
* [erp] ERP ledger    ``GET /erp/v1/ledger.csv?month=YYYY-MM`` (HTTP basic auth), streamed CSV
* [worldbank]         ``GET /v2/country/{codes}/indicator/{id}?format=json&page=&per_page=&date=`` (no auth),
                      the real World Bank API v2 body shape, including its 200-with-error-message answers.
* control (tests)     ``POST/DELETE /_control/faults`` (body: source, kind, count, retry_after, delay, skip,
                      probability; the kinds are in demo/faults.py), ``GET /_control/health``,
                      ``GET /_control/requests``
* alert receiver      ``POST /_control/webhook`` keeps the JSON body it gets (the platform's SLO alerts),
                      ``GET /_control/webhooks`` lists them oldest first, ``DELETE /_control/webhooks`` clears

Every answer is a pure function of (seed, scale, request): data comes from
``random.Random(f"{seed}:{key}")``, so two servers with the same seed serve identical pages and a retried
request gets exactly what the first one would have. Only the standard library is used, so the server runs
anywhere the platform does. Amounts are all in USD.

Run it: ``python -m demo.source_server --host 127.0.0.1 --port 8900 --seed 42 --scale 1``.
In tests: ``server = start_server(port=0)`` then ``server.url``, ``server.set_fault(...)``, ``server.stop()``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import calendar
import copy
import csv
import hmac
import io
import json
import math
import random
import re
import socket
import struct
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from demo.faults import (
    BODY_FAULTS,
    CURSOR_FAULTS,
    DATA_FAULTS,
    FAULT_KINDS,
    HANG_PIECES,
    SOURCES,
    TRANSPORT_FAULTS,
    Fault,
    FaultBook,
    ads_fault,
    customers_fault,
    fault_spec,
    ledger_fault,
    orders_fault,
    worldbank_fault,
)
from demo.world import COUNTRIES, COUNTRY_REGIONS, ISO2_TO_ISO3, REGIONS

__all__ = ["FAULT_KINDS", "SOURCES", "DemoSourceServer", "DemoWorld", "Fault", "start_server"]

ADS_API_KEY = "demo-ads-key"
CRM_TOKEN = "demo-crm-token"
ERP_USER, ERP_PASSWORD = "finance", "demo-erp-password"

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

# --------------------------------------------------------------------------------------------- data


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
                "created_at": _iso_z(start + timedelta(seconds=offset)),
            }
        )
    return tuple(rows)


def _iso_z(moment: datetime) -> str:
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
                "created_at": _iso_z(midnight + timedelta(seconds=second)),
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


# ------------------------------------------------------------------------------------------- faults


class _State:
    """What the request handlers share: the world, the pending faults and the request counters."""

    def __init__(self, seed: int, scale: float, quiet: bool) -> None:
        self.world = DemoWorld(seed, scale)
        self.quiet = quiet
        self.lock = threading.Lock()
        self.faults = FaultBook(seed)
        self.requests: dict[str, int] = dict.fromkeys(SOURCES, 0)
        self.webhooks: list[dict[str, Any]] = []  # what POST /_control/webhook received

    def count(self, source: str) -> None:
        with self.lock:
            self.requests[source] += 1

    def add_fault(self, fault: Fault) -> None:
        self.faults.add(fault)

    def clear_faults(self) -> None:
        self.faults.clear()

    def take(self, source: str, kinds: frozenset[str]) -> Fault | None:
        """The pending fault of one of `kinds` this request of `source` suffers (see demo.faults)."""
        return self.faults.take(source, kinds)


# ------------------------------------------------------------------------------------------ handler


class _BadRequest(Exception):
    """A data endpoint's query parameter is invalid (answered 400 with `{"error": ...}`)."""


class _Query:
    """The query string of a request, validated parameter by parameter (unknown names are a 400 too)."""

    def __init__(self, raw: str, allowed: set[str] | None) -> None:
        self.values = dict(parse_qsl(raw, keep_blank_values=True))
        unknown = sorted(set(self.values) - allowed) if allowed is not None else []
        if unknown:
            raise _BadRequest(f"unknown parameter {unknown[0]!r}")

    def day(self, name: str) -> str:
        raw = self.values.get(name)
        if raw is None:
            raise _BadRequest(f"parameter {name!r} is required (YYYY-MM-DD)")
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            raise _BadRequest(f"parameter {name!r} must be a date YYYY-MM-DD, got {raw[:40]!r}")
        try:
            return date.fromisoformat(raw).isoformat()
        except ValueError:
            raise _BadRequest(f"parameter {name!r} is not a valid date: {raw!r}") from None

    def month(self, name: str) -> str:
        raw = self.values.get(name)
        if raw is None:
            raise _BadRequest(f"parameter {name!r} is required (YYYY-MM)")
        match = re.fullmatch(r"(\d{4})-(\d{2})", raw)
        if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1900:
            raise _BadRequest(f"parameter {name!r} must be a month YYYY-MM, got {raw[:40]!r}")
        return raw

    def integer(self, name: str, default: int, low: int, high: int | None = None) -> int:
        raw = self.values.get(name)
        if raw is None:
            return default
        if not re.fullmatch(r"\d{1,9}", raw) or int(raw) < low or (high is not None and int(raw) > high):
            bounds = f"between {low} and {high}" if high is not None else f">= {low}"
            raise _BadRequest(f"parameter {name!r} must be an integer {bounds}, got {raw[:40]!r}")
        return int(raw)


def _encode_cursor(scope: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{scope}|{offset}".encode()).decode().rstrip("=")


def _decode_cursor(raw: str, scope: str) -> int:
    """A cursor is only valid for the query that issued it (same resource and day)."""
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        cursor_scope, offset = text.rsplit("|", 1)
        if cursor_scope != scope or not offset.isdigit() or _encode_cursor(scope, int(offset)) != raw:
            raise ValueError  # only the exact string this server issued is accepted
        return int(offset)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _BadRequest("parameter 'cursor' is not a valid cursor for this query") from None


_ROUTES = {
    "/ads/v1/campaign-performance": ("ads", "_ads"),
    "/crm/v1/orders": ("crm", "_crm_orders"),
    "/crm/v1/customers": ("crm", "_crm_customers"),
    "/erp/v1/ledger.csv": ("erp", "_erp_ledger"),
}
_WORLDBANK_PATH = re.compile(r"^/v2/country/(?P<codes>[^/]+)/indicator/(?P<indicator>[^/]+)/?$")
_SECRET_PARAM = re.compile(r"(?i)([?&][^=&]*(?:key|token|password|secret|signature)[^=&]*=)[^&]*")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so a requests.Session reuses its connection
    timeout = 30  # idle keep-alive connections are dropped, their threads end
    server_version = "DemoSource/1.0"
    state: _State  # set on the subclass start_server creates

    # ---------------------------------------------------------------- plumbing

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # One line per request: method, path (secret-looking query values masked), status. Never headers.
        if not self.state.quiet:
            path = _SECRET_PARAM.sub(r"\1***", self.path)
            sys.stderr.write(f"[demo-source] {self.command} {path} {code}\n")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if not self.state.quiet:
            sys.stderr.write("[demo-source] " + (format % args) + "\n")

    def _send_bytes(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(
        self, status: int, obj: Any, *, truncate: bool = False, headers: dict | None = None
    ) -> None:
        body = json.dumps(obj, separators=(",", ":")).encode()
        if truncate:  # a body cut in the middle: what a crashing upstream or a broken proxy produces
            body = body[: max(1, len(body) // 2)]
        self._send_bytes(status, body, "application/json; charset=utf-8", headers)

    def _send_data(self, source: str, obj: Any, *, malformed: bool) -> None:
        """A data endpoint's 200 answer, unless a body fault (truncated, hang) breaks its delivery."""
        fault = self.state.take(source, BODY_FAULTS)
        if fault is None:
            return self._send_json(200, obj, truncate=malformed)
        body = json.dumps(obj, separators=(",", ":")).encode()
        if malformed:
            body = body[: max(1, len(body) // 2)]
        half = max(1, len(body) // 2)
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))  # the full length: the client can tell
            self.end_headers()
            self.wfile.write(body[:half])
            if fault.kind == "truncated":
                return self._drop_connection()
            rest = body[half:]
            step = max(1, -(-len(rest) // HANG_PIECES))
            for start in range(0, len(rest), step):
                if not self.state.faults.wait(float(fault.delay or 0)):
                    return self._drop_connection()
                self.wfile.write(rest[start : start + step])
        except OSError:  # the client gave up waiting
            return self._drop_connection()
        return None

    def _drop_connection(self, reset: bool = False) -> None:
        """End this connection now, with no (further) answer; `reset` sends a TCP RST instead of a FIN."""
        self.close_connection = True
        try:
            if reset:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
            self.connection.close()
        except OSError:
            pass

    def _error(self, status: int, message: str, headers: dict | None = None) -> None:
        self._send_json(status, {"error": message}, headers=headers)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch()

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch()

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        if url.path.startswith("/_control/"):
            return self._control(url.path)
        body = self.headers.get("Content-Length")
        if body and body.isdigit():
            self.rfile.read(int(body))  # drain, so the keep-alive connection stays in sync
        match = _WORLDBANK_PATH.match(url.path)
        if match:
            source, action = "worldbank", "_worldbank"
        elif url.path in _ROUTES:
            source, action = _ROUTES[url.path]
        else:
            return self._error(404, f"no such endpoint {url.path[:100]!r}")
        self.state.count(source)
        if self.command != "GET":
            return self._error(405, f"{self.command} not allowed; use GET")
        if not self._transport_fault(source):
            return None
        if not self._authorized(source):
            return self._unauthorized(source)
        try:
            getattr(self, action)(url.query, **(match.groupdict() if match else {}))
        except _BadRequest as exc:
            self._error(400, str(exc))
        return None

    def _transport_fault(self, source: str) -> bool:
        """Apply a pending transport fault (demo.faults); False when the request was answered or dropped."""
        fault = self.state.take(source, TRANSPORT_FAULTS)
        if fault is None:
            return True
        if fault.kind == "connection_reset":
            self._drop_connection(reset=True)
            return False
        if fault.kind == "rate_limit":
            retry_after = {"Retry-After": str(fault.retry_after)}
            body = {"error": "rate limit exceeded, retry later", "retry_after": fault.retry_after}
            self._send_json(429, body, headers=retry_after)
            return False
        if fault.kind == "server_error":
            self._error(503, "service temporarily unavailable")
            return False
        self.state.faults.wait(float(fault.delay or 0))  # slow
        return True

    def _authorized(self, source: str) -> bool:
        if source == "ads":
            return hmac.compare_digest(self.headers.get("X-Api-Key", "").encode(), ADS_API_KEY.encode())
        if source == "crm":
            expected = f"Bearer {CRM_TOKEN}".encode()
            return hmac.compare_digest(self.headers.get("Authorization", "").encode(), expected)
        if source == "erp":
            expected = "Basic " + base64.b64encode(f"{ERP_USER}:{ERP_PASSWORD}".encode()).decode()
            return hmac.compare_digest(self.headers.get("Authorization", "").encode(), expected.encode())
        return True

    def _unauthorized(self, source: str) -> None:
        if source == "erp":
            self._error(401, "authentication required", headers={"WWW-Authenticate": 'Basic realm="erp"'})
        elif source == "ads":
            self._error(401, "missing or invalid API key (X-Api-Key header)")
        else:
            self._error(401, "missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"})

    # ---------------------------------------------------------------- sources

    def _ads(self, raw_query: str) -> None:
        query = _Query(raw_query, {"date", "page", "page_size"})
        day = query.day("date")
        page = query.integer("page", 1, 1)
        page_size = query.integer("page_size", 100, 1, 1000)
        rows = self.state.world.ads(day)
        data = list(rows[(page - 1) * page_size : page * page_size])
        fault = self.state.take("ads", DATA_FAULTS)
        kind = fault.kind if fault else None
        if kind:
            data = ads_fault(data, kind)
        body = {
            "data": data,
            "page": page,
            "page_size": page_size,
            "total_pages": math.ceil(len(rows) / page_size),
            "total": len(rows),
        }
        self._send_data("ads", body, malformed=kind == "malformed")

    def _cursor_page(self, query: _Query, scope: str, rows: tuple[dict, ...], mutate: Any) -> None:
        limit = query.integer("limit", 100, 1, 1000)
        raw_cursor = query.values.get("cursor")
        offset = _decode_cursor(raw_cursor, scope) if raw_cursor else 0
        data = list(rows[offset : offset + limit])
        following = offset + limit
        fault = self.state.take("crm", DATA_FAULTS)
        kind = fault.kind if fault else None
        if kind:
            data = mutate(data, kind)
        next_cursor = _encode_cursor(scope, following) if following < len(rows) else None
        if raw_cursor and self.state.take("crm", CURSOR_FAULTS):
            next_cursor = raw_cursor  # the same page again, forever
        body = {"data": data, "next_cursor": next_cursor}
        self._send_data("crm", body, malformed=kind == "malformed")

    def _crm_orders(self, raw_query: str) -> None:
        query = _Query(raw_query, {"date", "limit", "cursor"})
        day = query.day("date")
        self._cursor_page(query, f"orders:{day}", self.state.world.orders(day), orders_fault)

    def _crm_customers(self, raw_query: str) -> None:
        query = _Query(raw_query, {"limit", "cursor"})
        self._cursor_page(query, "customers", self.state.world.customers(), customers_fault)

    def _erp_ledger(self, raw_query: str) -> None:
        month = _Query(raw_query, {"month"}).month("month")
        fault = self.state.take("erp", DATA_FAULTS)
        kind = fault.kind if fault else None
        header = list(LEDGER_HEADER)
        if kind == "schema_drift":
            header.remove("region")
        self.send_response(200)
        self.send_header("Content-Type", "text/csv; charset=utf-8")
        self.send_header("Content-Disposition", f'attachment; filename="ledger-{month}.csv"')
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        delivery = self.state.take("erp", BODY_FAULTS)  # truncated: one chunk; hang: `delay` s per chunk
        chunks = 0
        try:
            for i, row in enumerate(ledger_fault(self.state.world.ledger(month), kind, REGION_AT)):
                if kind == "malformed" and i == 500:  # the export dies half-way through a line
                    buffer.write(",".join(row)[:30])
                    break
                writer.writerow(row)
                if buffer.tell() >= 64 * 1024:
                    if delivery and chunks and not self._chunk_fault(delivery):
                        return None
                    self._write_chunk(buffer)
                    chunks += 1
            if delivery and chunks and not self._chunk_fault(delivery):
                return None
            self._write_chunk(buffer)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client hung up mid-export
            self._drop_connection()
        return None

    def _chunk_fault(self, fault: Fault) -> bool:
        """Before a further CSV chunk: False (connection dropped) when truncated or the wait failed."""
        if fault.kind == "truncated" or not self.state.faults.wait(float(fault.delay or 0)):
            self._drop_connection()
            return False
        return True

    def _write_chunk(self, buffer: io.StringIO) -> None:
        data = buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
        if data:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def _worldbank(self, raw_query: str, codes: str, indicator: str) -> None:
        request = _worldbank_request(raw_query, codes, indicator)
        if request is None:  # the real API answers 200 with an error message for a request it rejects
            return self._send_json(200, WB_ERROR_BODY)
        iso3_codes, first, last, page, per_page = request
        rows = self.state.world.worldbank_rows(indicator, iso3_codes, first, last)
        data = rows[(page - 1) * per_page : page * per_page]
        fault = self.state.take("worldbank", DATA_FAULTS)
        kind = fault.kind if fault else None
        if kind:
            data = worldbank_fault(data, kind)
        meta = {
            "page": page,
            "pages": math.ceil(len(rows) / per_page),
            "per_page": per_page,
            "total": len(rows),
            "sourceid": "2",
            "lastupdated": WB_LAST_UPDATED,
        }
        return self._send_data("worldbank", [meta, data or None], malformed=kind == "malformed")

    # ---------------------------------------------------------------- control

    def _control(self, path: str) -> None:
        if path == "/_control/health" and self.command == "GET":
            return self._send_json(200, {"status": "ok"})
        if path in ("/_control/webhook", "/_control/webhooks"):
            return self._webhooks(path)
        if path == "/_control/requests" and self.command == "GET":
            with self.state.lock:
                return self._send_json(200, dict(self.state.requests))
        if path != "/_control/faults":
            return self._error(404, f"no such control endpoint {path!r}")
        if self.command == "DELETE":
            self.state.clear_faults()
            return self._send_json(200, {"faults": []})
        if self.command != "POST":
            return self._error(405, f"{self.command} not allowed on {path}")
        try:
            length = int(self.headers.get("Content-Length") or 0)
            fault = fault_spec(json.loads(self.rfile.read(length) or b"{}"))
        except (ValueError, TypeError) as exc:
            return self._error(400, str(exc))
        self.state.add_fault(fault)
        return self._send_json(201, {"source": fault.source, "kind": fault.kind, "count": fault.count})

    def _webhooks(self, path: str) -> None:
        """The alert receiver: POST /_control/webhook keeps the body (and whether a bearer token came)."""
        if path == "/_control/webhooks" and self.command in ("GET", "DELETE"):
            with self.state.lock:
                received = list(self.state.webhooks)
                if self.command == "DELETE":
                    self.state.webhooks.clear()
            return self._send_json(200, {"webhooks": received, "total": len(received)})
        if path != "/_control/webhook" or self.command != "POST":
            return self._error(405, f"{self.command} not allowed on {path}")
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
        except ValueError:
            return self._error(400, "the body must be JSON")
        entry = {
            "received_at": _iso_z(datetime.now(UTC)),
            "authorization": self.headers.get("Authorization"),
            "body": body,
        }
        with self.state.lock:
            self.state.webhooks.append(entry)
        return self._send_json(201, {"received": len(self.state.webhooks)})


def _worldbank_request(
    raw_query: str, codes: str, indicator: str
) -> tuple[list[str], int, int, int, int] | None:
    """(iso3 codes, first year, last year, page, per_page) of a valid request; None for an invalid one."""
    query = dict(parse_qsl(raw_query, keep_blank_values=True))
    iso3_codes = _worldbank_countries(codes)
    years = _worldbank_years(query.get("date"))
    page, per_page = query.get("page", "1"), query.get("per_page", "50")
    valid = (
        indicator in WB_INDICATORS
        and query.get("format", "").lower() == "json"
        and iso3_codes is not None
        and years is not None
        and re.fullmatch(r"[1-9]\d{0,6}", page) is not None
        and re.fullmatch(r"[1-9]\d{0,4}", per_page) is not None
    )
    if not valid:
        return None
    assert iso3_codes is not None and years is not None
    return iso3_codes, years[0], years[1], int(page), int(per_page)


def _worldbank_countries(codes: str) -> list[str] | None:
    if codes.lower() == "all":
        return list(COUNTRIES)
    out = []
    for code in codes.upper().split(";"):
        iso3 = code if code in COUNTRIES else ISO2_TO_ISO3.get(code)
        if iso3 is None:
            return None
        if iso3 not in out:
            out.append(iso3)
    return out


def _worldbank_years(raw: str | None) -> tuple[int, int] | None:
    if raw is None:
        return WB_FIRST_YEAR, WB_LAST_YEAR
    match = re.fullmatch(r"(\d{4})(?::(\d{4}))?", raw)
    if not match:
        return None
    first = int(match.group(1))
    last = int(match.group(2) or first)
    return (first, last) if first <= last else None


# ---------------------------------------------------------------------------------------- server API


class DemoSourceServer:
    """A running demo server: its base `url`, fault injection and per-source request counters."""

    def __init__(self, httpd: ThreadingHTTPServer, state: _State, thread: threading.Thread | None) -> None:
        self._httpd, self._state, self._thread = httpd, state, thread
        host, port = httpd.server_address[:2]
        self.host, self.port = str(host), int(port)
        self.url = f"http://{self.host}:{self.port}"

    @property
    def world(self) -> DemoWorld:
        """The data this server serves; tests compare what they fetched against it."""
        return self._state.world

    @property
    def requests(self) -> dict[str, int]:
        """How many requests each source received so far (a snapshot), faulted and rejected ones included."""
        with self._state.lock:
            return dict(self._state.requests)

    def reset_requests(self) -> None:
        with self._state.lock:
            self._state.requests.update(dict.fromkeys(SOURCES, 0))

    def set_fault(
        self,
        source: str,
        kind: str,
        count: int = 1,
        *,
        retry_after: int = 1,
        delay: float | None = None,
        skip: int = 0,
        probability: float = 1.0,
    ) -> None:
        """Make the next `count` requests of `source` ("*" = all) misbehave; -1 = until `clear_faults()`.

        The first `skip` matching requests pass untouched; each later one is hit with `probability`
        (deterministic draws). `kind` is one of FAULT_KINDS (see demo.faults).
        """
        self._state.add_fault(Fault(source, kind, count, retry_after, delay, skip, probability))

    def clear_faults(self) -> None:
        self._state.clear_faults()

    def webhooks(self) -> list[dict[str, Any]]:
        """What `POST /_control/webhook` received, oldest first: {received_at, authorization, body}."""
        with self._state.lock:
            return copy.deepcopy(self._state.webhooks)

    def clear_webhooks(self) -> None:
        with self._state.lock:
            self._state.webhooks.clear()

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._state.faults.stopping.set()  # hanging answers end now
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> DemoSourceServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _build(host: str, port: int, seed: int, scale: float, quiet: bool) -> tuple[ThreadingHTTPServer, _State]:
    if not scale > 0:
        raise ValueError("scale must be > 0")
    state = _State(seed, scale, quiet)
    handler = type("DemoSourceHandler", (_Handler,), {"state": state})
    httpd = ThreadingHTTPServer((host, port), handler)
    httpd.daemon_threads = True
    return httpd, state


def start_server(
    host: str = "127.0.0.1", port: int = 0, seed: int = 42, scale: float = 1, *, quiet: bool = False
) -> DemoSourceServer:
    """Start the server on a background thread (port 0 = any free port); it accepts requests on return."""
    httpd, state = _build(host, port, seed, scale, quiet)
    thread = threading.Thread(target=httpd.serve_forever, name="demo-source-server", daemon=True)
    thread.start()
    return DemoSourceServer(httpd, state, thread)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--scale", type=float, default=1)
    parser.add_argument("--quiet", action="store_true", help="do not log one line per request")
    args = parser.parse_args(argv)
    httpd, state = _build(args.host, args.port, args.seed, args.scale, args.quiet)
    server = DemoSourceServer(httpd, state, None)
    sys.stderr.write(f"[demo-source] serving on {server.url} (seed={args.seed}, scale={args.scale})\n")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
