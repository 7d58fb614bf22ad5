"""Issue #8 against the real PostgreSQL: no personal data in clear anywhere in the warehouse, least
privilege per role, and row-level access per province that knows the 2025 merger.

One generated run for the whole module (provinces 30 and 31 over 2025-06-29..2025-07-01: old Hải
Dương and old Hải Phòng before the merger, new Hải Phòng after it), loaded by a login of
bhxh_loader and built by dbt as a login of bhxh_transformer. Every test then connects as a role.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
import subprocess
import sys
import unicodedata
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest

from bhxh import access, pipeline
from bhxh.cli import main as cli_main
from bhxh.generate import generate

ROOT = Path(__file__).resolve().parents[1]
DB = "bhxh_test_security"
START, END = date(2025, 6, 29), date(2025, 7, 1)
# province keys, by hand from shared/reference/provinces.csv
HAI_DUONG, OLD_HAI_PHONG, NEW_HAI_PHONG = "30:2008-08-01", "31:2008-08-01", "31:2025-07-01"
LOGINS = {  # login -> group
    "sec_loader": "bhxh_loader",
    "sec_transformer": "bhxh_transformer",
    "sec_bi": "bhxh_bi",
    "sec_hai_duong": "bhxh_province_30",
    "sec_hai_phong": "bhxh_province_31",
}


def _url(base: str, user: str | None = None, password: str | None = None, db: str = DB) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(base)
    user = user or parts.username
    password = password or parts.password
    return f"postgresql://{user}:{password}@{parts.hostname}:{parts.port}/{db}"


def _dbt(args: list[str], user: str, password: str, base_url: str, target: Path) -> subprocess.CompletedProcess:
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    env = {**os.environ, "BHXH_DBT_HOST": parts.hostname, "BHXH_DBT_PORT": str(parts.port),
           "BHXH_DBT_USER": user, "BHXH_DBT_PASSWORD": password, "BHXH_DBT_DBNAME": DB,
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    project = ROOT / "dbt_project"
    return subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), *args, "--profiles-dir", str(project), "--project-dir",
         str(project), "--target-path", str(target), "--log-path", str(target / "logs"), "--threads", "2"],
        cwd=project, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def wh(warehouse_url, tmp_path_factory):
    """The warehouse after a generated run; yields admin and per-login URLs."""
    from bhxh.reference import province_codes_on
    from bhxh.settings import get_settings

    admin = warehouse_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"drop database if exists {DB} with (force)")
        conn.execute(f"create database {DB}")
    mp = pytest.MonkeyPatch()
    mp.setenv("BHXH_DATABASE", DB)
    owner_url = get_settings().warehouse_url
    pipeline.init_schema(get_settings())
    passwords = {login: secrets.token_urlsafe(18) for login in LOGINS}
    with psycopg.connect(owner_url, autocommit=True) as conn:
        access.grant_province(conn, ["30"], "bhxh_province_30")
        access.grant_province(conn, ["31"], "bhxh_province_31")
        for login, group in LOGINS.items():
            access.create_login(conn, login, group, passwords[login])
    urls = {login: _url(owner_url, login, passwords[login]) for login in LOGINS}

    source = tmp_path_factory.mktemp("security") / "source"
    generate(source, START, END, provinces=["30", "31"], seed=8, scale=0.01,
             faults={"malformed_rows": 0.35, "wrong_province": 0.2, "schema_drift": 0.3})
    # the pipeline, connected as the loader login: proves the loader's grants are enough
    mp.setenv("BHXH_LOADER_URL", urls["sec_loader"])
    day = START
    while day <= END:
        for code in sorted({"30", "31"} & set(province_codes_on(day))):
            pipeline.collect(str(source), code, day)
        day += timedelta(days=1)
    pipeline.process_landed(START, END)
    for month in (date(2025, 6, 1), date(2025, 7, 1)):
        pipeline.load_summaries(str(source), month)
    mp.delenv("BHXH_LOADER_URL")
    # dbt, connected as the transformer login: proves its grants are enough and fires the RLS post-hooks
    target = tmp_path_factory.mktemp("dbt_target")
    built = _dbt(["build"], "sec_transformer", passwords["sec_transformer"], owner_url, target)
    assert built.returncode == 0, f"dbt build as bhxh_transformer failed:\n{built.stdout[-4000:]}"
    yield {"owner": owner_url, "source": source, "target": target, "passwords": passwords, **urls}
    mp.undo()


def _rows(url: str, query: str, *args) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, args).fetchall()


def _denied(url: str, query: str) -> bool:
    try:
        with psycopg.connect(url) as conn:
            conn.execute(query)
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False


# ------------------------------------------------------------------------------------------------
# personal data


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFD", str(text or "").replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in text if unicodedata.category(ch) != "Mn").strip().casefold()


def _header_index(cells: list[str]) -> dict[str, int]:
    folded = [_fold(c) for c in cells]
    wanted = {"code": ("participant_code", "ma so bhxh"), "name": ("full_name", "ho va ten")}
    return {k: folded.index(n) for k, names in wanted.items() for n in names if n in folded}


def _personal_values(source: Path) -> tuple[set[str], set[str]]:
    """Every participant code and full name in the source reports, read with csv/openpyxl directly."""
    codes, names = set(), set()
    for path in sorted(p for p in source.rglob("*") if p.suffix in (".csv", ".xlsx") and "_truth" not in p.parts
                       and "summaries" not in p.parts):
        if path.suffix == ".xlsx":
            import openpyxl

            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
            rows = [[("" if v is None else str(v)) for v in row] for row in wb.worksheets[0].iter_rows(values_only=True)]
            wb.close()
        else:
            data = path.read_bytes()
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                text = data.decode("cp1258")
            text = unicodedata.normalize("NFC", text)
            first = next(line for line in text.splitlines() if "full_name" in _fold(line) or "ho va ten" in _fold(line))
            delimiter = max(";,\t", key=first.count)
            rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
        index = {}
        for row in rows:
            if not index:
                found = _header_index(row)
                index = found if len(found) == 2 else {}
                continue
            for kind, i in index.items():
                value = row[i].strip() if i < len(row) else ""
                if kind == "code" and value.isdigit() and len(value) >= 9:
                    codes.add(value)
                elif kind == "name" and len(value) >= 5 and not value.isdigit():
                    names.add(value)
    return codes, names


def test_no_participant_code_or_name_in_any_table(wh):
    codes, names = _personal_values(wh["source"])
    assert len(codes) > 50 and len(names) > 50, (len(codes), len(names))
    with psycopg.connect(wh["owner"]) as conn:
        tables = conn.execute(
            """select format('%I.%I', n.nspname, c.relname) from pg_class c join pg_namespace n on n.oid = c.relnamespace
               where c.relkind in ('r', 'v', 'm', 'p') and n.nspname not in ('pg_catalog', 'information_schema')
                 and n.nspname not like 'pg_toast%'
               order by 1""").fetchall()
        names_of = {t for (t,) in tables}
        # the scan covers the places where a leak would be: raw, quarantine, dq results, every dbt layer
        assert {"raw.receipts", "raw.quarantine", "raw.dq_results", "raw.report_files",
                "marts.fct_daily_collections"} <= names_of
        assert conn.execute("select count(*) from raw.quarantine").fetchone()[0] > 0
        leaks = []
        for table in sorted(names_of):
            text = "\n".join(r[0] for r in conn.execute(f"select t::text from {table} t").fetchall())
            text = unicodedata.normalize("NFC", text)
            leaks += [f"{table}: code {c}" for c in codes if c in text]
            leaks += [f"{table}: name {n}" for n in names if n in text]
    assert not leaks, leaks[:20]


# ------------------------------------------------------------------------------------------------
# least privilege


def test_groups_cannot_log_in(wh):
    rows = _rows(wh["owner"], "select rolname, rolcanlogin, rolsuper, rolcreaterole from pg_roles "
                              "where rolname = any(%s) order by 1", list(access.GROUPS))
    assert rows == [(g, False, False, False) for g in sorted(access.GROUPS)]


def test_loader_writes_raw_but_reads_nothing_else(wh):
    url = wh["sec_loader"]
    assert _rows(url, "select count(*) from raw.receipts")[0][0] > 0  # it loaded them
    assert _denied(url, "delete from raw.receipts")  # append-only: the audit trail stays
    assert _denied(url, "create table raw.x (a int)")
    assert _denied(url, "select * from marts.fct_coverage_monthly limit 1")
    assert _denied(url, "select * from security.province_access")
    assert _denied(url, "drop table raw.quarantine")


def test_transformer_owns_the_marts_and_cannot_write_raw(wh):
    owners = _rows(wh["owner"], "select distinct tableowner from pg_tables where schemaname = 'marts'")
    assert owners == [("bhxh_transformer",)]
    url = wh["sec_transformer"]
    assert _denied(url, "insert into raw.dq_results (run_id, check_name, success) values ('x', 'x', true)")
    assert _denied(url, "update raw.report_files set status = 'loaded'")
    assert _denied(url, "select * from security.province_access")


def test_bi_reads_every_mart_row_and_nothing_else(wh):
    url = wh["sec_bi"]
    for table in ("fct_coverage_monthly", "fct_daily_collections", "fct_coverage_monthly_national", "dim_province"):
        seen = _rows(url, f"select count(*) from marts.{table}")[0][0]
        total = _rows(wh["owner"], f"select count(*) from marts.{table}")[0][0]
        assert seen == total > 0, table
    for query in ("select 1 from raw.receipts limit 1", "select 1 from raw.quarantine limit 1",
                  "select 1 from staging.stg_collections__receipts limit 1",
                  "select 1 from intermediate.int_receipts__counted limit 1",
                  "select 1 from reference.provinces limit 1",
                  "insert into marts.dim_province (province_key) values ('x')",
                  "create table marts.mine (a int)"):
        assert _denied(url, query), query


# ------------------------------------------------------------------------------------------------
# row-level security


def _keys_seen(url: str, table: str, column: str = "province_key") -> set[str]:
    return {r[0] for r in _rows(url, f"select distinct {column} from marts.{table}")}


def test_hai_duong_analyst_sees_only_old_code_30(wh):
    url = wh["sec_hai_duong"]
    for table in ("fct_coverage_monthly", "fct_daily_collections", "dim_province"):
        assert _keys_seen(url, table) == {HAI_DUONG}, table
        mine = _rows(url, f"select count(*) from marts.{table}")[0][0]
        expected = _rows(wh["owner"], f"select count(*) from marts.{table} where province_key = %s", HAI_DUONG)[0][0]
        assert mine == expected > 0, table
    # the loaded days of Hải Dương, by hand: 2025-06-29 and 2025-06-30 (it does not exist on 07-01)
    days = {r[0] for r in _rows(url, "select distinct report_date from marts.fct_daily_collections")}
    assert days == {date(2025, 6, 29), date(2025, 6, 30)}
    # national rows are for national roles only
    assert _rows(url, "select count(*) from marts.fct_coverage_monthly_national")[0][0] == 0
    assert _keys_seen(url, "fct_target_attainment", "target_province_key") <= {HAI_DUONG}
    assert _rows(url, "select count(*) from marts.fct_target_attainment where target_province_key is null")[0][0] == 0


def test_hai_phong_analyst_sees_new_hai_phong_and_its_predecessors(wh):
    url = wh["sec_hai_phong"]
    for table in ("fct_coverage_monthly", "dim_province"):  # dim_province holds all 97 province versions
        assert _keys_seen(url, table) == {HAI_DUONG, OLD_HAI_PHONG, NEW_HAI_PHONG}, table
    assert _rows(url, "select count(*) from marts.fct_coverage_monthly_national")[0][0] == 0
    days = {r[0] for r in _rows(url, "select distinct report_date from marts.fct_daily_collections "
                                     "where province_key = %s", NEW_HAI_PHONG)}
    assert days == {date(2025, 7, 1)}


def test_analyst_roles_cannot_read_raw_or_the_mapping(wh):
    for login in ("sec_hai_duong", "sec_hai_phong"):
        assert _denied(wh[login], "select 1 from raw.receipts limit 1")
        assert _denied(wh[login], "select * from security.province_access")
        assert _denied(wh[login], "alter table marts.fct_coverage_monthly disable row level security")


def test_policies_are_reapplied_when_dbt_rebuilds_a_mart(wh):
    before = _rows(wh["owner"], "select 'marts.fct_coverage_monthly'::regclass::oid")[0][0]
    rebuilt = _dbt(["run", "-s", "fct_coverage_monthly"], "sec_transformer", wh["passwords"]["sec_transformer"],
                   wh["owner"], wh["target"])
    assert rebuilt.returncode == 0, rebuilt.stdout[-3000:]
    oid, rls, policies = _rows(wh["owner"], """select c.oid, c.relrowsecurity,
            (select count(*) from pg_policy p where p.polrelid = c.oid)
        from pg_class c where c.oid = 'marts.fct_coverage_monthly'::regclass""")[0]
    assert oid != before and rls and policies == 1
    assert _keys_seen(wh["sec_hai_duong"], "fct_coverage_monthly") == {HAI_DUONG}


def test_every_mart_has_row_level_security(wh):
    rows = _rows(wh["owner"], """select c.relname, c.relrowsecurity from pg_class c
        join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'marts' and c.relkind = 'r' order by 1""")
    assert len(rows) >= 7 and all(rls for _, rls in rows), rows


def test_grant_province_command(wh, capsys, monkeypatch):
    monkeypatch.setenv("BHXH_DATABASE", DB)
    assert cli_main(["access", "grant-province", "30", "01", "--role", "bhxh_province_test"]) == 0
    assert "01:2008-08-01" in capsys.readouterr().out
    keys = _rows(wh["owner"], "select province_key from security.province_access where role_name = %s order by 1",
                 "bhxh_province_test")
    # by hand from provinces.csv: code 01 is Hà Nội before and after the merger, nothing merged into it
    assert [k for (k,) in keys] == ["01:2008-08-01", "01:2025-07-01", HAI_DUONG]
    assert cli_main(["access", "revoke-province", "01", "--role", "bhxh_province_test"]) == 0
    assert _rows(wh["owner"], "select province_key from security.province_access where role_name = %s",
                 "bhxh_province_test") == [(HAI_DUONG,)]
    assert cli_main(["access", "grant-province", "3x", "--role", "bhxh_province_test"]) == 2
    assert cli_main(["access", "grant-province", "30", "--role", "bhxh_bi"]) == 2


def test_province_keys_follow_the_merger():
    assert access.province_keys_for("30") == [HAI_DUONG]
    assert access.province_keys_for("31") == [HAI_DUONG, OLD_HAI_PHONG, NEW_HAI_PHONG]
    assert access.province_keys_for("31:2008-08-01") == [OLD_HAI_PHONG]
    with pytest.raises(access.AccessError):
        access.province_keys_for("30; drop role bhxh_bi")
    with pytest.raises(access.AccessError):
        access.province_keys_for("\u0663\u0660")  # Arabic-Indic digits are not a province code


def test_warehouse_start_reapplies_setup_idempotently(wh, monkeypatch, capsys):
    monkeypatch.setenv("BHXH_DATABASE", DB)
    before = _rows(wh["owner"], "select role_name, province_key from security.province_access order by 1, 2")
    assert cli_main(["warehouse", "start"]) == 0  # runs sql/raw.sql and sql/security.sql again
    assert "warehouse running" in capsys.readouterr().out
    assert _rows(wh["owner"], "select role_name, province_key from security.province_access order by 1, 2") == before
    assert _keys_seen(wh["sec_hai_duong"], "fct_coverage_monthly") == {HAI_DUONG}
    assert _rows(wh["sec_bi"], "select count(*) > 0 from marts.fct_coverage_monthly") == [(True,)]
    assert _denied(wh["sec_bi"], "select 1 from raw.receipts limit 1")


def test_create_login_command(wh, monkeypatch):
    monkeypatch.setenv("BHXH_DATABASE", DB)
    password = secrets.token_urlsafe(18)
    monkeypatch.setenv("BHXH_LOGIN_PASSWORD", password)
    assert cli_main(["access", "create-login", "sec_cli_bi", "--group", "bhxh_bi"]) == 0
    url = _url(wh["owner"], "sec_cli_bi", password)
    assert _rows(url, "select count(*) > 0 from marts.fct_daily_collections") == [(True,)]
    assert _denied(url, "select 1 from raw.report_files limit 1")
    assert cli_main(["access", "create-login", "sec_cli_bi", "--group", "postgres"]) == 2  # not a bhxh group
    monkeypatch.setenv("BHXH_LOGIN_PASSWORD", "short")
    assert cli_main(["access", "create-login", "sec_cli_bi", "--group", "bhxh_bi"]) == 2
    rolsuper = _rows(wh["owner"], "select rolsuper, rolcreaterole, rolcreatedb from pg_roles where rolname = 'sec_cli_bi'")
    assert rolsuper == [(False, False, False)]


def test_role_urls_on_another_server(monkeypatch, caplog):
    """With BHXH_WAREHOUSE_URL, the pipeline and dbt use BHXH_LOADER_URL / BHXH_TRANSFORMER_URL; without
    them, the owner's URL, and a warning says so (once per variable)."""
    from bhxh import settings as settings_module
    from bhxh.settings import Settings

    owner, loader = "postgresql://owner:<owner>@db:5432/bhxh", "postgresql://etl:<etl>@db:5432/bhxh"
    monkeypatch.setenv("BHXH_WAREHOUSE_URL", owner)
    monkeypatch.setenv("BHXH_LOADER_URL", loader)
    monkeypatch.delenv("BHXH_TRANSFORMER_URL", raising=False)
    monkeypatch.setattr(settings_module, "_warned", set())
    with caplog.at_level("WARNING", logger="bhxh.settings"):
        s = Settings()
        assert [s.url_for(r) for r in ("owner", "loader", "transformer")] == [owner, loader, owner]
        assert Settings().transformer_url == owner
    warnings = [r.getMessage() for r in caplog.records if r.name == "bhxh.settings"]
    assert warnings == ["BHXH_TRANSFORMER_URL is not set: dbt connects as BHXH_WAREHOUSE_URL's login, "
                        "not as a member of bhxh_transformer"]


def test_setup_hands_what_dbt_built_as_another_login_to_the_transformer(fresh_db):
    """A warehouse whose marts were built when dbt still ran as the owner: the next setup gives the
    schemas and relations to bhxh_transformer, so that dbt, now running as it, can replace them."""
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("alter schema intermediate owner to postgres")
        conn.execute("create table marts.built_by_the_owner (a int)")
        conn.execute("create view staging.also_by_the_owner as select 1 as a")
    pipeline.init_schema()
    assert _rows(fresh_db, """select c.relname, pg_get_userbyid(c.relowner) from pg_class c
                              where c.relname in ('built_by_the_owner', 'also_by_the_owner') order by 1""") == [
        ("also_by_the_owner", "bhxh_transformer"), ("built_by_the_owner", "bhxh_transformer")]
    assert _rows(fresh_db, "select pg_get_userbyid(nspowner) from pg_namespace where nspname = 'intermediate'") == [
        ("bhxh_transformer",)]
