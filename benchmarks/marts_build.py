"""The heavy marts models' full build on a national quarter (issue 7).

    .venv/bin/python benchmarks/marts_build.py load     # once: 2024-01..03 from the cached national source
    .venv/bin/python benchmarks/marts_build.py build    # again and again: full refresh, seconds per model

`load` collects and loads the months of BHXH_BENCH_QUARTER_MONTHS (default 1-3 of 2024: 6.72 M
receipts, every one the generator sent) from the generated national 2024 (BHXH_BENCH_YEAR_SOURCE, default the cache's
national-2024; never regenerated here) into the bench's database `marts_quarter`, without Airflow
(what bhxh_collection_backfill's tasks call), and builds the whole dbt project once.
`build` runs `dbt run --full-refresh -s int_receipts__versions+` (2 threads) with the heavy models'
SQL of BHXH_BENCH_MARTS_BASELINE_REF (default 2dcc150, before their rewrite), then with the current
SQL, and prints `bench marts_full_build_<model>[_<ref>] S s` from dbt's run results, each run's wall
seconds and their ratio; the database is kept between runs. `baseline` copies every table of schemas
intermediate and marts into schema baseline; `compare` checks the current tables against them
(`except all` both ways, timestamps left out).
"""

from __future__ import annotations

import calendar
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import harness
from harness import bench, say

sys.path.insert(0, str(harness.ROOT))
DATABASE = "marts_quarter"
# the heavy models (int_coverage_periods is the union of its two parts, computed at once, since 2026-11-25)
MODELS = ("int_receipts__versions", "int_coverage_periods", "int_coverage_periods__part0", "int_coverage_periods__part1",
          "fct_daily_collections")
SOURCE = Path(os.environ.get("BHXH_BENCH_YEAR_SOURCE") or harness.CACHE / "national-2024")
# the models' SQL before issue 7's rewrite (main at 2dcc150)
BASELINE_REF = os.environ.get("BHXH_BENCH_MARTS_BASELINE_REF", "2dcc150")
MONTHS = [int(m) for m in os.environ.get("BHXH_BENCH_QUARTER_MONTHS", "1,2,3").split(",")]


def dbt(*args: str, project: Path | None = None) -> None:
    from bhxh.dbt_config import dbt_env
    from bhxh.settings import get_settings

    settings = get_settings()
    project = project or settings.dbt_project_dir
    command = [str(Path(sys.executable).with_name("dbt")), *args, "--profiles-dir", str(project),
               "--project-dir", str(project)]
    subprocess.run(command, cwd=project, env={**os.environ, **dbt_env(settings)}, check=True)


