"""Daily collection: pull every province's reports for the report day, validate, load.

The data interval is the report day, [D 00:00, D+1 00:00) Asia/Ho_Chi_Minh; the run starts at
D+1 08:30, after the 08:00 deadline (``bhxh.timetable.ReportDayTimetable``). Each run collects and
loads its day and the 7 days before it again (late and corrected versions), its look-back.
Tasks: ``bhxh.collection_dag``. For a range of past days use ``bhxh_collection_backfill`` (a month
per run); ``airflow backfill create`` of this DAG costs a run (about 30 s of task starts) per day.
"""

from __future__ import annotations

from bhxh.collection_dag import collection_dag
from bhxh.orchestration import DAILY_DAG_ID, DAILY_RUN_AT, DEFAULT_LOOKBACK_DAYS, TIMEZONE
from bhxh.timetable import ReportDayTimetable

collection_dag(DAILY_DAG_ID, ReportDayTimetable(DAILY_RUN_AT, TIMEZONE), __doc__,
               lookback_days=DEFAULT_LOOKBACK_DAYS, tags=["collection"])
