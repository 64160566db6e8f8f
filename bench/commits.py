"""Commit throughput with 4 concurrent publishers on the PostgreSQL catalog, against 1 publisher.

Each publisher commits COMMITS versions of its own partition of one product (100 rows each), as
fast as it can; the baseline is one publisher alone doing the same number of commits in the same
run. Reported: commits per second both ways, the 4-publisher/1-publisher ratio, how many commits
had to be retried after losing a race, and lost commits (versions expected minus versions found;
must be 0). PostgreSQL: DATA_MESH_TEST_POSTGRES_URL or the local default; warehouse in a temp dir.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
import uuid

COMMITS = 10
PUBLISHERS = 4
PG_DEFAULT = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


class _Races(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "lost a race" in record.getMessage():
            self.count += 1


def _run(publishers: int, product: str) -> tuple[float, int, int]:
    """(seconds, commits reported done but not found (lost), commits that failed cleanly)."""
    from dataclasses import replace

    from data_mesh.contract.registry import get_product
    from data_mesh.storage.products import product_storage
    from tests.unit.storage.test_products import ads_rows

    base = get_product(product)
    spec = replace(base, sla=replace(base.sla, retention_versions=1000))  # count commits, keep them all
    product_storage(spec).publish(ads_rows("2026-10-01", 1), "2026-10-01", "h", f"create-{uuid.uuid4()}")
    start_versions = len(product_storage(spec).versions())

    committed: list[int] = []
    failed: list[str] = []

    def publish(worker: int) -> None:
        day = f"2026-11-{worker + 1:02d}"
        for i in range(COMMITS):
            try:
                product_storage(spec).publish(ads_rows(day, 100), day, "h", f"w{worker}-{i}-{uuid.uuid4()}")
            except RuntimeError as error:  # gave up after its attempts: a clean failure, retried by Airflow
                failed.append(str(error))
            else:
                committed.append(worker)

    threads = [threading.Thread(target=publish, args=(w,)) for w in range(publishers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    found = len(product_storage(spec).versions()) - start_versions
    return seconds, len(committed) - found, len(failed)


def main() -> dict:
    import sqlalchemy as sa

    url = os.environ.get("DATA_MESH_TEST_POSTGRES_URL", PG_DEFAULT)
    schema = f"bench_commits_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    races = _Races()
    logging.getLogger("data_mesh.storage.iceberg").addHandler(races)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["DATA_MESH_STORAGE_ROOT"] = f"{tmp}/warehouse"
            scoped = sa.engine.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
            os.environ["DATA_MESH_METADATA_URL"] = scoped.render_as_string(hide_password=False)
            one_s, one_lost, one_failed = _run(1, "marketing.ads_performance")
            before = races.count
            many_s, many_lost, many_failed = _run(PUBLISHERS, "marketing.ads_performance")
            retried = races.count - before
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
    one_rate, many_rate = COMMITS / one_s, PUBLISHERS * COMMITS / many_s
    return {
        "commits_per_publisher": COMMITS,
        "one_publisher_commits_per_s": round(one_rate, 2),
        "four_publishers_commits_per_s": round(many_rate, 2),
        "four_over_one": round(many_rate / one_rate, 2),
        "commits_retried_after_a_race": retried,
        "failed_cleanly": one_failed + many_failed,
        "lost": one_lost + many_lost,
        "targets": {"lost": "0"},
    }


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=1))
