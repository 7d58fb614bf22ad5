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
    args = ["build", "--no-partial-parse"] + (["--select", select] if select else [])
    result = dbt(args, target)
    assert result.returncode == 0, f"dbt build failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"


def query(url: str, sql: str, *args) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchall()
