"""`[core] hostname_callable` of the distributed run's Celery workers: one name per worker.

Two workers on one machine would both record the machine's name as `TaskInstance.hostname`; each
worker of `make run-distributed` gets `DATA_MESH_WORKER_HOSTNAME` (its Celery node name, e.g.
`worker1@<host>`) instead. Kept free of imports: every Airflow process of a worker imports it.
"""

from __future__ import annotations

import os
import socket


def worker_hostname() -> str:
    """`DATA_MESH_WORKER_HOSTNAME`, else the machine's FQDN (Airflow's own default)."""
    return os.environ.get("DATA_MESH_WORKER_HOSTNAME") or socket.getfqdn()
