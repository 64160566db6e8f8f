"""The distributed launcher on another mesh (bench/mesh_distributed.py): its DAG files and its transforms.

A mesh outside this checkout (DATA_MESH_HOME, `--dags-folder`) must be what every Airflow process
parses and imports: the DAGs folder is the mesh's, and its transforms (`domains.<d>.<p>`, a package
name this checkout has too) import from the mesh's home, not from this checkout's `domains`.
"""

from __future__ import annotations

import os
import subprocess
import sys

from bench.mesh_generator import generate_mesh
from demo.distributed import Topology, environment
from demo.launcher import REPO


def test_the_dags_folder_is_the_checkouts_unless_another_mesh_is_named(tmp_path):
    default = environment(tmp_path, Topology(), "secret")
    assert default["AIRFLOW__CORE__DAGS_FOLDER"] == str(REPO / "dags")
    other = environment(tmp_path, Topology(), "secret", dags_folder=tmp_path / "mesh" / "dags")
    assert other["AIRFLOW__CORE__DAGS_FOLDER"] == str(tmp_path / "mesh" / "dags")


def test_another_meshs_transforms_import_from_its_home_in_the_airflow_processes(tmp_path, monkeypatch):
    mesh = generate_mesh(tmp_path / "mesh", domains=2, per_domain=3)
    monkeypatch.setenv("DATA_MESH_HOME", str(mesh.root))
    (tmp_path / "home").mkdir()
    env = environment(tmp_path / "home", Topology(), "secret", dags_folder=mesh.dags_folder)
    assert env["PYTHONPATH"].split(os.pathsep)[:2] == [str(mesh.root), str(REPO)]
    module = mesh.products[-1].id  # e.g. mesh01.ads_02
    code = f"import importlib; m = importlib.import_module('domains.{module}'); print(m.__file__)"
    found = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert found.stdout.strip().startswith(str(mesh.root / "domains")), found.stdout


def test_this_checkouts_home_is_not_put_twice_on_the_path(tmp_path, monkeypatch):
    monkeypatch.delenv("DATA_MESH_HOME", raising=False)
    env = environment(tmp_path, Topology(), "secret")
    assert env["DATA_MESH_HOME"] == str(REPO)
    assert env["PYTHONPATH"].split(os.pathsep)[:2] == [str(REPO), str(REPO / "plugins")]
