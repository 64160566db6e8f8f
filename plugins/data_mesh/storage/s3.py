"""S3 settings of the warehouse: the Airflow Connection `data_mesh_s3`, then `DATA_MESH_S3_*` variables.

Where they come from, in order (a later source wins key by key):

1. the Airflow Connection `DATA_MESH_S3_CONN_ID` (default `data_mesh_s3`, type `aws`): login = access
   key id, password = secret access key, extra `endpoint_url` (an S3-compatible endpoint: MinIO,
   moto, Ceph) and `region_name`. It is read through Airflow's own secrets backends (an
   `AIRFLOW_CONN_DATA_MESH_S3` variable, Airflow's database, Vault, AWS Secrets Manager ...) with
   `airflow.sdk.BaseHook`, which registers the password with Airflow's log masker;
2. `DATA_MESH_S3_ENDPOINT`, `_REGION`, `_ACCESS_KEY_ID`, `_SECRET_ACCESS_KEY` (runs outside Airflow,
   tests).

Invariants:
- Nothing is looked up for a local warehouse: a deployment without S3 never needs the Connection.
- No Connection and no variable is not an error: the S3 client's default chain applies (an instance
  role, `AWS_*` variables).
- The secret is only ever in the properties handed to pyiceberg and pyarrow. `catalog_display_url`,
  `warehouse_url`, lineage, descriptors and Asset extras carry the endpoint at most, never a key.
- An endpoint that is not an http(s) URL with a host is an error naming the setting.

The Connection is read once per process (like the vault's keys): a task process lives for one task;
a long-lived api-server sees a rotated secret after a restart. Nothing here imports Airflow at
module level.
"""

from __future__ import annotations

import functools
import os
from urllib.parse import urlsplit

from data_mesh import conf

# property of pyiceberg (and of our pyarrow filesystem) -> environment variable that may override it
ENV_OVERRIDES = {
    "s3.endpoint": "DATA_MESH_S3_ENDPOINT",
    "s3.region": "DATA_MESH_S3_REGION",
    "s3.access-key-id": "DATA_MESH_S3_ACCESS_KEY_ID",
    "s3.secret-access-key": "DATA_MESH_S3_SECRET_ACCESS_KEY",
}


class S3SettingsError(ValueError):
    """The S3 settings are unusable (the message names the Connection or variable at fault)."""


def _check_endpoint(endpoint: str, where: str) -> str:
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise S3SettingsError(
            f"{where}: the S3 endpoint must be an http(s) URL with a host, not {endpoint!r}"
        )
    return endpoint.rstrip("/")


@functools.lru_cache(maxsize=4)
def connection_properties(conn_id: str) -> dict[str, str]:
    """pyiceberg S3 properties from the Airflow Connection `conn_id`; {} when there is none."""
    try:
        from airflow.sdk import BaseHook

        connection = BaseHook.get_connection(conn_id)
    except Exception:  # AirflowNotFoundException, or no Airflow configured at all: not configured
        return {}
    extra = connection.extra_dejson or {}
    props = {
        "s3.access-key-id": connection.login or "",
        "s3.secret-access-key": connection.password or "",
        "s3.region": str(extra.get("region_name") or extra.get("region") or ""),
        "s3.endpoint": str(extra.get("endpoint_url") or connection.host or ""),
    }
    if props["s3.endpoint"]:
        props["s3.endpoint"] = _check_endpoint(props["s3.endpoint"], f"Airflow Connection {conn_id!r}")
    return {key: value for key, value in props.items() if value}


def s3_properties(url: str | None = None) -> dict[str, str]:
    """The S3 properties for `url` (default: the warehouse); {} unless it is an s3:// URL."""
    url = url or conf.storage_root()
    if url.split("://", 1)[0] not in ("s3", "s3a") or "://" not in url:
        return {}
    props = dict(connection_properties(conf.s3_conn_id()))
    for prop, env in ENV_OVERRIDES.items():
        value = os.environ.get(env, "").strip()
        if value:
            props[prop] = _check_endpoint(value, env) if prop == "s3.endpoint" else value
    return props
