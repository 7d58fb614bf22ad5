"""Monthly: load the provincial social insurance offices' summaries of the month."""

from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk import CronTriggerTimetable
from dateutil.relativedelta import relativedelta

from bhxh.orchestration import START_DATE, TAGS, TIMEZONE, default_args


@dag(
    dag_id="bhxh_monthly_summaries",
    schedule=CronTriggerTimetable("0 9 5 * *", timezone=TIMEZONE, interval=relativedelta(months=1)),
    start_date=START_DATE,
    catchup=False,
    default_args=default_args(),
    tags=TAGS + ["summaries"],
    params={"source_root": Param(None, type=["null", "string"], description="source root (default: BHXH_SOURCE_ROOT)")},
    doc_md=__doc__,
)
def bhxh_monthly_summaries():
    @task
    def load_summaries() -> dict:
        from bhxh.tasks import load_month

        return load_month(get_current_context())

    load_summaries()


bhxh_monthly_summaries()
