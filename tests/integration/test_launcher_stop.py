"""`make run` then Ctrl-C: the launcher stops every process it started, quickly and without SIGKILL.

The launcher runs for real (demo sources, Airflow's scheduler, dag-processor, api-server and
triggerer, first producer runs) with its own AIRFLOW_HOME, stores and free ports. Ctrl-C is what
a terminal sends: SIGINT to the launcher's whole foreground process group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from tests.integration.conftest import _free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
STOP_WITHIN = 25.0  # the launcher's STOP_TIMEOUT (20 s) and a margin for its own last steps
READY = "The data mesh is running."


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except psutil.NoSuchProcess:
            pass
    return alive


def _describe(procs: list[psutil.Process]) -> list[str]:
    out = []
    for proc in procs:
        try:
            argv = proc.cmdline()
            if len(argv) > 2 and argv[1] == "-c":  # the launcher's `python -c ... airflow <component>`
                argv = ["airflow", *argv[3:]]
            out.append(f"{proc.pid} {' '.join(argv).strip()[:100]}")
        except psutil.Error:
            out.append(str(proc.pid))
    return out


def _launch(tmp_path: Path) -> subprocess.Popen:
    """`python -m demo.launcher` with its own AIRFLOW_HOME, stores and free ports."""
    api_port, sources_port = _free_port(), _free_port()
    env = dict(os.environ)
    env.update(
        {
            "DATA_MESH_HOME": str(REPO),
            "DATA_MESH_STORAGE_ROOT": str(tmp_path / "products"),
            "DATA_MESH_STAGING_ROOT": str(tmp_path / "staging"),
            "DATA_MESH_QUARANTINE_ROOT": str(tmp_path / "quarantine"),
            "DATA_MESH_METADATA_URL": f"sqlite:///{tmp_path / 'metadata.db'}",
            "DATA_MESH_OPENLINEAGE_FILE": str(tmp_path / "openlineage" / "events.jsonl"),
            "DATA_MESH_TASK_RETRIES": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    for key in [k for k in env if k.startswith("AIRFLOW_CONN_")]:
        del env[key]  # the launcher points the connections at its own demo sources
    return subprocess.Popen(
        [
            sys.executable, "-m", "demo.launcher",
            "--api-port", str(api_port),
            "--sources-port", str(sources_port),
            "--airflow-home", str(tmp_path / "airflow"),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the terminal's foreground group: the launcher and whatever shares it
    )  # fmt: skip


def _collect(launcher: subprocess.Popen, seen: dict[int, psutil.Process]) -> None:
    for proc in _descendants(launcher.pid):
        seen.setdefault(proc.pid, proc)


def test_ctrl_c_stops_every_process_without_sigkill(tmp_path):
    launcher = _launch(tmp_path)
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in launcher.stdout:
            lines.append(line)
            if READY in line:
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    seen: dict[int, psutil.Process] = {}
    try:
        deadline = time.monotonic() + 420
        while not ready.wait(2):
            _collect(launcher, seen)
            assert launcher.poll() is None, "launcher exited early:\n" + "".join(lines)
            assert time.monotonic() < deadline, "the mesh never reported running:\n" + "".join(lines)
        time.sleep(5)  # let the first producer runs get going: task supervisors and task processes
        _collect(launcher, seen)
        started = _alive(list(seen.values()))
        names = " ".join(" ".join(p.cmdline()) for p in started)
        for component in ("source_server", "scheduler", "dag-processor", "api", "triggerer"):
            assert component in names, f"{component} is not running: {_describe(started)}"

        labels = {p.pid: _describe([p])[0] for p in started}
        gone_after: dict[int, float] = {}
        t0 = time.monotonic()
        os.killpg(launcher.pid, signal.SIGINT)  # Ctrl-C
        while time.monotonic() - t0 < STOP_WITHIN + 5:
            _collect(launcher, seen)  # anything started while stopping counts too
            alive = {p.pid for p in _alive(list(seen.values()))}
            for pid in seen.keys() - alive:
                gone_after.setdefault(pid, time.monotonic() - t0)
            if launcher.poll() is not None and not alive:
                break
            time.sleep(0.1)
        took = time.monotonic() - t0
        left = _alive(list(seen.values()))
        reader.join(5)
        transcript = "".join(lines)
        print(f"\n{len(started)} processes ({len(seen)} seen in all) stopped in {took:.1f}s; slowest:")
        for pid, after in sorted(gone_after.items(), key=lambda item: -item[1])[:6]:
            print(f"  {after:5.1f}s  {labels.get(pid, pid)}")
        assert launcher.returncode == 0, f"launcher: {launcher.returncode} after {took:.1f}s\n{transcript}"
        assert not left, f"still alive after {took:.1f}s: {_describe(left)}"
        assert took < STOP_WITHIN, f"stopping took {took:.1f}s"
        assert "SIGKILL" not in transcript, transcript
        assert "Stopped in" in transcript, transcript
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "launcher-stop.log").write_text("".join(lines))
        for proc in _alive(list(seen.values())):
            proc.kill()
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
