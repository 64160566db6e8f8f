"""Paginators: how a JSON source API splits its answer into pages, one registry entry per style.

A paginator is a generator function of a `PageClient` (the HTTP client of one source) that yields
`(page_number, rows)` until the last page. The contract names it (`pagination: cursor`); the name
is checked at contract parse time against this registry, so a typo is a DAG import error.

Adding a style is one file: write the generator in a module and register it with
`@register("name")`, either in this package (listed in `_BUILTIN_MODULES`) or in any installed
package that exposes it under the `data_mesh.paginators` entry-point group.

This module imports no HTTP library: contracts are parsed at DAG parse time.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from importlib.metadata import entry_points
from typing import Any, Protocol

from data_mesh.exceptions import SourceError

Pages = Iterator[tuple[int, list[dict[str, Any]]]]


class PageClient(Protocol):
    """What a paginator may ask of a source's HTTP client (see `sources.http`)."""

    @property
    def page_size(self) -> int: ...

    @property
    def cursor_field(self) -> str: ...

    def json_page(self, page: int, extra_params: Mapping[str, Any]) -> Any: ...

    def records(self, body: Any, page: int, extra_params: Mapping[str, Any]) -> list[dict[str, Any]]: ...

    def checked_rows(self, rows: Any, page: int, extra_params: Mapping[str, Any]) -> list[dict[str, Any]]: ...

    def error(
        self, status: int | None, reason: str, extra: Mapping[str, Any] | None = None
    ) -> SourceError: ...


Paginator = Callable[[PageClient], Pages]

_REGISTRY: dict[str, Paginator] = {}
_BUILTIN_MODULES = ("data_mesh.sources.world_bank",)
_loaded = False


def register(name: str) -> Callable[[Paginator], Paginator]:
    """Register a paginator under the name contracts use (`pagination: <name>`)."""

    def add(func: Paginator) -> Paginator:
        if name in _REGISTRY and _REGISTRY[name] is not func:
            raise ValueError(f"paginator {name!r} is already registered")
        _REGISTRY[name] = func
        return func

    return add


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
    for entry in entry_points(group="data_mesh.paginators"):
        register(entry.name)(entry.load())


def names() -> tuple[str, ...]:
    _load()
    return tuple(sorted(_REGISTRY))


def get(name: str) -> Paginator:
    """The paginator registered under `name`; a ValueError naming the known ones otherwise."""
    _load()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown pagination {name!r}; known: {', '.join(names())}") from None


@register("none")
def single_page(client: PageClient) -> Pages:
    """One body: a bare JSON array, or an envelope with the rows under `recordsField`."""
    body = client.json_page(1, {})
    if isinstance(body, list):
        yield 1, client.checked_rows(body, 1, {})
    else:
        yield 1, client.records(body, 1, {})


@register("page_number")
def page_number(client: PageClient) -> Pages:
    """`?page=N&page_size=S` until `total_pages` (or, with no total announced, a short page)."""
    size = client.page_size
    page = 1
    while True:
        params = {"page": page, "page_size": size}
        body = client.json_page(page, params)
        rows = client.records(body, page, params)
        yield page, rows
        total_pages = body.get("total_pages")
        if total_pages is None:
            if len(rows) < size:
                return
        elif isinstance(total_pages, bool) or not isinstance(total_pages, int):
            raise client.error(200, f"page {page}: total_pages is not an integer", params)
        elif page >= total_pages:
            return
        page += 1


@register("cursor")
def cursor(client: PageClient) -> Pages:
    """`?cursor=X` until the body's cursor field is null.

    A cursor the source already returned means it is looping (the same page again, and again): that is a
    `SourceError` naming the cursor and both pages, raised before the repeated page's rows are yielded.
    Cursors that go somewhere new forever are stopped by the client's page cap.
    """
    field = client.cursor_field
    params: dict[str, Any] = {"limit": client.page_size}
    seen: dict[str, int] = {}  # cursor -> the page that returned it
    page = 1
    while True:
        body = client.json_page(page, params)
        rows = client.records(body, page, params)
        value = body.get(field)
        done = value is None or value == ""
        if not done and str(value) in seen:
            shown = str(value) if len(str(value)) <= 80 else str(value)[:80] + "..."
            reason = (
                f"page {page}: {field} {shown!r} repeats the cursor page {seen[str(value)]} returned; "
                "the source is looping"
            )
            raise client.error(200, reason, params)
        yield page, rows
        if done:
            return
        seen[str(value)] = page
        params = {"limit": client.page_size, "cursor": value}
        page += 1
