"""The whole dbt project run incrementally day by day (a new day, a refund, arrears before the first
report day, a late .v2 superseding an earlier day) gives, on every mart, row for row, what a full
refresh gives; and the months before a province's first report day are flagged incomplete."""

from __future__ import annotations

from datetime import date

import psycopg
import pytest

from .conftest import scratch_database
from .marts_support import Reports, dbt, load_source, query

D1, D2, D3, D4 = date(2024, 5, 30), date(2024, 5, 31), date(2024, 6, 1), date(2024, 6, 2)
LINE = 1_500_000
# intermediate models kept incrementally, compared too (their current rows)
INTERMEDIATE = {
    "int_coverage_periods": "select participant_key, scheme, province_key, province_code, period_start, period_end,"
                            " months_covered from intermediate.int_coverage_periods where superseded_at is null",
    "int_coverage_deltas": "select province_key, province_code, scheme, month, delta"
                           " from intermediate.int_coverage_deltas where delta <> 0",
    "int_new_participants__monthly": "select province_key, province_code, district_code, month, scheme, new_receipts,"
                                     " new_participants from intermediate.int_new_participants__monthly",
    "int_active_participants__monthly": "select * from intermediate.int_active_participants__monthly",
    "int_campaign_month__new_participants": "select level, province_key, province_code, district_code, year, scheme,"
                                            " bucket, participants from intermediate.int_campaign_month__new_participants",
    "int_collections__anomalies": "select run_id, province_key, province_code, report_date, check_name, is_anomaly,"
                                  " sample_values from intermediate.int_collections__anomalies",
}
# May 2024 per (level, province code, district): new participants in May, TN (hand-computed below)
CAMPAIGN = """select level, province_code, district_code, new_in_may, new_in_april, new_in_may_prior_year
              from marts.fct_campaign_month where year = 2024 and scheme = 'TN'"""


@pytest.fixture
def database(warehouse_url):

    with scratch_database(warehouse_url, "bhxh_test_marts_incremental_days") as url:
        yield url


def _snapshot(url: str) -> dict[str, list[tuple]]:
    marts = [name for (name,) in query(url, """select table_name from information_schema.tables
                                               where table_schema = 'marts' order by 1""")]
    snapshot = {}
    for name in marts:  # every column but built_at (when an incremental mart's row was computed)
        columns = ", ".join(c for (c,) in query(url, """select column_name from information_schema.columns
                                                        where table_schema = 'marts' and table_name = %s
                                                          and column_name <> 'built_at' order by ordinal_position""", name))
        snapshot[name] = sorted(query(url, f"select {columns} from marts.{name}"), key=repr)
    snapshot.update({name: sorted(query(url, sql), key=repr) for name, sql in INTERMEDIATE.items()})
    return snapshot


def _build(target, *extra: str) -> None:
    # the marts DAG's selection: every model, seed and test of the project
    result = dbt(["build", *extra], target)
    assert result.returncode == 0, result.stdout[-6000:]


