"""`airflow backfill create` over a range, run by a real scheduler (LocalExecutor) against the
embedded PostgreSQL, leaves the warehouse exactly as running the days one by one does."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from bhxh.orchestration import logical_date_for, report_day
from bhxh.stack import Stack, free_port

from .airflow_helpers import (content, delete_runs, generate, own_database, pause, run_daily, truth_files, unpause,
                              wait_for_dags, wait_for_runs)

pytestmark = pytest.mark.slow

DAG = "bhxh_daily_collection"
START, END = date(2024, 5, 13), date(2024, 5, 16)
DAYS = [START + timedelta(days=i) for i in range((END - START).days + 1)]


def test_backfill_equals_day_by_day(warehouse_url, tmp_path):
    source = generate(tmp_path / "source", START, END)
    conf = {"source_root": str(source), "provinces": ["30", "31"], "lookback_days": 7}
    with own_database(warehouse_url, "bhxh_test_day_by_day") as url:
        for day in DAYS:
            assert "success" in run_daily(day, source)
        one_by_one = content(url)
    assert len(one_by_one["report_files"]) == len(truth_files(source))

    with own_database(warehouse_url, "bhxh_test_backfill") as url:
        stack = Stack(free_port())
        try:
            stack.start(components=("api-server", "scheduler", "dag-processor"))
            stack.wait_ready()
            wait_for_dags(stack, [DAG])
            unpause(stack, DAG)  # the scheduler runs no task of a paused DAG, backfills included
            delete_runs(stack, DAG)
            airflow = str(Path(sys.executable).with_name("airflow"))
            created = subprocess.run(
                [airflow, "backfill", "create", "--dag-id", DAG,
                 "--from-date", logical_date_for(START).isoformat(), "--to-date", logical_date_for(END).isoformat(),
                 "--dag-run-conf", json.dumps(conf), "--max-active-runs", "2"],
                env=stack.env, capture_output=True, text=True, timeout=120)
            assert created.returncode == 0, created.stderr[-2000:]
            runs = wait_for_runs(stack, DAG, len(DAYS), "&run_type=backfill", timeout=400)
            backfill = max(stack.api(f"backfills?dag_id={DAG}")["backfills"], key=lambda b: b["id"])
            assert backfill["max_active_runs"] == 2 and backfill["dag_run_conf"] == conf
        finally:
            pause(stack, DAG)
            stack.stop()
        # one run per report day (the data interval starts on it), dated as the scheduler dates them
        assert sorted(report_day(datetime.fromisoformat(r["data_interval_start"])) for r in runs) == DAYS
        assert {r["state"] for r in runs} == {"success"}
        backfilled = content(url)
    assert backfilled == one_by_one
