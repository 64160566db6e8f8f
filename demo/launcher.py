"""`make run`: the whole mesh on the embedded default, with no external service.

Starts the demo source server and Airflow's components (scheduler, dag-processor, api-server,
triggerer on SQLite with the LocalExecutor, what `airflow standalone` runs), unpauses every domain
DAG, makes sure each producer has a first run, prints where to log in, and stops every process it
started on Ctrl-C.

Stopping: every component runs in a session (process group) of its own, so the terminal's Ctrl-C
reaches the launcher only. The launcher then signals, at once, every process group of the processes
it started and of their descendants: SIGTERM to the components (scheduler with its LocalExecutor
workers and task supervisors, dag-processor, triggerer, serve-logs, demo sources), SIGINT to the
groups Airflow's task processes run in (SIGTERM would only call on_kill() and let the task run to
its end, which the scheduler waits for). The api-server goes last, once the rest is gone (task
supervisors report the interrupted tasks to it). One deadline (`STOP_TIMEOUT`) covers it all; only
what is still alive then is SIGKILLed, and the launcher says so. A second Ctrl-C skips the wait.

It could take a minute: `airflow standalone` got SIGINT for its whole group, so every component
was signalled twice; the LocalExecutor then waited for the running tasks to finish, standalone
waited for every process holding its output pipe (task processes included), and the launcher
SIGKILLed the group after 60 s. Now it takes 1-11 s (10 stops measured: 0.7 s, 5.1-5.6 s seven
times, 10.2 s twice). Each Airflow process also spends seconds in the interpreter's last
garbage collections at exit, see `AIRFLOW_FAST_EXIT`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import requests

from demo.processes import STOP_TIMEOUT, spawn, stop_processes

REPO = Path(__file__).resolve().parents[1]
AIRFLOW_COMPONENTS = ("scheduler", "dag-processor", "triggerer", "api-server")
# `airflow <command>` as the `airflow` script runs it, except that the interpreter's last garbage
# collections are skipped at exit: with the ~10^6 objects an Airflow component holds they take
# seconds of CPU per process (4 or more processes at once on a small machine), after the component
# has already shut down. gc.freeze() registered first runs last, after Airflow's own exit handlers.
AIRFLOW_FAST_EXIT = (
    "import atexit, gc, sys; atexit.register(gc.freeze); sys.argv[0] = {script!r}; "
    "from airflow.__main__ import main; sys.exit(main())"
)
DEMO_SECRETS = {  # the demo server's fake credentials; real deployments keep theirs in Connections
    "marketing_ads_api": {"password": "demo-ads-key"},
    "sales_crm_api": {"password": "demo-crm-token"},
    "finance_erp": {"login": "finance", "password": "demo-erp-password"},
    "world_bank_api": {},
}
ALERTS_CONN_ENV = "AIRFLOW_CONN_DATA_MESH_ALERTS"  # SLO alerts: the demo server's webhook receiver
DEMO_ALERTS_TOKEN = "demo-alerts-token"
SLO_DAG_ID = "data_mesh__slo"


# Demo logins (SimpleAuthManager): user -> (role, password). The product owners of the contracts
# approve access requests to their products; `viewer` is a consumer with no grant.
DEMO_USERS = {
    "admin": ("admin", "admin"),
    "viewer": ("viewer", "viewer"),
    "alice.sales": ("user", "alice"),
    "carol.marketing": ("user", "carol"),
    "erin.finance": ("user", "erin"),
}
VAULT_CONN_ENV = "AIRFLOW_CONN_DATA_MESH_VAULT"


def vault_connection(airflow_home: Path) -> str:
    """The PII vault's Connection (AES-256-GCM key, HMAC secret), made once per AIRFLOW_HOME, mode 0600.

    A real deployment puts `data_mesh_vault` in its secrets backend instead; this file only exists
    so that the embedded default needs no configuration.
    """
    path = airflow_home / "data_mesh_vault.json"
    if not path.exists():
        from data_mesh.governance.vault import new_keys

        keys = new_keys()
        conn = {
            "conn_type": "generic",
            "password": keys["password"],
            "extra": {"hmac_secret": keys["hmac_secret"]},
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(conn, out)
    return path.read_text()


def airflow_environment(airflow_home: Path, sources_url: str, api_port: int = 8080) -> dict[str, str]:
    """Environment of every Airflow process: embedded default, sized for a small machine."""
    passwords = airflow_home / "passwords.json"
    wanted = {user: password for user, (_, password) in DEMO_USERS.items()}
    known = json.loads(passwords.read_text()) if passwords.exists() else {}
    if any(known.get(user) != password for user, password in wanted.items()):
        passwords.write_text(json.dumps({**known, **wanted}))  # known demo logins, not generated ones
    env = dict(os.environ)
    home = env.get("DATA_MESH_HOME", str(REPO))
    env.update(
        {
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
                f"{user}:{role}" for user, (role, _) in DEMO_USERS.items()
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": f"http://localhost:{api_port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{api_port}/execution/",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "DATA_MESH_HOME": home,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            # this checkout first (an editable install of another checkout must not win), after another
            # mesh's home when DATA_MESH_HOME names one: the transforms `domains.<d>.<p>` import from it
            "PYTHONPATH": os.pathsep.join(
                filter(
                    None,
                    [
                        home if home != str(REPO) else "",
                        str(REPO),
                        str(REPO / "plugins"),
                        env.get("PYTHONPATH", ""),
                    ],
                )
            ),
        }
    )
    for conn_id, secret in DEMO_SECRETS.items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(
            {"conn_type": "http", "host": sources_url, **secret}
        )
    if not env.get(ALERTS_CONN_ENV):  # alerts land in the demo server: GET <sources>/_control/webhooks
        env[ALERTS_CONN_ENV] = json.dumps(
            {"conn_type": "http", "host": f"{sources_url}/_control/webhook", "password": DEMO_ALERTS_TOKEN}
        )
    if not env.get(VAULT_CONN_ENV):
        env[VAULT_CONN_ENV] = vault_connection(airflow_home)
    return env


class AirflowApi:
    """Airflow's REST API as the admin user: DAGs, runs, triggers (what the launchers and tests drive)."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url, self.token = url, token

    def login(self, username: str, password: str) -> str:
        answer = requests.post(
            f"{self.url}/auth/token", json={"username": username, "password": password}, timeout=10
        )
        answer.raise_for_status()
        return answer.json()["access_token"]

    def api(self, method: str, path: str, **kwargs: Any) -> dict:
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
            known = self.dag_ids()
            if set(dag_ids) <= known:
                return
            time.sleep(3)
        raise TimeoutError(f"DAGs {sorted(set(dag_ids) - known)} not parsed after {timeout:.0f}s")

    def dag_ids(self) -> set[str]:
        """Every DAG Airflow knows, page by page (the API answers 100 at most per page)."""
        known: set[str] = set()
        while True:
            page = self.api("GET", "/dags", params={"limit": 100, "offset": len(known)})
            known.update(d["dag_id"] for d in page["dags"])
            if not page["dags"] or len(known) >= page["total_entries"]:
                return known

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        run = self.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}})
        return run["dag_run_id"]

    def runs(self, dag_id: str) -> list[dict]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns", params={"order_by": "-run_after"})["dag_runs"]

    def check_alive(self) -> None:
        """Raise if a component this client started has exited (nothing to check for a remote Airflow)."""

    def wait_for_run(self, dag_id: str, predicate, timeout: float = 300) -> dict:
        """The newest run matching `predicate` once it has finished (success or failed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = [r for r in self.runs(dag_id) if predicate(r)]
            if runs and runs[0]["state"] in {"success", "failed"}:
                return runs[0]
            self.check_alive()  # a dead scheduler runs nothing: say so now, not at the timeout
            time.sleep(3)
        raise TimeoutError(f"{dag_id}: no finished run after {timeout:.0f}s: {self.runs(dag_id)}")


class Airflow(AirflowApi):
    """Airflow's components, each in its own session, started as `airflow standalone` would; a REST client.

    `components`: name -> (arguments of `airflow`, extra environment of that process); by default
    scheduler, dag-processor, triggerer and api-server with `env` alone. `log_path` names the logs:
    `<stem>.db-migrate<suffix>`, `<stem>.scheduler<suffix>`, ... next to it.
    """

    def __init__(
        self,
        env: dict[str, str],
        api_port: int = 8080,
        log_path: Path | None = None,
        components: dict[str, tuple[list[str], dict[str, str]]] | None = None,
    ) -> None:
        super().__init__(f"http://localhost:{api_port}")
        self.env = env
        self.log_path = log_path
        self.components = components or {name: ([name], {}) for name in AIRFLOW_COMPONENTS}
        self.airflow = str(Path(sys.executable).parent / "airflow")
        self.processes: dict[str, subprocess.Popen] = {}
        self._start("db-migrate", [self.airflow, "db", "migrate"])

    def _log_of(self, name: str) -> Path | None:
        """Component `name`'s log: `<stem>.<name><suffix>` next to `log_path` (None: not kept)."""
        if not self.log_path:
            return None
        return self.log_path.with_name(f"{self.log_path.stem}.{name}{self.log_path.suffix}")

    def _start(self, name: str, argv: list[str], extra_env: dict[str, str] | None = None) -> None:
        env = {**self.env, **(extra_env or {})}
        self.processes[name] = spawn(argv, self._log_of(name), env=env, cwd=self.env["AIRFLOW_HOME"])

    def restart(self, name: str) -> None:
        """Start component `name` as it was started (first start, or a worker after a crash)."""
        args, extra_env = self.components[name]
        fast_exit = [sys.executable, "-c", AIRFLOW_FAST_EXIT.format(script=self.airflow)]
        self._start(name, [*fast_exit, *args], extra_env)

    def exited(self) -> str | None:
        """The first component that is no longer running ("name (exit code)"), if any."""
        for name, process in self.processes.items():
            if name != "db-migrate" and process.poll() is not None:
                return f"{name} (exit code {process.returncode})"
        return None

    def check_alive(self) -> None:
        if exited := self.exited():
            log = self._log_of(exited.split()[0]) or "not kept"
            raise RuntimeError(f"airflow {exited} exited; its log: {log}")

    def stop_components(self, names: Iterable[str], timeout: float = STOP_TIMEOUT) -> None:
        """Stop these components and what they started (`restart(name)` starts each again)."""
        stop_processes([self.processes[name] for name in names], timeout=timeout, say=lambda _: None)

    def wait_ready(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        migrate = self.processes["db-migrate"]
        try:
            if migrate.wait(timeout) != 0:
                raise RuntimeError(f"airflow db migrate exited with {migrate.returncode}")
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"airflow db migrate still running after {timeout:.0f}s") from None
        if len(self.processes) == 1:
            for name in self.components:
                self.restart(name)
        while time.monotonic() < deadline:
            if exited := self.exited():
                raise RuntimeError(f"airflow {exited} exited")
            try:
                if requests.get(f"{self.url}/api/v2/monitor/health", timeout=2).ok:
                    self.token = self.login("admin", "admin")
                    return
            except requests.RequestException:
                pass
            time.sleep(1)
        raise TimeoutError(f"Airflow API not ready at {self.url} after {timeout:.0f}s")

    def stop(self, timeout: float = STOP_TIMEOUT) -> list[str]:
        """Every component and everything it started (see `stop_processes`); returns what was SIGKILLed."""
        return stop_processes(*self.stop_order(), timeout=timeout)

    def stop_order(self) -> tuple[list[subprocess.Popen], list[subprocess.Popen]]:
        """(every component but the api-server, the api-server): tasks report to it while they stop."""
        first = [p for name, p in self.processes.items() if name != "api-server"]
        return first, [p for name, p in self.processes.items() if name == "api-server"]


