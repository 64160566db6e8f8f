"""`make run`: the whole mesh on the embedded default, with no external service.

Starts the demo source server and `airflow standalone` (scheduler, dag-processor, api-server,
triggerer on SQLite with the LocalExecutor), unpauses every domain DAG, makes sure each producer has
a first run, prints where to log in, and stops every process it started on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
DEMO_SECRETS = {  # the demo server's fake credentials; real deployments keep theirs in Connections
    "marketing_ads_api": {"password": "demo-ads-key"},
    "sales_crm_api": {"password": "demo-crm-token"},
    "finance_erp": {"login": "finance", "password": "demo-erp-password"},
    "world_bank_api": {},
}


def airflow_environment(airflow_home: Path, sources_url: str, api_port: int = 8080) -> dict[str, str]:
    """Environment of every Airflow process: embedded default, sized for a small machine."""
    passwords = airflow_home / "passwords.json"
    if not passwords.exists():  # known demo logins instead of generated ones
        passwords.write_text(json.dumps({"admin": "admin", "viewer": "viewer"}))
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": f"http://localhost:{api_port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{api_port}/execution/",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "DATA_MESH_HOME": env.get("DATA_MESH_HOME", str(REPO)),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")])),
        }
    )
    for conn_id, secret in DEMO_SECRETS.items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(
            {"conn_type": "http", "host": sources_url, **secret}
        )
    return env


class Airflow:
    """A running `airflow standalone` and a REST client for it."""

    def __init__(self, env: dict[str, str], api_port: int = 8080, log_path: Path | None = None) -> None:
        self.env, self.url = env, f"http://localhost:{api_port}"
        self.log = open(log_path, "ab") if log_path else None  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "airflow"), "standalone"],
            env=env,
            cwd=env["AIRFLOW_HOME"],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() reaches every child
        )
        self.token: str | None = None

    def wait_ready(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"airflow standalone exited with {self.process.returncode}")
            try:
                if requests.get(f"{self.url}/api/v2/monitor/health", timeout=2).ok:
                    self.token = self.login("admin", "admin")
                    return
            except requests.RequestException:
                pass
            time.sleep(2)
        raise TimeoutError(f"Airflow API not ready at {self.url} after {timeout:.0f}s")

    def login(self, username: str, password: str) -> str:
        answer = requests.post(
            f"{self.url}/auth/token", json={"username": username, "password": password}, timeout=10
        )
        answer.raise_for_status()
        return answer.json()["access_token"]

    def api(self, method: str, path: str, **kwargs: object) -> dict:
        answer = requests.request(
            method,
            f"{self.url}/api/v2{path}",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
            **kwargs,
        )
        answer.raise_for_status()
        return answer.json() if answer.content else {}

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            known = {d["dag_id"] for d in self.api("GET", "/dags", params={"limit": 100})["dags"]}
            if set(dag_ids) <= known:
                return
            time.sleep(3)
        raise TimeoutError(f"DAGs {sorted(set(dag_ids) - known)} not parsed after {timeout:.0f}s")

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        run = self.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}})
        return run["dag_run_id"]

    def runs(self, dag_id: str) -> list[dict]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns", params={"order_by": "-run_after"})["dag_runs"]

    def wait_for_run(self, dag_id: str, predicate, timeout: float = 300) -> dict:
        """The newest run matching `predicate` once it has finished (success or failed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = [r for r in self.runs(dag_id) if predicate(r)]
            if runs and runs[0]["state"] in {"success", "failed"}:
                return runs[0]
            time.sleep(3)
        raise TimeoutError(f"{dag_id}: no finished run after {timeout:.0f}s: {self.runs(dag_id)}")

    def stop(self, timeout: float = 60) -> None:
        """SIGINT the whole group (SIGTERM to the parent alone would orphan its children)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self.log:
            self.log.close()


def product_dag_ids() -> tuple[list[str], list[str]]:
    """(producers scheduled on a clock, consumers scheduled on upstream Assets)."""
    sys.path.insert(0, str(REPO / "plugins"))
    from data_mesh.contract.registry import load_products

    specs = load_products().values()
    return [s.dag_id for s in specs if not s.inputs], [s.dag_id for s in specs if s.inputs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api-port", type=int, default=8080)
    parser.add_argument("--sources-port", type=int, default=8900)
    parser.add_argument("--scale", type=int, default=1, help="demo source volume multiplier")
    args = parser.parse_args()

    airflow_home = REPO / ".airflow"
    airflow_home.mkdir(exist_ok=True)
    sources_url = f"http://127.0.0.1:{args.sources_port}"
    sources = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "demo.source_server",
            "--port",
            str(args.sources_port),
            "--scale",
            str(args.scale),
        ],
        cwd=REPO,
        stderr=open(airflow_home / "sources.log", "ab"),  # noqa: SIM115 - lives as long as the process
    )
    airflow = Airflow(
        airflow_environment(airflow_home, sources_url, args.api_port),
        args.api_port,
        airflow_home / "standalone.log",
    )
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        print("\nStopping Airflow and the demo sources ...", flush=True)
        airflow.stop()
        sources.terminate()
        sources.wait(10)
        print("Stopped.", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    print(
        f"Demo sources on {sources_url}; starting Airflow (logs: {airflow_home}/standalone.log) ...",
        flush=True,
    )
    airflow.wait_ready()
    producers, consumers = product_dag_ids()
    airflow.wait_for_dags(producers + consumers)
    for dag_id in consumers + producers:
        airflow.unpause(dag_id)
    time.sleep(10)  # unpausing lets the scheduler start the latest daily interval by itself
    for dag_id in producers:
        if not airflow.runs(dag_id):
            airflow.trigger(dag_id)
    print(
        f"\nThe data mesh is running.\n"
        f"  Airflow UI:    {airflow.url}  (log in as admin / admin, or viewer / viewer)\n"
        f"  Data Products: {airflow.url}/plugin/data-products\n"
        f"  Producers:     {', '.join(producers)} (daily, first runs started)\n"
        f"  Consumers:     {', '.join(consumers)} (run when their upstream products publish)\n"
        f"Press Ctrl-C to stop everything.",
        flush=True,
    )
    while True:
        if airflow.process.poll() is not None or sources.poll() is not None:
            print("A component exited; stopping.", flush=True)
            stop()
        time.sleep(2)


if __name__ == "__main__":
    main()
