"""The demo sources' query strings, checked parameter by parameter: a bad one is a 400 naming it.

Cursors are opaque and only valid for the query that issued them; the World Bank endpoint answers a
bad request as the real API does (a 200 with an error message body), so it has a parser of its own.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import date
from urllib.parse import parse_qsl

from demo.datasets import WB_FIRST_YEAR, WB_INDICATORS, WB_LAST_YEAR
from demo.world import COUNTRIES, ISO2_TO_ISO3


class BadRequest(Exception):
    """A data endpoint's query parameter is invalid (answered 400 with `{"error": ...}`)."""


class Query:
    """The query string of a request, validated parameter by parameter (unknown names are a 400 too)."""

    def __init__(self, raw: str, allowed: set[str] | None) -> None:
        self.values = dict(parse_qsl(raw, keep_blank_values=True))
        unknown = sorted(set(self.values) - allowed) if allowed is not None else []
        if unknown:
            raise BadRequest(f"unknown parameter {unknown[0]!r}")

    def day(self, name: str) -> str:
        raw = self.values.get(name)
        if raw is None:
            raise BadRequest(f"parameter {name!r} is required (YYYY-MM-DD)")
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            raise BadRequest(f"parameter {name!r} must be a date YYYY-MM-DD, got {raw[:40]!r}")
        try:
            return date.fromisoformat(raw).isoformat()
        except ValueError:
            raise BadRequest(f"parameter {name!r} is not a valid date: {raw!r}") from None

    def month(self, name: str) -> str:
        raw = self.values.get(name)
        if raw is None:
            raise BadRequest(f"parameter {name!r} is required (YYYY-MM)")
        match = re.fullmatch(r"(\d{4})-(\d{2})", raw)
        if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1900:
            raise BadRequest(f"parameter {name!r} must be a month YYYY-MM, got {raw[:40]!r}")
        return raw

    def integer(self, name: str, default: int, low: int, high: int | None = None) -> int:
        raw = self.values.get(name)
        if raw is None:
            return default
        if not re.fullmatch(r"\d{1,9}", raw) or int(raw) < low or (high is not None and int(raw) > high):
            bounds = f"between {low} and {high}" if high is not None else f">= {low}"
            raise BadRequest(f"parameter {name!r} must be an integer {bounds}, got {raw[:40]!r}")
        return int(raw)


def encode_cursor(scope: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{scope}|{offset}".encode()).decode().rstrip("=")


def decode_cursor(raw: str, scope: str) -> int:
    """A cursor is only valid for the query that issued it (same resource and day)."""
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        cursor_scope, offset = text.rsplit("|", 1)
        if cursor_scope != scope or not offset.isdigit() or encode_cursor(scope, int(offset)) != raw:
            raise ValueError  # only the exact string this server issued is accepted
        return int(offset)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadRequest("parameter 'cursor' is not a valid cursor for this query") from None


def worldbank_request(
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
