"""Data quality end to end: a generated day with every fault switched on, through Airflow (dag.test)
and the marts, against the generator's ground truth (_truth/faults.csv, files.csv); a clean day.

Expected values come from the truth files or by hand, never from the code under test.
"""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from bhxh.generate import FAULT_RATES, generate

DAY = date(2024, 5, 15)
# seed 12 and these provinces give one file of every fault kind on DAY (checked below)
FAULT_PROVINCES = ["30", "34", "40", "79", "91"]
FAULT_SEED = 12


def _truth(root: Path, name: str) -> list[dict]:
    with (root / "_truth" / name).open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _rows(url: str, sql: str, *args) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchall()


def _dbt_build(url: str, select: str) -> None:
    from bhxh.dbt_config import dbt_env
    from bhxh.settings import get_settings

    project = get_settings().dbt_project_dir
    result = subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), "build", "--profiles-dir", str(project), "--project-dir",
         str(project), "--select", select, "--indirect-selection", "cautious", "--quiet"],
        cwd=project, env={**os.environ, **dbt_env()}, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def _run_day_through_airflow(source: Path, day: date):
    """The daily DAG for ``day`` with dag.test (collect per province, validate_and_load, report_data_quality)."""
    from bhxh import airflow_env
    from bhxh.orchestration import logical_date_for
    from bhxh.runner import load_dags

    airflow_env.migrate()
    dag = load_dags()["bhxh_daily_collection"]
    run = dag.test(logical_date=logical_date_for(day), run_conf={"source_root": str(source), "lookback_days": 0})
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


