"""raw.receipts partitioned by month: the migration of an unpartitioned warehouse, partitions on
demand before a load, rows of the default partition moving into their month, ANALYZE after a load,
and the loader's and transformer's access through the parent, against the real PostgreSQL."""

from __future__ import annotations

import shutil
from datetime import date

import psycopg
import pytest

from bhxh import partitions, pipeline
from bhxh.settings import get_settings

from .conftest import ROOT, SHARED, scratch_database

OLD_RAW_SQL = ROOT / "tests" / "fixtures" / "raw_unpartitioned.sql"  # the raw schema before partitioning (commit 2436861)


def _rows(url, query, *args):
    with psycopg.connect(url) as conn:
        return conn.execute(query, args or None).fetchall()


def _partitions(url):
    return _rows(url, """select c.relname, pg_get_expr(c.relpartbound, c.oid) from pg_inherits i
                         join pg_class c on c.oid = i.inhrelid
                         where i.inhparent = 'raw.receipts'::regclass order by 1""")


def test_init_schema_partitions_an_existing_unpartitioned_warehouse(warehouse_url):
    old_sql = OLD_RAW_SQL.read_text(encoding="utf-8")
    assert "partition" not in old_sql
    admin = warehouse_url.rsplit("/", 1)[0] + "/postgres"
    name = "bhxh_test_migration"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"drop database if exists {name} with (force)")
        conn.execute(f"create database {name}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BHXH_DATABASE", name)
        url = get_settings().warehouse_url
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(old_sql)
            # 3 files on 3 report days in 2 months; 1,000 + 1,000 + 500 receipts
            for day, n in ((date(2024, 4, 30), 1000), (date(2024, 5, 1), 1000), (date(2024, 5, 31), 500)):
                (file_id,) = conn.execute(
                    "insert into raw.report_files (province_code, report_date, org_code, version, source_path, "
                    "sha256, bytes, status) values ('30', %s, 'VNPOST', 1, 'x', %s, 1, 'loaded') returning file_id",
                    (day, f"sha-{day}")).fetchone()
                conn.execute(
                    """insert into raw.receipts (file_id, line_no, file_province_code, report_date, org_code,
                                                 receipt_no, amount, extra)
                       select %s, g, '30', %s, 'VNPOST', 'R' || %s || '-' || g, g * 1000,
                              case when g %% 2 = 0 then '{"x": 1}'::jsonb end
                       from generate_series(1, %s) g""", (file_id, day, str(day), n))
            assert conn.execute("select relkind from pg_class where oid = 'raw.receipts'::regclass").fetchone() == ("r",)
            checksum = "select count(*), sum(amount), md5(string_agg(t::text, '|' order by file_id, line_no)) " \
                       "from raw.receipts t"
            before = conn.execute(checksum).fetchone()
        assert before[0] == 2500 and before[1] == 1000 * 1001 // 2 * 2 * 1000 + 500 * 501 // 2 * 1000

        pipeline.init_schema(get_settings())
        pipeline.init_schema(get_settings())  # idempotent: a second start changes nothing

        assert _rows(url, checksum) == [before]
        assert _rows(url, "select relkind from pg_class where oid = 'raw.receipts'::regclass") == [("p",)]
        assert _rows(url, "select to_regclass('raw.receipts_unpartitioned')") == [(None,)]
        assert _partitions(url) == [
            ("receipts_2024_04", "FOR VALUES FROM ('2024-04-01') TO ('2024-05-01')"),
            ("receipts_2024_05", "FOR VALUES FROM ('2024-05-01') TO ('2024-06-01')"),
            ("receipts_default", "DEFAULT")]
        assert _rows(url, "select count(*) from raw.receipts_2024_04") == [(1000,)]
        assert _rows(url, "select count(*) > 0 from pg_stats where schemaname = 'raw' and tablename = 'receipts' "
                          "and inherited") == [(True,)]  # analyzed by the migration
        assert _rows(url, "select count(*) from raw.receipts_2024_05") == [(1500,)]
        # the key and the receipt_no index are on the partitioned table; the old foreign key is gone (its
        # check is a statement trigger's, below)
        assert _rows(url, """select conname, contype, pg_get_constraintdef(oid) from pg_constraint
                             where conrelid = 'raw.receipts'::regclass and contype in ('p', 'f') order by 1""") == [
            ("receipts_pkey", "p", "PRIMARY KEY (report_date, file_id, line_no)")]
        assert _rows(url, "select count(*) from pg_indexes where indexname like 'receipts_2024_05%receipt_no%'") == [(1,)]
        # the loader's codes are constraints of the table (and so of every partition): a row outside them
        # is refused, and a query for such rows reads no partition at all (the marts' accepted_values tests)
        assert _rows(url, """select conname from pg_constraint where conrelid = 'raw.receipts'::regclass
                             and contype = 'c' order by 1""") == [("receipts_scheme_check",),
                                                                 ("receipts_transaction_type_check",)]
        for column, value in (("scheme", "BHXH"), ("transaction_type", "renewal")):
            with psycopg.connect(url) as conn, pytest.raises(psycopg.errors.CheckViolation):
                conn.execute(f"insert into raw.receipts (file_id, line_no, file_province_code, report_date, org_code, "
                             f"{column}) select file_id, 9998, '30', report_date, 'VNPOST', %s from raw.report_files "
                             "where report_date = '2024-05-31'", (value,))
        plan = "\n".join(r[0] for r in _rows(url, "explain select scheme, count(*) from raw.receipts "
                                                  "group by scheme having scheme not in ('TN', 'HGD')"))
        assert "receipts_2024" not in plan, plan
        # every receipt's file is in the manifest, whoever writes and however (a row, an update, the
        # loader's COPY beside receipts of a known file), and a manifest row with receipts stays
        settings = get_settings()
        with psycopg.connect(url) as conn, pytest.raises(psycopg.errors.ForeignKeyViolation, match="999999"):
            conn.execute("insert into raw.receipts (file_id, line_no, file_province_code, report_date, org_code) "
                         "values (999999, 1, '30', '2024-05-02', 'VNPOST')")
        with psycopg.connect(url) as conn, pytest.raises(psycopg.errors.ForeignKeyViolation, match="999998"):
            conn.execute("update raw.receipts set file_id = 999998 where report_date = '2024-05-01' and line_no = 2")
        known = _rows(url, "select file_id from raw.report_files where report_date = '2024-05-31'")[0][0]
        with psycopg.connect(settings.loader_url) as conn, pytest.raises(psycopg.errors.ForeignKeyViolation):
            with conn.cursor().copy("COPY raw.receipts (file_id, line_no, file_province_code, report_date, org_code) "
                                    "FROM STDIN") as copy:
                copy.write_row((known, 9990, "30", date(2024, 5, 31), "VNPOST"))
                copy.write_row((999997, 9991, "30", date(2024, 5, 31), "VNPOST"))
        with psycopg.connect(url) as conn, pytest.raises(psycopg.errors.ForeignKeyViolation, match="still has receipts"):
            conn.execute("delete from raw.report_files where report_date = '2024-05-31'")
        # the loader writes and the transformer reads through the parent, as before
        with psycopg.connect(settings.loader_url) as conn:
            conn.execute("insert into raw.receipts (file_id, line_no, file_province_code, report_date, org_code) "
                         "select file_id, 9999, '30', report_date, 'VNPOST' from raw.report_files "
                         "where report_date = '2024-05-31'")
            conn.commit()
        assert _rows(settings.transformer_url, "select count(*) from raw.receipts") == [(2501,)]
        # the manifest got changed_at (the upgrade's time on the old rows), kept by a trigger on every
        # change whoever writes it: the loader's status update stamps the row, a no-op update does not
        stamps = dict(_rows(url, "select report_date, changed_at from raw.report_files"))
        assert len(stamps) == 3 and None not in stamps.values()
        with psycopg.connect(settings.loader_url, autocommit=True) as conn:
            conn.execute("update raw.report_files set status = 'superseded' where report_date = '2024-05-01'")
            conn.execute("update raw.report_files set status = status where report_date = '2024-05-31'")
        after = dict(_rows(url, "select report_date, changed_at from raw.report_files"))
        assert after[date(2024, 5, 1)] > stamps[date(2024, 5, 1)]
        assert {d: after[d] for d in (date(2024, 4, 30), date(2024, 5, 31))} == \
            {d: stamps[d] for d in (date(2024, 4, 30), date(2024, 5, 31))}
        assert _rows(url, "select count(*) from pg_indexes where schemaname = 'raw' and indexname in "
                          "('report_files_changed_at', 'expected_reports_registered_at', 'expected_reports_deadline')") == [(3,)]


