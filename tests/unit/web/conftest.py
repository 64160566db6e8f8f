"""Fixtures of the web tests that build the whole plugin app (`create_app`)."""

from __future__ import annotations

import pytest


@pytest.fixture
def auth_manager():
    """The configured auth manager (Airflow's api-server creates it at startup)."""
    from airflow.api_fastapi import app as airflow_app

    before = airflow_app._AuthManagerState.instance
    airflow_app.create_auth_manager()
    yield
    airflow_app._AuthManagerState.instance = before
