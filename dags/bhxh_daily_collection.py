"""Daily collection: pull every province's reports for the report day, validate, load.

The data interval is the report day, [D 00:00, D+1 00:00) Asia/Ho_Chi_Minh; the run starts at
D+1 08:30, after the 08:00 deadline (``bhxh.timetable.ReportDayTimetable``).

Mapped ``collect`` tasks, at most one per task slot, each collecting a batch of provinces (a failing
or silent province never blocks the others; a task start costs seconds, so not one per province),
then one ``validate_and_load`` task that pays the Great Expectations import once for all provinces,
then ``report_data_quality``, which fails (with an alert) when rows or files were rejected or a
report is missing, so a failed check is never hidden in a green run.
Beside them ``check_reports``, which alerts on the reports still missing after the 08:00 deadline.
"""

from __future__ import annotations

from airflow.sdk import Asset, Param, dag, get_current_context, task

from bhxh.orchestration import (DAILY_RUN_AT, DEFAULT_LOOKBACK_DAYS, RAW_RECEIPTS_URI, START_DATE, TAGS, TIMEZONE,
                                default_args)
from bhxh.timetable import ReportDayTimetable


@dag(
    dag_id="bhxh_daily_collection",
    schedule=ReportDayTimetable(DAILY_RUN_AT, TIMEZONE),  # data interval: the report day; run at 08:30 next day
    start_date=START_DATE,
    catchup=False,
    max_active_runs=2,
    default_args=default_args(),
    tags=TAGS + ["collection"],
    params={
        "source_root": Param(None, type=["null", "string"], description="source root (default: BHXH_SOURCE_ROOT)"),
        "lookback_days": Param(DEFAULT_LOOKBACK_DAYS, type="integer", minimum=0, maximum=62),
        "provinces": Param(None, type=["null", "array"], description="province codes (default: all on the day)"),
    },
    doc_md=__doc__,
)
def bhxh_daily_collection():
    @task
    def provinces() -> list[list[str]]:
        """The run's provinces, in batches: one collect task each."""
        from bhxh.tasks import province_batches, province_codes

        return province_batches(province_codes(get_current_context()))

    @task(max_active_tis_per_dagrun=4)
    def collect(province_codes: list[str]) -> None:
        from bhxh.tasks import collect_provinces

        collect_provinces(get_current_context(), province_codes)

    @task(trigger_rule="all_done", outlets=[Asset(RAW_RECEIPTS_URI)], multiple_outputs=False)
    def validate_and_load() -> dict:
        from bhxh.tasks import validate_and_load_day

        return validate_and_load_day(get_current_context())

    @task
    def report_data_quality(summary: dict) -> dict:
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
    loaded = validate_and_load()
    collected >> loaded
    report_data_quality(loaded)
    collected >> check_reports(batches)


bhxh_daily_collection()
