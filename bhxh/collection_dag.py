"""The collection DAG, built for both of its schedules: ``bhxh_daily_collection`` (a report day per
run) and ``bhxh_collection_backfill`` (a calendar month of report days per run, for backfills).

Mapped ``collect`` tasks, at most one per task slot, each collecting a batch of provinces over the
run's days (a failing or silent province never blocks the others; a task start costs seconds, so
not one per province), then ``validate_and_load``, which pays the Great Expectations import once for
all provinces and loads the run's days in chunks (``bhxh.chunks``): one task in the daily DAG, one
per part of the month in the backfill DAG (``load_parts``: as many as loads may run at once, so the
backfill's last month, loading alone, still keeps every load slot busy), then
``report_data_quality``, which fails (with an alert) when rows or files were rejected or a report
is missing, so a failed check is never hidden in a green run. Beside them ``check_reports``, which
alerts on the reports still missing after the 08:00 deadline (a backfill only logs them).

Parsing imports nothing heavy: the task bodies (``bhxh.tasks``) are imported when a task runs.
"""

from __future__ import annotations

from airflow.sdk import Asset, Param, dag, get_current_context, task
from airflow.timetables.base import Timetable

from bhxh.orchestration import RAW_RECEIPTS_URI, START_DATE, TAGS, default_args
from bhxh.settings import get_settings


def collection_dag(dag_id: str, schedule: Timetable, doc_md: str, *, lookback_days: int, tags: list[str],
                   load_parts: int = 1, is_paused_upon_creation: bool | None = None):
    @dag(
        dag_id=dag_id,
        schedule=schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=2,
        is_paused_upon_creation=is_paused_upon_creation,
        default_args=default_args(),
        tags=TAGS + tags,
        params={
            "source_root": Param(None, type=["null", "string"], description="source root (default: BHXH_SOURCE_ROOT)"),
            "lookback_days": Param(lookback_days, type="integer", minimum=0, maximum=62,
                                   description="days before the run's data interval collected and loaded again"),
            "provinces": Param(None, type=["null", "array"], description="province codes (default: all on the days)"),
        },
        doc_md=doc_md,
    )
    def collection():
        @task
        def provinces() -> list[list[str]]:
            """The run's provinces, in batches: one collect task each."""
            from bhxh.tasks import province_batches, province_codes

            return province_batches(province_codes(get_current_context()))

        @task(max_active_tis_per_dagrun=4)
        def collect(province_codes: list[str]) -> None:
            from bhxh.tasks import collect_provinces

            collect_provinces(get_current_context(), province_codes)

        # at most concurrent_loads loads of this DAG at once, over all its runs: a backfill given twice
        # that many runs (--max-active-runs 4) collects the next months while two load, so a core never
        # waits for a month's collect between loads (two loads often end together)
        @task(trigger_rule="all_done", outlets=[Asset(RAW_RECEIPTS_URI)], multiple_outputs=False,
              max_active_tis_per_dag=get_settings().concurrent_loads)
        def validate_and_load(part: int = 0) -> dict:
            from bhxh.tasks import validate_and_load_day

            return validate_and_load_day(get_current_context(), part, load_parts)

        @task
        def report_data_quality(summary) -> dict:
            """Red when rows or files were rejected or a report is missing (AirflowFailException: no
            retry); the details in the log and an alert (bhxh.alerts)."""
            from bhxh.tasks import report_data_quality_day

            return report_data_quality_day(get_current_context(), summary)

        @task(trigger_rule="all_done")
        def check_reports(batches: list[list[str]]) -> dict:
            from bhxh.tasks import check_reports

            return check_reports(get_current_context(), [code for batch in batches for code in batch])

        batches = provinces()
        collected = collect.expand(province_codes=batches)
        # a part of the run's days per task (mapped; report_data_quality merges their summaries)
        loaded = validate_and_load.expand(part=list(range(load_parts))) if load_parts > 1 else validate_and_load()
        collected >> loaded
        report_data_quality(loaded)
        collected >> check_reports(batches)

    return collection()
