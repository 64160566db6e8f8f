"""Airflow DAGs of the sales domain: one DAG per data product declared in domains/sales/."""

from data_mesh import build_domain_dags

globals().update(build_domain_dags("sales"))
