"""The platform DAG `data_mesh__slo`: its interval from the conf module, no catchup, one run at a time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from data_mesh.slo.dag import SLO_DAG_ID, build_platform_dags


def test_every_five_minutes_by_default_no_catchup_one_run_at_a_time(monkeypatch):
    monkeypatch.delenv("DATA_MESH_SLO_INTERVAL_MINUTES", raising=False)
    dag = build_platform_dags()[SLO_DAG_ID]
    assert dag.timetable.delta == timedelta(minutes=5)
    assert (dag.catchup, dag.max_active_runs, [t.task_id for t in dag.tasks]) == (False, 1, ["evaluate"])


def test_the_interval_is_configurable_and_checked(monkeypatch):
    monkeypatch.setenv("DATA_MESH_SLO_INTERVAL_MINUTES", "2")
    assert build_platform_dags()[SLO_DAG_ID].timetable.delta == timedelta(minutes=2)
    monkeypatch.setenv("DATA_MESH_SLO_INTERVAL_MINUTES", "0")
    with pytest.raises(ValueError, match="DATA_MESH_SLO_INTERVAL_MINUTES must be a number of minutes > 0"):
        build_platform_dags()
