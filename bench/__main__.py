"""`make bench`: every benchmark, printed as JSON (ratios against baselines measured in the same run)."""

from __future__ import annotations

import json
import sys

from bench import (
    asset_latency,
    catalog_api,
    commits,
    fetch,
    listener_overhead,
    mesh_distributed,
    mesh_scale,
    parse_time,
    pseudonymize,
    publish,
    sql_port,
)

BENCHMARKS = {
    "publish": publish.main,
    "publish_10m": publish.main_10m,
    "pseudonymize": pseudonymize.main,
    "parse_time": parse_time.main,
    "catalog_api": catalog_api.main,
    "listener_overhead": listener_overhead.main,
    "sql_port": sql_port.main,
    "commits": commits.main,
    "mesh_scale": mesh_scale.main,
    "fetch": fetch.main,
    "asset_latency": asset_latency.main,
}
# run by name only (`python -m bench mesh_distributed`): tens of minutes on the distributed topology
BY_HAND = {"mesh_distributed": mesh_distributed.main}


def main() -> None:
    wanted = sys.argv[1:] or list(BENCHMARKS)
    pseudonymize.ensure_vault_connection()  # every publish tokenizes its restricted columns
    for name in wanted:
        print(f"== {name}", flush=True)
        print(json.dumps({**BENCHMARKS, **BY_HAND}[name](), indent=1, default=str), flush=True)


if __name__ == "__main__":
    main()
