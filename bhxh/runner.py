"""``bhxh run``: drive the project's own DAGs (``dag.test()``) over a range of report days."""

from __future__ import annotations

import logging
import time
from datetime import date, datetime, timedelta
from typing import Callable

from bhxh.orchestration import DEFAULT_LOOKBACK_DAYS, LOCAL_TZ, logical_date_for
from bhxh.settings import get_settings

DAILY, MONTHLY, MARTS = "bhxh_daily_collection", "bhxh_monthly_summaries", "bhxh_marts"


class RunError(RuntimeError):
    pass


def _months(start: date, end: date) -> list[date]:
    months, current = [], start.replace(day=1)
    while current <= end:
        months.append(current)
        current = (current + timedelta(days=32)).replace(day=1)
    return months


def prepare() -> None:
    """Warehouse up, raw schema in place, Airflow configured and migrated."""
    from bhxh import airflow_env, warehouse
    from bhxh.pipeline import init_schema

    settings = get_settings()
    warehouse.start(settings)
    init_schema(settings)
    airflow_env.migrate(settings)
    from bhxh.dbt_config import ensure_manifest

    ensure_manifest(settings)


def load_dags() -> dict:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(get_settings().dags_dir))
    if bag.import_errors:
        first = next(iter(bag.import_errors.items()))
        raise RunError(f"DAG import error in {first[0]}: {str(first[1]).strip().splitlines()[-1]}")
    return bag.dags


# A red data-quality gate is the pipeline reporting bad input (recorded, alerted), not a failed run.
DATA_QUALITY_TASKS = {"report_data_quality"}


def _failed_tasks(run) -> set[str]:
    from sqlalchemy import select

    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        states = session.execute(select(TaskInstance.task_id, TaskInstance.state).where(
            TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id)).all()
    return {task_id for task_id, state in states if str(state) in ("failed", "upstream_failed")}


def _test(dag, progress, label: str, failures: list[str], **kwargs) -> float:
    started = time.monotonic()
    run = dag.test(**kwargs)
    state = str(getattr(run, "state", "unknown"))
    if "success" not in state:
        failed = _failed_tasks(run)
        if failed and failed <= DATA_QUALITY_TASKS:
            progress(f"  {label}: data checks failed (recorded; see `bhxh dq --date {label}`)")
        else:
            failures.append(f"{dag.dag_id} {label}: {state} ({', '.join(sorted(failed)) or 'no task failed'})")
            progress(f"  {label}: {dag.dag_id} run ended {state}; see the task logs in Airflow")
    return time.monotonic() - started


def run_range(source: str, start: date, end: date, lookback_days: int | None = None,
              progress: Callable[[str], None] = print) -> int:
    from bhxh.sources import Source

    lookback = DEFAULT_LOOKBACK_DAYS if lookback_days is None else lookback_days
    try:
        src = Source(source)
        if not src.fs.exists(src.base or source):
            progress(f"bhxh run: source root not found: {source}")
            return 2
    except Exception as exc:  # unknown protocol, missing extra, unreachable host
        progress(f"bhxh run: cannot open source {source}: {exc}")
        return 2
    progress(f"preparing warehouse and Airflow ({get_settings().airflow_home})")
    prepare()
    logging.getLogger("airflow").setLevel(logging.WARNING)
    dags = load_dags()
    conf = {"source_root": source, "lookback_days": lookback}
    days = (end - start).days + 1
    failures: list[str] = []
    from bhxh.report import day_summary

    for i in range(days):
        day = start + timedelta(days=i)
        seconds = _test(dags[DAILY], progress, f"{day}", failures, logical_date=logical_date_for(day), run_conf=conf)
        progress(f"day {i + 1}/{days} {day}: {day_summary(day)} ({seconds:.1f}s)")
    for month in _months(start, end):
        next_month = (month + timedelta(days=32)).replace(day=5)
        logical = datetime(next_month.year, next_month.month, 5, 9, 0, tzinfo=LOCAL_TZ)
        _test(dags[MONTHLY], progress, f"summaries {month:%Y-%m}", failures, logical_date=logical,
              run_conf={"source_root": source})
        progress(f"monthly summaries {month:%Y-%m} loaded")
    progress("building marts (dbt through Cosmos, one task per model)")
    seconds = _test(dags[MARTS], progress, "marts", failures, run_after=datetime.now(tz=LOCAL_TZ))
    progress(f"marts built ({seconds:.1f}s)")
    if failures:
        progress(f"bhxh run: {len(failures)} DAG run(s) did not succeed: {'; '.join(failures)}")
        return 1
    return 0
