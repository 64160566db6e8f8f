"""A full run of the generated 200-product mesh, with small data, on the distributed topology.

Not part of `make test` or of `make bench`'s default list (it takes tens of minutes): run it by hand,
`python -m bench mesh_distributed` (or `python -m bench.mesh_distributed --budget-min 60`).

What it does: `bench/mesh_generator.py` writes the mesh (20 domains x 10 products, product j of
domain k reads products j and j+2 of domain k-1: a chain 20 domains deep) into a temporary folder,
with the platform's own DAG file (`data_mesh__slo`) next to its 20 domain files; the distributed
topology (`bench.distributed_run`: CeleryExecutor, two workers of concurrency 2, Redis, PostgreSQL,
moto S3, private names) starts on it (`--dags-folder`, DATA_MESH_HOME / DATA_MESH_DOMAINS_FOLDER /
DATA_MESH_EXPECTATIONS_FOLDER pointing at the mesh) with the demo sources at scale `SCALE` (0.05:
about 100 orders and 64 ad rows a day). Every consumer is unpaused first, then the ten producers of
mesh00: unpausing starts each one's latest daily interval (yesterday, the partition every product
then builds); a producer with no run after `TRIGGER_GRACE_S` is triggered through the REST API. The
other 190 DAGs run on their inputs' Asset events only.

It waits until every DAG has a finished run, or nothing is running or queued any more (a failure
upstream leaves its downstream never triggered: "blocked"), or the budget (`BUDGET_S`, 45 min) ends,
and reports from Airflow's database: runs succeeded / failed / still active / never started, the
products published (a run whose `publish` succeeded: its teardown `cleanup` may still be waiting for
a slot, see below), each failed task with the last error of its log, the wall time (first producer
run's start to the last task's end), tasks per Celery worker, and the median task queued->start
and run time.

Seen on the first run (2026-12-04): with Airflow's default `weight_rule` (downstream), a run's
`cleanup` teardown has the lowest priority weight (1) and every newly triggered run's `fetch` the
highest (5), so while Asset events keep starting runs no run reaches its end: the products publish
(and trigger their consumers) but every run stays `running` until the queue drains.

Retries: the platform's defaults (2), with a 15 s delay instead of 120 s so that a retried task fits
the budget.
"""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.distributed_run import PrivateRun, private_run
from bench.mesh_generator import generate_mesh
from demo.launcher import REPO

SCALE = 0.05
BUDGET_S = 45 * 60  # a full run took 30.7 min on 2 cores (2026-12-04)
TRIGGER_GRACE_S = 20
STALL_S = 90  # nothing active and no new run for this long: the rest is blocked by failures
ACTIVE = ("queued", "running")


