"""fct_data_quality and its anomaly baselines (int_collections__anomalies) built one day at a time equal
a full refresh row for row, including a late .v2 that changes an earlier day's data-quality row;
a run recomputes only the days whose windows hold a change (rows of other days keep their xmin);
a check committed after the last build but stamped before it (a long validation) is not lost.

Hand-made history for province 30, scheme TN, straight into raw (the pipeline is tested elsewhere):
10 receipts of 100,000 VND on every day but Sunday, 2 on Sundays, from Monday 2024-04-01 to Sunday
2024-05-05; one data-quality check per file."""

from __future__ import annotations

from datetime import date, timedelta

import psycopg
import pytest

from .conftest import scratch_database
from .marts_support import dbt, dbt_build, query

START = date(2024, 4, 1)  # a Monday
MON, TUE = date(2024, 5, 6), date(2024, 5, 7)
ANOMALIES = """select report_date, check_name, severity, success, sample_values->>'observed', sample_values->>'expected'
               from marts.fct_data_quality where check_name like 'anomaly.%%' order by report_date, check_name"""
# every column; an anomaly row's checked_at is when it was computed (differs from a full refresh)
QUALITY = """select run_id, province_code, report_date, file, check_name, success, unexpected_count,
                    sample_values::text, severity, file_id, case when file_id is null then null else checked_at end
             from marts.fct_data_quality"""
SCORED = """select run_id, province_key, province_code, report_date, check_name, is_anomaly, sample_values::text
            from intermediate.int_collections__anomalies"""


@pytest.fixture
def database(warehouse_url):

    with scratch_database(warehouse_url, "bhxh_test_marts_incremental_quality") as url:
        yield url


def _file(url: str, day: date, receipts: int, version: int = 1, checked_at: str = "now()") -> None:
    """A loaded file of `receipts` receipts (100,000 VND each) and its one passed check; a v2 supersedes
    the earlier version as the pipeline does."""
    name = "VNPOST.csv" if version == 1 else f"VNPOST.v{version}.csv"
    with psycopg.connect(url) as conn:
        file_id = conn.execute(
            """insert into raw.report_files (province_code, report_date, org_code, version, source_path, sha256,
                                             bytes, status, rows_received, rows_loaded, rows_quarantined)
               values ('30', %s, 'VNPOST', %s, %s, %s, 1, 'loaded', %s, %s, 0) returning file_id""",
            (day, version, f"30/{day}/{name}", f"sha-{day}-{version}", receipts, receipts)).fetchone()[0]
        conn.execute("""update raw.report_files set status = 'superseded', superseded_by = %s
                        where province_code = '30' and report_date = %s and file_id <> %s""", (file_id, day, file_id))
        for line in range(receipts):
            conn.execute("""insert into raw.receipts (file_id, line_no, file_province_code, report_date, org_code,
                               receipt_no, collected_on, scheme, transaction_type, months_paid, amount)
                            values (%s, %s, '30', %s, 'VNPOST', %s, %s, 'TN', 'continued', 1, 100000)""",
                         (file_id, line + 2, day, f"BD30-{day:%y%m%d}-{version}{line:04d}", day))
        conn.execute(f"""insert into raw.dq_results (run_id, file_id, province_code, report_date, file, check_name,
                                                     success, unexpected_count, checked_at)
                         values (%s, %s, '30', %s, %s, 'receipts.expect_column_values_to_not_be_null(amount)',
                                 true, 0, {checked_at})""", (f"run-{day}-{version}", file_id, day, f"30/{day}/{name}"))


def _snapshot(url: str) -> dict[str, list[tuple]]:
    return {"quality": sorted(query(url, QUALITY), key=repr), "scored": sorted(query(url, SCORED), key=repr)}


def test_quality_day_by_day_equals_full_refresh(database, tmp_path):
    target = tmp_path / "target"
    for i in range(35):
        day = START + timedelta(days=i)
        _file(database, day, 2 if day.isoweekday() == 7 else 10)
    dbt_build(target, "+fct_data_quality")
    assert query(database, ANOMALIES) == []

    # a Monday with 40 receipts: 4x its baseline (median 10 of the non-Sundays before), flagged
    _file(database, MON, 40)
    dbt_build(target, "+fct_data_quality")
    assert query(database, ANOMALIES) == [
        (MON, "anomaly.amount_vnd(TN)", "warning", False, "4000000", "1000000"),
        (MON, "anomaly.receipt_count(TN)", "warning", False, "40", "10"),
    ]
    untouched = dict(query(database, """select report_date || check_name, xmin::text
                                        from intermediate.int_collections__anomalies where report_date < %s""", MON))

    # a late v2 of the Monday (10 receipts: no longer an anomaly), a Tuesday with 40 (flagged), and a
    # check of the Tuesday stamped two hours before the last build (committed after it)
    _file(database, MON, 10, version=2)
    _file(database, TUE, 40, checked_at="now() - interval '2 hours'")
    dbt_build(target, "+fct_data_quality")
    assert query(database, ANOMALIES) == [
        (TUE, "anomaly.amount_vnd(TN)", "warning", False, "4000000", "1000000"),
        (TUE, "anomaly.receipt_count(TN)", "warning", False, "40", "10"),
    ]
    # one check per file: 35 days, the Monday's v1 and v2, the Tuesday
    assert query(database, "select count(*) from marts.fct_data_quality where file_id is not null") == [(38,)]
    assert query(database, "select count(*) from marts.fct_data_quality where report_date = %s and file_id is not null",
                 TUE) == [(1,)]
    # the days before the change were not recomputed: same row versions
    assert dict(query(database, """select report_date || check_name, xmin::text
                                   from intermediate.int_collections__anomalies where report_date < %s""", MON)) == untouched
    # scored: every non-Sunday and Sunday from the start, both measures (2024-04-01 .. 05-07, 37 days)
    assert query(database, "select count(*) from intermediate.int_collections__anomalies") == [(37 * 2,)]
    incremental = _snapshot(database)


    result = dbt(["build", "--no-partial-parse", "--select", "+fct_data_quality", "--indirect-selection", "cautious",
                  "--full-refresh"], target)
    assert result.returncode == 0, result.stdout[-6000:]
    full = _snapshot(database)
    assert full == incremental
