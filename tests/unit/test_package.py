"""What loading the `data_mesh` package does to a process: its one default, Arrow's allocator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
PROBE = "import data_mesh, pyarrow as pa; print(pa.default_memory_pool().backend_name)"


def _backend(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**clean, "PYTHONPATH": str(PLUGINS), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def test_a_process_that_loads_the_platform_allocates_arrow_memory_with_jemalloc():
    assert _backend() == "jemalloc"


def test_the_deployments_own_choice_of_allocator_wins():
    assert _backend(ARROW_DEFAULT_MEMORY_POOL="system") == "system"
