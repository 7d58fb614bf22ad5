"""National runs through Airflow (a real scheduler, LocalExecutor, this machine's two cores).

    .venv/bin/python benchmarks/national.py [day] [year]     (both by default; part of `make bench`)

1. A national day: all provinces (about 100k receipts), from triggering the daily DAG to the end of
   the marts run its raw-receipts asset starts: `bench national_day_airflow S s`.
2. A national year: `airflow backfill create` of the backfill DAG (`bhxh_collection_backfill`, a
   month of report days per run, loaded in chunks) over 2024 (about 30 M receipts), then the marts:
   `bench national_year_backfill S s` and the peak resident memory of any process (Airflow's, the
   tasks', PostgreSQL's): `bench national_year_peak_rss M MB`; per-task means, the marts build (a
   full `dbt build` on a fresh warehouse) and its slowest models (from the build's log).

BHXH_BENCH_BACKFILL_RUNS sets the backfill's --max-active-runs (default: twice BHXH_CONCURRENT_LOADS,
4, as the README's backfill: two loads at once and two runs collecting their months meanwhile).
BHXH_BENCH_YEAR_END (a date in 2024) stops the backfill early, after the month holding it (a run is a
month): the figures are then printed as `national_year_sample_*` with a projection to the year by
receipts, never as the headline.
The year's source (35 M receipts, 5 GB, 20 to 60 minutes) is generated once into BHXH_BENCH_CACHE;
BHXH_BENCH_YEAR_SOURCE names another generated root for a sample (e.g. the ingest benchmark's).
"""

from __future__ import annotations

import calendar
import csv
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
from datetime import date, datetime, timezone
from pathlib import Path

import harness
from harness import bench, say

sys.path.insert(0, str(harness.ROOT))
DAILY, BACKFILL, MARTS = "bhxh_daily_collection", "bhxh_collection_backfill", "bhxh_marts"
DAY = date(2024, 1, 16)  # the last day of the ingest benchmark's source
YEAR_RECEIPTS = 35_100_000  # the generated national 2024 (README), when its truth is not at hand
YEAR_START, YEAR_END = date(2024, 1, 1), date(2024, 12, 31)


def receipts_in(source: Path, start: date, end: date) -> int:
    with (source / "_truth" / "files.csv").open(newline="", encoding="utf-8") as handle:
        return sum(int(r["receipts_sent"] or 0) for r in csv.DictReader(handle)
                   if start.isoformat() <= r["report_date"] <= end.isoformat())


