"""CeleryExecutor for real (``make test-celery``): Redis, a Celery worker, the scheduler, the
dag-processor and the api-server on 127.0.0.1; one daily run triggered through the REST API with a
logical date runs on the worker and loads the day's reports (with its look-back) into the warehouse."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from bhxh.orchestration import logical_date_for, report_day
from bhxh.stack import Stack, free_port

from .airflow_helpers import (delete_runs, generate, one, own_database, pause, truth_files, unpause, wait_for_dags,
                              wait_for_runs)

pytestmark = pytest.mark.slow

DAG = "bhxh_daily_collection"


def test_daily_run_on_celery_workers(warehouse_url, tmp_path):
    source = generate(tmp_path / "source", date(2024, 5, 13), date(2024, 5, 14))
    truth = truth_files(source)
    with own_database(warehouse_url, "bhxh_test_celery") as url:
        stack = Stack(free_port(), "CeleryExecutor")
        try:
            stack.start(components=("api-server", "scheduler", "dag-processor"))
            stack.wait_ready()
            wait_for_dags(stack, [DAG])
            unpause(stack, DAG)
            delete_runs(stack, DAG)
            run = stack.api(f"dags/{DAG}/dagRuns", "POST", {
                "dag_run_id": "celery-test-2024-05-14",
                "logical_date": logical_date_for(date(2024, 5, 14)).isoformat(),
                "conf": {"source_root": str(source), "provinces": ["30", "31"], "lookback_days": 7}})
            assert report_day(datetime.fromisoformat(run["data_interval_start"])) == date(2024, 5, 14)
            [finished] = wait_for_runs(stack, DAG, 1, "&run_type=manual")
            tis = stack.api(f"dags/{DAG}/dagRuns/{finished['dag_run_id']}/taskInstances")["task_instances"]
            assert finished["state"] == "success", [(t["task_id"], t["map_index"], t["state"]) for t in tis]
            assert sorted((t["task_id"], t["map_index"]) for t in tis) == [
                ("check_reports", -1), ("collect", 0), ("collect", 1), ("provinces", -1), ("report_data_quality", -1),
                ("validate_and_load", -1)]
            assert {t["state"] for t in tis} == {"success"}
            assert all(t["executor"] in (None, "CeleryExecutor") and t["queue"] == "default" for t in tis)
            worker_log = (stack.log_dir / "celery-worker.log").read_text()
            assert worker_log.count("Task execute_workload[") >= len(tis), "the tasks ran on the Celery worker"
        finally:
            pause(stack, DAG)
            stack.stop()
        # the warehouse: both days (the look-back) of both provinces, as the generator wrote them
        assert one(url, "select count(*) from raw.report_files where status = 'loaded'") == (len(truth),)
        assert one(url, "select count(*), sum(amount) from raw.receipts") == (
            sum(int(r["receipts"]) for r in truth), sum(int(r["amount_vnd"]) for r in truth))
