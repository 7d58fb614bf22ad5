"""What the DAG files share: schedules, assets, defaults and run-time parameters.

DAG files stay thin; they import from here and from ``bhxh.pipeline``.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta

import pendulum

TIMEZONE = "Asia/Ho_Chi_Minh"
LOCAL_TZ = pendulum.timezone(TIMEZONE)
DAILY_RUN_AT = time(8, 30)  # the day after the report day, after the 08:00 deadline (Asia/Ho_Chi_Minh)
DEFAULT_LOOKBACK_DAYS = 7
START_DATE = datetime(2019, 1, 1, tzinfo=LOCAL_TZ)
TAGS = ["bhxh"]
DAILY_DAG_ID = "bhxh_daily_collection"
BACKFILL_DAG_ID = "bhxh_collection_backfill"  # the same tasks, one run per month of report days
LOADING_DAG_IDS = (DAILY_DAG_ID, BACKFILL_DAG_ID)  # the DAGs whose validate_and_load the marts wait for
LOADS_POKE_SECONDS = 30  # how often the marts look again for loads in progress (a look is a task start)
# a look that finds only loads already running (a backfill's last ones: none queued or to come) waits
# for them in place, looking this often, for at most LAST_LOADS_WAIT_SECONDS, rather than LOADS_POKE_SECONDS
LAST_LOADS_LOOK_SECONDS = 2
LAST_LOADS_WAIT_SECONDS = 120
RAW_RECEIPTS_URI = "postgres://bhxh-warehouse:5432/bhxh/raw/receipts"
# an event of this asset: a marts build starts, from raw receipts as they are at the event's time
MARTS_BUILD_URI = "postgres://bhxh-warehouse:5432/bhxh/marts/fct_coverage_monthly"  # the marts, by their main table

log = logging.getLogger(__name__)


def default_args(retries: int = 3, retry_delay: timedelta = timedelta(minutes=2)) -> dict:
    """Retries with exponential backoff. Tasks turn permanent errors into AirflowFailException,
    so only transient ones (network, a busy database) are retried. A final failure alerts."""
    from bhxh.alerts import FailureNotifier

    return {
        "owner": "bhxh-data",
        "retries": retries,
        "retry_delay": retry_delay,
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
        "on_failure_callback": [FailureNotifier()],
    }


def report_day(data_interval_start: datetime) -> date:
    """The report day a daily run processes: the local date its data interval starts on (the daily
    DAG's data interval is the report day itself, see ``bhxh.timetable``)."""
    return pendulum.instance(data_interval_start).in_timezone(TIMEZONE).date()


def report_days(data_interval_start: datetime, data_interval_end: datetime | None = None) -> tuple[date, date]:
    """The first and last report day of a data interval: one day in the daily DAG, a calendar month
    in the backfill DAG (without an end: the start's day alone)."""
    first = report_day(data_interval_start)
    last = report_day(data_interval_end) - timedelta(days=1) if data_interval_end is not None else first
    return first, max(first, last)


def days_of(first: date, last: date) -> list[date]:
    """Every day first..last, oldest first."""
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def part_of(first: date, last: date, part: int, parts: int) -> tuple[date, date] | None:
    """Report days of load part ``part`` (0-based) of ``parts``: first..last cut into ``parts``
    consecutive ranges of days, the longer ones first (a 31-day month in two: 16 days, then 15);
    None for a part beyond the days (more parts than days). From the days alone, so every part and
    every retry of one agree on the cut, whatever has been loaded meanwhile."""
    days = (last - first).days + 1
    size, longer = divmod(days, parts)
    start = part * size + min(part, longer)
    length = size + (1 if part < longer else 0)
    if not length:
        return None
    return first + timedelta(days=start), first + timedelta(days=start + length - 1)


def logical_date_for(day: date) -> datetime:
    """The logical date of the daily run that processes report day ``day``: the day's local midnight."""
    return datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ)


def month_start(day: date) -> date:
    return day.replace(day=1)


# a task instance not yet finished, "null" being one not yet scheduled (a queued run's, e.g. a backfill's)
UNFINISHED = ["null", "scheduled", "queued", "running", "up_for_retry", "up_for_reschedule", "deferred",
              "restarting"]


def loads_in_progress(context) -> int:
    """How many validate_and_load tasks of the collection DAGs (daily and backfill) have yet to
    finish, in every run: those of a
    backfill's queued runs included. The marts wait for none (``bhxh_marts``: built once after a
    backfill, not once per report day while it goes on). Only a run started by the raw-receipts asset
    waits: a manual run (an operator's, or ``bhxh run``'s after its days) builds at once, so a daily run
    left unfinished by a killed ``dag.test`` can never hold it."""
    if context["dag_run"].run_type != "asset_triggered":
        return 0
    return _loads(context, UNFINISHED)


def _loads(context, states: list[str]) -> int:
    """How many validate_and_load tasks of the collection DAGs are in one of ``states``, in every run."""
    return sum(context["ti"].get_ti_count(dag_id=dag_id, task_ids=["validate_and_load"], states=states)
               for dag_id in LOADING_DAG_IDS)


def loads_left_after_the_running_ones(context, sleep=None, clock=None) -> int:
    """``loads_in_progress``, after waiting in place while every unfinished load is already running
    (nothing queued or still to be scheduled: the last loads of a backfill), looking every
    LAST_LOADS_LOOK_SECONDS for at most LAST_LOADS_WAIT_SECONDS. The marts' build then starts
    seconds after the last load, not up to LOADS_POKE_SECONDS later (15 s on average over a
    reschedule), for a task slot held only while nothing but those loads is left to run."""
    import time as clock_time

    sleep, clock = sleep or clock_time.sleep, clock or clock_time.monotonic
    deadline = clock() + LAST_LOADS_WAIT_SECONDS
    while True:
        left = loads_in_progress(context)
        if not left or clock() >= deadline or left != _loads(context, ["running"]):
            return left
        sleep(LAST_LOADS_LOOK_SECONDS)


def marts_build_covered(context) -> bool:
    """Whether an asset-triggered marts run would build nothing new: the last marts build (its
    ``MARTS_BUILD_URI`` event, emitted by ``wait_for_loads`` as the build starts) began after the
    newest raw-receipts event and its run succeeded. That is the second run a backfill leaves: its
    events were queued while the first run waited for the last load. Airflow 3.3 cannot say which
    events a run consumed (a run's ``triggering_asset_events`` stop at the first event queued), so
    the newest events of both assets (the task's inlets) decide. A manual run always builds."""
    from airflow.sdk import Asset

    if context["dag_run"].run_type != "asset_triggered":
        return False
    events = context["inlet_events"]
    raw = events[Asset(RAW_RECEIPTS_URI)].ascending(False).limit(1)
    build = events[Asset(MARTS_BUILD_URI)].ascending(False).limit(1)
    if not len(raw) or not len(build) or raw[0].timestamp >= build[0].timestamp:
        return False
    return context["ti"].get_dagrun_state(dag_id=build[0].source_dag_id, run_id=build[0].source_run_id) == "success"
