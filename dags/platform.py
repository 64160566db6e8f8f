"""Airflow DAGs of the platform itself: `data_mesh__slo`, the freshness SLO of every data product."""

from data_mesh import build_platform_dags

globals().update(build_platform_dags())
