"""fct_report_completeness and fct_daily_collections are incremental: an incremental build after a day's
changes gives exactly what a full refresh gives, and recomputes only the report days those changes
touch (rows of other days keep their PostgreSQL row version, xmin, and their built_at).

Hand-made history for province 30, organisation VNPOST, straight into raw (the pipeline is tested
elsewhere; the manifest's changed_at trigger is the real one), every row stamped two days before the
first build, so that only what happens after it is new. Deadlines are 08:00 (+07) the next day.
  2024-05-13  v1 on time, 3 receipts of 100,000 VND      -> later a v2 of 1 receipt supersedes it
  2024-05-14  v1 on time, 2 receipts                     -> untouched
  2024-05-15  expected, nothing received (missing)       -> later a late file, 30 hours after the deadline
  2024-05-16  expected, due in a day (pending)           -> later its deadline passes, nothing received
The deadline passing is simulated by moving 2024-05-16's deadline to a minute ago (its registered_at
untouched): to the models the warehouse then looks as it would a day later with no new data."""

from __future__ import annotations

from datetime import date

import psycopg
import pytest

from .conftest import scratch_database
from .marts_support import dbt, dbt_build, query

D13, D14, D15, D16 = (date(2024, 5, d) for d in (13, 14, 15, 16))
SELECT = "+fct_report_completeness +fct_daily_collections"
COMPLETENESS = """select province_code, org_code, report_date, expected, received, on_time, days_late, rows_received,
                         rows_loaded, rows_quarantined, status, deadline_at, received_at, versions_received, file_id,
                         file_version, file_status, file_reason
                  from marts.fct_report_completeness order by report_date"""
COLLECTIONS = """select province_key, province_code, report_date, org_code, scheme, receipts, participants, amount_vnd,
                        state_subsidy_vnd, new_participants, refunds, source_files
                 from marts.fct_daily_collections order by report_date, scheme"""
STAMPS = """select report_date, xmin::text, built_at from marts.{} order by report_date"""
LONG_AGO = "now() - interval '2 days'"


@pytest.fixture
def database(warehouse_url):

    with scratch_database(warehouse_url, "bhxh_test_marts_incremental_completeness") as url:
        yield url


def _expect(url: str, day: date, deadline: str = "((%(day)s + 1)::timestamp + interval '8 hours') at time zone 'Asia/Ho_Chi_Minh'") -> None:
    with psycopg.connect(url) as conn:
        conn.execute(f"""insert into raw.expected_reports (province_code, report_date, org_code, deadline, registered_at)
                         values ('30', %(day)s, 'VNPOST', {deadline}, {LONG_AGO})""", {"day": day})


def _file(url: str, day: date, receipts: int, arrived: str, version: int = 1, quarantined: int = 0,
          changed_at: str = "now()") -> int:
    """A loaded file of `receipts` receipts (100,000 VND each) that arrived (source modification time)
    at `arrived`; a v2 supersedes the earlier version as the pipeline does (an update: the trigger
    stamps it)."""
    name = "VNPOST.csv" if version == 1 else f"VNPOST.v{version}.csv"
    with psycopg.connect(url) as conn:
        file_id = conn.execute(
            f"""insert into raw.report_files (province_code, report_date, org_code, version, source_path, sha256, bytes,
                                              status, rows_received, rows_loaded, rows_quarantined, source_modified_at,
                                              changed_at)
                values ('30', %s, 'VNPOST', %s, %s, %s, 1, 'loaded', %s, %s, %s, %s, {changed_at})
                returning file_id""",
            (day, version, f"30/{day}/{name}", f"sha-{day}-{version}", receipts + quarantined, receipts, quarantined,
             arrived)).fetchone()[0]
        conn.execute("""update raw.report_files set status = 'superseded', superseded_by = %s
                        where province_code = '30' and report_date = %s and file_id <> %s""", (file_id, day, file_id))
        conn.execute("""insert into raw.receipts (file_id, line_no, file_province_code, report_date, org_code,
                                                  receipt_no, collected_on, scheme, transaction_type, months_paid, amount)
                        select %s, g + 1, '30', %s, 'VNPOST', 'BD30-' || %s || '-' || g, %s, 'TN', 'continued', 1, 100000
                        from generate_series(1, %s) g""", (file_id, day, f"{day:%y%m%d}{version}", day, receipts))
    return file_id