@pytest.fixture(scope="module")
def fault_day(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults") / "source"
    generate(root, DAY, DAY, provinces=FAULT_PROVINCES, seed=FAULT_SEED, scale=0.01,
             faults={kind: 1 / len(FAULT_RATES) for kind in FAULT_RATES})
    return root


@pytest.mark.e2e
def test_fault_day_through_airflow(fresh_db, fault_day):
    faults = {(f["province_code"], f["org_code"]): f for f in _truth(fault_day, "faults.csv")}
    assert {f["fault"] for f in faults.values()} == set(FAULT_RATES), "precondition: every fault kind injected"
    files = {(f["province_code"], f["org_code"]): f for f in _truth(fault_day, "files.csv")}

    states = _run_day_through_airflow(fault_day, DAY)
    assert all(state == "success" for task, state in states.items() if task != "report_data_quality"), states
    assert states["report_data_quality"] == "failed"  # rejections and a missing report: red, not hidden
    _dbt_build(fresh_db, "+fct_report_completeness +fct_data_quality")

    completeness = {(r[0], r[1]): r[2:] for r in _rows(fresh_db, """
        select province_code, org_code, expected, received, on_time, days_late, rows_received, rows_loaded,
               rows_quarantined, status, versions_received, file_version
        from marts.fct_report_completeness where report_date = %s""", DAY)}
    failed = _rows(fresh_db, """select province_code, file, check_name, severity, unexpected_count, sample_values::text
                                from marts.fct_data_quality where report_date = %s and not success""", DAY)

    def checks(province, org):
        return [(name, severity, count) for p, file, name, severity, count, _ in failed
                if p == province and file and file.split("/")[-1].split(".")[0] == org]

    # every (province, organisation) the generator wrote or dropped is expected and accounted for
    assert set(completeness) == set(files) | {k for k, f in faults.items() if f["fault"] == "missing"}
    for key, fault in faults.items():
        kind = fault["fault"]
        expected, received, on_time, days_late, rows_in, loaded, quarantined, status, versions, version = \
            completeness[key]
        assert expected, key
        if kind == "missing":
            assert (received, status, rows_in) == (False, "missing", None), key
            continue
        truth = files[key]
        assert received, key
        if kind == "late":  # "arrived 2024-05-18 (2 days late)"
            assert (on_time, status, days_late) == (False, "late", int(fault["detail"].split("(")[1].split()[0]))
        else:
            assert on_time and days_late == 0, key
        if kind in ("wrong_encoding", "wrong_province"):  # file_rejected
            assert status == "rejected" and loaded == 0, key
            names = [c[0] for c in checks(*key)]
            assert ("read_report" if kind == "wrong_encoding" else
                    "receipt_files.expect_column_pair_values_to_be_equal(province_code=_file_province)") in names
        else:
            assert loaded == int(truth["receipts"]), (key, kind)
        if kind == "malformed_rows":  # rows_quarantined, with the collected_on reason
            assert quarantined == int(truth["receipts_sent"]) - int(truth["receipts"]) == 2
            assert "receipt_rows.expect_column_values_to_not_be_null(collected_on)" in [c[0] for c in checks(*key)]
        if kind == "control_total_mismatch":  # control_total_check_fails_rows_loaded
            assert [c[:2] for c in checks(*key)] == [
                ("report_files.expect_column_pair_values_to_be_equal(amount_sum=control_total) "
                 "where has_control_total == True", "warning")]
            assert status == "on_time" and quarantined == 0
        if kind == "schema_drift":  # extra_column_kept_raw_rows_loaded
            assert [c[:2] for c in checks(*key)] == [
                ("report_files.expect_column_values_to_be_between(extra_column_count)", "warning")]
            extra = _rows(fresh_db, """select count(*) from raw.receipts r join raw.report_files f using (file_id)
                                       where f.province_code = %s and f.org_code = %s and r.extra is not null""",
                          *key)[0][0]
            assert extra == int(truth["receipts"])
        if kind == "corrected_v2":  # v1_superseded_by_v2
            assert (versions, version, status) == (2, 2, "on_time"), key
            v1 = _rows(fresh_db, """select f.status, s.version, q.superseded_by = s.file_id, q.reasons
                                    from raw.report_files f join raw.report_files s on s.file_id = f.superseded_by
                                    left join raw.quarantine q on q.file_id = f.file_id
                                    where f.province_code = %s and f.org_code = %s and f.version = 1""", *key)
            assert [r[:3] for r in v1] == [("superseded", 2, True)], v1  # its bad row, resolved
            assert any("_amount_deviation" in reason for reason in v1[0][3])
        if kind == "duplicate_file":  # v2_identical_to_v1_no_double_count
            assert versions == 1 and loaded == int(truth["receipts"])

    # nothing lost: for every readable file, rows in = loaded + quarantined; rejected files whole in quarantine
    for status, received, loaded, quarantined, whole in _rows(fresh_db, """
            select f.status, f.rows_received, f.rows_loaded, f.rows_quarantined,
                   (select count(*) from raw.quarantine q where q.file_id = f.file_id and q.line_no = 0)
            from raw.report_files f"""):
        if status == "rejected":
            assert (loaded, whole) == (0, 1)
        else:
            assert received == loaded + quarantined
    counted = _rows(fresh_db, "select count(*) from raw.receipts r join raw.report_files f using (file_id) "
                              "where f.status = 'loaded'")[0][0]
    assert counted == sum(int(f["receipts"]) for f in files.values())
    # personal data never in clear in the published samples
    assert not [sample for *_, sample in failed if sample and re.search(r"\b\d{10}\b", sample)]

    # Data Docs were built, and `bhxh dq` lists the day's failures
    from bhxh.settings import get_settings

    index = get_settings().data_docs_dir / "index.html"
    assert index.exists() and "receipt_rows" in index.read_text(encoding="utf-8")
    from contextlib import redirect_stdout

    from bhxh.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["dq", "--date", DAY.isoformat()])
    text = out.getvalue()
    assert code == 1
    assert "MISSING    30 VNPOST" in text and "REJECTED   34 VNPOST" in text and "LATE       34 VIETTELPOST" in text
    assert "_amount_deviation" in text and "collected_on" in text and "extra_column_count" in text


@pytest.mark.parametrize("day, provinces", [
    (date(2024, 7, 5), ["30", "31", "91"]),   # receipts collected on both sides of the 2024-07-01 base salary
    (date(2025, 7, 2), ["01", "91"]),         # after the merger: new codes, no districts, new subsidy shares
])
def test_clean_day_has_no_false_rejection(fresh_db, tmp_path, day, provinces):
    root = tmp_path / "source"
    generate(root, day, day, provinces=provinces, seed=5, scale=0.02)
    files = _truth(root, "files.csv")
    from bhxh import pipeline

    for code in {f["province_code"] for f in files}:
        pipeline.collect(str(root), code, day)
    summary = pipeline.process_landed(day, day)
    assert summary.failures == [] and summary.warnings == []
    assert (summary.files, summary.rows_loaded, summary.rows_quarantined) == (
        len(files), sum(int(f["receipts"]) for f in files), 0)
    assert _rows(fresh_db, "select check_name, sample_values::text from raw.dq_results where not success") == []
    assert _rows(fresh_db, "select count(*) from raw.dq_results")[0][0] > 0
    from bhxh.dq import missing_reports

    assert missing_reports(day) == []
    arrivals = _rows(fresh_db, "select distinct source_modified_at from raw.report_files")
    assert arrivals == [(datetime.combine(day + timedelta(days=1), time(0), tzinfo=timezone.utc),)]  # 07:00 local


