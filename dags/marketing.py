"""Airflow DAGs of the marketing domain: one DAG per data product declared in domains/marketing/."""

from data_mesh import build_domain_dags

globals().update(build_domain_dags("marketing"))
