"""Incremental marts: the dbt build for one new day after 30 days and after 365 days of history.

    python benchmarks/incremental.py [--scale 1.0] [--end 2025-06-29] [--days 30,365]

The receipts come from the project's generator (its populations and daily files at ``--scale``,
1 = the national rate, about 100k receipts a day) and are loaded straight into raw.report_files /
raw.receipts with the project's loader (``bhxh.load.copy_frame``, COPY), participant codes
pseudonymised as the pipeline does; the validation and the Airflow runs are skipped (benchmarked
elsewhere). Each history gets a database of its own; the history is built once with ``dbt build``
(not timed), then one more day is loaded and the timed figure is ``dbt build`` of the whole project,
the selection the marts DAG runs. Prints ``bench NAME VALUE UNIT`` lines (and, as ``#`` lines, the
slowest models of each timed build, from dbt's run_results.json); the goal is
incremental_365_vs_30 <= 1.3 (the cost follows the new data, not the history).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

from bhxh import generate as gen
from bhxh import partitions
from bhxh.dbt_config import dbt_env
from bhxh.load import copy_frame
from bhxh.pipeline import init_schema
from bhxh.pseudonym import load_key, pseudonymise
from bhxh.settings import get_settings
from bhxh.warehouse import start as start_warehouse

DATABASE = "bhxh_bench_incremental_{days}"
GENDER = np.array(["M", "F"], dtype=object)


def generated_days(first: date, last: date, scale: float, seed: int = 0):
    """(day, [(province code, org, receipts frame in canonical columns)]) for every day first..last,
    from the generator's populations (the loop of ``bhxh.generate.generate`` without the files)."""
    ref = gen.reference_dir()
    geo, params = gen.load_geography(ref), gen.load_parameters(ref)
    old_sel, new_sel, units = gen._select(geo, None, first, last)
    shares = gen._shares(geo, seed)
    pops = {(u, s): gen.Population(geo.old[u], s, seed, scale, shares[(u, s)]) for u in units for s in (gen.TN, gen.HGD)}
    for m in range(gen.EPOCH_M, gen._mi(last) + 1):
        evs = {key: pop.step() for key, pop in pops.items()}
        if m < gen._mi(first):
            continue
        d0 = gen._mdate(m)
        for di in range((gen._mdate(m + 1) - d0).days):
            day = d0 + timedelta(days=di)
            if not first <= day <= last:
                continue
            sel_codes = old_sel if day < gen.MERGER else new_sel
            parts = []
            for (u, s), ev in evs.items():
                lo, hi = np.searchsorted(ev["day"], [di, di + 1])
                code = u if day < gen.MERGER else geo.old[u].successor
                if hi > lo and code in sel_codes:
                    parts.append((u, s, code, {k: v[lo:hi] for k, v in ev.items()}))
            files = gen._build_day(parts, day, geo, params, seed, {c: gen.orgs_of(c, day) for c in sel_codes}, sel_codes)
            yield day, [(code, org, _frame(rc, code)) for (code, org), rc in files.items() if rc.n]


def _frame(rc, code: str) -> pd.DataFrame:
    c = rc.cols
    return pd.DataFrame({
        "receipt_no": c["receipt_no"], "collected_on": c["collected_on"], "collection_point": c["collection_point"],
        "province_code": code, "district_code": c["district_code"], "commune_code": c["commune_code"],
        "participant_code": c["participant_code"], "birth_year": c["birth_year"],
        "gender": GENDER[c["female"].astype(int)], "scheme": [gen.SCHEME_CODE[s] for s in c["scheme"]],
        "transaction_type": [gen.KIND_CODE[k] for k in c["kind"]], "period_start": [f"{p}-01" for p in c["period_start"]],
        "months_paid": c["months_paid"], "declared_income": c["declared_income"],
        "household_member_no": c["household_member_no"], "subsidy_group": c["group"],
        "state_subsidy": c["state_subsidy"], "amount": c["amount"],
    })


def load_day(conn: psycopg.Connection, key: bytes, day: date, files, history: bool = False) -> int:
    """Register each file as loaded and COPY its receipts (participant codes pseudonymised), into the
    day's month partition, analyzed after the load, as the pipeline does (``bhxh.partitions``). A
    history day's files are stamped (raw.report_files.changed_at) as loaded the morning after their
    report day, as they would have been, not minutes before the timed build (which would put the whole
    history inside fct_report_completeness's one-day look-back)."""
    partitions.add_months(conn, day, day)
    total = 0
    for code, org, frame in files:
        digest = hashlib.sha256(f"{code}/{day}/{org}/{len(frame)}".encode()).hexdigest()
        file_id = conn.execute(
            """insert into raw.report_files (province_code, report_date, org_code, version, source_path, sha256,
                                             bytes, status, rows_received, rows_loaded, rows_quarantined, changed_at)
               values (%s, %s, %s, 1, %s, %s, 0, 'loaded', %s, %s, 0,
                       case when %s then (%s + 1)::timestamp + interval '8 hours 30 minutes' else now() end)
               returning file_id""",
            (code, day, org, f"{code}/{day}/{org}.csv", digest, len(frame), len(frame), history, day)).fetchone()[0]
        rows = frame.assign(participant_key=pseudonymise(frame["participant_code"], key)).drop(columns="participant_code")
        rows.insert(0, "file_id", file_id)
        rows.insert(1, "line_no", np.arange(2, len(rows) + 2))
        rows.insert(2, "file_province_code", code)
        rows.insert(3, "report_date", day)
        rows.insert(4, "org_code", org)
        total += copy_frame(conn, "raw.receipts", rows)
    conn.commit()
    partitions.analyze_months(conn, day, day)
    conn.commit()
    return total


