"""`make bench`: every benchmark, printed as JSON (ratios against baselines measured in the same run)."""

from __future__ import annotations

import json
import sys

from bench import (
    catalog_api,
    commits,
    fetch,
    listener_overhead,
    mesh_scale,
    parse_time,
    pseudonymize,
    publish,
    sql_port,
)

BENCHMARKS = {
    "publish": publish.main,
    "pseudonymize": pseudonymize.main,
    "parse_time": parse_time.main,
    "catalog_api": catalog_api.main,
    "listener_overhead": listener_overhead.main,
    "sql_port": sql_port.main,
    "commits": commits.main,
    "mesh_scale": mesh_scale.main,
    "fetch": fetch.main,
}


def main() -> None:
    wanted = sys.argv[1:] or list(BENCHMARKS)
    pseudonymize.ensure_vault_connection()  # every publish tokenizes its restricted columns
    for name in wanted:
        print(f"== {name}", flush=True)
        print(json.dumps(BENCHMARKS[name](), indent=1), flush=True)


if __name__ == "__main__":
    main()
