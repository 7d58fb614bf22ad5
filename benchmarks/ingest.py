"""Ingest: read, validate and load about a million receipts in the sources' mixed dialects, against
the ceiling (COPY of the same receipts as one canonical CSV into the same server) and against dlt
loading that canonical CSV into the same server.

    .venv/bin/python benchmarks/ingest.py        (part of `make bench`)

The headline ingest goes through the path a backfill's (and a daily run's) validate_and_load takes:
one ``bhxh.chunks.process_window`` over the fifteen days, loaded in chunks of consecutive days under
BHXH_LOAD_CHUNK_BYTES (`bench ingest_chunks N` says how many).

Prints `bench ingest_vs_copy R x` (our throughput / COPY's) and `bench ingest_vs_dlt R x` (our
throughput / dlt's), with the absolute times; beside them `ingest_two_parts_vs_copy`, the same
receipts loaded as a backfill month loads its days: two parts at once, a process each (both cores).
The source (fifteen national days of January 2024, about 1 M receipts) is generated once into
BHXH_BENCH_CACHE; dlt is installed into its own environment
(.bhxh/bench/dlt-venv, pinned) because its pins conflict with Airflow's. BHXH_BENCH_SKIP_DLT=1 leaves
dlt out (the slowest part; for iterating on the ingest itself): no `ingest_vs_dlt` line then.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import harness
from harness import bench, say

START, END = date(2024, 1, 2), date(2024, 1, 16)  # about 1 M receipts
DLT_VERSION = "1.31.0"
DLT_SCRIPT = Path(__file__).with_name("dlt_load.py")


def dlt_python() -> Path:
    venv = harness.ROOT / ".bhxh" / "bench" / "dlt-venv"
    python = venv / "bin" / "python"
    stamp = venv / f".dlt-{DLT_VERSION}"
    if not stamp.exists():
        say(f"installing dlt {DLT_VERSION} into {venv}")
        subprocess.run([sys._base_executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        f"dlt[postgres]=={DLT_VERSION}", "pyarrow", "pandas"], check=True)
        stamp.touch()
    return python


def collect_all(source: Path, days: list[date]) -> float:
    from bhxh.pipeline import collect
    from bhxh.reference import province_codes_on

    started = time.monotonic()
    for day in days:
        for province in province_codes_on(day):
            collect(str(source), province, day, 0)
    return time.monotonic() - started


PART = ("import sys; from datetime import date; from bhxh.chunks import process_window;"
        "print(process_window(date.fromisoformat(sys.argv[1]), date.fromisoformat(sys.argv[2])).rows_received)")


def two_parts(source: Path, days: list[date]) -> tuple[float, int]:
    """The window as a backfill month's load parts run it (two, BHXH_CONCURRENT_LOADS' default): a
    process per half of the days, at once, each paying GX's import as a task does; in a fresh
    database. Returns (seconds, receipts received)."""
    from bhxh.orchestration import part_of

    with harness.scratch_database("bench_ingest_parts"):
        collect_all(source, days)
        started = time.monotonic()
        parts = [subprocess.Popen([sys.executable, "-c", PART, *(d.isoformat() for d in part_of(START, END, i, 2))],
                                  stdout=subprocess.PIPE, text=True) for i in range(2)]
        printed = [part.communicate()[0] for part in parts]
        seconds = time.monotonic() - started
    if any(part.returncode for part in parts):
        raise RuntimeError(f"a load part failed: exit codes {[part.returncode for part in parts]}")
    return seconds, sum(int(out.split()[-1]) for out in printed)


def canonical_csv(conn, path: Path, columns: list[str]) -> int:
    """The loaded receipts as one canonical CSV (header, comma, UTF-8): what the ceiling and dlt load."""
    with path.open("wb") as out, conn.cursor() as cur:
        with cur.copy(f"COPY (select {', '.join(columns)} from raw.receipts order by file_id, line_no) "
                      "TO STDOUT WITH (FORMAT csv, HEADER true)") as copy:
            for block in copy:
                out.write(block)
    return path.stat().st_size


def copy_ceiling(conn, path: Path) -> float:
    """COPY the canonical CSV into a table shaped like raw.receipts (keys and indexes included)."""
    conn.execute("drop schema if exists bench_copy cascade")
    conn.execute("create schema bench_copy")
    conn.execute("create table bench_copy.receipts (like raw.receipts including all)")
    conn.commit()
    with path.open("rb") as handle:
        header = handle.readline().decode().strip()
        started = time.monotonic()
        with conn.cursor() as cur, cur.copy(f"COPY bench_copy.receipts ({header}) FROM STDIN WITH (FORMAT csv)") as copy:
            while block := handle.read(1 << 20):
                copy.write(block)
        conn.commit()
    return time.monotonic() - started


def dlt_load(url: str, path: Path) -> dict:
    done = subprocess.run([str(dlt_python()), str(DLT_SCRIPT), url, str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"dlt load failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    from bhxh.chunks import day_chunks, landed_bytes, process_window
    from bhxh.pipeline import RECEIPT_COLUMNS
    from bhxh.settings import get_settings
    from bhxh.warehouse import connect

    source = harness.generated("ingest-2024-01", START, END)
    days = [START + timedelta(days=i) for i in range((END - START).days + 1)]
    say(harness.machine_load())
    with harness.scratch_database("bench_ingest") as url:
        collect_seconds = collect_all(source, days)
        started = time.monotonic()
        import bhxh.validate as validate
        import great_expectations  # noqa: F401  (paid once per process; reported apart)

        validate._context()
        import_seconds = time.monotonic() - started
        chunks = day_chunks(landed_bytes(START, END), get_settings().load_chunk_bytes)
        started = time.monotonic()
        summary = process_window(START, END)  # the backfill's path: one call over the window, chunked
        ingest_seconds = time.monotonic() - started
        received, loaded = summary.rows_received, summary.rows_loaded
        bench("ingest_chunks", len(chunks), f"loads of {get_settings().load_chunk_bytes / 2**20:.0f} MiB at most")
        ingest_rate = received / ingest_seconds
        bench("ingest_receipts", received, "rows")
        bench("ingest_receipts_loaded", loaded, "rows")
        bench("ingest_seconds", ingest_seconds, "s")
        bench("ingest_rows_per_second", ingest_rate, "rows/s")
        bench("ingest_gx_import_seconds", import_seconds, "s")
        bench("ingest_collect_seconds", collect_seconds, "s")
        say(harness.machine_load())

        columns = ["file_id", "line_no", "file_province_code", "report_date", "org_code", "participant_key"] + [
            c for c in RECEIPT_COLUMNS]
        csv_path = harness.CACHE / "ingest-canonical.csv"
        with connect() as conn:
            size = canonical_csv(conn, csv_path, columns)
            copy_seconds = copy_ceiling(conn, csv_path)
            copied = conn.execute("select count(*) from bench_copy.receipts").fetchone()[0]
        copy_rate = copied / copy_seconds
        bench("copy_canonical_csv_bytes", size, "B")
        bench("copy_seconds", copy_seconds, "s")
        bench("copy_rows_per_second", copy_rate, "rows/s")
        bench("ingest_vs_copy", ingest_rate / copy_rate, "x")
        parts_seconds, parts_received = two_parts(source, days)
        if parts_received != received:
            raise RuntimeError(f"the two parts received {parts_received} receipts, the one load {received}")
        bench("ingest_two_parts_seconds", parts_seconds, "s (two load parts at once, as a backfill month's)")
        bench("ingest_two_parts_vs_copy", received / parts_seconds / copy_rate, "x")
        if os.environ.get("BHXH_BENCH_SKIP_DLT"):
            say("dlt skipped (BHXH_BENCH_SKIP_DLT)")
            return 0
        dlt = dlt_load(url, csv_path)
        say(harness.machine_load())
    dlt_rate = dlt["rows"] / dlt["seconds"]
    bench("dlt_seconds", dlt["seconds"], "s")
    bench("dlt_rows_per_second", dlt_rate, "rows/s")
    bench("ingest_vs_dlt", ingest_rate / dlt_rate, "x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