def product_dag_ids() -> tuple[list[str], list[str]]:
    """(producers scheduled on a clock, consumers scheduled on upstream Assets)."""
    sys.path.insert(0, str(REPO / "plugins"))
    from data_mesh.contract.registry import load_products

    specs = load_products().values()
    return [s.dag_id for s in specs if not s.inputs], [s.dag_id for s in specs if s.inputs]


def start_mesh(airflow: AirflowApi) -> tuple[list[str], list[str]]:
    """Unpause every product DAG and the SLO DAG; make sure each producer has a first run."""
    producers, consumers = product_dag_ids()
    airflow.wait_for_dags(producers + consumers + [SLO_DAG_ID])
    for dag_id in [SLO_DAG_ID, *consumers, *producers]:
        airflow.unpause(dag_id)
    time.sleep(10)  # unpausing lets the scheduler start the latest daily interval by itself
    for dag_id in producers:
        if not airflow.runs(dag_id):
            airflow.trigger(dag_id)
    return producers, consumers


def serve(
    start: Callable[[list[subprocess.Popen]], Airflow],
    ready: Callable[[Airflow], str],
    what: str = "Airflow and the demo sources",
) -> None:
    """Run until Ctrl-C (or a component exits), then stop everything that was started.

    `start(helpers)` spawns the helper processes (appending each to `helpers` at once, so that a
    Ctrl-C during the start still stops them) and returns the Airflow components; `ready(airflow)`
    runs once Airflow answers and returns the banner to print. Exits 1 if a component died.
    """
    stopping = hurry = False

    def interrupted(signum: int, _: object) -> None:
        nonlocal hurry
        if stopping:  # Ctrl-C again while stopping: SIGKILL what is left without waiting
            hurry = True
            return
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    helpers: list[subprocess.Popen] = []
    airflow: Airflow | None = None
    failed = False
    try:
        airflow = start(helpers)
        airflow.wait_ready()
        print(ready(airflow), flush=True)
        while not (exited := airflow.exited() or _helper_exited(helpers)):
            time.sleep(2)
        print(f"{exited} exited; stopping.", flush=True)
        failed = True
    except KeyboardInterrupt:
        pass
    finally:
        stopping = True
        first, last = airflow.stop_order() if airflow else ([], [])
        print(f"\nStopping {what} (up to {STOP_TIMEOUT:.0f}s) ...", flush=True)
        t0 = time.monotonic()
        killed = stop_processes([*helpers, *first], last, hurry=lambda: hurry)
        how = f"; {len(killed)} process(es) needed SIGKILL" if killed else ""
        print(f"Stopped in {time.monotonic() - t0:.1f}s{how}.", flush=True)
    if failed:
        sys.exit(1)


