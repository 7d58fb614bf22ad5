"""fct_daily_collections is incremental and supersede-aware: after a corrected v2 of an old day, a
new day and a v2 that is rejected, an incremental run gives exactly what a full refresh gives, and
rows of untouched days are not rewritten (same PostgreSQL row version, xmin). A v2 that is rejected
(unreadable) or quarantined whole supersedes the loaded v1 all the same (spec: the highest version
replaces the earlier ones as a whole): that report's day then has no rows, and the rejection with its
reason is in raw.report_files and fct_data_quality."""

from __future__ import annotations

from datetime import date

import pytest

from .marts_support import Reports, dbt, dbt_build, load_source, query

from .conftest import scratch_database

D14, D15, D16, D17, D18 = (date(2024, 5, d) for d in (14, 15, 16, 17, 18))
LINE = 1_500_000
SNAPSHOT = """select province_key, province_code, report_date, org_code, scheme, receipts, participants, amount_vnd,
                     state_subsidy_vnd, new_participants, refunds, source_files
              from marts.fct_daily_collections order by report_date, org_code, scheme"""


@pytest.fixture
def database(warehouse_url):

    with scratch_database(warehouse_url, "bhxh_test_marts_incremental") as url:
        yield url


def _tn(r: Reports, day: date, transaction: str = "new", months: int = 12, participant: str | None = None):
    r.add("30", day, participant=participant or r.person("30"), district="288", transaction=transaction,
          period_start=date(2024, 6, 1), months=months, poverty_line=LINE)


def test_incremental_run_equals_full_refresh(database, tmp_path):
    source = tmp_path / "source"
    first = Reports(source)
    for _ in range(3):
        _tn(first, D15)
    _tn(first, D16)
    _tn(first, D14)
    for _ in range(2):
        _tn(first, D18, transaction="continued", months=6)
    first.write()
    load_source(source, D14, D18)
    dbt_build(tmp_path / "target", select="+fct_daily_collections")
    before = {row[0]: row[1] for row in query(database, "select report_date, xmin::text from marts.fct_daily_collections")}
    assert set(before) == {D14, D15, D16, D18}

    # a corrected v2 of 2024-05-15 (one new receipt and one refund), a new day 2024-05-17, and a v2
    # of 2024-05-18 whose province cells say 74 (rejected whole)
    corrected = Reports(source, first_code=1000)
    _tn(corrected, D15)
    _tn(corrected, D15, transaction="refund", months=-3)
    corrected.write("VNPOST.v2.csv")
    new_day = Reports(source, first_code=2000)
    _tn(new_day, D17, transaction="continued", months=3)
    new_day.write()
    rejected = Reports(source, first_code=3000)
    _tn(rejected, D18, transaction="continued", months=6)
    for row in rejected.files[("30", D18)]:
        row["province_code"] = "74"
    rejected.write("VNPOST.v2.csv")
    # a v2 of 2024-05-14 that is no report at all (rejected unread)
    (source / "30" / D14.isoformat() / "VNPOST.v2.csv").write_text("not,a,report\n1,2,3\n", encoding="utf-8")
    load_source(source, D14, D18)

    result = dbt(["run", "--select", "+fct_daily_collections", "+fct_data_quality"], tmp_path / "target")
    assert result.returncode == 0, result.stdout[-4000:]
    incremental = query(database, SNAPSHOT)
    after = {row[0]: row[1] for row in query(database, "select report_date, xmin::text from marts.fct_daily_collections")}
    assert after[D16] == before[D16], "an untouched day must not be rewritten"
    by_day = {row[2]: row for row in incremental}
    # 2024-05-15 from its v2 only: 2 receipts, 1 new participant, 1 refund
    assert by_day[D15][5:11] == (2, 2, 297_000 * 12 - 330_000 * 3, 33_000 * 12, 1, 1)
    assert by_day[D17][5] == 1
    # the v2s of 2024-05-14 (rejected) and 2024-05-18 (quarantined whole) superseded their loaded v1:
    # no rows those days, the rejection and its reason on record
    files = {day: query(database, """select file_id, status, superseded_by, reason from raw.report_files
                                     where report_date = %s order by version""", day) for day in (D14, D18)}
    for day, status in ((D14, "rejected"), (D18, "quarantined")):
        (_, v1_status, v1_by, _), (v2_id, v2_status, v2_by, v2_reason) = files[day]
        assert (v1_status, v1_by, v2_status, v2_by) == ("superseded", v2_id, status, None)
        assert v2_reason and day not in by_day
    v2_14, reason_14 = files[D14][1][0], files[D14][1][3]
    assert query(database, """select success, severity, sample_values->>0 from marts.fct_data_quality
                              where file_id = %s and check_name = 'read_report'""", v2_14) == [(False, "error", reason_14)]
    assert query(database, """select count(*) from marts.fct_data_quality where file_id = %s and not success
                              and severity = 'error'""", files[D18][1][0])[0][0] > 0

    result = dbt(["run", "--select", "+fct_daily_collections", "--full-refresh"], tmp_path / "target")
    assert result.returncode == 0, result.stdout[-4000:]
    assert query(database, SNAPSHOT) == incremental
