"""The launchers' processes: each spawned in a session of its own, all stopped together (`stop_processes`).

Every component runs in a session (process group) of its own, so the terminal's Ctrl-C reaches the
launcher only. Stopping signals, at once, every process group of the processes started and of
their descendants: SIGTERM to the components, SIGINT to the groups Airflow's task processes run in
(SIGTERM would only call on_kill() and let the task run to its end). Processes named `last` (the
api-server) go once the rest is gone. One deadline (`STOP_TIMEOUT`) covers it all; only what is
still alive then is SIGKILLed, and named. See demo/launcher.py for the figures measured.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import psutil

# Seconds between SIGTERM to everything and SIGKILL to what is left. Airflow's own shutdown has
# waits of its own: a task supervisor escalates SIGINT -> SIGTERM -> SIGKILL 5 s apart and then
# reports the task's end to the api-server, the scheduler joins its LocalExecutor workers only
# after that, and the triggerer's kill of its runner subprocess took 10.1-10.2 s in 2 of 10 stops on
# the 2-core machine; a 12 s deadline needed SIGKILL in 1 of 11 stops there and once in CI (the
# scheduler waiting for a LocalExecutor worker, 12.1-12.2 s).
STOP_TIMEOUT = 20.0


def spawn(
    argv: list[str], log: Path | None, cwd: Path | str, env: dict[str, str] | None = None
) -> subprocess.Popen:
    """A child in a session of its own: the terminal's Ctrl-C never reaches it, `stop_processes` does."""
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - the child keeps its copy
    try:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=cwd,
            env=env,
        )
    finally:
        if not isinstance(out, int):
            out.close()


def _tree(roots: Iterable[psutil.Process]) -> list[psutil.Process]:
    """`roots` and all their descendants that are still there."""
    found: dict[int, psutil.Process] = {}
    for root in roots:
        try:
            for proc in (root, *root.children(recursive=True)):
                found.setdefault(proc.pid, proc)
        except psutil.NoSuchProcess:
            pass
    return list(found.values())


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _signal_all(procs: Iterable[psutil.Process], started_groups: set[int], signalled: set[int]) -> None:
    """Each process once, through its process group (`killpg`) unless that group had its signal already.

    The groups of the processes the launcher started get SIGTERM; groups their descendants made get
    SIGINT: those are Airflow's task processes, which Airflow itself stops with SIGINT first (a
    SIGTERM only calls the operator's on_kill() and the task runs on to its end). The launcher's own
    group is never signalled as a group. `signalled` is updated with the groups signalled here.
    """
    own_group = os.getpgrp()
    for proc in procs:
        try:
            group = os.getpgid(proc.pid)
            sig = signal.SIGTERM if group in started_groups or group == own_group else signal.SIGINT
            if group == own_group or group in signalled:
                proc.send_signal(sig)  # started after its group was signalled, or one of ours
            else:
                os.killpg(group, sig)
                signalled.add(group)
        except (psutil.NoSuchProcess, ProcessLookupError, PermissionError):
            pass


def _running(popens: Iterable[subprocess.Popen]) -> list[psutil.Process]:
    procs = []
    for popen in popens:
        if popen.poll() is None:
            with contextlib.suppress(psutil.NoSuchProcess):
                procs.append(psutil.Process(popen.pid))
    return procs


def stop_processes(
    processes: Iterable[subprocess.Popen],
    last: Iterable[subprocess.Popen] = (),
    timeout: float = STOP_TIMEOUT,
    hurry: Callable[[], bool] = lambda: False,
    say: Callable[[str], None] = lambda line: print(line, flush=True),
) -> list[str]:
    """Stop `processes`, then `last`, and everything they started; SIGKILL only what outlives `timeout`.

    Every process group of `processes` and of their descendants is signalled at once (see
    `_signal_all`); processes started meanwhile are signalled as they appear. `last` (the api-server,
    which task supervisors report to while they stop) is signalled once the others are gone, or
    after two thirds of `timeout`. What is still alive at `timeout` seconds, or as soon as `hurry()`
    is true, is SIGKILLed; returns those, one "pid command" line each (normally none).
    """
    first, last = list(processes), list(last)
    started_groups = {popen.pid for popen in first + last}  # each runs in a session of its own
    signalled: set[int] = set()
    seen: dict[int, psutil.Process] = {}

    def signal_new(procs: Iterable[psutil.Process]) -> list[psutil.Process]:
        new = [proc for proc in _tree(procs) if proc.pid not in seen]
        seen.update((proc.pid, proc) for proc in new)
        _signal_all(new, started_groups, signalled)
        return new

    start = time.monotonic()
    signal_new(_running(first))
    last_signalled = False
    while True:
        for popen in first + last:
            popen.poll()  # reaps our own children
        alive = [proc for proc in seen.values() if _alive(proc)]
        alive += signal_new(alive)  # e.g. a task the scheduler handed out as it was stopping
        elapsed = time.monotonic() - start
        if not last_signalled and (not alive or elapsed >= timeout * 2 / 3):
            last_signalled = True
            alive += signal_new(_running(last))
        if not alive or elapsed >= timeout or hurry():
            break
        time.sleep(0.1)
    killed = []
    for proc in alive:
        try:
            killed.append(f"{proc.pid} {' '.join(proc.cmdline()).strip()[:100] or proc.name()}")
        except psutil.Error:
            killed.append(str(proc.pid))
    if alive:
        say(
            f"{len(alive)} process(es) still running after {elapsed:.0f}s; sending SIGKILL: "
            + "; ".join(killed)
        )
        for proc in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(alive, timeout=5)
    for popen in first + last:
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(5)
    return killed
