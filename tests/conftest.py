"""Test set-up: an isolated embedded warehouse and Airflow home under .bhxh/test-home.

Environment is fixed before anything imports Airflow. The server is started once per session (and
stopped at the end if the session started it); each test that needs a clean database gets one.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
TEST_HOME = ROOT / ".bhxh" / "test-home"

os.environ.setdefault("BHXH_HOME", str(TEST_HOME))
os.environ.setdefault("BHXH_PSEUDONYM_KEY", "test-key-not-a-secret")
os.environ.pop("BHXH_WAREHOUSE_URL", None) if os.environ.get("BHXH_TEST_EXTERNAL") is None else None

from bhxh import airflow_env  # noqa: E402

airflow_env.configure()

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def warehouse_url():
    from bhxh import warehouse
    from bhxh.settings import get_settings

    settings = get_settings()
    was_running = warehouse.is_running(settings)
    url = warehouse.start(settings)
    yield url
    import sys

    if "airflow.settings" in sys.modules:  # close Airflow's pooled connections before the server goes
        sys.modules["airflow.settings"].dispose_orm()
    if not was_running and settings.embedded:
        warehouse.stop(settings)


@pytest.fixture
def fresh_db(warehouse_url, monkeypatch):
    """An empty warehouse database for one test (the raw schema created)."""
    import psycopg

    from bhxh.pipeline import init_schema
    from bhxh.settings import get_settings

    admin = warehouse_url.rsplit("/", 1)[0] + "/postgres"
    name = "bhxh_test_unit"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"drop database if exists {name} with (force)")
        conn.execute(f"create database {name}")
    monkeypatch.setenv("BHXH_DATABASE", name)
    init_schema(get_settings())
    return get_settings().warehouse_url
