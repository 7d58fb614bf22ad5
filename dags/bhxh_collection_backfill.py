"""Backfill of the collection: the daily DAG's tasks over a calendar month of report days per run.

    airflow backfill create --dag-id bhxh_collection_backfill \
        --from-date 2024-01-01 --to-date 2024-12-01 --max-active-runs 4 \
        --dag-run-conf '{"source_root": "/data/bhxh"}'

Two loads run at once (``BHXH_CONCURRENT_LOADS``, a limit on ``validate_and_load`` over all runs),
and a run loads its month in as many parts (a mapped ``validate_and_load``, 1-16 and 17-31 of a
31-day month), so the last month, loading alone at the end, still keeps both load slots busy; the
other runs collect their months meanwhile, and each part loads as soon as a load ends.

The data interval is a month, [M-01 00:00, M+1-01 00:00) Asia/Ho_Chi_Minh
(``bhxh.timetable.ReportMonthTimetable``): a year is 12 runs, not 366, and each part's
``validate_and_load`` loads its days in chunks of consecutive days (``BHXH_LOAD_CHUNK_BYTES``), so
Great Expectations, the ANALYZE and the receipt lookup are paid per chunk, not per day. Every day of
the month registers its expected reports and lands every version; ``report_data_quality`` and
``check_reports`` cover the month (a backfill logs missing reports, never alerts). No look-back
(``lookback_days`` 0). The marts (``bhxh_marts``) wait for its loads as for the daily DAG's.

Not paused upon creation, and its schedule starts no run by itself (``ReportMonthTimetable`` gives
the scheduler nothing for a DAG without catch-up; the daily DAG collects the current days): it runs
what ``airflow backfill create`` (or a manual trigger, a month) asks, with no unpause step first
(the scheduler runs no task of a paused DAG, backfills included).
Tasks: ``bhxh.collection_dag``.
"""

from __future__ import annotations

from bhxh.collection_dag import collection_dag
from bhxh.orchestration import BACKFILL_DAG_ID, DAILY_RUN_AT, TIMEZONE
from bhxh.settings import get_settings
from bhxh.timetable import ReportMonthTimetable

collection_dag(BACKFILL_DAG_ID, ReportMonthTimetable(DAILY_RUN_AT, TIMEZONE), __doc__,
               lookback_days=0, tags=["collection", "backfill"], load_parts=get_settings().concurrent_loads,
               is_paused_upon_creation=False)
