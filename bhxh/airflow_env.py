"""Airflow, set up for this project: AIRFLOW_HOME, the DAGs folder, the metadata database, and the
warehouse connection, all derived from the settings. Call ``configure()`` before importing airflow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bhxh.dbt_config import WAREHOUSE_CONN_ID
from bhxh.settings import Settings, get_settings


def airflow_environ(settings: Settings | None = None) -> dict[str, str]:
    settings = settings or get_settings()
    env = {
        "AIRFLOW_HOME": str(settings.airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_dir),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": os.environ.get("AIRFLOW__CORE__EXECUTOR", "LocalExecutor"),
        "AIRFLOW__CORE__PARALLELISM": os.environ.get("AIRFLOW__CORE__PARALLELISM", "4"),
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Asia/Ho_Chi_Minh",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": settings.airflow_db_url,
        "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        # Cosmos' profile mapping reads this connection: dbt runs as the transformer's login
        f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}": settings.transformer_url,
        "BHXH_HOME": str(settings.home),
        "BHXH_REFERENCE_DIR": str(settings.reference_dir),
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",  # no network here, and none wanted
        # Cosmos' watcher producer otherwise rewrites an Airflow Variable holding every XCom it has pushed
        # (compiled SQL included) after each push, for a retry the producer never gets (retries=0,
        # bhxh.dbt_config.producer_first): it still writes that backup when it fails
        "AIRFLOW__COSMOS__ENABLE_WATCHER_RELIABLE_RETRY": os.environ.get(
            "AIRFLOW__COSMOS__ENABLE_WATCHER_RELIABLE_RETRY", "False"),
        "DO_NOT_TRACK": "1",
        "SCARF_ANALYTICS": "false",
        "NO_PROXY": "*",  # macOS/Linux proxy lookups can hang forked task processes
    }
    for name, value in (("BHXH_WAREHOUSE_URL", settings.warehouse_url_override),
                        ("BHXH_LOADER_URL", settings.loader_url_override),
                        ("BHXH_TRANSFORMER_URL", settings.transformer_url_override)):
        if value:
            env[name] = value
    return env


def configure(settings: Settings | None = None) -> dict[str, str]:
    env = airflow_environ(settings)
    os.environ.update(env)
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    return env


def migrate(settings: Settings | None = None) -> None:
    """Create or upgrade Airflow's metadata database (once per Airflow version and database)."""
    settings = settings or get_settings()
    env = configure(settings)
    import importlib.metadata

    stamp = f"{importlib.metadata.version('apache-airflow')} {env['AIRFLOW__DATABASE__SQL_ALCHEMY_CONN']}\n"
    marker = settings.airflow_home / ".migrated"
    if marker.exists() and marker.read_text() == stamp:
        return
    airflow = Path(sys.executable).with_name("airflow")
    result = subprocess.run([str(airflow), "db", "migrate"], env={**os.environ, **env}, capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise RuntimeError("airflow db migrate failed: " + " | ".join(tail))
    marker.write_text(stamp)
