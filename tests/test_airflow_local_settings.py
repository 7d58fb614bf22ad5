"""Airflow's local settings (airflow_local_settings.py, installed with the package): the processes
that fork tasks (the scheduler, whose LocalExecutor workers run them, and Celery workers) import the
loads' heavy modules once, so no task pays for them; no other Airflow process does."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from .conftest import ROOT

PROBE = ("import sys; sys.argv = {argv!r}; import airflow_local_settings as s; "
         "print(s.__all__, 'great_expectations' in sys.modules, 'pandas' in sys.modules)")


def test_installed_with_the_package():
    spec = importlib.util.find_spec("airflow_local_settings")
    assert spec is not None and spec.origin == str(ROOT / "airflow_local_settings.py")


@pytest.mark.parametrize(("argv", "imports"), [
    (["airflow", "scheduler"], True),
    (["airflow", "celery", "worker", "--queues", "default"], True),
    (["airflow", "api-server", "--port", "8080"], False),
    (["airflow", "dag-processor"], False),
    (["airflow", "triggerer"], False),
    (["airflow", "dags", "test", "bhxh_daily_collection"], False),
    (["airflow", "celery", "flower"], False),
])
def test_only_processes_that_fork_tasks_import_the_loads_modules(argv, imports):
    # a fresh interpreter each: what this test process imported must not count
    out = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True, text=True,
                         check=True, cwd="/").stdout.split()
    # __all__ is empty: Airflow copies the names listed into airflow.settings, and there are none
    assert out == ["[]", str(imports), str(imports)]
