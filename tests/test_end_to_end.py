"""The whole slice through Airflow: generated reports → the project's DAGs (dag.test) → marts.

`bhxh run` drives the daily DAG for every report day, the monthly DAG, then the marts DAG
(Cosmos, one task per dbt model). The marts are checked against the generator's own record of
what it wrote (`_truth/`) and against the reference CSVs, read here with the csv module.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date
from pathlib import Path

import psycopg
import pytest

from bhxh.generate import generate
from bhxh.runner import run_range

from .conftest import scratch_database

START, END = date(2024, 4, 27), date(2024, 5, 3)  # crosses a month end into the May campaign
PROVINCES = ["30", "01", "91"]
REFERENCE = Path(__file__).resolve().parents[1] / "dbt_project" / "seeds" / "reference"

pytestmark = pytest.mark.e2e


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _latest_working_age_labour_force() -> dict[str, int]:
    """Per old province: the latest published working-age labour force (carried forward to 2024)."""
    latest: dict[str, tuple[int, int]] = {}
    for row in _csv(REFERENCE / "province_denominators.csv"):
        if row["working_age_labour_force"]:
            year, value = int(row["year"]), int(row["working_age_labour_force"])
            if row["province_code"] not in latest or year > latest[row["province_code"]][0]:
                latest[row["province_code"]] = (year, value)
    return {code: value for code, (_, value) in latest.items()}


# Who writes what, recorded by the server itself: a statement trigger on every raw table and an event
# trigger on every DDL command log the session's login (session_user) into audit.writes.
RAW_WRITTEN = ["raw.report_files", "raw.expected_reports", "raw.receipts", "raw.quarantine", "raw.dq_results",
               "raw.monthly_summaries", "raw.pseudonym_key"]
AUDIT = """
create schema audit;
create table audit.writes (object text, command text, login name default session_user,
                           acting name default current_user);
grant usage on schema audit to public;
grant insert on audit.writes to public;
create function audit.log_write() returns trigger language plpgsql as $$
begin
    insert into audit.writes (object, command) values (tg_table_schema || '.' || tg_table_name, tg_op);
    return null;
end $$;
create function audit.log_ddl() returns event_trigger language plpgsql as $$
declare
    item record;
begin
    for item in select * from pg_event_trigger_ddl_commands() loop
        insert into audit.writes (object, command) values (item.object_identity, item.command_tag);
    end loop;