def _helper_exited(helpers: list[subprocess.Popen]) -> str | None:
    for popen in helpers:
        if popen.poll() is not None:
            return f"{' '.join(map(str, popen.args[1:4]))} (exit code {popen.returncode})"  # type: ignore[index]
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api-port", type=int, default=8080)
    parser.add_argument("--sources-port", type=int, default=8900)
    parser.add_argument("--scale", type=int, default=1, help="demo source volume multiplier")
    parser.add_argument("--airflow-home", type=Path, default=REPO / ".airflow", help="AIRFLOW_HOME and logs")
    args = parser.parse_args()

    airflow_home = args.airflow_home.resolve()
    airflow_home.mkdir(parents=True, exist_ok=True)
    sources_url = f"http://127.0.0.1:{args.sources_port}"

    def start(helpers: list[subprocess.Popen]) -> Airflow:
        helpers.append(start_sources(args.sources_port, args.scale, airflow_home / "sources.log"))
        env = airflow_environment(airflow_home, sources_url, args.api_port)
        print(
            f"Demo sources on {sources_url}; starting Airflow "
            f"(logs: {airflow_home}/airflow.<component>.log) ...",
            flush=True,
        )
        return Airflow(env, args.api_port, airflow_home / "airflow.log")

    def ready(airflow: Airflow) -> str:
        producers, consumers = start_mesh(airflow)
        return (
            f"\nThe data mesh is running.\n"
            f"  Airflow UI:    {airflow.url}  (admin / admin, viewer / viewer, owner alice.sales / alice)\n"
            f"  Data Products: {airflow.url}/plugin/data-products\n"
            f"  Producers:     {', '.join(producers)} (daily, first runs started)\n"
            f"  Consumers:     {', '.join(consumers)} (run when their upstream products publish)\n"
            f"  SLO alerts:    {SLO_DAG_ID} every few minutes; received at {sources_url}/_control/webhooks\n"
            f"Press Ctrl-C to stop everything."
        )

    serve(start, ready)


def start_sources(port: int, scale: float, log: Path) -> subprocess.Popen:
    """The demo source server (`demo.source_server`) as a process of its own."""
    return spawn(
        [sys.executable, "-m", "demo.source_server", "--port", str(port), "--scale", str(scale)],
        log,
        cwd=REPO,
    )


if __name__ == "__main__":
    main()
