"""Where SLO alerts go: Airflow notifiers (`BaseNotifier`), chosen and configured by one Connection.

The Connection (`DATA_MESH_SLO_ALERTS_CONN_ID`, default `data_mesh_alerts`) names the notifier in its
extra (`{"notifier": "webhook"}`; webhook when absent) and configures it. The webhook notifier, an
HTTP Connection: host (with scheme and path, or host + schema + port) is the URL the alert is POSTed
to as JSON; the password, when set, is sent as `Authorization: Bearer <password>`.

No Connection: alerts are disabled (the evaluations are still recorded, the task log says so).
Another channel (Slack, e-mail, a pager) is one class registered with `@register_notifier("name")`
that builds itself from the Connection and the alert.

The secret never leaves the request: it is not in a notifier's `repr`, and a failed delivery raises
`AlertNotDelivered` naming the Connection and the HTTP status or the kind of network error, never the
URL (a webhook URL often is a secret itself) nor the token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseNotifier

from data_mesh.metadata.store.slo import AlertKind, SloState

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0
DEFAULT_NOTIFIER = "webhook"


class AlertNotDelivered(Exception):
    """An alert did not reach its receiver (the message never holds the URL or the secret)."""


@dataclass(frozen=True)
class Alert:
    """What an alert says: which product, violated or recovered, how old its data is, where to look."""

    product_id: str
    kind: AlertKind
    state: SloState
    age_hours: float | None
    sla_hours: float | None
    newest_partition: str | None
    evaluated_at: datetime
    url: str

    @classmethod
    def for_product(cls, base_url: str, **fields: Any) -> Alert:
        """An alert whose link is the product's catalog page under `base_url` (the Airflow UI)."""
        link = f"{base_url.rstrip('/')}/data-mesh/ui/products/{quote(fields['product_id'], safe='.')}"
        return cls(url=link, **fields)

    @property
    def text(self) -> str:
        age = "unknown" if self.age_hours is None else f"{self.age_hours:.1f} h"
        newest = f"the newest partition ({self.newest_partition}) is {age} old"
        if self.kind == "violation":
            return (
                f"{self.product_id} violates its freshness SLO: {newest}, the limit is {self.sla_hours:g} h"
            )
        return f"{self.product_id} meets its freshness SLO again: {newest}"

    def payload(self) -> dict[str, Any]:
        return {
            "product": self.product_id,
            "alert": self.kind,
            "state": self.state,
            "age_hours": None if self.age_hours is None else round(self.age_hours, 2),
            "sla_hours": self.sla_hours,
            "newest_partition": self.newest_partition,
            "evaluated_at": self.evaluated_at.isoformat(),
            "url": self.url,
            "text": self.text,
        }


NotifierFactory = Callable[[Any, Alert], BaseNotifier]  # (ConnectionInfo, Alert) -> notifier
_NOTIFIERS: dict[str, NotifierFactory] = {}


def register_notifier(name: str) -> Callable[[NotifierFactory], NotifierFactory]:
    """Register a notifier factory under `name` (what a Connection's extra `notifier` names)."""

    def add(factory: NotifierFactory) -> NotifierFactory:
        _NOTIFIERS[name] = factory
        return factory

    return add


class WebhookNotifier(BaseNotifier):
    """POST an alert as JSON to a URL, with an optional bearer token (an Airflow notifier)."""

    template_fields = ()

    def __init__(self, alert: Alert, *, url: str, token: str | None = None, conn_id: str = "") -> None:
        super().__init__()
        self.alert, self.url, self.conn_id = alert, url, conn_id
        self._token = token

    def __repr__(self) -> str:
        return f"WebhookNotifier(conn_id={self.conn_id!r}, product={self.alert.product_id!r})"

    def notify(self, context: Any) -> None:
        import requests

        headers = {"Content-Type": "application/json", "User-Agent": "data-mesh/0.1"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            answer = requests.post(
                self.url, json=self.alert.payload(), headers=headers, timeout=TIMEOUT_SECONDS
            )
        except requests.RequestException as error:
            raise AlertNotDelivered(
                f"the webhook of connection {self.conn_id!r} is not reachable ({type(error).__name__})"
            ) from None
        if not 200 <= answer.status_code < 300:
            raise AlertNotDelivered(
                f"the webhook of connection {self.conn_id!r} answered HTTP {answer.status_code}"
            )


@register_notifier("webhook")
def _webhook(connection: Any, alert: Alert) -> BaseNotifier:
    return WebhookNotifier(
        alert, url=connection.base_url, token=connection.password, conn_id=connection.conn_id
    )


@dataclass(frozen=True)
class AlertChannel:
    """An alerts Connection, read once per evaluation: builds the notifier of each alert."""

    conn_id: str
    notifier: str
    connection: Any  # sources.http.ConnectionInfo (its password is not in its repr)

    def send(self, alert: Alert, context: Any = None) -> None:
        """Deliver one alert through the Airflow notifier; raises AlertNotDelivered."""
        notifier = _NOTIFIERS[self.notifier](self.connection, alert)
        notifier(dict(context or {}))


@dataclass(frozen=True)
class _Named:
    """ConnectionInfo plus the Connection's id, for messages."""

    conn_id: str
    base_url: str
    password: str | None
    extra: dict[str, Any]

    def __repr__(self) -> str:
        return f"Connection({self.conn_id!r})"


def open_channel(conn_id: str) -> AlertChannel | None:
    """The alert channel of Connection `conn_id`; None when no such Connection exists (alerts disabled).

    A Connection that names an unknown notifier, or has no host, is an error naming the problem.
    """
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    from data_mesh.sources.http import ConnectionInfo

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None
    info = ConnectionInfo.from_airflow(conn)
    name = str(info.extra.get("notifier") or DEFAULT_NOTIFIER)
    if name not in _NOTIFIERS:
        raise ValueError(
            f"connection {conn_id!r} names notifier {name!r}; registered notifiers: {sorted(_NOTIFIERS)}"
        )
    try:
        url = info.base_url
    except ValueError as error:
        raise ValueError(f"connection {conn_id!r} does not give the webhook's URL: {error}") from None
    return AlertChannel(conn_id, name, _Named(conn_id, url, info.password, dict(info.extra)))
