"""Test set-up: an isolated embedded warehouse and Airflow home under .bhxh/test-home.

Environment is fixed before anything imports Airflow. The server is started once per session (and
stopped at the end if the session started it); each test that needs a clean database gets one.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
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


@contextmanager
def scratch_database(warehouse_url: str, name: str):
    """A fresh warehouse database ``name`` (raw schema, roles and logins created) that the package,
    dbt and Cosmos' connection use while the block runs; yields its owner's URL (the pipeline and dbt
    connect as their own logins, ``Settings.loader_url`` and ``transformer_url``)."""
    import psycopg

    from bhxh.dbt_config import WAREHOUSE_CONN_ID
    from bhxh.pipeline import init_schema
    from bhxh.settings import get_settings

    admin = warehouse_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"drop database if exists {name} with (force)")
        conn.execute(f"create database {name}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BHXH_DATABASE", name)
        url = get_settings().warehouse_url
        mp.setenv(f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}", get_settings().transformer_url)
        init_schema(get_settings())
        yield url


@pytest.fixture
def fresh_db(warehouse_url):
    """An empty warehouse database for one test (the raw schema created)."""
    with scratch_database(warehouse_url, "bhxh_test_unit") as url:
        yield url