def test_partitions_on_demand_and_rows_of_the_default_move_in(fresh_db):
    settings = get_settings()
    with psycopg.connect(settings.loader_url, autocommit=True) as conn:
        assert partitions.add_months(conn, date(2024, 12, 30), date(2025, 1, 2)) == 2
        assert partitions.add_months(conn, date(2024, 12, 30), date(2025, 1, 2)) == 0
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        (file_id,) = conn.execute(
            "insert into raw.report_files (province_code, report_date, org_code, version, source_path, sha256, "
            "bytes, status) values ('30', '2025-03-03', 'VNPOST', 1, 'x', 'y', 1, 'loaded') returning file_id").fetchone()
    # a row with no month partition yet goes to the default partition (the load never fails for it) ...
    with psycopg.connect(settings.loader_url, autocommit=True) as conn:
        conn.execute("insert into raw.receipts (file_id, line_no, file_province_code, report_date, org_code, amount) "
                     "select %s, g, '30', '2025-03-03', 'VNPOST', 7 from generate_series(1, 3) g", (file_id,))
    assert _rows(fresh_db, "select count(*) from raw.receipts_default") == [(3,)]
    # ... and into its month partition when that is added (by the loader, through the function only)
    with psycopg.connect(settings.loader_url, autocommit=True) as conn:
        assert partitions.add_months(conn, date(2025, 3, 1), date(2025, 3, 31)) == 1
    assert _rows(fresh_db, "select count(*) from raw.receipts_default") == [(0,)]
    assert _rows(fresh_db, "select count(*), sum(amount) from raw.receipts_2025_03") == [(3, 21)]
    assert [p for p, _ in _partitions(fresh_db)] == [
        "receipts_2024_12", "receipts_2025_01", "receipts_2025_03", "receipts_default"]
    with psycopg.connect(settings.loader_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("create table raw.receipts_2025_04 partition of raw.receipts "
                         "for values from ('2025-04-01') to ('2025-05-01')")
    with psycopg.connect(settings.transformer_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select raw.add_receipt_months('2025-04-01', '2025-04-01')")


def test_two_loads_adding_the_same_month_at_once(fresh_db):
    """The second waits for the first's partition and takes it, without an error."""
    import threading

    settings = get_settings()
    first = psycopg.connect(settings.loader_url)  # holds its new partition uncommitted
    assert partitions.add_months(first, date(2026, 1, 5), date(2026, 1, 5)) == 1
    outcome = {}

    def second():
        with psycopg.connect(settings.loader_url, autocommit=True) as conn:
            try:
                outcome["added"] = partitions.add_months(conn, date(2026, 1, 9), date(2026, 1, 9))
            except psycopg.Error as exc:
                outcome["error"] = exc

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(timeout=2)
    assert thread.is_alive()  # waiting for the first load
    first.commit()
    first.close()
    thread.join(timeout=30)
    assert outcome == {"added": 0}
    assert [p for p, _ in _partitions(fresh_db)] == ["receipts_2026_01", "receipts_default"]


SAMPLES = SHARED / "samples" / "source"


@pytest.mark.skipif(not SAMPLES.exists(), reason="shared/samples not beside the checkout")
def test_a_load_adds_its_month_and_analyzes_it(fresh_db, tmp_path):
    shutil.copytree(SAMPLES / "30", tmp_path / "source" / "30")
    day = date(2024, 5, 15)
    pipeline.collect(str(tmp_path / "source"), "30", day)
    assert pipeline.process_landed(day, day).rows_loaded == 9
    assert _rows(fresh_db, "select count(*) from raw.receipts_2024_05") == [(9,)]
    assert _rows(fresh_db, "select count(*) from raw.receipts_default") == [(0,)]
    # analyzed right after the load: the partition and the parent have statistics
    assert _rows(fresh_db, "select relname, reltuples from pg_class where relname in ('receipts', 'receipts_2024_05') "
                           "and relnamespace = 'raw'::regnamespace order by 1") == [
        ("receipts", 9.0), ("receipts_2024_05", 9.0)]
    assert _rows(fresh_db, "select count(*) > 0 from pg_stats where schemaname = 'raw' and tablename = 'receipts' "
                           "and inherited") == [(True,)]