def project_at(ref: str, into: Path) -> Path:
    """A copy of the dbt project with the heavy models' SQL as of git ``ref`` (the baseline); a heavy
    model that did not exist then is left out."""
    import shutil

    from bhxh.settings import get_settings

    source = get_settings().dbt_project_dir
    project = into / "dbt_project"
    shutil.copytree(source, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    for model in source.joinpath("models").rglob("*.sql"):
        if model.stem in MODELS:
            relative = model.relative_to(harness.ROOT).as_posix()
            shown = subprocess.run(["git", "show", f"{ref}:{relative}"], cwd=harness.ROOT, capture_output=True,
                                   text=True)
            if shown.returncode:
                (project / model.relative_to(source)).unlink()
            else:
                (project / model.relative_to(source)).write_text(shown.stdout)
    return project


def full_build(project: Path | None, suffix: str) -> float:
    """`dbt run --full-refresh` of int_receipts__versions and everything downstream (its views are
    dropped with it), 2 threads; the heavy models' seconds from dbt's run results. Returns the run's
    wall seconds (models that run at once on dbt's two threads overlap)."""
    from bhxh.settings import get_settings

    started = time.monotonic()
    dbt("run", "--full-refresh", "-s", "int_receipts__versions+", project=project)
    wall = time.monotonic() - started
    bench(f"marts_full_build_seconds{suffix}", wall, "s")
    target = (project or get_settings().dbt_project_dir) / "target" / "run_results.json"
    seconds = {}
    for result in json.loads(target.read_text())["results"]:
        model = result["unique_id"].rsplit(".", 1)[1]
        if model in MODELS:
            seconds[model] = float(result["execution_time"])
            bench(f"marts_full_build_{model}{suffix}", seconds[model], "s")
    return wall


def load() -> None:
    from bhxh import pipeline
    from bhxh.chunks import process_window
    from bhxh.reference import province_codes_on

    with harness.scratch_database(DATABASE):
        for month in MONTHS:
            first = date(2024, month, 1)
            days = calendar.monthrange(2024, month)[1]
            last = first.replace(day=days)
            started = time.monotonic()
            for code in province_codes_on(last):
                pipeline.collect(str(SOURCE), code, last, days - 1, register_days=days)
            say(f"{first:%Y-%m} collected in {time.monotonic() - started:.0f}s")
            started = time.monotonic()
            summary = process_window(first, last)
            say(f"{first:%Y-%m} loaded in {time.monotonic() - started:.0f}s: {summary.rows_loaded} rows")
        started = time.monotonic()
        dbt("build")
        say(f"dbt build in {time.monotonic() - started:.0f}s")


def build() -> None:
    """The baseline's full build (the models' SQL at BASELINE_REF), then the current one's; the
    current one's output stays in the database."""
    import tempfile

    os.environ["BHXH_DATABASE"] = DATABASE
    harness.warehouse_url()
    say(harness.machine_load())
    with tempfile.TemporaryDirectory() as scratch:
        before = full_build(project_at(BASELINE_REF, Path(scratch)), f"_{BASELINE_REF}")
    say(harness.machine_load())
    after = full_build(None, "")
    say(harness.machine_load())
    bench(f"marts_full_build_speedup_vs_{BASELINE_REF}", before / after, "x")


def _connect():
    import psycopg

    os.environ["BHXH_DATABASE"] = DATABASE
    return psycopg.connect(harness.warehouse_url(), autocommit=True)


def _tables(conn, schemas: tuple[str, ...]) -> list[tuple[str, str]]:
    return conn.execute("select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE'"
                        " and table_schema = any(%s) order by 1, 2", [list(schemas)]).fetchall()


def baseline() -> None:
    """Copy every table of schemas intermediate and marts into schema baseline (the old SQL's output)."""
    with _connect() as conn:
        conn.execute("drop schema if exists baseline cascade")
        conn.execute("create schema baseline")
        for schema, table in _tables(conn, ("intermediate", "marts")):
            conn.execute(f'create table baseline."{schema}__{table}" as table "{schema}"."{table}"')
            say(f"baseline {schema}.{table}")


def compare() -> None:
    """Each baseline table against its current one, `except all` both ways, without timestamp columns
    (built_at, counted_from ...: when, not what)."""
    differing = 0
    with _connect() as conn:
        for _, copy in _tables(conn, ("baseline",)):
            schema, table = copy.split("__", 1)
            columns = [name for name, kind in conn.execute(
                "select column_name, data_type from information_schema.columns where table_schema = 'baseline'"
                " and table_name = %s order by ordinal_position", [copy]).fetchall()
                if not kind.startswith("timestamp")]
            select = ", ".join(f'"{c}"' for c in columns)
            old, new = f'baseline."{copy}"', f'"{schema}"."{table}"'
            only_old = conn.execute(f"select count(*) from (select {select} from {old} except all "
                                    f"select {select} from {new}) as d").fetchone()[0]
            only_new = conn.execute(f"select count(*) from (select {select} from {new} except all "
                                    f"select {select} from {old}) as d").fetchone()[0]
            rows = conn.execute(f"select count(*) from {new}").fetchone()[0]
            differing += bool(only_old or only_new)
            say(f"{'SAME' if not (only_old or only_new) else 'DIFF'} {schema}.{table}: {rows} rows, "
                f"{only_old} only in baseline, {only_new} only now")
    if differing:
        raise SystemExit(f"{differing} tables differ")


if __name__ == "__main__":
    {"load": load, "build": build, "baseline": baseline, "compare": compare}[sys.argv[1]]()
