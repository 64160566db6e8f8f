"""Overhead of the platform's Airflow listener on a 20-task mesh DAG run with `dag.test()`.

The DAG (`sales__bench_listener`: a mesh DAG, named after the `sales` domain folder) is a chain of
20 tasks that each sleep 0.05 s. Each measurement is a fresh process that loads the plugins folder
(so the plugin's listener is registered, as in any Airflow process), syncs the DAG to Airflow's DB
and times `dag.test()` only. "on": the listener enabled, recording every try (running + success,
40 writes) in a SQLite metadata store; "off": the same with DATA_MESH_LISTENERS_ENABLED=false.
Runs are interleaved (on/off, then off/on, ...) after one discarded warm-up of each; medians are
reported. Throwaway AIRFLOW_HOME and metadata store under a temp dir; the store's database is
migrated up front, so the timed "on" runs include what a real task process pays on first use of the
store (engine creation + the migration check) but not the migration itself.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.fresh_process import measure, migrate_airflow_db

REPO = Path(__file__).resolve().parents[1]
DAG_ID = "sales__bench_listener"
TASKS = 20
SLEEP_S = 0.05
RUNS = 5  # measured runs per mode
TARGET_PCT = 3.0

DAG_FILE = f"""
import time
from datetime import datetime

from airflow.sdk import DAG, task

with DAG(dag_id={DAG_ID!r}, schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:

    @task(retries=0)
    def step(previous: int) -> int:
        time.sleep({SLEEP_S})
        return previous + 1

    value = 0
    for i in range({TASKS}):
        value = step.override(task_id=f"step_{{i:02d}}")(value)
"""


def run_once() -> dict:
    """One `dag.test()` in this (fresh) process; the environment says whether the listener is on."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.listeners.listener import get_listener_manager
    from airflow.sdk.listener import get_listener_manager as sdk_listener_manager

    from data_mesh.metadata.listener import listener

    managers = [get_listener_manager(), sdk_listener_manager()]
    registered = [m.pm.is_registered(listener) for m in managers]
    assert all(registered), f"the plugin's listener is not registered: {registered}"

    folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    DagBundlesManager().sync_bundles_to_db()
    bag = BundleDagBag(
        dag_folder=str(folder / f"{DAG_ID}.py"), bundle_path=str(folder), bundle_name="dags-folder"
    )
    assert bag.import_errors == {}, bag.import_errors
    sync_bag_to_db(bag, "dags-folder", None)
    dag = bag.get_dag(DAG_ID)

    in_hooks = []  # time spent inside the listener's hooks (including the wait for the store write)
    record = listener._record

    def timed_record(*args, **kwargs):
        started = time.perf_counter()
        try:
            return record(*args, **kwargs)
        finally:
            in_hooks.append(time.perf_counter() - started)

    listener._record = timed_record
    started = time.perf_counter()
    run = dag.test()
    seconds = time.perf_counter() - started
    assert run.state == "success", run.state
    return {
        "seconds": seconds,
        "run_id": run.run_id,
        "hook_s": sum(in_hooks),
        "hook_first_s": in_hooks[0] if in_hooks else 0.0,
        "hook_calls": len(in_hooks),
    }


def _environment(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(work / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(work / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "DATA_MESH_HOME": str(REPO),
            "DATA_MESH_METADATA_URL": f"sqlite:///{work / 'metadata.db'}",
            "DATA_MESH_STORAGE_ROOT": str(work / "products"),
            "DATA_MESH_STAGING_ROOT": str(work / "staging"),
            "DATA_MESH_QUARANTINE_ROOT": str(work / "quarantine"),
            "DATA_MESH_OPENLINEAGE_TRANSPORT": "none",
        }
    )
    return env


def _measure(env: dict[str, str], enabled: bool) -> dict:
    return measure(
        "bench.listener_overhead", "--once", env={**env, "DATA_MESH_LISTENERS_ENABLED": str(enabled).lower()}
    )


def main() -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-listener-") as tmp:
        work = Path(tmp)
        (work / "dags").mkdir()
        (work / "dags" / f"{DAG_ID}.py").write_text(DAG_FILE)
        env = _environment(work)
        migrate_airflow_db(env)
        subprocess.run(  # the metadata store's schema, as on any running platform
            [sys.executable, "-c", "from data_mesh.metadata.store import MetadataStore; MetadataStore()"],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
        )
        _measure(env, True), _measure(env, False)  # warm-up (bytecode caches, DAG serialization)
        runs: dict[str, list[dict]] = {"on": [], "off": []}
        for round_ in range(RUNS):
            order = ("on", "off") if round_ % 2 == 0 else ("off", "on")
            for mode in order:
                runs[mode].append(_measure(env, mode == "on"))

        os.environ.setdefault("DATA_MESH_HOME", str(REPO))
        from data_mesh.metadata.store import MetadataStore, dispose_engines

        store = MetadataStore(env["DATA_MESH_METADATA_URL"])
        records = store.list_task_runs(dag_id=DAG_ID, limit=10_000)
        dispose_engines()
    recorded = {
        mode: sum(1 for r in records if r.run_id in {x["run_id"] for x in measured})
        for mode, measured in runs.items()
    }
    assert recorded["on"] == TASKS * RUNS and recorded["off"] == 0, recorded
    on = statistics.median(r["seconds"] for r in runs["on"])
    off = statistics.median(r["seconds"] for r in runs["off"])
    return {
        "dag": f"{DAG_ID}: chain of {TASKS} tasks sleeping {SLEEP_S} s, dag.test(), fresh process per run",
        "runs_per_mode": RUNS,
        "listener_on_median_s": round(on, 3),
        "listener_off_median_s": round(off, 3),
        "overhead_pct": round((on - off) / off * 100, 2),
        "overhead_per_task_ms": round((on - off) / TASKS * 1000, 1),
        "time_in_listener_hooks_median_s": {
            mode: round(statistics.median(r["hook_s"] for r in measured), 4)
            for mode, measured in runs.items()
        },
        "first_hook_call_median_s": round(statistics.median(r["hook_first_s"] for r in runs["on"]), 4),
        "hook_calls_per_run": {mode: measured[0]["hook_calls"] for mode, measured in runs.items()},
        "hooks_share_of_on_run_pct": round(
            statistics.median(r["hook_s"] / r["seconds"] for r in runs["on"]) * 100, 2
        ),
        "on_s": [round(r["seconds"], 3) for r in runs["on"]],
        "off_s": [round(r["seconds"], 3) for r in runs["off"]],
        "task_runs_recorded": recorded,
        "target": f"overhead <= {TARGET_PCT:g} %",
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--once", action="store_true")
    args = parser.parse_args()
    print(json.dumps(run_once() if args.once else main(), indent=None if args.once else 1))
