"""The backfill DAG (``bhxh_collection_backfill``): a month of report days per run, with the daily
DAG's tasks, loaded in chunks of consecutive days (``bhxh.chunks``). A real ``dag.test`` of a month
on a generated source, checked against the generator's ground truth; the chunker on its own."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date, timedelta

import psycopg
import pytest

from bhxh.chunks import day_chunks
from bhxh.orchestration import BACKFILL_DAG_ID, logical_date_for, part_of

from .airflow_helpers import checksums, dags, generate, one, own_database

MONTH, LAST = date(2024, 2, 1), date(2024, 2, 29)  # a leap February: 29 report days
DAYS = [MONTH + timedelta(days=n) for n in range((LAST - MONTH).days + 1)]


def test_days_are_grouped_in_order_under_the_budget():
    d = [date(2024, 1, n) for n in range(1, 8)]
    # 40 + 50 + 10 fill the budget; 100 alone; 30 + 70, with the day between that landed nothing
    assert day_chunks({d[0]: 40, d[1]: 50, d[2]: 10, d[3]: 100, d[4]: 30, d[6]: 70}, 100) == [
        (d[0], d[2]), (d[3], d[3]), (d[4], d[6])]
    assert day_chunks({d[0]: 500, d[1]: 1}, 100) == [(d[0], d[0]), (d[1], d[1])]  # a day over the budget: alone
    assert day_chunks({d[n]: 1 for n in range(7)}, 1) == [(day, day) for day in d]
    assert day_chunks({}, 100) == []


def test_a_month_is_cut_into_consecutive_parts_of_days():
    december, leap_february = (date(2024, 12, 1), date(2024, 12, 31)), (date(2024, 2, 1), date(2024, 2, 29))
    assert [part_of(*december, part, 2) for part in (0, 1)] == [
        (date(2024, 12, 1), date(2024, 12, 16)), (date(2024, 12, 17), date(2024, 12, 31))]
    assert [part_of(*leap_february, part, 3) for part in (0, 1, 2)] == [
        (date(2024, 2, 1), date(2024, 2, 10)), (date(2024, 2, 11), date(2024, 2, 20)),
        (date(2024, 2, 21), date(2024, 2, 29))]
    assert part_of(*december, 0, 1) == december
    one_day = (date(2024, 5, 14), date(2024, 5, 14))
    assert [part_of(*one_day, part, 2) for part in (0, 1)] == [one_day, None]  # more parts than days


RAW = ["raw.report_files", "raw.receipts", "raw.quarantine"]


def _registered(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("select province_code, report_date, org_code, deadline, source_root "
                            "from raw.expected_reports order by 1, 2, 3").fetchall()


def _run_month(source) -> dict[int, dict]:
    """Runs the month; returns each load part's summary (its XCom) by map index."""
    from sqlalchemy import select

    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from bhxh.runner import _failed_tasks

    run = dags()[BACKFILL_DAG_ID].test(logical_date=logical_date_for(MONTH),
                                       run_conf={"source_root": str(source), "provinces": ["30", "31"]})
    failed = _failed_tasks(run)
    assert not failed, f"tasks failed: {failed}"  # report_data_quality too: it merged the parts' summaries
    with create_session() as session:
        return {index: XComModel.deserialize_value(row) for index, row in session.execute(
            select(XComModel.map_index, XComModel).where(
                XComModel.dag_id == run.dag_id, XComModel.run_id == run.run_id,
                XComModel.task_id == "validate_and_load", XComModel.key == "return_value")).all()}


def test_a_month_run_loads_every_day_of_the_month_in_chunks(warehouse_url, tmp_path, monkeypatch):
    source = generate(tmp_path / "source", MONTH, LAST)
    truth: dict[tuple, int] = defaultdict(int)
    with open(source / "_truth" / "files.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            truth[(row["province_code"], date.fromisoformat(row["report_date"]), row["org_code"])] += int(
                row["receipts_sent"] or 0)
    month_bytes = sum(p.stat().st_size for p in source.glob("3[01]/2024-02-*/*") if p.is_file())
    monkeypatch.setenv("BHXH_LOAD_CHUNK_BYTES", str(month_bytes // 5))  # about five chunks
    with own_database(warehouse_url, "bhxh_test_month_backfill") as url:
        parts = _run_month(source)
        with psycopg.connect(url) as conn:
            # every source row ends loaded or quarantined, file by file (the latest version counts)
            loaded = {(p, d, o): (received, ok + bad, count) for p, d, o, received, ok, bad, count in conn.execute(
                """select f.province_code, f.report_date, f.org_code, f.rows_received, f.rows_loaded,
                          f.rows_quarantined, (select count(*) from raw.receipts r where r.file_id = f.file_id)
                   from raw.report_files f where f.status <> 'superseded'""").fetchall()}
            expected = {(p, d): n for p, d, n in conn.execute(
                "select province_code, report_date, count(*) from raw.expected_reports group by 1, 2").fetchall()}
            chunks = conn.execute("select count(distinct run_id) from raw.dq_results").fetchone()[0]
        assert set(loaded) == set(truth)
        assert {k: v[0] for k, v in loaded.items()} == truth
        assert all(received == ended for received, ended, _ in loaded.values())
        assert sum(v[2] for v in loaded.values()) == sum(truth.values()), "no quarantine without faults"
        assert sorted(expected) == [(p, d) for p in ("30", "31") for d in DAYS]  # every day registered
        assert all(n >= 1 for n in expected.values())
        assert 4 <= chunks <= 8, chunks  # loaded in several chunks, not once per day
        # two load tasks (BHXH_CONCURRENT_LOADS' default), each its half of the days: 1-15 and 16-29
        assert sorted(parts) == [0, 1]
        half = sum(n for (_, day, _), n in truth.items() if day <= date(2024, 2, 15))
        assert [parts[i]["rows_received"] for i in (0, 1)] == [half, sum(truth.values()) - half]
        assert all(parts[i]["failures"] == [] for i in (0, 1))
        before = checksums(url, RAW), _registered(url)
        _run_month(source)  # a second run lands nothing new and loads nothing
        assert (checksums(url, RAW), _registered(url)) == before
        assert one(url, "select count(*) from raw.report_files where status = 'landed'") == (0,)


@pytest.mark.parametrize("dag_id", ["bhxh_collection_backfill"])
def test_the_backfill_dag_schedules_nothing_by_itself(dag_id):
    from airflow.timetables.base import TimeRestriction

    timetable = dags()[dag_id].timetable
    assert timetable.next_dagrun_info(last_automated_data_interval=None,
                                      restriction=TimeRestriction(None, None, catchup=False)) is None
