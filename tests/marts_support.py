"""Helpers for the tests that build the marts against the embedded PostgreSQL.

Loading goes through the real pipeline functions (collect, process_landed, load_summaries), without
Airflow; the marts through one `dbt build` of the real project (its own target path, so it never
disturbs a developer's dbt_project/target). Nothing here computes an expected value.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import psycopg

from bhxh import pipeline
from bhxh.canonical import CANONICAL_COLUMNS
from bhxh.dbt_config import dbt_env
from bhxh.settings import get_settings

ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT = ROOT / "dbt_project"
REFERENCE = DBT_PROJECT / "seeds" / "reference"
MERGER = date(2025, 7, 1)


def reference_rows(name: str) -> list[dict[str, str]]:
    with (REFERENCE / f"{name}.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def months(start: date, end: date) -> list[date]:
    out, current = [], start.replace(day=1)
    while current <= end:
        out.append(current)
        current = (current + timedelta(days=32)).replace(day=1)
    return out


def load_source(root: Path, start: date, end: date) -> None:
    """Collect and load every report day in [start, end] for the province folders under ``root``
    (each code only on the days it has a folder), then the monthly summaries of the months."""
    codes = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name.isdigit())
    day, landed_months = start, set()
    while day <= end:
        for code in codes:
            if (root / code / day.isoformat()).is_dir():
                pipeline.collect(str(root), code, day, 0)
                landed_months.add(day.replace(day=1))
        day += timedelta(days=1)
    # one validation + COPY run per month of report days (the DAG runs one per day; the result is the same)
    for month in sorted(landed_months):
        last = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        pipeline.process_landed(max(start, month), min(end, last))
    for month in months(start, end):
        pipeline.load_summaries(str(root), month)


def dbt(args: list[str], target: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run the project's dbt against the current BHXH_DATABASE with its own target path."""
    exe = Path(sys.executable).parent / "dbt"
    env = {**os.environ, **dbt_env(get_settings()), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    return subprocess.run(
        [str(exe), *args, "--profiles-dir", str(DBT_PROJECT), "--project-dir", str(DBT_PROJECT),
         "--target-path", str(target), "--log-path", str(target / "logs")],
        cwd=DBT_PROJECT, env=env, capture_output=True, text=True, timeout=timeout,
    )


def dbt_build(target: Path, select: str | None = None) -> None:
    # cautious: a test that also reads a model outside the selection (relationships) stays out
    args = ["build", "--no-partial-parse"] + (["--select", select, "--indirect-selection", "cautious"] if select else [])
    result = dbt(args, target)
    assert result.returncode == 0, f"dbt build failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"


def query(url: str, sql: str, *args) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchall()


class Reports:
    """Writes canonical receipts, one CSV per (province, report day, org)."""

    def __init__(self, root: Path, first_code: int = 0):
        self.root = root
        self.files: dict[tuple[str, date], list[dict]] = {}
        self.next_code = first_code

    def person(self, province: str) -> str:
        self.next_code += 1
        return f"{int(province):02d}{self.next_code:08d}"

    def add(self, province: str, day: date, *, participant: str, district: str, transaction: str,
            period_start: date, months: int, scheme: str = "TN", poverty_line: int) -> None:
        rows = self.files.setdefault((province, day), [])
        if scheme == "TN":
            income = poverty_line
            subsidy = round(0.10 * 0.22 * poverty_line * months) if months > 0 else 0
            amount = round(0.22 * income * months) - subsidy
            member = ""
        else:  # 4.5% of the base salary (1,490,000 until 2023-06-30), first member
            income, subsidy, member = "", 0, 1
            amount = round(0.045 * 1_490_000 * months)
        rows.append({
            "receipt_no": f"VNP{province}-{day:%y%m%d}-{len(rows) + 1:05d}",
            "collected_on": day.isoformat(), "collection_point": f"BD-{district}-01",
            "province_code": province, "district_code": district,
            "commune_code": f"{int(district) * 33 + 1:05d}", "participant_code": participant,
            "full_name": "Nguyễn Văn An", "birth_year": 1980, "gender": "M", "scheme": scheme,
            "transaction_type": transaction, "period_start": period_start.isoformat(), "months_paid": months,
            "declared_income": income, "household_member_no": member, "subsidy_group": "other",
            "state_subsidy": subsidy, "amount": amount,
        })

    def write(self, name: str = "VNPOST.csv") -> None:
        for (province, day), rows in self.files.items():
            folder = self.root / province / day.isoformat()
            folder.mkdir(parents=True, exist_ok=True)
            with (folder / name).open("w", encoding="utf-8", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=CANONICAL_COLUMNS, lineterminator="\n")
                writer.writeheader()
                writer.writerows(rows)

    def summary(self, province: str, month: str, mandatory: int, voluntary: int, health: int) -> None:
        folder = self.root / "summaries" / month
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{province}.csv").write_text(
            "province_code,month,mandatory_si_participants,voluntary_si_participants,"
            "unemployment_insurance_participants,health_insurance_participants\n"
            f"{province},{month},{mandatory},{voluntary},{int(mandatory * 0.88)},{health}\n", encoding="utf-8")
