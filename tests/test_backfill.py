"""`airflow backfill create` over a range, run by a real scheduler (LocalExecutor) against the
embedded PostgreSQL, leaves the warehouse exactly as running the days one by one does, and builds
the marts after the last day's load, not once per day while the backfill goes on."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from bhxh.orchestration import logical_date_for, report_day
from bhxh.stack import Stack, free_port

from .airflow_helpers import (content, delete_runs, generate, one, own_database, pause, run_daily, truth_files,
                              unpause, wait_for_dags, wait_for_runs)

pytestmark = pytest.mark.slow

DAG, MARTS = "bhxh_daily_collection", "bhxh_marts"
START, END = date(2024, 5, 13), date(2024, 5, 16)
DAYS = [START + timedelta(days=i) for i in range((END - START).days + 1)]


def _utc(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def marts_after_backfill(stack, runs: list[dict], timeout: float = 900) -> list[dict]:
    """Adds each daily run's load end to ``runs``; waits until the marts DAG is idle with no queued
    asset event and a run has finished; returns its runs with the start of their `dbt build`."""
    import time
    import urllib.error

    for run in runs:
        run["load_end"] = _utc(stack.api(f"dags/{DAG}/dagRuns/{run['dag_run_id']}/taskInstances/validate_and_load")
                               ["end_date"])
    deadline = time.monotonic() + timeout
    while True:
        marts = stack.api(f"dags/{MARTS}/dagRuns?limit=100")["dag_runs"]
        queued = stack.api(f"dags/{MARTS}/assets/queuedEvents")["total_entries"]
        if marts and not queued and all(m["state"] in ("success", "failed") for m in marts):
            break
        assert time.monotonic() < deadline, f"marts not settled in {timeout}s: {marts}"
        time.sleep(3)
    for m in marts:  # a skipped build has a producer in state skipped (with a start date: when skipped)
        try:
            producer = stack.api(f"dags/{MARTS}/dagRuns/{m['dag_run_id']}/taskInstances/dbt.dbt_producer_watcher")
        except urllib.error.HTTPError:
            producer = {"state": None}
        m["build_start"] = _utc(producer["start_date"]) if producer["state"] in ("success", "failed") else None
    return marts


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
            stack.start(components=("api-server", "scheduler", "dag-processor", "triggerer"))
            stack.wait_ready()
            wait_for_dags(stack, [DAG, MARTS])
            for dag_id in (DAG, MARTS):
                unpause(stack, dag_id)  # the scheduler runs no task of a paused DAG, backfills included
                delete_runs(stack, dag_id)
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
            marts = marts_after_backfill(stack, runs)
        finally:
            for dag_id in (DAG, MARTS):
                pause(stack, dag_id)
            stack.stop()
        # every day's load emitted the raw-receipts asset; the marts were built once, after all four
        # days were loaded (the first marts run waited for the loads); the events queued meanwhile
        # started at most one more run, which skipped its build (nothing new), and every run is green
        loads_done = max(r["load_end"] for r in runs)
        builds = [m for m in marts if m["build_start"]]
        assert len(builds) == 1 and builds[0]["build_start"] >= loads_done, (loads_done, marts)
        assert 1 <= len(marts) <= 2 and {m["state"] for m in marts} == {"success"}, marts
        assert one(url, "select count(*) from marts.fct_daily_collections where report_date between %s and %s",
                   START, END)[0] > 0
        # one run per report day (the data interval starts on it), dated as the scheduler dates them
        assert sorted(report_day(datetime.fromisoformat(r["data_interval_start"])) for r in runs) == DAYS
        assert {r["state"] for r in runs} == {"success"}
        backfilled = content(url)
    assert backfilled == one_by_one