def _error_of(run: PrivateRun, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
    """The last error event of the task's log (Airflow 3 writes JSON lines), or a note that none was found."""
    path = run.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
    logs = sorted(path.glob(f"attempt={try_number}*.log")) or sorted(path.glob("attempt=*.log"))
    last = ""
    for log in logs[-1:]:
        for line in log.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("level") in ("error", "critical"):
                error = event.get("error_detail")
                detail = error[-1] if isinstance(error, list) and error else {}
                text = f"{detail.get('exc_type', '')}: {detail.get('exc_value', '')}" if detail else ""
                last = text or str(event.get("event", ""))
    return last[:400] or f"(no error line in {path})"


def _state(run: PrivateRun) -> dict[str, Any]:
    rows = run.db.rows("SELECT dag_id, state FROM dag_run WHERE dag_id LIKE 'mesh%'")
    by_state: dict[str, set[str]] = {}
    for dag_id, state in rows:
        by_state.setdefault(state, set()).add(dag_id)
    return {"runs": len(rows), "by_state": by_state}


def _wait(run: PrivateRun, dag_ids: list[str], deadline: float) -> str:
    """Until every DAG has a finished run and none is active; or a stall; or the deadline."""
    last_runs, still_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        state = _state(run)
        active = set().union(*(state["by_state"].get(s, set()) for s in ACTIVE))
        finished = state["by_state"].get("success", set()) | state["by_state"].get("failed", set())
        if not active and set(dag_ids) <= finished:
            return "complete"
        if state["runs"] != last_runs or active:
            last_runs, still_since = state["runs"], time.monotonic()
        elif time.monotonic() - still_since > STALL_S:
            return "stalled: nothing active and no new run (downstream of failures)"
        time.sleep(10)
    return "budget exhausted"


def _report(run: PrivateRun, dag_ids: list[str], outcome: str, waited_s: float) -> dict[str, Any]:
    db = run.db
    runs = db.rows(
        "SELECT dag_id, run_id, state, run_type, start_date, end_date FROM dag_run WHERE dag_id LIKE 'mesh%'"
    )
    states: dict[str, int] = {}
    for r in runs:
        states[r.state] = states.get(r.state, 0) + 1
    ran = {r.dag_id for r in runs}
    failed_tis = db.rows(
        "SELECT dag_id, run_id, task_id, try_number, hostname FROM task_instance "
        "WHERE dag_id LIKE 'mesh%' AND state IN ('failed', 'upstream_failed') ORDER BY dag_id"
    )
    failures = [
        {
            "dag_id": t.dag_id,
            "task": t.task_id,
            "worker": t.hostname,
            "error": _error_of(run, t.dag_id, t.run_id, t.task_id, t.try_number)
            if t.task_id != "cleanup"
            else "",
        }
        for t in failed_tis
        if t.task_id != "cleanup"
    ]
    per_worker = {
        host or "(none)": count
        for host, count in db.rows(
            "SELECT hostname, count(*) FROM task_instance WHERE dag_id LIKE 'mesh%' "
            "AND state IN ('success', 'failed') GROUP BY hostname ORDER BY hostname"
        )
    }
    timing = db.rows(
        "SELECT EXTRACT(EPOCH FROM start_date - queued_dttm), EXTRACT(EPOCH FROM end_date - start_date) "
        "FROM task_instance WHERE dag_id LIKE 'mesh%' AND state = 'success' AND queued_dttm IS NOT NULL"
    )
    published = db.rows(
        "SELECT count(DISTINCT dag_id) FROM task_instance "
        "WHERE dag_id LIKE 'mesh%' AND task_id = 'publish' AND state = 'success'"
    )[0][0]
    starts = [r.start_date for r in runs if r.start_date]
    ends = [  # the last task that finished (a run still in its teardown has no end_date yet)
        db.rows("SELECT max(end_date) FROM task_instance WHERE dag_id LIKE 'mesh%'")[0][0],
        *(r.end_date for r in runs if r.end_date),
    ]
    ends = [end for end in ends if end]
    return {
        "outcome": outcome,
        "products": len(dag_ids),
        "runs_by_state": states,
        "dags_succeeded": len({r.dag_id for r in runs if r.state == "success"}),
        "products_published": published,  # a run still in its cleanup (teardown) has published
        "dags_never_started": len(set(dag_ids) - ran),
        "run_types": sorted({r.run_type for r in runs}),
        "failures": failures[:40],
        "failures_total": len(failures),
        "wall_time_s": round((max(ends) - min(starts)).total_seconds(), 1) if starts and ends else None,
        "waited_s": round(waited_s, 1),
        "tasks_per_worker": per_worker,
        "task_queued_to_start_median_s": round(statistics.median(float(r[0]) for r in timing), 2)
        if timing
        else None,
        "task_run_median_s": round(statistics.median(float(r[1]) for r in timing), 2) if timing else None,
        "tasks_finished": sum(per_worker.values()),
        "startup_s": round(run.started_s, 1),
        "topology": f"CeleryExecutor, {len(run.topology.workers)} workers x concurrency "
        f"{run.topology.concurrency}, Redis, PostgreSQL, moto S3; demo sources at scale {SCALE}",
    }


def main(budget_s: float = BUDGET_S) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-mesh-distributed-") as tmp:
        mesh = generate_mesh(Path(tmp) / "mesh")
        shutil.copy(REPO / "dags" / "platform.py", mesh.dags_folder / "platform.py")  # the SLO DAG
        env = {k: v for k, v in mesh.environment().items() if k != "AIRFLOW__CORE__DAGS_FOLDER"}
        env["DATA_MESH_TASK_RETRY_DELAY_SECONDS"] = "15"
        extra = ["--dags-folder", str(mesh.dags_folder), "--sources-scale", str(SCALE)]
        with private_run(Path(tmp), extra_args=extra, env=env) as run:
            producers = [p.dag_id for p in mesh.products if not p.inputs]
            consumers = [p.dag_id for p in mesh.products if p.inputs]
            started = time.monotonic()
            for dag_id in consumers + producers:
                run.api.unpause(dag_id)
            time.sleep(TRIGGER_GRACE_S)  # unpausing starts each producer's latest daily interval
            for dag_id in producers:
                if not run.api.runs(dag_id):
                    run.api.trigger(dag_id)
            all_dags = producers + consumers
            outcome = _wait(run, all_dags, started + budget_s)
            return _report(run, all_dags, outcome, time.monotonic() - started)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budget-min", type=float, default=BUDGET_S / 60, help="stop waiting after this")
    args = parser.parse_args()
    print(json.dumps(main(args.budget_min * 60), indent=1, default=str))