def test_day_by_day_equals_full_refresh(database, tmp_path):
    source, target = tmp_path / "source", tmp_path / "target"
    people = Reports(source)
    p = {name: people.person("30") for name in ("p1", "p2", "p3", "p4", "p6", "p7")}
    q5 = people.person("01")

    def day(day_: date, rows: list[tuple], name: str = "VNPOST.csv", first_code: int = 0) -> None:
        reports = Reports(source, first_code=first_code)
        for province, who, transaction, start, months, scheme in rows:
            reports.add(province, day_, participant=who, district="288" if province == "30" else "001",
                        transaction=transaction, period_start=start, months=months, scheme=scheme, poverty_line=LINE)
        reports.write(name)

    # D1: a new 12-month payer, arrears for March-May (before the first report day), a 6-month payer
    day(D1, [("30", p["p1"], "new", date(2024, 5, 1), 12, "TN"),
             ("30", p["p2"], "continued", date(2024, 3, 1), 3, "TN"),
             ("30", p["p3"], "new", date(2024, 5, 1), 6, "TN")])
    load_source(source, D1, D1)
    _build(target)

    # D2: a new participant, a refund of p1's last 3 months, a second province
    day(D2, [("30", p["p4"], "new", date(2024, 6, 1), 3, "TN"),
             ("30", p["p1"], "refund", date(2025, 2, 1), -3, "TN"),
             ("01", q5, "new", date(2024, 5, 1), 6, "TN")])
    load_source(source, D2, D2)
    _build(target)

    # D3: p2 pays on (one island March .. August), p6 new
    day(D3, [("30", p["p2"], "continued", date(2024, 6, 1), 3, "TN"),
             ("30", p["p6"], "new", date(2024, 6, 1), 1, "TN")])
    load_source(source, D3, D3)
    _build(target)
    # May 2024 (p6 is June's): province 30 p1, p3 (D1), p4 (D2); province 01 q5
    assert sorted(query(database, CAMPAIGN), key=repr) == sorted([
        ("national", None, None, 4, 0, 0),
        ("province", "30", None, 3, 0, 0), ("district", "30", "288", 3, 0, 0),
        ("province", "01", None, 1, 0, 0), ("district", "01", "001", 1, 0, 0)], key=repr)

    # D4: a new day, and a late v2 of D1 that drops p2's arrears and adds p7 with arrears from April
    day(D4, [("30", p["p4"], "continued", date(2024, 9, 1), 3, "TN")])
    day(D1, [("30", p["p1"], "new", date(2024, 5, 1), 12, "TN"),
             ("30", p["p3"], "new", date(2024, 5, 1), 6, "TN"),
             ("30", p["p7"], "new", date(2024, 4, 1), 3, "TN")], name="VNPOST.v2.csv", first_code=100)
    load_source(source, D1, D4)
    assert query(database, "select status from raw.report_files where report_date = %s order by file_id", D1) == [
        ("superseded",), ("loaded",)]
    _build(target)
    incremental = _snapshot(database)
    # the late v2 of 30 May changed May: p7 is new there too
    assert sorted(query(database, CAMPAIGN), key=repr) == sorted([
        ("national", None, None, 5, 0, 0),
        ("province", "30", None, 4, 0, 0), ("district", "30", "288", 4, 0, 0),
        ("province", "01", None, 1, 0, 0), ("district", "01", "001", 1, 0, 0)], key=repr)

    # hand-computed: province 30, TN. p1 covers 2024-05 .. 2025-01 (refund takes 2025-02..04),
    # p2 (after the v2) 2024-06 .. 08, p3 2024-05 .. 10, p4 2024-06 .. 11, p6 2024-06, p7 2024-04 .. 06
    coverage = {(row[0], row[3]): row for row in query(
        database, """select province_code, voluntary_si_participants, hi_household_participants, month,
                            is_complete_month
                     from marts.fct_coverage_monthly where province_code in ('30', '01')""")}
    assert {key: row[1:3] + row[4:] for key, row in coverage.items()} == {
        ("30", date(2024, 4, 1)): (1, 0, False),  # p7's arrears: before the first report day
        ("30", date(2024, 5, 1)): (3, 0, False),  # p1, p3, p7; reports from 30 May: May is partial
        ("30", date(2024, 6, 1)): (6, 0, True),  # p1, p2, p3, p4, p6, p7
        ("01", date(2024, 5, 1)): (1, 0, False),
        ("01", date(2024, 6, 1)): (1, 0, True),
    }
    assert len(incremental["int_coverage_periods"]) == 7
    assert query(database, "select count(*) from intermediate.int_coverage_periods where superseded_at is not null") == [(0,)]

    assert _unique_current_keys(database) == UNIQUE_CURRENT_KEYS  # built incrementally since D1

    _build(target, "--full-refresh")
    full = _snapshot(database)
    assert set(full) == set(incremental)
    for name in full:
        assert full[name] == incremental[name], name
    # a receipt and a period are current once: the unique indexes are built again on the fresh tables,
    # and a second current copy of a row is refused as it is written
    assert _unique_current_keys(database) == UNIQUE_CURRENT_KEYS
    for table, current in (("int_receipts__versions", "counted_until is null"),
                           ("int_coverage_periods__part0", "superseded_at is null"),
                           ("int_coverage_periods__part1", "superseded_at is null")):
        assert query(database, f"select count(*) > 0 from intermediate.{table} where {current}") == [(True,)], table
        with pytest.raises(psycopg.errors.UniqueViolation):
            query(database, f"insert into intermediate.{table} select * from intermediate.{table} where {current} limit 1")

    # a part of the periods built afresh alone (a full refresh of it; the first build after the split
    # of int_coverage_periods, which replaced its table, builds both): the next run recounts the deltas
    # from every current period instead of adding that part's periods again to the old counts
    _build(target, "--full-refresh", "--select", "int_coverage_periods__part0")
    _build(target)
    again = _snapshot(database)
    for name in full:
        assert again[name] == full[name], name


UNIQUE_CURRENT_KEYS = {
    ("int_receipts__versions", "(file_id, line_no) WHERE (counted_until IS NULL)"),
    ("int_coverage_periods__part0", "(participant_key, scheme, province_key, period_start) WHERE (superseded_at IS NULL)"),
    ("int_coverage_periods__part1", "(participant_key, scheme, province_key, period_start) WHERE (superseded_at IS NULL)"),
}


def _unique_current_keys(url: str) -> set[tuple[str, str]]:
    """(table, key and condition) of the unique indexes of the models that keep superseded rows (the
    periods in their two parts)."""
    return set(query(url, """select tablename, regexp_replace(indexdef, '^.* USING btree ', '') from pg_indexes
                             where schemaname = 'intermediate' and starts_with(indexdef, 'CREATE UNIQUE INDEX ')
                               and tablename in ('int_receipts__versions', 'int_coverage_periods__part0',
                                                 'int_coverage_periods__part1')"""))