end $$;
create event trigger audit_ddl on ddl_command_end execute function audit.log_ddl();
""" + "".join(f"create trigger audit_write after insert or update or delete on {t} "
              "for each statement execute function audit.log_write();\n" for t in RAW_WRITTEN)


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory, warehouse_url):
    source = tmp_path_factory.mktemp("e2e") / "source"
    generate(source, START, END, provinces=PROVINCES, seed=3, scale=0.02)
    with scratch_database(warehouse_url, "bhxh_test_e2e") as url:
        with psycopg.connect(url, autocommit=True) as conn:  # the owner installs the audit
            conn.execute(AUDIT)
        messages: list[str] = []
        code = run_range(str(source), START, END, progress=messages.append)
        yield code, source, url, messages


def _rows(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def test_run_succeeds_and_reports_progress(pipeline_run):
    code, _, _, messages = pipeline_run
    assert code == 0, "\n".join(messages)
    days = (END - START).days + 1
    assert sum(m.startswith("day ") for m in messages) == days
    assert any(m.startswith("marts built") for m in messages)


def test_daily_collections_match_the_files_written(pipeline_run):
    _, source, url, _ = pipeline_run
    expected: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for row in _csv(source / "_truth" / "files.csv"):
        key = (row["province_code"], row["report_date"], row["org_code"])
        expected[key][0] += int(row["receipts"])
        expected[key][1] += int(row["amount_vnd"])
    actual = {
        (p, d.isoformat(), o): [int(n), int(a)]
        for p, d, o, n, a in _rows(url, """select province_code, report_date, org_code, sum(receipts), sum(amount_vnd)
                                           from marts.fct_daily_collections group by 1, 2, 3""")
    }
    expected = {k: v for k, v in expected.items() if v[0]}  # header-only days have no collections row
    assert actual == expected


def test_coverage_monthly_matches_ground_truth(pipeline_run):
    _, source, url, _ = pipeline_run
    active = {(r["province_code"], r["month"], r["scheme"]): int(r["active_participants"])
              for r in _csv(source / "_truth" / "active.csv")}
    mandatory = {}
    for summary in (source / "summaries").glob("*/*.csv"):
        for r in _csv(summary):
            mandatory[(r["province_code"], r["month"] + "-01")] = int(r["mandatory_si_participants"])
    labour_force = _latest_working_age_labour_force()

    rows = _rows(url, """select province_code, month, labour_force, mandatory_si_participants,
                                voluntary_si_participants, si_coverage_rate, voluntary_si_rate,
                                hi_household_participants
                         from marts.fct_coverage_monthly order by 1, 2""")
    # months before the range appear too (arrears paid in it cover them); the truth covers the range
    in_range = [r for r in rows if r[1] >= START.replace(day=1)]
    assert {(r[0], r[1].isoformat()) for r in in_range} == {
        (p, m) for p in PROVINCES for m in ("2024-04-01", "2024-05-01")}
    for code, month, lf, mand, vol, si_rate, vol_rate, hgd in in_range:
        key = (code, month.isoformat())
        assert vol == active.get((*key, "TN"), 0), key
        assert hgd == active.get((*key, "HGD"), 0), key
        assert mand == mandatory[key], key
        assert lf == labour_force[code], key
        # the mart rounds rates to 6 decimals
        assert float(si_rate) == pytest.approx((mandatory[key] + active[(*key, "TN")]) / labour_force[code],
                                               abs=5e-7), key
        assert float(vol_rate) == pytest.approx(active[(*key, "TN")] / labour_force[code], abs=5e-7), key


def test_rerunning_a_day_changes_nothing(pipeline_run):
    _, source, url, _ = pipeline_run
    checksum = """select md5(string_agg(t::text, '|' order by t::text)) from {} t"""
    tables = ["raw.report_files", "raw.receipts", "raw.quarantine", "marts.fct_coverage_monthly"]
    before = [_rows(url, checksum.format(t))[0][0] for t in tables]
    assert run_range(str(source), END, END, lookback_days=2, progress=lambda m: None) == 0
    after = [_rows(url, checksum.format(t))[0][0] for t in tables]
    assert before == after


def test_pipeline_loads_as_the_loader_login_and_dbt_builds_as_the_transformer(pipeline_run):
    """Least privilege on the embedded default: the owner only sets up; `bhxh run` loads as the
    loader's login and dbt (through Cosmos) builds as the transformer's."""
    from bhxh.settings import SERVICE_LOGINS, get_settings

    _, _, url, _ = pipeline_run
    (loader, loader_group), (transformer, transformer_group) = SERVICE_LOGINS["loader"], SERVICE_LOGINS["transformer"]
    writers = _rows(url, "select object, array_agg(distinct login::text order by login::text) from audit.writes "
                         "where object like 'raw.%' and command in ('INSERT', 'UPDATE', 'DELETE') group by 1")
    assert set(dict(writers)) >= set(RAW_WRITTEN) - {"raw.quarantine"}  # the triggers fired
    assert dict(writers) == {t: [loader] for t in dict(writers)}
    built = _rows(url, """select split_part(object, '.', 1), array_agg(distinct login::text), count(*)
                          from audit.writes where command like 'CREATE %' and command <> 'CREATE SCHEMA'
                            and split_part(object, '.', 1) in ('reference', 'staging', 'intermediate', 'marts')
                          group by 1 order by 1""")
    assert [(schema, logins) for schema, logins, _ in built] == [
        (schema, [transformer]) for schema in ("intermediate", "marts", "reference", "staging")]
    owners = _rows(url, """select distinct pg_get_userbyid(c.relowner) from pg_class c
                           join pg_namespace n on n.oid = c.relnamespace
                           where n.nspname = 'marts' and c.relkind in ('r', 'v')""")
    assert owners == [(transformer_group,)]
    assert _rows(url, "select count(*) from marts.fct_daily_collections")[0][0] > 0
    with psycopg.connect(url) as conn:
        roles = conn.execute(
            """select r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls,
                      array_agg(g.rolname::text order by g.rolname)
               from pg_roles r join pg_auth_members m on m.member = r.oid join pg_roles g on g.oid = m.roleid
               where r.rolname = any(%s) group by 1, 2, 3, 4, 5 order by 1""", ([loader, transformer],)).fetchall()
    assert roles == sorted([(loader, False, False, False, False, [loader_group]),
                            (transformer, False, False, False, False, [transformer_group])])
    for login in (loader, transformer):  # their passwords: random, kept like the owner's
        secret = get_settings().login_password_file(login)
        assert secret.stat().st_mode & 0o777 == 0o600 and len(secret.read_text().strip()) >= 24
