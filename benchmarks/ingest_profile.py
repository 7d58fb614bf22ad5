"""Where one national day's ingest spends its time: ``pipeline.process_landed``, the
wall and CPU seconds of its phases (reading, GX, COPY, privacy, ANALYZE, receipt lookup), summed per
function (CPU: this process's, so the server's share of COPY and ANALYZE is only in the wall time).

    BHXH_BENCH_CACHE=/work/bench-cache nice .venv/bin/python benchmarks/ingest_profile.py [DAY ...] [--top N]

The days (default 2024-01-02 and 03; the first also pays GX's first validation) come from the
ingest bench's cached source (benchmarks/ingest.py; BHXH_PROFILE_SOURCE names another cached source, e.g.
national-2024, the year's), collected into a fresh scratch database first. --top N runs under cProfile instead and
prints the N functions with the most own time. (The loader itself calls gc.freeze() after GX's
import, ``validate.warm_up``, so GX's objects stay out of the cyclic collector's sweeps.)
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import time
from datetime import date

import harness
from harness import say

# phase -> (module, function): the function's wall time, summed over its calls, is the phase's
PHASES = {
    "read": ("bhxh.reader", "read_report"),
    "validate (GX and derivations)": ("bhxh.validate", "validate"),
    "  _row_frame": ("bhxh.validate", "_row_frame"),
    "receipt lookup": ("bhxh.pipeline", "_loaded_receipts"),
    "pseudonymise": ("bhxh.pipeline", "pseudonymise"),
    "text_reasons (hostile)": ("bhxh.pipeline", "text_reasons"),
    "personal_values": ("bhxh.privacy", "personal_values"),
    "misplaced_reasons": ("bhxh.privacy", "misplaced_reasons"),
    "scrub_quarantined": ("bhxh.privacy", "scrub_quarantined"),
    "_receipts_frame": ("bhxh.pipeline", "_receipts_frame"),
    "copy_frame (all)": ("bhxh.pipeline", "copy_frame"),
    "ANALYZE": ("bhxh.partitions", "analyze_months"),
}
_spent: dict[str, float] = {}  # phase -> wall seconds
_cpu: dict[str, float] = {}  # phase -> this process's CPU seconds (what another job on the machine hardly changes)


def _timed(phase: str, function):
    def wrapper(*args, **kwargs):
        started, cpu = time.perf_counter(), time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            _spent[phase] = _spent.get(phase, 0.0) + time.perf_counter() - started
            _cpu[phase] = _cpu.get(phase, 0.0) + time.process_time() - cpu
    return wrapper


def _gc_timer(phase: str, info: dict, _started=[0.0, 0.0]) -> None:
    if phase == "start":
        _started[:] = time.perf_counter(), time.process_time()
    else:
        key = f"(cyclic GC, generation {info['generation']})"
        _spent[key] = _spent.get(key, 0.0) + time.perf_counter() - _started[0]
        _cpu[key] = _cpu.get(key, 0.0) + time.process_time() - _started[1]


def _instrument() -> None:
    import gc
    import importlib

    gc.callbacks.append(_gc_timer)
    for phase, (module, name) in PHASES.items():
        target = importlib.import_module(module)
        setattr(target, name, _timed(phase, getattr(target, name)))


def main(argv: list[str]) -> int:
    from bhxh.pipeline import collect, process_landed
    from bhxh.reference import province_codes_on

    top = 0
    if "--top" in argv:
        i = argv.index("--top")
        top = int(argv[i + 1])
        argv = argv[:i] + argv[i + 2:]
    days = [date.fromisoformat(d) for d in argv] or [date(2024, 1, 2), date(2024, 1, 3)]
    source = harness.CACHE / os.environ.get("BHXH_PROFILE_SOURCE", "ingest-2024-01")
    say(harness.machine_load())
    with harness.scratch_database("bench_ingest_profile"):
        for day in days:
            for province in province_codes_on(day):
                collect(str(source), province, day, 0)
        import bhxh.validate as validate

        validate._context()  # the GX import, paid once per process
        _instrument()
        for day in days:  # the first day also pays the first GX validation's set-up
            _measure(process_landed, day, top)
    say(harness.machine_load())
    return 0


def _measure(process_landed, day: date, top: int) -> None:
    """Timed by the phase wrappers, or, with ``top``, under cProfile (which inflates small calls)."""
    profiler = cProfile.Profile() if top else None
    _spent.clear()
    _cpu.clear()
    started, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    summary = process_landed(day, day)
    if profiler:
        profiler.disable()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"{day}: {summary.rows_received} receipts, {summary.rows_loaded} loaded, {summary.files} files, "
          f"{wall:.2f} s wall, {cpu:.2f} s CPU{' (profiled)' if profiler else ''}")
    print(f"  {'phase':32s} {'wall s':>7s} {'CPU s':>7s}")
    for phase in [*PHASES, *sorted(k for k in _spent if k not in PHASES)]:
        print(f"  {phase:32s} {_spent.get(phase, 0.0):7.2f} {_cpu.get(phase, 0.0):7.2f}")
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(top)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
