"""The daily DAG's timetable: the data interval is the report day [D 00:00, D+1 00:00) in
Asia/Ho_Chi_Minh (UTC+7 all year, no DST), the run comes at D+1 08:30 local (01:30 UTC).
Expected times are written out by hand in UTC."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pendulum
import pytest

from airflow.timetables.base import DataInterval, TimeRestriction

from bhxh.orchestration import logical_date_for, report_day
from bhxh.timetable import ReportDayTimetable

UTC = timezone.utc
TT = ReportDayTimetable()


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def chain(restriction: TimeRestriction, n: int) -> list:
    infos, last = [], None
    for _ in range(n):
        info = TT.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
        if info is None:
            break
        infos.append(info)
        last = info.data_interval
    return infos


def test_next_runs_across_days_and_a_month_end():
    earliest = pendulum.datetime(2024, 5, 30, tz="Asia/Ho_Chi_Minh")
    infos = chain(TimeRestriction(earliest, None, catchup=True), 3)
    assert [(i.data_interval.start, i.data_interval.end, i.run_after) for i in infos] == [
        (utc(2024, 5, 29, 17), utc(2024, 5, 30, 17), utc(2024, 5, 31, 1, 30)),   # report day 30 May
        (utc(2024, 5, 30, 17), utc(2024, 5, 31, 17), utc(2024, 6, 1, 1, 30)),    # 31 May
        (utc(2024, 5, 31, 17), utc(2024, 6, 1, 17), utc(2024, 6, 2, 1, 30)),     # 1 June
    ]
    assert [report_day(i.data_interval.start) for i in infos] == [date(2024, 5, 30), date(2024, 5, 31),
                                                                   date(2024, 6, 1)]
    assert [i.logical_date for i in infos] == [logical_date_for(date(2024, 5, d)) for d in (30, 31)] + [
        logical_date_for(date(2024, 6, 1))]


def test_a_start_inside_a_day_starts_with_that_day_and_the_end_date_is_kept():
    # 10:00 UTC is 17:00 local on 13 May; the end date 15 May 23:00 local keeps 15 May, not 16 May
    infos = chain(TimeRestriction(utc(2024, 5, 13, 10), utc(2024, 5, 15, 16), catchup=True), 10)
    assert [report_day(i.data_interval.start) for i in infos] == [date(2024, 5, 13), date(2024, 5, 14),
                                                                   date(2024, 5, 15)]


def test_no_daylight_saving_a_whole_year_of_24_hour_days():
    infos = chain(TimeRestriction(pendulum.datetime(2024, 1, 1, tz="Asia/Ho_Chi_Minh"), None, catchup=True), 366)
    assert len(infos) == 366  # 2024 is a leap year
    for n, info in enumerate(infos):
        start = utc(2023, 12, 31, 17) + timedelta(days=n)
        assert info.data_interval == DataInterval(start, start + timedelta(days=1))
        assert info.run_after == start + timedelta(days=1, hours=8, minutes=30)
    assert report_day(infos[-1].data_interval.start) == date(2024, 12, 31)


def test_without_catchup_the_latest_due_day_runs_at_once():
    now = datetime.now(UTC) + timedelta(hours=7)  # local wall clock
    # due once its run time (next day 08:30) has passed
    latest = now.date() - timedelta(days=1 if (now.hour, now.minute) >= (8, 30) else 2)
    if abs((now - now.replace(hour=8, minute=30, second=0, microsecond=0)).total_seconds()) < 60:
        pytest.skip("too close to 08:30 local to tell")
    info = TT.next_dagrun_info(last_automated_data_interval=None,
                               restriction=TimeRestriction(utc(2019, 1, 1), None, catchup=False))
    assert report_day(info.data_interval.start) == latest
    assert info.run_after <= datetime.now(UTC)
    # after that run, the next one is the next day, not yet due
    following = TT.next_dagrun_info(last_automated_data_interval=info.data_interval,
                                    restriction=TimeRestriction(utc(2019, 1, 1), None, catchup=False))
    assert report_day(following.data_interval.start) == latest + timedelta(days=1)
    assert following.run_after > datetime.now(UTC)


@pytest.mark.parametrize("run_after, day", [
    (utc(2024, 5, 13, 17), date(2024, 5, 14)),          # 14 May 00:00 local: the logical date of 14 May
    (utc(2024, 5, 14, 16, 59, 59), date(2024, 5, 14)),  # 14 May 23:59:59 local
    (utc(2024, 5, 14, 17), date(2024, 5, 15)),          # 15 May 00:00 local
    (utc(2024, 5, 14, 2), date(2024, 5, 14)),           # 14 May 09:00 local
])
def test_a_manual_run_processes_the_report_day_of_its_logical_date(run_after, day):
    interval = TT.infer_manual_data_interval(run_after=pendulum.instance(run_after))
    assert interval == DataInterval(utc(day.year, day.month, day.day) - timedelta(hours=7),
                                    utc(day.year, day.month, day.day) + timedelta(hours=17))


def test_the_plugin_is_registered_by_the_entry_point_and_the_dag_round_trips():
    from airflow import plugins_manager
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    from bhxh.settings import get_settings

    assert plugins_manager.get_timetables_plugins()["bhxh.timetable.ReportDayTimetable"] is ReportDayTimetable
    dag = DagBag(dag_folder=str(get_settings().dags_dir / "bhxh_daily_collection.py")).dags["bhxh_daily_collection"]
    data = DagSerialization.to_dict(dag)
    assert data["dag"]["timetable"] == {"__type": "bhxh.timetable.ReportDayTimetable",
                                        "__var": {"run_at": "08:30", "timezone": "Asia/Ho_Chi_Minh"}}
    scheduler_dag = DagSerialization.from_dict(data)
    assert scheduler_dag.timetable == ReportDayTimetable()
    # what `airflow backfill create` enumerates: report days 13..16 May, from their logical dates
    infos = list(scheduler_dag.iter_dagrun_infos_between(logical_date_for(date(2024, 5, 13)),
                                                         logical_date_for(date(2024, 5, 16))))
    assert [report_day(i.data_interval.start) for i in infos] == [date(2024, 5, d) for d in (13, 14, 15, 16)]


def test_the_month_timetable_gives_a_backfill_12_calendar_months_and_the_scheduler_none():
    from bhxh.timetable import ReportMonthTimetable

    month = ReportMonthTimetable()
    start = pendulum.datetime(2024, 1, 1, tz="Asia/Ho_Chi_Minh")
    infos, last = [], None
    while info := month.next_dagrun_info(last_automated_data_interval=last,
                                         restriction=TimeRestriction(start, start.add(months=11), catchup=True)):
        infos.append(info)
        last = info.data_interval
    assert len(infos) == 12
    assert (infos[1].data_interval.start, infos[1].data_interval.end, infos[1].run_after) == (
        utc(2024, 1, 31, 17), utc(2024, 2, 29, 17), utc(2024, 3, 1, 1, 30))  # February 2024: 29 report days
    assert infos[-1].data_interval.end == utc(2024, 12, 31, 17)
    assert month.next_dagrun_info(last_automated_data_interval=None,
                                  restriction=TimeRestriction(start, None, catchup=False)) is None
    assert month != ReportDayTimetable() and ReportMonthTimetable.deserialize(month.serialize()) == month