def _utc(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def start_stack():
    from bhxh.stack import Stack, free_port
    from tests.airflow_helpers import unpause, wait_for_dags

    stack = Stack(free_port())
    try:
        stack.start(components=("api-server", "scheduler", "dag-processor", "triggerer"))
        stack.wait_ready(timeout=300)
        wait_for_dags(stack, [DAILY, BACKFILL, MARTS], timeout=300)
        for dag_id in (DAILY, BACKFILL, MARTS):
            forget_runs(stack, dag_id)
            unpause(stack, dag_id)  # the latest scheduled interval is stopped at once (failed, not deleted:
            #                         the scheduler would start it again)
    except BaseException:
        stack.stop()
        raise
    return stack


def forget_runs(stack, dag_id: str) -> None:
    """Delete the runs an earlier bench left (their ids and dates would clash), except scheduled ones, and
    the asset events it left queued: from those the scheduler creates a run (its queued_at before this
    bench's start) that builds the marts after this bench's loads (an interrupted year bench's did)."""
    token = stack.token()
    try:
        stack.api(f"dags/{dag_id}/assets/queuedEvents", "DELETE", token=token)
    except urllib.error.HTTPError as error:
        if error.code != 404:  # 404: none queued
            raise
    for backfill in stack.api(f"backfills?dag_id={dag_id}", token=token)["backfills"]:
        if not backfill["completed_at"]:
            stack.api(f"backfills/{backfill['id']}/cancel", "PUT", token=token)
    for run in stack.api(f"dags/{dag_id}/dagRuns?limit=1000", token=token)["dag_runs"]:
        if run["state"] not in ("success", "failed"):
            stack.api(f"dags/{dag_id}/dagRuns/{run['dag_run_id']}", "PATCH", {"state": "failed"}, token=token)
        if run["run_type"] != "scheduled":
            stack.api(f"dags/{dag_id}/dagRuns/{run['dag_run_id']}", "DELETE", token=token)


def wait_for_marts_after(stack, since: datetime, timeout: float) -> dict:
    """Until a marts run queued after ``since`` has finished, and no marts run is still going."""
    deadline = time.monotonic() + timeout
    while True:
        stack.check_alive()
        runs = stack.api(f"dags/{MARTS}/dagRuns?limit=1000")["dag_runs"]
        later = [r for r in runs if _utc(r.get("queued_at")) and _utc(r["queued_at"]) >= since]
        if later and all(r["state"] in ("success", "failed") for r in later):
            return max(later, key=lambda r: r["end_date"])
        if time.monotonic() > deadline:
            raise TimeoutError(f"marts not fresh in {timeout:.0f}s: {[(r['run_id'], r['state']) for r in later]}")
        time.sleep(2)


def wait_for_daily(stack, count: int, query: str, timeout: float, dag_id: str = DAILY) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        stack.check_alive()
        runs = stack.api(f"dags/{dag_id}/dagRuns?limit=1000{query}")["dag_runs"]
        if len(runs) >= count and all(r["state"] in ("success", "failed") for r in runs):
            return runs
        if time.monotonic() > deadline:
            raise TimeoutError(f"{dag_id} runs not done in {timeout:.0f}s")
        time.sleep(3)


def national_day(stack, source: Path) -> None:
    from bhxh.orchestration import logical_date_for

    conf = {"source_root": str(source), "lookback_days": 0}
    since = datetime.now(timezone.utc)
    started = time.monotonic()
    run = stack.api(f"dags/{DAILY}/dagRuns", "POST", {"logical_date": logical_date_for(DAY).isoformat(),
                                                       "conf": conf, "dag_run_id": f"bench_{DAY}"})
    daily = wait_for_daily(stack, 1, f"&run_id_pattern={run['dag_run_id']}", timeout=3600)[0]
    bench("national_day_receipts", receipts_in(source, DAY, DAY), "rows")
    bench("national_day_daily_dag_seconds", time.monotonic() - started, "s")
    loaded = stack.api(f"dags/{DAILY}/dagRuns/{run['dag_run_id']}/taskInstances/validate_and_load")
    bench("national_day_raw_loaded_seconds", (_utc(loaded["end_date"]) - since).total_seconds(), "s")
    marts = wait_for_marts_after(stack, since, timeout=3 * 3600)
    seconds = (_utc(marts["end_date"]) - since).total_seconds()
    bench("national_day_marts_dag_seconds", (_utc(marts["end_date"]) - _utc(marts["start_date"])).total_seconds(), "s")
    say(f"daily run {daily['state']}, marts run {marts['state']}")
    bench("national_day_airflow", seconds, "s")


def marts_settled(stack, after: datetime, timeout: float) -> list[dict]:
    """Until the marts are built from everything loaded before ``after`` (the end of the last load):
    a marts run whose build (its producer task) started after ``after`` has finished, no marts run is
    queued or running and no asset event waits in the marts DAG's queue (it would start another run).
    Returns the marts runs queued since the backfill began, oldest first."""
    deadline = time.monotonic() + timeout
    while True:
        stack.check_alive()
        runs = stack.api(f"dags/{MARTS}/dagRuns?limit=1000&order_by=id")["dag_runs"]
        queued = stack.api(f"dags/{MARTS}/assets/queuedEvents")["total_entries"]
        busy = [r for r in runs if r["state"] not in ("success", "failed")]
        fresh = [r for r in runs if r["state"] in ("success", "failed") and _build_start(stack, r)
                 and _build_start(stack, r) >= after]
        if fresh and not busy and not queued:
            return runs
        if time.monotonic() > deadline:
            raise TimeoutError(f"marts not fresh in {timeout:.0f}s: {[(r['run_id'], r['state']) for r in runs]}")
        time.sleep(3)


def _build_start(stack, run: dict) -> datetime | None:
    """When the run's one `dbt build` (Cosmos' producer task) started."""
    import urllib.error

    try:
        ti = stack.api(f"dags/{MARTS}/dagRuns/{run['dag_run_id']}/taskInstances/dbt.dbt_producer_watcher")
    except urllib.error.HTTPError:
        return None
    # a skipped build's producer is in state skipped, with a start date (when it was skipped)
    return _utc(ti.get("start_date")) if ti["state"] in ("running", "success", "failed") else None


def task_instances(stack, dag_id: str, run_ids: set[str] | None = None) -> list[dict]:
    """The DAG's finished task instances (those of ``run_ids``), mapped ones one per map index."""
    found: list[dict] = []
    offset = 0
    while True:
        page = stack.api(f"dags/{dag_id}/dagRuns/~/taskInstances?limit=1000&offset={offset}")
        found += [ti for ti in page["task_instances"]
                  if ti["start_date"] and ti["end_date"] and (run_ids is None or ti["dag_run_id"] in run_ids)]
        offset += len(page["task_instances"])
        if not page["task_instances"] or offset >= page["total_entries"]:
            return found


def task_seconds(stack, dag_id: str, run_ids: set[str] | None = None) -> dict[str, list[float]]:
    """Each task's run times (start to end) over the DAG's runs (those of ``run_ids``), by task id."""
    seconds: dict[str, list[float]] = {}
    for ti in task_instances(stack, dag_id, run_ids):
        seconds.setdefault(ti["task_id"], []).append((_utc(ti["end_date"]) - _utc(ti["start_date"])).total_seconds())
    return seconds


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def national_year(stack, source: Path, end: date, memory: harness.PeakMemory) -> None:
    """Backfill the backfill DAG (a month per run) over [2024-01-01, end], then wait for the marts.
    Printed apart: the backfill runs (what scales with the receipts: projected to the year by
    receipts for a sample) and the marts after the last load (one full build of what was loaded; a
    year's is larger than a sample's and is not projected)."""
    from bhxh.orchestration import logical_date_for
    from bhxh.settings import get_settings

    # as the README's backfill: twice the loads at once, so two runs collect while two load
    runs_at_once = os.environ.get("BHXH_BENCH_BACKFILL_RUNS") or str(2 * get_settings().concurrent_loads)
    conf = {"source_root": str(source)}
    days = (end - YEAR_START).days + 1
    months = (end.year - YEAR_START.year) * 12 + end.month - YEAR_START.month + 1
    airflow = str(Path(sys.executable).with_name("airflow"))
    since = datetime.now(timezone.utc)
    started = time.monotonic()
    created = subprocess.run(
        [airflow, "backfill", "create", "--dag-id", BACKFILL, "--from-date", logical_date_for(YEAR_START).isoformat(),
         "--to-date", logical_date_for(end.replace(day=1)).isoformat(), "--dag-run-conf", json.dumps(conf),
         "--max-active-runs", runs_at_once],
        env=stack.env, capture_output=True, text=True, timeout=600)
    if created.returncode != 0:
        raise RuntimeError(f"airflow backfill create failed: {created.stderr[-2000:]}")
    runs = wait_for_daily(stack, months, "&run_type=backfill", timeout=24 * 3600, dag_id=BACKFILL)
    daily_seconds = time.monotonic() - started
    failed = [r["dag_run_id"] for r in runs if r["state"] != "success"]
    if failed:
        say(f"{len(failed)} month runs did not succeed (data-quality gates included): {failed[:5]}")
    say(harness.machine_load() + " (after the backfill runs)")
    receipts = receipts_in(source, YEAR_START, end)
    full = end == YEAR_END
    prefix = "national_year" if full else "national_year_sample"
    year = receipts_in(source, YEAR_START, YEAR_END) if source.name == "national-2024" else YEAR_RECEIPTS
    bench(f"{prefix}_days", days, "days")
    bench(f"{prefix}_month_runs", len(runs), "runs")
    bench(f"{prefix}_receipts", receipts, "rows")
    bench(f"{prefix}_daily_runs_seconds", daily_seconds, "s")
    if not full:
        bench("national_year_projected_daily_runs", daily_seconds * year / receipts, "s")
    for task_id, values in sorted(task_seconds(stack, BACKFILL, {r["dag_run_id"] for r in runs}).items()):
        bench(f"{prefix}_task_{task_id}_seconds", sum(values) / len(values), f"s (mean of {len(values)})")
    peak, command = memory.top()
    bench(f"{prefix}_daily_runs_peak_rss", peak / 2**20, "MB")
    say(f"largest process so far: {command}")
    last_load = max(_utc(ti["end_date"]) for ti in task_instances(stack, BACKFILL, {r["dag_run_id"] for r in runs})
                    if ti["task_id"] == "validate_and_load")  # a run's parts: a mapped task
    marts = [r for r in marts_settled(stack, last_load, timeout=3 * 3600) if _utc(r["queued_at"]) >= since]
    seconds = time.monotonic() - started
    builds = [r for r in marts if _build_start(stack, r)]  # a run whose build was skipped has no producer start
    during = [r for r in builds if _build_start(stack, r) < last_load]
    say("marts runs: " + "; ".join(f"{r['dag_run_id']} {r['state']} queued {r['queued_at'][11:19]} "
                                   f"build {(_build_start(stack, r) or since).isoformat()[11:19]} end {r['end_date'][11:19]}"
                                   for r in marts))
    bench(f"{prefix}_marts_runs", len(marts), "runs")
    bench(f"{prefix}_marts_builds_during_daily_runs", len(during), "builds")
    bench(f"{prefix}_marts_builds_after_daily_runs", len(builds) - len(during), "builds")
    fresh = min((r for r in builds if r not in during), key=lambda r: r["end_date"])
    bench(f"{prefix}_marts_fresh_after_daily_runs", (_utc(fresh["end_date"]) - since).total_seconds() - daily_seconds, "s")
    bench(f"{prefix}_marts_after_daily_runs", seconds - daily_seconds, "s")
    build = stack.api(f"dags/{MARTS}/dagRuns/{fresh['dag_run_id']}/taskInstances/dbt.dbt_producer_watcher")
    if build.get("start_date") and build.get("end_date"):
        bench(f"{prefix}_marts_dbt_build_seconds", (_utc(build["end_date"]) - _utc(build["start_date"])).total_seconds(),
              "s (the full dbt build: Cosmos' producer task)")
    for model, took in slowest_models(stack, fresh["dag_run_id"]):
        say(f"  dbt model {model}: {took:.1f} s")
    first = builds[0] if builds else None  # its wait for the last load (wait_for_loads, a task start a look)
    if first:
        bench(f"{prefix}_marts_first_build_waited", (_build_start(stack, first) - _utc(first["start_date"])).total_seconds(), "s")
    bench(f"{prefix}_rows_per_second", receipts / seconds, "rows/s")
    if full:
        bench("national_year_backfill", seconds, "s")
    else:
        bench("national_year_sample_seconds", seconds, "s")
        # the backfill runs scale with the receipts; the marts after them are the sample's (a year's
        # build is larger): a lower bound, printed as such
        bench("national_year_projected_backfill_at_least", daily_seconds * year / receipts + seconds - daily_seconds, "s")


DBT_DONE = re.compile(r"OK created \S+ (?:\S+ )?model (\S+) .*? in ([0-9.]+)s\]")


def slowest_models(stack, run_id: str, count: int = 8) -> list[tuple[str, float]]:
    """The slowest models of a marts run's `dbt build`, read from dbt's lines in the producer task's
    log (run_results.json stays in the task's temporary project directory)."""
    try:
        log = stack.api(f"dags/{MARTS}/dagRuns/{run_id}/taskInstances/dbt.dbt_producer_watcher/logs/1?full_content=true")
    except Exception as exc:  # noqa: BLE001  (best effort: a figure, not a check)
        say(f"no producer log: {exc}")
        return []
    lines = [e.get("event", "") if isinstance(e, dict) else str(e) for e in log.get("content") or []]
    found = {m.group(1): float(m.group(2)) for line in lines for m in DBT_DONE.finditer(line)}
    return sorted(found.items(), key=lambda item: -item[1])[:count]


def main() -> int:
    source_day = harness.generated("ingest-2024-01", date(2024, 1, 2), DAY)
    end = month_end(date.fromisoformat(os.environ.get("BHXH_BENCH_YEAR_END") or YEAR_END.isoformat()))
    year_source = (Path(os.environ["BHXH_BENCH_YEAR_SOURCE"]) if os.environ.get("BHXH_BENCH_YEAR_SOURCE") and end < YEAR_END
                   else harness.generated("national-2024", YEAR_START, YEAR_END))
    say(harness.machine_load())
    parts = set(sys.argv[1:]) or {"day", "year"}
    if "day" in parts:
        national_day_part(source_day)
    if "year" in parts:
        national_year_part(year_source, end)
    return 0


def national_day_part(source_day: Path) -> None:
    with harness.scratch_database("bench_national"):
        stack = start_stack()
        try:
            with harness.PeakMemory() as memory:
                national_day(stack, source_day)
            say(harness.machine_load())
            peak, command = memory.top()
            bench("national_day_peak_rss", peak / 2**20, "MB")
            say(f"largest process: {command}")
        finally:
            stack.stop()


def national_year_part(year_source: Path, end: date) -> None:
    with harness.scratch_database("bench_national_year"):
        stack = start_stack()
        try:
            with harness.PeakMemory() as memory:
                national_year(stack, year_source, end, memory)
            say(harness.machine_load())
        finally:
            stack.stop()
        peak, command = memory.top()
        prefix = "national_year" if end == YEAR_END else "national_year_sample"
        bench(f"{prefix}_peak_rss", peak / 2**20, "MB")
        bench(f"{prefix}_peak_rss_all_processes", memory.total_peak / 2**20, "MB")
        for rss, name in sorted(memory.peaks.values(), reverse=True)[:4]:
            say(f"  peak {rss / 2**20:.0f} MB: {name}")


if __name__ == "__main__":
    sys.exit(main())
