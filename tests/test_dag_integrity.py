"""Every DAG imports without errors, fast, with tags and retries (Astro CLI's DAG-integrity test)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from bhxh.settings import get_settings


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(get_settings().dags_dir))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_expected_dags(dagbag):
    assert {"bhxh_daily_collection", "bhxh_collection_backfill", "bhxh_monthly_summaries", "bhxh_marts"} <= set(
        dagbag.dag_ids)


@pytest.mark.parametrize("dag_id", ["bhxh_daily_collection", "bhxh_collection_backfill", "bhxh_monthly_summaries",
                                    "bhxh_marts"])
def test_tags_and_retries(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert "bhxh" in dag.tags
    for task in dag.tasks:
        if task.task_id == "dbt.dbt_producer_watcher":  # Cosmos skips a producer's retry; its nodes' tasks retry
            assert task.retries == 0
            continue
        assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"


@pytest.mark.parametrize("dag_id", ["bhxh_daily_collection", "bhxh_collection_backfill"])
def test_collection_dags_map_provinces_and_tolerate_failures(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert dag.timezone.name == "Asia/Ho_Chi_Minh"
    assert dag.get_task("validate_and_load").trigger_rule == "all_done"
    assert "collect" in dag.task_ids


def test_loads_at_once_follow_the_setting(dagbag):
    """validate_and_load runs at most BHXH_CONCURRENT_LOADS at once over a DAG's runs (2 by default),
    whatever the runs a backfill allows, and a backfill month loads in that many parts; the value is
    read when the DAG file is parsed."""
    for dag_id in ("bhxh_daily_collection", "bhxh_collection_backfill"):
        assert dagbag.dags[dag_id].get_task("validate_and_load").max_active_tis_per_dag == 2
        assert dagbag.dags[dag_id].get_task("collect").max_active_tis_per_dag is None  # collects run ahead

    def parsed_with(value: str, expression: str) -> subprocess.CompletedProcess:
        """``expression`` of the DagBag ``b`` parsed in a new process with BHXH_CONCURRENT_LOADS=value."""
        return subprocess.run(
            [sys.executable, "-c", "from airflow.dag_processing.dagbag import DagBag;"
             f"b = DagBag(dag_folder={str(get_settings().dags_dir)!r}); print({expression})"],
            capture_output=True, text=True, timeout=300, env={**os.environ, "BHXH_CONCURRENT_LOADS": value})

    # the backfill loads a month in as many parts as loads may run at once: its last month, alone at the
    # end, keeps every load slot busy; the daily DAG loads its day (and look-back) in one task
    backfill_load = dagbag.dags["bhxh_collection_backfill"].get_task("validate_and_load")
    assert backfill_load.op_kwargs_expand_input.value == {"part": [0, 1]}
    assert not hasattr(dagbag.dags["bhxh_daily_collection"].get_task("validate_and_load"), "expand_input")

    load = "b.dags['bhxh_collection_backfill'].get_task('validate_and_load')"
    parsed = parsed_with("5", f"{load}.max_active_tis_per_dag, len({load}.op_kwargs_expand_input.value['part'])")
    assert parsed.stdout.splitlines()[-1:] == ["5 5"], parsed.stderr[-2000:]
    refused = parsed_with("0", "b.import_errors")
    assert "BHXH_CONCURRENT_LOADS must be a whole number of at least 1, not '0'" in refused.stdout, \
        refused.stderr[-2000:]


def test_the_two_collection_dags_share_their_tasks(dagbag):
    daily, backfill = dagbag.dags["bhxh_daily_collection"], dagbag.dags["bhxh_collection_backfill"]
    assert set(daily.task_ids) == set(backfill.task_ids)
    assert (daily.timetable.unit, backfill.timetable.unit) == ("day", "month")
    assert (daily.params["lookback_days"], backfill.params["lookback_days"]) == (7, 0)
    assert "backfill" in backfill.tags and backfill.is_paused_upon_creation is False


def test_marts_dag_has_a_task_per_model(dagbag):
    dag = dagbag.dags["bhxh_marts"]
    assert any(t.endswith("fct_coverage_monthly_run") or "fct_coverage_monthly" in t for t in dag.task_ids)
    assert any("dim_province" in t for t in dag.task_ids)


def test_dag_files_do_no_work_at_import():
    """Parsing a DAG file must not import GX or pandas-heavy modules, connect, or start dbt."""
    code = (
        "import sys, time; t = time.monotonic();"
        "from airflow.dag_processing.dagbag import DagBag;"
        f"b = DagBag(dag_folder={str(get_settings().dags_dir)!r});"
        "assert not b.import_errors, b.import_errors;"
        "print(time.monotonic() - t);"
        "print('great_expectations' in sys.modules, 'psycopg' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[-2:] == ["False", "False"], "a DAG file imports GX or connects to the database at parse time"


def test_dbt_threads_follow_the_setting(dagbag, monkeypatch):
    """The marts' one `dbt build` runs BHXH_DBT_THREADS models at once (3 by default), through Cosmos'
    profile and through the dbt CLI's profiles.yml alike."""
    from bhxh.dbt_config import dbt_env, marts_task_group_kwargs
    from bhxh.settings import Settings

    producer = dagbag.dags["bhxh_marts"].get_task("dbt.dbt_producer_watcher")
    assert producer.profile_config.profile_mapping.profile_args["threads"] == 3
    profiles = (get_settings().dbt_project_dir / "profiles.yml").read_text()
    assert "threads: \"{{ env_var('BHXH_DBT_THREADS', '3') | as_number }}\"" in profiles
    monkeypatch.setenv("BHXH_DBT_THREADS", "5")
    assert dbt_env(Settings())["BHXH_DBT_THREADS"] == "5"
    assert marts_task_group_kwargs(Settings())["profile_config"].profile_mapping.profile_args["threads"] == 5
    monkeypatch.setenv("BHXH_DBT_THREADS", "0")
    with pytest.raises(ValueError, match="BHXH_DBT_THREADS must be a whole number of at least 1, not '0'"):
        Settings()