def dbt_build(*extra: str) -> float:
    """``dbt build`` of the whole project (what the marts DAG runs) against BHXH_DATABASE; seconds."""
    settings = get_settings()
    project = settings.dbt_project_dir
    dbt = Path(sys.executable).with_name("dbt")
    started = time.perf_counter()
    result = subprocess.run([str(dbt), "build", "--quiet", "--exclude", "resource_type:exposure", *extra,
                             "--profiles-dir", str(project), "--project-dir", str(project),
                             "--target-path", str(project / "target" / "bench")],
                            cwd=project, env={**os.environ, **dbt_env(settings)}, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError("dbt build failed: " + result.stdout[-3000:])
    return time.perf_counter() - started


def slowest_models(count: int = 8) -> list[tuple[str, float]]:
    """The slowest nodes of the last ``dbt_build`` (its run_results.json): (model, seconds)."""
    results = json.loads((get_settings().dbt_project_dir / "target" / "bench" / "run_results.json").read_text())
    timed = [(r["unique_id"].split(".")[-1], r["execution_time"]) for r in results["results"]
             if r["unique_id"].startswith("model.")]
    return sorted(timed, key=lambda item: -item[1])[:count]


def fresh_database(days: int) -> psycopg.Connection:
    name = DATABASE.format(days=days)
    admin = get_settings().warehouse_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"drop database if exists {name} with (force)")
        conn.execute(f"create database {name}")
    os.environ["BHXH_DATABASE"] = name
    init_schema(get_settings())
    return psycopg.connect(get_settings().warehouse_url)


def existing_database(days: int) -> psycopg.Connection:
    os.environ["BHXH_DATABASE"] = DATABASE.format(days=days)
    return psycopg.connect(get_settings().warehouse_url)


def settle(days: int) -> None:
    """VACUUM (ANALYZE) the history's database before the timed day, as autovacuum does on its own
    minutes after a full build: otherwise its first pass over the freshly built tables may still be
    running when the timed build's ANALYZE of the same table asks for the lock, which waits
    deadlock_timeout (1 s) and cancels it (seen twice in a run: int_receipts__versions and
    int_coverage_periods), a cost of the benchmark's timing, not of the daily build."""
    with psycopg.connect(get_settings().warehouse_url.rsplit("/", 1)[0] + "/" + DATABASE.format(days=days),
                         autocommit=True) as conn:
        conn.execute("vacuum (analyze)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1 = national rate (about 100k receipts a day)")
    parser.add_argument("--end", type=date.fromisoformat, default=date(2025, 6, 29), help="last history day")
    parser.add_argument("--days", default="30,365", help="history lengths (comma-separated)")
    parser.add_argument("--reuse", action="store_true",
                        help="the databases already hold their history (a previous run): load only the new day")
    args = parser.parse_args(argv)
    lengths = sorted(int(x) for x in args.days.split(","))
    start_warehouse()
    key = load_key(get_settings())
    conns = {n: existing_database(n) if args.reuse else fresh_database(n) for n in lengths}
    new_day = args.end + timedelta(days=1)
    loaded = {n: 0 for n in lengths}
    new_rows = 0
    first = new_day if args.reuse else args.end - timedelta(days=max(lengths) - 1)
    for day, files in generated_days(first, new_day, args.scale):
        for n, conn in conns.items():
            if day > args.end:
                continue
            if day > args.end - timedelta(days=n):
                loaded[n] += load_day(conn, key, day, files, history=True)
        if day == new_day:
            new_files = files
    seconds = {}
    for n, conn in conns.items():
        os.environ["BHXH_DATABASE"] = DATABASE.format(days=n)
        history = dbt_build()
        print(f"bench incremental_history_{n}_build {history:.1f} s  # {loaded[n]:,} receipts, full build", flush=True)
        settle(n)
        new_rows = load_day(conn, key, new_day, new_files)
        seconds[n] = dbt_build()
        print(f"bench incremental_day_after_{n} {seconds[n]:.1f} s  # {new_rows:,} new receipts", flush=True)
        for model, model_seconds in slowest_models():
            print(f"#   day after {n}: {model} {model_seconds:.2f} s", flush=True)
        conn.close()
    if len(lengths) == 2:
        short, long_ = lengths
        print(f"bench incremental_{long_}_vs_{short} {seconds[long_] / seconds[short]:.2f} x", flush=True)


if __name__ == "__main__":
    main()