def test_anomaly_is_a_warning_against_the_same_day_type(fresh_db):
    """Hand-made history for province 30, scheme TN: 10 receipts of 100,000 VND on every day but Sunday,
    2 on Sundays, for 5 weeks; then a Monday with 40 (4x: flagged), a Sunday with 2 (Sunday baseline:
    not flagged) and a Tuesday with 9 (0.9x: not flagged)."""
    start = date(2024, 4, 1)  # a Monday
    days = [start + timedelta(days=i) for i in range(35)]
    counts = {d: (2 if d.isoweekday() == 7 else 10) for d in days}
    counts[date(2024, 5, 6)] = 40   # Monday
    counts[date(2024, 5, 5)] = 2    # Sunday
    counts[date(2024, 5, 7)] = 9    # Tuesday
    with psycopg.connect(fresh_db) as conn:
        for day, n in sorted(counts.items()):
            file_id = conn.execute(
                """insert into raw.report_files (province_code, report_date, org_code, version, source_path, sha256,
                                                 bytes, status, rows_received, rows_loaded, rows_quarantined)
                   values ('30', %s, 'VNPOST', 1, %s, %s, 1, 'loaded', %s, %s, 0) returning file_id""",
                (day, f"30/{day}/VNPOST.csv", f"sha-{day}", n, n)).fetchone()[0]
            for line in range(n):
                conn.execute("""insert into raw.receipts (file_id, line_no, file_province_code, report_date, org_code,
                                   receipt_no, collected_on, scheme, transaction_type, months_paid, amount)
                                values (%s, %s, '30', %s, 'VNPOST', %s, %s, 'TN', 'continued', 1, 100000)""",
                             (file_id, line + 2, day, f"BD30-{day:%y%m%d}-{line:05d}", day))
    _dbt_build(fresh_db, "+fct_data_quality")
    flagged = _rows(fresh_db, """select report_date, check_name, severity, success, sample_values->>'observed',
                                        sample_values->>'expected'
                                 from marts.fct_data_quality where check_name like 'anomaly.%%'
                                 order by report_date, check_name""")
    assert flagged == [
        (date(2024, 5, 6), "anomaly.amount_vnd(TN)", "warning", False, "4000000", "1000000"),
        (date(2024, 5, 6), "anomaly.receipt_count(TN)", "warning", False, "40", "10"),
    ]


def test_quality_alert_goes_through_the_one_alert_channel(monkeypatch, caplog):
    import logging
    from datetime import date

    from bhxh.alerts import data_quality_alert, send
    from bhxh.settings import get_settings

    from .airflow_helpers import Webhook

    alert = data_quality_alert(date(2024, 5, 15), 7, ["REJECTED 30/x.csv", "MISSING 31/y"],
                               {"rejections": 1, "missing reports": 1, "warnings": 0}, None)
    hook = Webhook()
    try:
        monkeypatch.setenv("BHXH_ALERT_WEBHOOK_URL", hook.url)
        with caplog.at_level(logging.ERROR, logger="bhxh.alerts"):
            assert send(alert, get_settings()) == ["log", "webhook"]
    finally:
        hook.close()
    title = "BHXH data quality 2024-05-15: 1 rejections, 1 missing reports, 0 warnings"
    assert hook.received == [{
        "kind": "data_quality", "title": title,
        "details": {"report_date": "2024-05-15", "run_id": 7, "lines": ["REJECTED 30/x.csv", "MISSING 31/y"],
                    "data_docs_url": None},
        "text": f"{title}\n  report_date: 2024-05-15\n  run_id: 7\n  lines:\n    - REJECTED 30/x.csv\n"
                "    - MISSING 31/y\n  data_docs_url: None"}]
    assert "ALERT data_quality" in caplog.text and "REJECTED 30/x.csv" in caplog.text
    monkeypatch.delenv("BHXH_ALERT_WEBHOOK_URL")
    assert send(alert, get_settings()) == ["log"]  # no channel: logged only
