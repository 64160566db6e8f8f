"""Fault injection for the demo source server: what a misbehaving business system does, on request.

Kinds, by the stage of the answer they break:

* transport, before any answer: ``rate_limit`` (429 + ``Retry-After``), ``server_error`` (503),
  ``slow`` (answers after ``delay`` s, default 1), ``connection_reset`` (the socket is closed with a
  TCP reset, no answer at all);
* body, while the answer is sent: ``truncated`` (a 200 announcing the full ``Content-Length``, or a
  chunked CSV, of which only the first half / first chunk arrives before the connection closes),
  ``hang`` (headers and the first half of the body, then the rest in 16 pieces ``delay`` s apart;
  the default ``delay`` of 3600 s is a source that stops answering mid-body);
* data, in a complete answer: ``malformed`` (a well-framed 200 whose JSON/CSV is cut in the middle),
  ``schema_drift``, ``null_keys``, ``out_of_range`` (see the mutators below), ``cursor_loop`` (a
  cursor page answers with the cursor it was asked for as its next cursor: the same page forever;
  only requests that carry a cursor are affected, so the first page is always sound).

Which requests: a fault aims at one source (or ``*``), lets its first ``skip`` matching requests
through untouched, then hits each matching request with ``probability`` (default 1), ``count`` times
(-1 = until cleared). The probability draws come from ``random.Random(f"{seed}:{kind}:{n}")`` for the
n-th matching request, so a given request sequence is always faulted the same way.
"""

from __future__ import annotations

import copy
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

SOURCES: tuple[str, ...] = ("ads", "crm", "erp", "worldbank")
TRANSPORT_FAULTS = frozenset({"rate_limit", "server_error", "slow", "connection_reset"})
BODY_FAULTS = frozenset({"truncated", "hang"})
DATA_FAULTS = frozenset({"malformed", "schema_drift", "null_keys", "out_of_range"})
CURSOR_FAULTS = frozenset({"cursor_loop"})
FAULT_KINDS: tuple[str, ...] = (
    "rate_limit",
    "server_error",
    "slow",
    "connection_reset",
    "truncated",
    "hang",
    "malformed",
    "schema_drift",
    "null_keys",
    "out_of_range",
    "cursor_loop",
)
DEFAULT_DELAY = {"slow": 1.0, "hang": 3600.0}
HANG_PIECES = 16  # a hanging body's second half arrives in this many pieces, `delay` s apart


@dataclass
class Fault:
    """A misbehaviour the matching requests of `source` ("*" = any) suffer; count -1 = until cleared."""

    source: str
    kind: str
    count: int = 1
    retry_after: int = 1
    delay: float | None = None  # seconds; None = the kind's default (DEFAULT_DELAY)
    skip: int = 0
    probability: float = 1.0
    matched: int = field(default=0, repr=False)  # matching requests seen so far (skipped ones included)

    def __post_init__(self) -> None:
        if self.source != "*" and self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r}; expected one of {SOURCES} or '*'")
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {FAULT_KINDS}")
        if self.kind in CURSOR_FAULTS and self.source not in ("crm", "*"):
            raise ValueError(f"{self.kind} needs a cursor-paginated source: 'crm' (or '*')")
        if not isinstance(self.count, int) or self.count == 0 or self.count < -1:
            raise ValueError("count must be a positive integer or -1")
        if not isinstance(self.retry_after, int) or self.retry_after < 0:
            raise ValueError("retry_after must be a non-negative integer (seconds)")
        if self.delay is None:
            self.delay = DEFAULT_DELAY.get(self.kind, 1.0)
        if isinstance(self.delay, bool) or not isinstance(self.delay, int | float) or self.delay < 0:
            raise ValueError("delay must be a non-negative number (seconds)")
        if isinstance(self.skip, bool) or not isinstance(self.skip, int) or self.skip < 0:
            raise ValueError("skip must be a non-negative integer (requests let through first)")
        bad_probability = isinstance(self.probability, bool) or not isinstance(self.probability, int | float)
        if bad_probability or not 0 < self.probability <= 1:
            raise ValueError("probability must be a number in (0, 1]")


