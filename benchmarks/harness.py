"""What the benchmark scripts share: the `bench NAME VALUE UNIT` lines, the bench's own BHXH_HOME
(embedded server and Airflow home apart from the demo's), the cache of generated sources, scratch
databases, and a peak-memory sampler over a process tree and the PostgreSQL server.

Environment: BHXH_BENCH_CACHE (generated sources, outside git; default .bhxh/bench-cache),
BHXH_HOME (default .bhxh/bench).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import contextmanager
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("BHXH_HOME", str(ROOT / ".bhxh" / "bench"))
os.environ.setdefault("BHXH_PSEUDONYM_KEY", "bench-key-not-a-secret")
CACHE = Path(os.environ.get("BHXH_BENCH_CACHE") or ROOT / ".bhxh" / "bench-cache")


def bench(name: str, value: float, unit: str) -> None:
    """One figure, as automation reads it."""
    text = f"{value:.3g}" if isinstance(value, float) and abs(value) < 100 else f"{value:.0f}" if isinstance(
        value, float) else str(value)
    print(f"bench {name} {text} {unit}", flush=True)


def say(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


def generated(name: str, start: date, end: date, provinces: list[str] | None = None) -> Path:
    """A source root generated once into the cache (all provinces unless told, national rate, seed 1)."""
    from bhxh.generate import generate

    out = CACHE / name
    if not (out / "_truth" / "summary.json").exists():
        say(f"generating {out} ({start}..{end}); cached for later runs")
        started = time.monotonic()
        generate(out, start, end, provinces=provinces, seed=1, scale=1.0, progress=say)
        say(f"generated in {time.monotonic() - started:.0f}s")
    return out


def warehouse_url() -> str:
    from bhxh import warehouse
    from bhxh.settings import get_settings

    return warehouse.start(get_settings())


@contextmanager
def scratch_database(name: str):
    """A fresh database ``name`` on the bench's server, with the raw schema; BHXH_DATABASE points at it."""
    import psycopg

    from bhxh.pipeline import init_schema

    url = warehouse_url()
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"drop database if exists {name} with (force)")
        conn.execute(f"create database {name}")
    from bhxh.dbt_config import WAREHOUSE_CONN_ID

    own_url = url.rsplit("/", 1)[0] + "/" + name
    conn_var = f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}"  # what Cosmos' dbt profile reads
    previous = {k: os.environ.get(k) for k in ("BHXH_DATABASE", conn_var)}
    os.environ.update({"BHXH_DATABASE": name, conn_var: own_url})
    try:
        init_schema()
        yield own_url
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def machine_load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.1f} {five:.1f} {fifteen:.1f} on {os.cpu_count()} cores"


class PeakMemory:
    """The peak resident memory of every process under ``root_pid`` (not the root itself: the bench's
    own process, which may have generated a source, is not the product) and of the PostgreSQL server
    (its postmaster and backends): each process's own high-water mark (VmHWM, kept by the kernel, so a
    peak between two samples is not missed), read every ``interval`` seconds while the process lives;
    and the largest sum of the processes' resident memory at a sample."""

    def __init__(self, root_pid: int | None = None, interval: float = 1.0) -> None:
        self.root_pid = root_pid or os.getpid()
        self.interval = interval
        self.peaks: dict[int, tuple[int, str]] = {}  # pid -> (peak rss bytes, command)
        self.total_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _postmaster(self):
        import psutil

        from bhxh.settings import get_settings

        pidfile = get_settings().pgdata / "postmaster.pid"
        try:
            return psutil.Process(int(pidfile.read_text().split()[0]))
        except (OSError, ValueError, psutil.Error):
            return None

    @staticmethod
    def _memory(pid: int) -> tuple[int, int] | None:
        """(VmHWM, VmRSS) of a process in bytes, from /proc/PID/status; None once it has exited."""
        try:
            with open(f"/proc/{pid}/status", "rb") as handle:
                fields = dict(line.split(b":", 1) for line in handle if line.startswith((b"VmHWM", b"VmRSS")))
            return int(fields[b"VmHWM"].split()[0]) * 1024, int(fields[b"VmRSS"].split()[0]) * 1024
        except (OSError, KeyError, ValueError):
            return None

    def _sample(self) -> None:
        import psutil

        roots = [(psutil.Process(self.root_pid), False)]  # (root, whether the root itself counts)
        postmaster = self._postmaster()
        if postmaster:
            roots.append((postmaster, True))
        total = 0
        seen = set()
        for root, root_counts in roots:
            try:
                procs = ([root] if root_counts else []) + root.children(recursive=True)
            except psutil.Error:
                continue
            for proc in procs:
                if proc.pid in seen:
                    continue
                seen.add(proc.pid)
                memory = self._memory(proc.pid)
                if memory is None:
                    continue
                peak, rss = memory
                if peak > self.peaks.get(proc.pid, (0, ""))[0]:
                    try:
                        self.peaks[proc.pid] = (peak, " ".join(proc.cmdline()[:4])[:120])
                    except psutil.Error:
                        continue
                total += rss
        self.total_peak = max(self.total_peak, total)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def top(self) -> tuple[int, str]:
        return max(self.peaks.values(), default=(0, ""))
