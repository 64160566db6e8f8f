"""Every setting of the platform, one function each, read from the environment.

`DATA_MESH_HOME` is the project folder (domains/, expectations/, data/ live under it); the other
paths default to places inside it, so the embedded default needs no configuration at all.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[2]


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def home() -> Path:
    """The project folder; defaults to the parent of `plugins/` (this checkout)."""
    return _resolved(_env("DATA_MESH_HOME", str(_CHECKOUT)))


@functools.lru_cache(maxsize=16)
def _resolved(path: str) -> Path:
    """`path` made absolute, symlinks resolved: once per value (a DAG file's parse asked 121 times)."""
    return Path(path).resolve()


def domains_folder() -> Path:
    return Path(_env("DATA_MESH_DOMAINS_FOLDER", str(home() / "domains")))


def expectations_folder() -> Path:
    return Path(_env("DATA_MESH_EXPECTATIONS_FOLDER", str(home() / "expectations")))


def storage_root() -> str:
    """Where products are published: a local folder or any pyarrow/fsspec URL (s3://bucket/prefix)."""
    return _env("DATA_MESH_STORAGE_ROOT", str(home() / "data" / "products"))


def staging_root() -> str:
    """Work area shared by the tasks of one run (fetched batches, the transform's output).

    A run's folder (`<root>/<product>/<run>/`) is removed when the run ends, whatever its outcome
    (the product DAG's `cleanup` teardown task).
    """
    return _env("DATA_MESH_STAGING_ROOT", str(home() / "data" / "staging"))


def cache_dir() -> Path:
    """This machine's cache of derived facts that are safe to lose (e.g. which contract texts passed
    ODCS validation); a folder that cannot be written only means nothing is cached."""
    return Path(_env("DATA_MESH_CACHE_DIR", str(home() / "data" / "cache")))


def listener_spool_dir() -> str:
    """Where the listener keeps task-run records the metadata store refused (`metadata.spool`)."""
    return _env("DATA_MESH_LISTENER_SPOOL", str(Path(staging_root()) / "_listener_spool"))


def quarantine_root() -> str:
    """Where rejected batches are kept with their report: `<root>/<product>/<partition>/<run>/`."""
    return _env("DATA_MESH_QUARANTINE_ROOT", str(home() / "data" / "quarantine"))


def quarantine_retention_days() -> float:
    """Days a quarantined batch (raw rows, PII included) is kept before it is deleted (default 14).

    Every product run's cleanup prunes the quarantine folders older than this (by the run folder's
    newest modification time); with 0 a batch is deleted by the cleanup of the run that
    quarantined it. A negative value is an error.
    """
    days = float(_env("DATA_MESH_QUARANTINE_RETENTION_DAYS", "14"))
    if days < 0 or days != days:  # NaN
        raise ValueError(f"DATA_MESH_QUARANTINE_RETENTION_DAYS must be a number of days >= 0, not {days}")
    return days


def retention_versions() -> int:
    """How many published versions of each product are kept (a contract's SLA may ask for more)."""
    return int(_env("DATA_MESH_RETENTION_VERSIONS", "30"))


def orphan_grace_seconds() -> int:
    """Age after which a file no live snapshot references is deleted (a run that died mid-write)."""
    return int(_env("DATA_MESH_ORPHAN_GRACE_SECONDS", "3600"))


def metadata_url() -> str:
    """SQLAlchemy URL of the platform's own metadata store (never Airflow's database)."""
    return _env("DATA_MESH_METADATA_URL", f"sqlite:///{home() / 'data' / 'metadata.db'}")


def catalog_url() -> str:
    """SQLAlchemy URL of the Iceberg SQL catalog; by default the metadata database itself."""
    return _env("DATA_MESH_CATALOG_URL", metadata_url())


def s3_conn_id() -> str:
    """The Airflow Connection (type aws) of an s3:// warehouse: login/password = key id/secret, extra
    `endpoint_url` and `region_name`; `DATA_MESH_S3_*` variables override it (see storage/s3.py)."""
    return _env("DATA_MESH_S3_CONN_ID", "data_mesh_s3")


def vault_conn_id() -> str:
    """The Airflow Connection holding the PII vault's keys (password: a 32-byte AES-256-GCM key in
    URL-safe base64; extra: hmac_secret)."""
    return _env("DATA_MESH_VAULT_CONN_ID", "data_mesh_vault")


def listeners_enabled() -> bool:
    """Switch off every listener with DATA_MESH_LISTENERS_ENABLED=false."""
    return _env("DATA_MESH_LISTENERS_ENABLED", "true").lower() not in {"0", "false", "no", "off"}


def listener_timeout_seconds() -> float:
    return float(_env("DATA_MESH_LISTENER_TIMEOUT_SECONDS", "5"))


def openlineage_transport() -> str:
    """`file` (default, JSON lines under data/openlineage), `http` (Marquez, DataHub) or `none`."""
    return _env("DATA_MESH_OPENLINEAGE_TRANSPORT", "file")


def openlineage_url() -> str:
    return _env("DATA_MESH_OPENLINEAGE_URL", "http://localhost:5000")


def openlineage_file() -> Path:
    return Path(_env("DATA_MESH_OPENLINEAGE_FILE", str(home() / "data" / "openlineage" / "events.jsonl")))


def openlineage_namespace() -> str:
    return _env("DATA_MESH_OPENLINEAGE_NAMESPACE", "data-mesh")


def max_retry_after_seconds() -> float:
    """Longest `Retry-After` a source may ask for before the fetch fails instead of waiting (seconds)."""
    return float(_env("DATA_MESH_MAX_RETRY_AFTER_SECONDS", "300"))


def source_connect_timeout_seconds() -> float:
    """Longest wait for a source's TCP/TLS connection (one attempt)."""
    return float(_env("DATA_MESH_SOURCE_CONNECT_TIMEOUT_SECONDS", "5"))


def source_read_timeout_seconds() -> float:
    """Longest silence while waiting for a source's answer or the next bytes of its body."""
    return float(_env("DATA_MESH_SOURCE_READ_TIMEOUT_SECONDS", "60"))


def source_request_timeout_seconds() -> float:
    """Longest one request may take, body included, however steadily a slow source trickles bytes."""
    return float(_env("DATA_MESH_SOURCE_REQUEST_TIMEOUT_SECONDS", "300"))


def source_max_pages() -> int:
    """Most pages one source pull may have (a contract's `maxPages` overrides it); beyond: it loops."""
    return int(_env("DATA_MESH_SOURCE_MAX_PAGES", "100000"))


def task_retries() -> int:
    """Airflow retries of a product's tasks (rejected data is never retried: it fails for good)."""
    return int(_env("DATA_MESH_TASK_RETRIES", "2"))


def task_retry_delay_seconds() -> int:
    return int(_env("DATA_MESH_TASK_RETRY_DELAY_SECONDS", "120"))


def known_users() -> frozenset[str] | None:
    """The user names an owner must be one of (the `owner-exists` policy), or None when unknown.

    `DATA_MESH_KNOWN_USERS`, comma-separated: the company directory's user names (exported from the
    identity provider behind Airflow's auth manager). Airflow's simple auth manager list is not used:
    it holds who may log in to this deployment, not every owner of a product.
    """
    names = {item.strip() for item in _env("DATA_MESH_KNOWN_USERS", "").split(",")}
    return frozenset(n for n in names if n) or None


def public_url() -> str:
    """The api-server's URL as consumers reach it (`DATA_MESH_PUBLIC_URL`, default http://localhost:8080).

    The base of every URL in a product's ODPS descriptor (ports, catalog page, API endpoints); an
    http(s) URL with a host, without a trailing slash.
    """
    from urllib.parse import urlsplit

    url = _env("DATA_MESH_PUBLIC_URL", "http://localhost:8080").rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"DATA_MESH_PUBLIC_URL must be an http(s) URL with a host, not {url!r}")
    if parts.username or parts.password:
        raise ValueError("DATA_MESH_PUBLIC_URL must not carry a user or password")
    return url


def slo_interval_minutes() -> float:
    """Minutes between two freshness SLO evaluations of the `data_mesh__slo` DAG (default 5)."""
    minutes = float(_env("DATA_MESH_SLO_INTERVAL_MINUTES", "5"))
    if not minutes > 0:
        raise ValueError(f"DATA_MESH_SLO_INTERVAL_MINUTES must be a number of minutes > 0, not {minutes}")
    return minutes


def slo_retention_days() -> int:
    """Days the SLO evaluations are kept (default 90); at least 31: attainment reads 30 days back."""
    raw = _env("DATA_MESH_SLO_RETENTION_DAYS", "90")
    if not raw.isdigit() or int(raw) < 31:
        raise ValueError(f"DATA_MESH_SLO_RETENTION_DAYS must be a whole number of days >= 31, not {raw!r}")
    return int(raw)


def slo_alerts_conn_id() -> str:
    """The Airflow Connection SLO alerts go through (an HTTP connection: the webhook); none = no alerts."""
    return _env("DATA_MESH_SLO_ALERTS_CONN_ID", "data_mesh_alerts")
