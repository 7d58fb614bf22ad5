"""Month partitions of raw.receipts around a load (the tables and functions are in sql/raw.sql).

``around_load`` wraps the loader (``pipeline.process_landed(start, end)``): before it, the month
partitions of start..end exist (each in its own short transaction, so the parent's lock is not held
through the load); after it, the partitions it touched, and the parent when due, are analyzed, so
the marts built right after a load get plans from the new day's statistics (autovacuum analyzes
partitions only later and a partitioned parent never).
"""

from __future__ import annotations

import functools
import logging
from datetime import date

import psycopg

from bhxh.settings import Settings
from bhxh.warehouse import connect

log = logging.getLogger(__name__)


def add_months(conn: psycopg.Connection, start: date, end: date) -> int:
    """Create the month partitions of raw.receipts for start..end that are missing; return how many."""
    return conn.execute("select raw.add_receipt_months(%s, %s)", (start, end)).fetchone()[0]


def analyze_months(conn: psycopg.Connection, start: date, end: date) -> list[str]:
    """ANALYZE the month partitions of start..end that changed enough, and the parent when due."""
    return conn.execute("select raw.analyze_receipt_months(%s, %s)", (start, end)).fetchone()[0]


def before_load(start: date, end: date, settings: Settings | None = None) -> None:
    """The month partitions of start..end, each created in its own short transaction."""
    with connect(settings, role="loader", autocommit=True) as conn:
        added = add_months(conn, start, end)
    if added:
        log.info("raw.receipts: %d month partition(s) added for %s..%s", added, start, end)


def after_load(start: date, end: date, settings: Settings | None = None) -> None:
    """ANALYZE what the loads of start..end changed enough (``analyze_months``)."""
    with connect(settings, role="loader", autocommit=True) as conn:
        analyzed = analyze_months(conn, start, end)
    if analyzed:
        log.info("analyzed %s", ", ".join(analyzed))


def around_load(load):
    """Decorate a loader ``load(start, end, settings=None)``: partitions before, ANALYZE after. The
    loader without them is the wrapper's ``__wrapped__`` (``bhxh.chunks``: one ANALYZE per window)."""
    @functools.wraps(load)
    def wrapper(start: date, end: date, settings: Settings | None = None):
        before_load(start, end, settings)
        result = load(start, end, settings)
        after_load(start, end, settings)
        return result
    return wrapper
