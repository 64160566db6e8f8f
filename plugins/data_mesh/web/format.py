"""How the UI shows values: dates, sizes, numbers, safe links, highlighted YAML and embedded JSON.

Everything that reaches a page through these helpers is escaped (or a `Markup` built from escaped
parts); `web_url` lets only http(s) links from contracts become hrefs.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from html import escape
from typing import Any

from markupsafe import Markup


def when(value: datetime | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def size(num: int | None) -> str:
    if num is None:
        return "—"
    size = float(num)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"  # pragma: no cover


def number(num: float | int | None) -> str:
    return "—" if num is None else f"{num:,}"


def web_url(url: str | None) -> str | None:
    """Only http(s) links from contracts become hrefs (never `javascript:` and the like)."""
    return url if url and url.lower().startswith(("https://", "http://")) else None



_YAML_KEY = re.compile(r"^(\s*(?:- )?)([A-Za-z_][\w.-]*)(:)(?=\s|$)")


def highlight_yaml(text: str) -> Markup:
    """Escape the YAML and colour its keys, comments and list dashes (no library needed)."""
    lines = []
    for raw in text.splitlines():
        stripped = raw.lstrip()
        if stripped.startswith("#"):
            lines.append(f'<span class="y-comment">{escape(raw)}</span>')
            continue
        match = _YAML_KEY.match(raw)
        if match:
            lead, key, colon = match.groups()
            rest = raw[match.end() :]
            lead_html = escape(lead).replace("- ", '<span class="y-dash">-</span> ')
            lines.append(
                f'{lead_html}<span class="y-key">{escape(key)}</span>{colon}'
                f'<span class="y-value">{escape(rest)}</span>'
            )
        else:
            lines.append(escape(raw).replace("- ", '<span class="y-dash">-</span> ', 1))
    return Markup("\n".join(lines))


def json_script(data: Any) -> Markup:
    """JSON safe to embed in <script type="application/json">."""
    text = (
        json.dumps(data, default=str).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    )
    return Markup(text)
