"""The loader's COPY text (bhxh.load): NULLs, empty strings, escapes, numbers and dates, and blocks of rows."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import psycopg
import pytest

from bhxh import load


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "t": pd.Series(["a\tb", "line\nbreak", "back\\slash", "", None, "Nguyễn Văn Hùng", "cr\r", np.nan],
                       dtype=object),
        "i": pd.array([1, None, -3, 0, 12345678901, None, 7, 8], dtype="Int64"),
        "d": pd.Series([dt.date(2024, 1, 2), None, dt.date(2024, 1, 2), dt.date(1999, 12, 31), None, None,
                        dt.date(2024, 2, 29), None], dtype=object),
        "b": [True, False, True, True, False, False, True, False],
        "n": np.arange(8, dtype=np.int64) * 10,
        "s": pd.Series(["x", "x", "y", None, "", "x", "z", "x"], dtype="str"),
    })


# written by hand from COPY's text format: \N is NULL, backslash, tab, LF and CR escaped, empty -> NULL
EXPECTED_LINES = [
    "a\\tb\t1\t2024-01-02\tt\t0\tx",
    "line\\nbreak\t\\N\t\\N\tf\t10\tx",
    "back\\\\slash\t-3\t2024-01-02\tt\t20\ty",
    "\\N\t0\t1999-12-31\tt\t30\t\\N",
    "\\N\t12345678901\t\\N\tf\t40\t\\N",
    "Nguyễn Văn Hùng\t\\N\t\\N\tf\t50\tx",
    "cr\\r\t7\t2024-02-29\tt\t60\tz",
    "\\N\t8\t\\N\tf\t70\tx",
]


def test_copy_text_escapes_and_nulls():
    assert load.copy_text(_frame()) == "\n".join(EXPECTED_LINES) + "\n"


def test_copy_text_of_float_and_plain_integer_columns():
    frame = pd.DataFrame({"f": [1.5, np.nan, 2.0], "k": np.array([3, 3, -1], dtype=np.int32)})
    assert load.copy_text(frame) == "1.5\t3\n\\N\t3\n2.0\t-1\n"


def test_copy_frame_round_trip_in_blocks(warehouse_url, monkeypatch):
    monkeypatch.setattr(load, "BLOCK_ROWS", 3)  # 8 rows: three blocks, the last one short
    with psycopg.connect(warehouse_url) as conn:
        conn.execute("create temp table copied (t text, i bigint, d date, b boolean, n integer, s text)")
        assert load.copy_frame(conn, "copied", _frame()) == 8
        rows = conn.execute("select t, i, d, b, n, s from copied").fetchall()
    assert rows == [
        ("a\tb", 1, dt.date(2024, 1, 2), True, 0, "x"),
        ("line\nbreak", None, None, False, 10, "x"),
        ("back\\slash", -3, dt.date(2024, 1, 2), True, 20, "y"),
        (None, 0, dt.date(1999, 12, 31), True, 30, None),
        (None, 12345678901, None, False, 40, None),
        ("Nguyễn Văn Hùng", None, None, False, 50, "x"),
        ("cr\r", 7, dt.date(2024, 2, 29), True, 60, "z"),
        (None, 8, None, False, 70, "x"),
    ]


def test_copy_frame_of_an_empty_frame_writes_nothing(warehouse_url):
    with psycopg.connect(warehouse_url) as conn:
        assert load.copy_frame(conn, "no_such_table", pd.DataFrame({"t": []})) == 0


@pytest.mark.parametrize("rows", [1, load.BLOCK_ROWS, load.BLOCK_ROWS + 1])
def test_copy_frame_block_edges(warehouse_url, rows):
    frame = pd.DataFrame({"n": np.arange(rows, dtype=np.int64), "t": [f"r{i}" for i in range(rows)]})
    with psycopg.connect(warehouse_url) as conn:
        conn.execute("create temp table copied (n bigint, t text)")
        load.copy_frame(conn, "copied", frame)
        count, total, last = conn.execute("select count(*), sum(n), max(t) filter (where n = %s) from copied",
                                          (rows - 1,)).fetchone()
    assert (count, total, last) == (rows, rows * (rows - 1) // 2, f"r{rows - 1}")
