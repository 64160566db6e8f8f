"""Airflow DAGs of the finance domain: one DAG per data product declared in domains/finance/."""

from data_mesh import build_domain_dags

globals().update(build_domain_dags("finance"))
