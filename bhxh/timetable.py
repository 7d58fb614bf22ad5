"""The collection's schedules: one run per report day (or per month of report days, for
backfills), after the reports of its last day are due.

``ReportDayTimetable`` gives each run the data interval of exactly one report day,
[D 00:00, D+1 00:00) local time, and runs it at D+1 08:30 local, after the 08:00 deadline for D's
reports. A run's logical date is therefore the report day's midnight, and the report day is the
local date of ``data_interval_start`` (``bhxh.orchestration.report_day``).

Manual runs: a logical date names the report day of its local date (``2024-05-14``, or any time
that day). Backfills: ``airflow backfill create --from-date A --to-date B`` runs the report days A..B
(those already over). Airflow finds the class through ``BhxhPlugin``, registered by the package's
``airflow.plugins`` entry point (pyproject.toml): the scheduler, dag-processor and API server
deserialize DAGs with it, without any plugins folder.

``ReportMonthTimetable`` is the same with a calendar month of report days for data interval,
[M-01 00:00, M+1-01 00:00) local, run on the 1st of the next month at 08:30, after the deadline of
the month's last day: the schedule of ``bhxh_collection_backfill`` (a year is 12 runs, not 366),
which only ``airflow backfill create`` runs.
"""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any

import pendulum
from pendulum import DateTime

from airflow.plugins_manager import AirflowPlugin
from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction, Timetable

DAY = timedelta(days=1)


class ReportDayTimetable(Timetable):
    """One run per local calendar day, its data interval the day itself, run the next day at ``run_at``."""

    unit = "day"  # the data interval: one local calendar ``unit`` (pendulum's name)

    def __init__(self, run_at: time = time(8, 30), timezone: str = "Asia/Ho_Chi_Minh") -> None:
        self.run_at = run_at
        self.timezone = timezone
        self._tz = pendulum.timezone(timezone)
        self.description = (f"Each {self.unit} of report days ({timezone}), run the day after its last at "
                            f"{run_at:%H:%M}")

    # the interval (a report day, or a month of them) <-> times
    def day_start(self, moment: DateTime) -> DateTime:
        """Midnight (local) starting the interval ``moment`` falls in."""
        return pendulum.instance(moment).in_timezone(self._tz).start_of(self.unit)

    def _next(self, start: DateTime) -> DateTime:
        return pendulum.instance(start).in_timezone(self._tz).add(**{f"{self.unit}s": 1})

    def interval_of(self, day_start: DateTime) -> DataInterval:
        return DataInterval(day_start.in_timezone("UTC"), self._next(day_start).in_timezone("UTC"))

    def run_after_of(self, day_start: DateTime) -> DateTime:
        local = self._next(day_start)  # the day after the interval's last report day
        return local.replace(hour=self.run_at.hour, minute=self.run_at.minute).in_timezone("UTC")

    def info_of(self, day_start: DateTime) -> DagRunInfo:
        return DagRunInfo(run_after=self.run_after_of(day_start), data_interval=self.interval_of(day_start))

    def latest_due_day(self, now: DateTime) -> DateTime:
        """The start of the latest interval whose run time has come by ``now``."""
        local = pendulum.instance(now).in_timezone(self._tz)
        last_day = local.subtract(hours=self.run_at.hour, minutes=self.run_at.minute).start_of("day").subtract(days=1)
        return self.day_start(last_day)  # the interval holding the latest report day due

    # the Timetable protocol
    @property
    def summary(self) -> str:
        return f"report {self.unit}, at {self.run_at:%H:%M} next day ({self.timezone})"

    def infer_manual_data_interval(self, *, run_after: DateTime) -> DataInterval:
        return self.interval_of(self.day_start(run_after))

    def next_dagrun_info(self, *, last_automated_data_interval: DataInterval | None,
                         restriction: TimeRestriction) -> DagRunInfo | None:
        candidates = []
        if last_automated_data_interval is not None:
            candidates.append(self.day_start(last_automated_data_interval.end))
        elif restriction.earliest is not None:
            candidates.append(self.day_start(restriction.earliest))
        if not restriction.catchup or not candidates:  # no catch-up: the latest day due, at once
            candidates.append(self.latest_due_day(pendulum.now("UTC")))
        if restriction.earliest is not None:
            candidates.append(self.day_start(restriction.earliest))
        start = max(candidates)
        if restriction.latest is not None and start > restriction.latest:
            return None
        return self.info_of(start)

    def serialize(self) -> dict[str, Any]:
        return {"run_at": self.run_at.strftime("%H:%M"), "timezone": self.timezone}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> ReportDayTimetable:
        return cls(time.fromisoformat(data["run_at"]), data["timezone"])

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.serialize() == other.serialize()

    def __hash__(self) -> int:
        return hash((self.unit, self.run_at, self.timezone))


class ReportMonthTimetable(ReportDayTimetable):
    """One run per local calendar month of report days, run on the 1st of the next month at
    ``run_at``: for backfills only. ``airflow backfill create`` asks with catch-up on and gets every
    month of its range; the scheduler, for a DAG without catch-up, gets nothing: the daily DAG
    collects the current days, so this schedule starts no run by itself (a manual run is a month)."""

    unit = "month"

    @property
    def summary(self) -> str:
        return f"report month ({self.timezone}), backfills only"

    def next_dagrun_info(self, *, last_automated_data_interval: DataInterval | None,
                         restriction: TimeRestriction) -> DagRunInfo | None:
        if not restriction.catchup:
            return None
        return super().next_dagrun_info(last_automated_data_interval=last_automated_data_interval,
                                        restriction=restriction)


class BhxhPlugin(AirflowPlugin):
    name = "bhxh"
    timetables = [ReportDayTimetable, ReportMonthTimetable]
