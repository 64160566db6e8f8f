"""Task-run records the listener could not write, kept on disk until the metadata store is back.

The listener never fails a task over metadata; before this spool, a store outage lost the records
of every task try it spanned (found by the distributed fault test: PostgreSQL refusing connections
for 30 s). Now a record that cannot be written is kept as one JSON file in
`conf.listener_spool_dir()` (by default `<staging root>/_listener_spool`: the staging root is
shared by the workers, so any worker replays what another one kept), the loss is reported in the
task log with the number of records waiting, and the next record written by any task replays them.

Invariants:
- a file is written whole (temporary name, then rename) and is claimed by renaming it before it is
  replayed: two task processes never replay the same record, and a crash mid-replay leaves the
  claimed file, which the next replay takes over once it is `STALE_CLAIM_SECONDS` old;
- replay runs before the new record is written, oldest first, and stops at the first failure (the
  store is down again: what is left stays spooled). Records are upserts keyed by the task try, and
  the store never lets a `running` record replace a final one, so a late replay cannot regress a try;
- a spool that cannot be written is logged as lost, with the record, never raised.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from data_mesh import conf

if TYPE_CHECKING:
    from data_mesh.metadata.store import TaskRunRecord

log = logging.getLogger(__name__)

SUFFIX = ".json"
CLAIMED = ".claimed"
STALE_CLAIM_SECONDS = 300.0
DATES = ("start_date", "end_date", "recorded_at")


def folder() -> Path:
    return Path(conf.listener_spool_dir())


def keep(record: TaskRunRecord) -> Path:
    """Write `record` to the spool; returns its file."""
    values = dataclasses.asdict(record)
    values.pop("id", None)
    for name in DATES:
        if isinstance(values.get(name), datetime):
            values[name] = values[name].isoformat()
    target = folder()
    target.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
    temporary = target / f".{name}.tmp"
    temporary.write_text(json.dumps(values), encoding="utf-8")
    path = target / f"{name}{SUFFIX}"
    os.replace(temporary, path)
    return path


def pending() -> int:
    """Records waiting in the spool (claimed ones included)."""
    target = folder()
    if not target.is_dir():
        return 0
    return sum(1 for p in target.iterdir() if p.name.endswith((SUFFIX, SUFFIX + CLAIMED)))


def _load(path: Path) -> TaskRunRecord:
    from data_mesh.metadata.store import TaskRunRecord

    values = json.loads(path.read_text(encoding="utf-8"))
    for name in DATES:
        if values.get(name):
            values[name] = datetime.fromisoformat(values[name])
    return TaskRunRecord(**values)


def _claimable(target: Path) -> list[Path]:
    now = time.time()
    found = []
    for path in target.iterdir():
        if path.name.endswith(SUFFIX):
            found.append(path)
        elif path.name.endswith(SUFFIX + CLAIMED):
            try:
                if now - path.stat().st_mtime > STALE_CLAIM_SECONDS:
                    found.append(path)
            except FileNotFoundError:
                pass
    return sorted(found, key=lambda p: p.name)


def replay(write: Callable[[TaskRunRecord], None]) -> int:
    """Write every spooled record with `write`, oldest first; returns how many were written.

    The first failure is raised (the rest stays spooled); a record claimed by another process is
    skipped; an unreadable file is set aside as `<name>.bad` and logged.
    """
    target = folder()
    if not target.is_dir():
        return 0
    written = 0
    for path in _claimable(target):
        original = path.with_name(path.name.removesuffix(CLAIMED))
        claimed = original.with_name(original.name + CLAIMED)
        try:
            os.replace(path, claimed)  # a stale claim is renamed onto itself: its mtime is unchanged
            os.utime(claimed)
        except FileNotFoundError:
            continue  # another task process claimed it
        try:
            record = _load(claimed)
        except (ValueError, TypeError, OSError) as error:
            log.error("data mesh: spooled task run %s is unreadable, set aside: %s", claimed, error)
            os.replace(claimed, claimed.with_name(claimed.name + ".bad"))
            continue
        try:
            write(record)
        except BaseException:
            os.replace(claimed, original)  # back in the spool
            raise
        claimed.unlink(missing_ok=True)
        written += 1
    if written:
        log.info("data mesh: %d spooled task run record(s) written to the metadata store", written)
    return written
