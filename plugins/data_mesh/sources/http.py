"""The fetch step: pull one declared `HttpSource` completely and stream it to staging files.

Why it looks like this:

* A product is rebuilt from a complete pull or not at all, so every failure that survives the retries is
  one `SourceError` and nothing partial is reported as fetched.
* Memory must not grow with the source: each JSON page is written as one NDJSON file as soon as it
  arrives, and CSV exports are streamed to disk chunk by chunk.
* Transient trouble (429, 5xx, connections refused or reset, bodies cut short, timeouts) is retried with
  capped exponential backoff with jitter, honouring `Retry-After`; other 4xx are a caller bug and fail at
  once. Every page, attempt and request is bounded (`sources.client`, `sources.retry`); a looping
  paginator is stopped by the page cap or by the cursor paginator's repeated-cursor check.
* Credentials come from the Airflow Connection and never appear in messages or logs.

This module imports neither Airflow (callers pass a `ConnectionInfo`) nor pandas at module level, so DAG
parsing stays fast.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import requests

from data_mesh.contract.spec import HttpSource
from data_mesh.sources import pagination
from data_mesh.sources.client import USER_AGENT, SourceClient
from data_mesh.sources.connection import ConnectionInfo
from data_mesh.sources.retry import RetryPolicy
from data_mesh.sources.staged import (
    FetchResult,
    MalformedBody,
    NdjsonWriter,
    count_csv_records,
    remove_stale_files,
)

__all__ = ["USER_AGENT", "ConnectionInfo", "RetryPolicy", "fetch_source", "sample_page"]

log = logging.getLogger(__name__)


def fetch_source(
    source: HttpSource,
    connection: ConnectionInfo,
    out_dir: Path,
    template_values: dict[str, str],
    *,
    session: requests.Session | None = None,
    policy: RetryPolicy | None = None,
) -> FetchResult:
    """Fetch every page of `source` into `out_dir` and say what was written.

    JSON pages become `<source>-00001.ndjson`, ... (one file per non-empty page); a CSV body becomes
    `<source>.csv`. Stale files of the same source in `out_dir` are removed first, so a retried task
    never mixes two pulls. Raises `SourceError` when the source cannot be fetched completely.
    """
    if source.format == "csv" and source.pagination != "none":
        raise ValueError(f"source {source.name!r}: csv sources are fetched in one request (pagination none)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_files(out_dir, source.name)
    own_session = session is None
    session = session or requests.Session()
    try:
        client = SourceClient.create(source, connection, template_values, session, policy or RetryPolicy())
        log.info("fetching source %s from %s", source.name, client.display_url({}))
        result = _fetch_csv(client, out_dir) if source.format == "csv" else _fetch_json(client, out_dir)
    finally:
        if own_session:
            session.close()
    log.info(
        "source %s: %d records in %d pages, %d files, %d bytes",
        source.name,
        result.records,
        result.pages,
        len(result.files),
        result.bytes,
    )
    return result


def sample_page(
    source: HttpSource,
    connection: ConnectionInfo,
    template_values: dict[str, str],
    *,
    policy: RetryPolicy | None = None,
) -> list[dict[str, Any]]:
    """The rows of the source's first page only (what `data-mesh new-product` infers a schema from):
    the same URL, auth, retries and paginator as `fetch_source`; raises `SourceError` the same way."""
    with requests.Session() as session:
        client = SourceClient.create(source, connection, template_values, session, policy or RetryPolicy())
        return next(iter(pagination.get(source.pagination)(client)), (0, []))[1]


def _fetch_json(client: SourceClient, out_dir: Path) -> FetchResult:
    writer = NdjsonWriter(out_dir, client.source.name)
    paginate = pagination.get(client.source.pagination)
    pages = 0
    for page, rows in paginate(client):
        writer.write(page, rows)
        pages = page
        name, status = client.source.name, client.last_status
        log.info("source %s page %d: %d records (HTTP %d)", name, page, len(rows), status)
    return writer.result(pages)


def _fetch_csv(client: SourceClient, out_dir: Path) -> FetchResult:
    path = out_dir / f"{client.source.name}.csv"

    def consume(response: requests.Response) -> int:
        written = 0
        with open(path, "wb") as handle:  # "wb": a retried stream starts the file over
            for chunk in client.chunks(response):
                handle.write(chunk)
                written += len(chunk)
        return written

    written = client.get(1, {}, consume)
    try:
        records = count_csv_records(path)
    except MalformedBody as exc:
        raise client.error(200, str(exc)) from None
    name, status = client.source.name, client.last_status
    log.info("source %s page 1: %d records (HTTP %d, %d bytes)", name, records, status, written)
    return FetchResult(client.source.name, (str(path),), records, 1, written, "csv")