def _by_day(url: str) -> dict[date, tuple]:
    return {row[2]: row for row in query(url, COMPLETENESS)}


def test_completeness_and_collections_incremental_equal_full_refresh(database, tmp_path):
    target = tmp_path / "target"
    for day in (D13, D14, D15):
        _expect(database, day)
    _expect(database, D16, deadline="now() + interval '1 day'")
    v1_13 = _file(database, D13, 3, "2024-05-14 06:00+07", changed_at=LONG_AGO)
    _file(database, D14, 2, "2024-05-15 07:59+07", changed_at=LONG_AGO)
    dbt_build(target, SELECT)

    first = _by_day(database)
    # status, received, rows_loaded per day
    assert {d: (r[10], r[4], r[8]) for d, r in first.items()} == {
        D13: ("on_time", True, 3), D14: ("on_time", True, 2), D15: ("missing", False, None),
        D16: ("pending", False, None)}
    first_collections = query(database, COLLECTIONS)
    assert [(r[2], r[5], r[7], r[11]) for r in first_collections] == [
        (D13, 3, 300_000, str(v1_13)), (D14, 2, 200_000, str(v1_13 + 1))]
    before = {model: query(database, STAMPS.format(model)) for model in ("fct_report_completeness", "fct_daily_collections")}

    # no dbt run in between: 2024-05-16's deadline passes (nothing came), a file for 2024-05-15 arrives
    # 30 hours after its deadline (4 rows: 3 loaded, 1 quarantined), a v2 of 2024-05-13 (1 receipt)
    with psycopg.connect(database) as conn:
        conn.execute("update raw.expected_reports set deadline = now() - interval '1 minute' where report_date = %s", (D16,))
    late = _file(database, D15, 3, "2024-05-17 14:00+07", quarantined=1)
    v2_13 = _file(database, D13, 1, "2024-05-17 09:00+07", version=2)
    result = dbt(["run", "--select", *SELECT.split()], target)
    assert result.returncode == 0, result.stdout[-4000:]

    after = _by_day(database)
    # 2024-05-16: pending -> missing with no new data for it
    assert (after[D16][4], after[D16][10], after[D16][6]) == (False, "missing", None)
    # 2024-05-15: missing -> late, ceil(30 h / 24 h) = 2 days late, the file's counts
    assert after[D15][4:11] == (True, False, 2, 4, 3, 1, "late")
    assert (after[D15][13], after[D15][14]) == (1, late)
    # 2024-05-13: still on time (its first version was), now 2 versions, the v2's file and counts
    assert after[D13][4:11] == (True, True, 0, 1, 1, 0, "on_time")
    assert after[D13][13:17] == (2, v2_13, 2, "loaded")
    # collections: 2024-05-13 from the v2 only, 2024-05-15 new, 2024-05-14 as it was
    collections = query(database, COLLECTIONS)
    assert [(r[2], r[5], r[7], r[11]) for r in collections] == [
        (D13, 1, 100_000, str(v2_13)), (D14, 2, 200_000, first_collections[1][11]), (D15, 3, 300_000, str(late))]
    # the untouched day's rows were not rewritten (same row version, same build stamp); the others were
    for model, rows in before.items():
        now_rows = {r[0]: r[1:] for r in query(database, STAMPS.format(model))}
        then_rows = {r[0]: r[1:] for r in rows}
        assert now_rows[D14] == then_rows[D14], f"{model}: 2024-05-14 rewritten"
        assert now_rows[D13] != then_rows[D13], f"{model}: 2024-05-13 not rebuilt"
    incremental = (query(database, COMPLETENESS), query(database, COLLECTIONS))

    result = dbt(["run", "--select", *SELECT.split(), "--full-refresh"], target)
    assert result.returncode == 0, result.stdout[-4000:]
    assert (query(database, COMPLETENESS), query(database, COLLECTIONS)) == incremental
