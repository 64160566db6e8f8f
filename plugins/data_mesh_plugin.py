"""Airflow loads this file from plugins/ (data_mesh/ itself is hidden by .airflowignore)."""

from data_mesh.airflow_plugin import DataMeshPlugin

__all__ = ["DataMeshPlugin"]