class FaultBook:
    """The pending faults of one server; thread-safe, deterministic for a given request order."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.lock = threading.Lock()
        self.faults: list[Fault] = []
        self.stopping = threading.Event()  # set when the server stops: hanging answers give up at once

    def add(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()

    def take(self, source: str, kinds: frozenset[str]) -> Fault | None:
        """The fault (one of `kinds`, aimed at `source`) this request suffers, if any; uses one count."""
        with self.lock:
            for fault in list(self.faults):
                if fault.source not in (source, "*") or fault.kind not in kinds:
                    continue
                fault.matched += 1
                if fault.matched <= fault.skip:
                    continue
                if fault.probability < 1:
                    draw = random.Random(f"{self.seed}:{fault.kind}:{fault.matched}").random()
                    if draw >= fault.probability:
                        continue
                taken = replace(fault)
                if fault.count > 0:
                    fault.count -= 1
                    if fault.count == 0:
                        self.faults.remove(fault)
                return taken
        return None

    def wait(self, seconds: float) -> bool:
        """Sleep `seconds` unless the server stops first (then False)."""
        return not self.stopping.wait(seconds)


# ------------------------------------------------------------------------------------ data mutators


def _every_fifth(records: list[dict]) -> Iterator[dict]:
    return (r for i, r in enumerate(records) if i % 5 == 0)


def ads_fault(records: list[dict], kind: str) -> list[dict]:
    records = copy.deepcopy(records)
    if kind == "schema_drift":
        for r in records:
            r["metrics"].pop("clicks", None)
    elif kind == "null_keys":
        for r in _every_fifth(records):
            r["campaign"]["id"] = None
    elif kind == "out_of_range":
        for r in _every_fifth(records):
            r["metrics"]["impressions"] = -r["metrics"]["impressions"]
    return records


def orders_fault(records: list[dict], kind: str) -> list[dict]:
    records = copy.deepcopy(records)
    if kind == "schema_drift":
        for r in records:
            r.pop("customer_id", None)
    elif kind == "null_keys":
        for r in _every_fifth(records):
            r["id"] = None
    elif kind == "out_of_range":
        for r in _every_fifth(records):
            r["total"]["amount"] = "-" + r["total"]["amount"]
    return records


def customers_fault(records: list[dict], kind: str) -> list[dict]:
    records = copy.deepcopy(records)
    if kind == "schema_drift":
        for r in records:
            r["country"] = r.pop("country_code")
    elif kind == "null_keys":
        for r in _every_fifth(records):
            r["id"] = None
    return records


def worldbank_fault(records: list[dict], kind: str) -> list[dict]:
    records = copy.deepcopy(records)
    if kind == "schema_drift":
        for r in records:
            r.pop("countryiso3code", None)
    elif kind == "null_keys":
        for r in _every_fifth(records):
            r["countryiso3code"] = None
    elif kind == "out_of_range":
        for r in _every_fifth(records):
            r["value"] = -abs(r["value"] or 1)
    return records


def ledger_fault(rows: Iterator[list[str]], kind: str | None, region_at: int) -> Iterator[list[str]]:
    for i, row in enumerate(rows):
        if kind == "schema_drift":
            row = row[:region_at] + row[region_at + 1 :]
        elif kind == "null_keys" and i % 5 == 0:
            row[0] = ""
        elif kind == "out_of_range" and row[2] == "4000" and i % 5 == 0:
            row[5] = "-" + row[5]
        yield row


def fault_spec(spec: Any) -> Fault:
    """A `Fault` from the JSON body of ``POST /_control/faults``; ValueError/TypeError naming the problem."""
    if not isinstance(spec, dict):
        raise ValueError("body must be a JSON object")
    unknown = set(spec) - {"source", "kind", "count", "retry_after", "delay", "skip", "probability"}
    if unknown:
        raise ValueError(f"unknown field {sorted(unknown)[0]!r}")
    return Fault(**spec)
