"""The World Bank API v2 paginator: bodies are `[meta, rows]`, `?page=N` until `meta.pages`.

The API answers some errors with HTTP 200 and a `[{"message": [...]}]` body; those are errors here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from data_mesh.sources.pagination import PageClient, Pages, register


@register("world_bank")
def world_bank(client: PageClient) -> Pages:
    page = 1
    while True:
        params = {"format": "json", "page": page, "per_page": client.page_size}
        body = client.json_page(page, params)
        meta, rows = _split(client, body, page, params)
        yield page, rows
        try:
            pages = int(meta["pages"])
        except (KeyError, TypeError, ValueError):
            raise client.error(200, f"page {page}: World Bank meta has no valid 'pages'", params) from None
        if page >= pages:
            return
        page += 1


def _split(client: PageClient, body: Any, page: int, params: Mapping[str, Any]) -> tuple[dict, list]:
    if isinstance(body, list) and body and isinstance(body[0], dict) and "message" in body[0]:
        messages = body[0]["message"] if isinstance(body[0]["message"], list) else [body[0]["message"]]
        text = "; ".join(
            f"{m.get('id', '?')} {m.get('key', '')}: {m.get('value', '')}" if isinstance(m, dict) else str(m)
            for m in messages
        )
        raise client.error(200, f"World Bank API error on page {page}: {text}", params)
    if not (isinstance(body, list) and len(body) == 2 and isinstance(body[0], dict)):
        raise client.error(200, f"page {page} is not a World Bank [meta, rows] body", params)
    return body[0], client.checked_rows(body[1], page, params)
