"""`make bench`: the platform's benchmarks (ratios against baselines measured in the same run).

Every benchmark process, baselines included, loads the platform package first, as an Airflow worker
does when it parses a DAG file, so its process defaults (Arrow's allocator) apply to all cases alike.
"""

import data_mesh  # noqa: F401
