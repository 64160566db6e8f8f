"""Parse time of each DAG file: a fresh interpreter importing it, minus a bare interpreter.

Also reported minus an interpreter that has already imported `airflow.sdk`, which is what the
dag-processor pays per file (it has Airflow loaded already). Median of several runs.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUNS = 5


def _median_seconds(code: str) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> dict:
    bare = _median_seconds("pass")
    with_airflow = _median_seconds("import airflow.sdk")
    files = {}
    for dag_file in sorted((REPO / "dags").glob("*.py")):
        total = _median_seconds(f"import runpy; runpy.run_path({str(dag_file)!r})")
        files[dag_file.name] = {
            "minus_bare_interpreter_s": round(total - bare, 3),
            "minus_airflow_loaded_s": round(total - with_airflow, 3),
        }
    return {
        "bare_interpreter_s": round(bare, 3),
        "airflow_sdk_import_s": round(with_airflow - bare, 3),
        "files": files,
        "target": "<= 0.3 s per file",
    }


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=1))
