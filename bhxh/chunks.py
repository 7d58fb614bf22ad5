"""Validate and load a window of report days in chunks: consecutive days grouped under a budget.

A load (``pipeline.process_landed(first, last)``) holds its files in memory and pays fixed costs per
call: GX's per-``validate()`` cost, the receipt-number lookup (and, around a direct call, the
ANALYZE of the touched partitions: a window analyzes once, after its last chunk). One call per day
pays them 366 times a year; one call for a month would hold a month in memory. ``process_window``
groups the window's consecutive report days into chunks of at most
``Settings.load_chunk_bytes`` landed bytes (raw.report_files.bytes of the files still ``landed``;
a day larger than the budget is a chunk of its own) and loads them oldest first, a transaction per
chunk (``pipeline.prepare_batch`` then ``pipeline.write_batch``, the write overlapping the next
chunk's reading).
Every run uses it: a daily run (its look-back window, 8 days), a month of the backfill DAG.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date

from bhxh import partitions, pipeline
from bhxh.pseudonym import check_key, load_key
from bhxh.settings import Settings, get_settings
from bhxh.warehouse import connect


def day_chunks(day_bytes: dict[date, int], budget: int) -> list[tuple[date, date]]:
    """(first, last) report days of each chunk: the days of ``day_bytes`` in order, a chunk closed
    before the day that would take it over ``budget`` bytes. Days absent from ``day_bytes`` (nothing
    landed) fall inside a chunk or between two; they need no load."""
    chunks: list[list] = []
    size = 0
    for day in sorted(day_bytes):
        if chunks and size + day_bytes[day] <= budget:
            chunks[-1][1] = day
            size += day_bytes[day]
        else:
            chunks.append([day, day])
            size = day_bytes[day]
    return [(first, last) for first, last in chunks]


def landed_bytes(first: date, last: date, settings: Settings | None = None) -> dict[date, int]:
    """{report day: bytes of its files waiting to load} for first..last (days with none left out)."""
    with connect(settings, role="loader") as conn:
        return dict(conn.execute(
            """select report_date, sum(bytes)::bigint from raw.report_files
               where status = 'landed' and report_date between %s and %s group by 1""", (first, last)).fetchall())


def process_window(first: date, last: date, settings: Settings | None = None) -> pipeline.ProcessSummary:
    """``pipeline.process_landed`` over first..last, one transaction per chunk, as one summary (one
    over the window when nothing is landed, for its empty summary).

    A chunk's write (its COPY, mostly the server's work) runs in a thread while the next chunk's files
    are read; the next chunk waits for it to be committed before it looks up the receipt numbers
    already loaded, so a repeat across the two chunks is found as before. Another window loading at
    the same time (the backfill runs two months at once) is kept apart by ``pipeline.write_batch``'s
    lock of the collection years."""
    settings = settings or get_settings()
    chunks = day_chunks(landed_bytes(first, last, settings), settings.load_chunk_bytes) or [(first, last)]
    # the month partitions before the first chunk, the ANALYZE after the last one (not per chunk: the
    # receipt lookup goes through the receipt_no index whatever the statistics, and the marts read
    # after the window; 0.5-0.8 s of server time saved per chunk)
    partitions.before_load(chunks[0][0], chunks[-1][1], settings)
    # the key checked once, its fingerprint committed at once on a first load (in a chunk's
    # transaction it would hold the next chunk back until that commit); a wrong key stops here
    key = load_key(settings)
    with connect(settings, role="loader", autocommit=True) as conn:
        check_key(conn, key)
    written: list[Future] = []  # each chunk's write, its summary
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bhxh-write") as writer:
        for start, end in chunks:
            conn = connect(settings, role="loader")
            try:
                batch = pipeline.prepare_batch(conn, start, end, key, settings,
                                               before_lookup=written[-1].result if written else None)
            except BaseException:
                conn.close()  # rolled back: its files stay landed
                raise
            written.append(writer.submit(_write, conn, batch, key, settings))
            del batch  # freed once written
        summaries = [future.result() for future in written]
    partitions.after_load(chunks[0][0], chunks[-1][1], settings)
    return pipeline.ProcessSummary.merged(summaries)


def _write(conn, batch: pipeline.Batch, key: bytes, settings: Settings) -> pipeline.ProcessSummary:
    with conn:  # closed after the commit (rolled back on an error)
        return pipeline.commit_batch(conn, batch, key, settings)
