"""Secrets never leave their Connections: after a real mesh run on `airflow standalone`, grep every
output the run produced for the secret values (task logs, the metadata store, Airflow's Asset
extras, the OpenLineage events) and for the clear PII a run handled."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.integration


def _secrets() -> dict[str, str]:
    from demo.launcher import DEMO_ALERTS_TOKEN, DEMO_SECRETS

    vault = json.loads(os.environ["AIRFLOW_CONN_DATA_MESH_VAULT"])
    found = {"vault fernet key": vault["password"], "vault hmac secret": vault["extra"]["hmac_secret"]}
    found["data_mesh_alerts webhook token"] = DEMO_ALERTS_TOKEN
    for conn_id, secret in DEMO_SECRETS.items():
        if secret.get("password"):
            found[f"{conn_id} password"] = secret["password"]
    return found


def _files(*roots: Path) -> list[Path]:
    return [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()]


def test_no_secret_in_logs_metadata_asset_extras_or_lineage(airflow_server, mesh_published, session_dir):
    from data_mesh import conf

    for dag_id, run in mesh_published.items():
        assert run["state"] == "success", dag_id
    home = Path(airflow_server.env["AIRFLOW_HOME"])
    metadata_db = Path(conf.metadata_url().removeprefix("sqlite:///"))
    outputs = {
        "task logs": _files(home / "logs"),
        "metadata store": [p for p in metadata_db.parent.glob(metadata_db.name + "*")],
        "openlineage events": [conf.openlineage_file()],
    }
    assert outputs["task logs"] and outputs["metadata store"] and conf.openlineage_file().exists()
    headers = {"Authorization": f"Bearer {airflow_server.token}"}
    events = requests.get(f"{airflow_server.url}/api/v2/assets/events", headers=headers, timeout=30)
    assert events.status_code == 200 and events.json()["asset_events"], events.text[:300]
    texts = {name: b"".join(p.read_bytes() for p in paths) for name, paths in outputs.items()}
    texts["asset extras"] = json.dumps([e.get("extra") for e in events.json()["asset_events"]]).encode()
    leaks = [
        f"{secret_name} in {where}"
        for secret_name, value in _secrets().items()
        for where, blob in texts.items()
        if value.encode() in blob
    ]
    assert leaks == []


def test_the_metadata_store_and_the_table_files_hold_no_clear_address(airflow_server, mesh_published):
    """The demo CRM's addresses end in @example.com; the vault holds them only encrypted."""
    from data_mesh import conf
    from data_mesh.contract.registry import get_product
    from data_mesh.storage.products import product_storage

    metadata_db = Path(conf.metadata_url().removeprefix("sqlite:///"))
    blob = b"".join(p.read_bytes() for p in metadata_db.parent.glob(metadata_db.name + "*"))
    import pyarrow.parquet as pq

    storage = product_storage(get_product("sales.customer_orders"))
    files = storage.data_files(storage.version())
    assert files and b"@example.com" not in blob
    for file in files:
        table = pq.read_table(file.removeprefix("file://"))
        strings = [
            c for c, t in zip(table.column_names, table.schema.types, strict=True) if str(t) == "string"
        ]
        assert not any("@" in (v or "") for c in strings for v in table.column(c).to_pylist()), file
