"""The one loader: PostgreSQL COPY from in-memory text (never row-by-row inserts, never ``to_sql``).

The frame is written in COPY's text format column by column, each distinct value of a column
converted once (booleans through numpy, other values with ``str``); nulls, NaN and empty strings
are NULL. The text goes out in blocks of rows, so the server parses one block while Python builds
the next."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import psycopg

NULL = "\\N"
BLOCK_ROWS = 16384  # rows per block of COPY text
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_SPECIAL = re.compile(r"[\\\t\n\r]")


def _fields(column: pd.Series) -> list[str]:
    """The COPY text fields of one column."""
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype) and not column.hasnans:
        return np.where(column.to_numpy(dtype=bool), "t", "f").tolist()
    if pd.api.types.is_integer_dtype(dtype):  # numpy or nullable integers: factorized as int64
        values = column.to_numpy(dtype=np.int64, na_value=0)
        codes, uniques = pd.factorize(values, sort=False)
        if column.hasnans:
            codes = np.where(column.isna().to_numpy(), -1, codes)
        texts = uniques.astype(str).tolist()
    else:
        codes, uniques = pd.factorize(column.to_numpy(dtype=object), sort=False)  # nulls (None, NaN, NaT, NA) -> -1
        texts = [u if u.__class__ is str else str(u) for u in uniques.tolist()]
        if _SPECIAL.search("".join(texts)):
            texts = [t.translate(_ESCAPES) for t in texts]
    table = np.empty(len(texts) + 1, dtype=object)
    table[:-1] = [t or NULL for t in texts]  # empty strings are NULL too
    table[-1] = NULL
    return table[codes].tolist()


def copy_text(frame: pd.DataFrame) -> str:
    """``frame`` in COPY's text format (one line per row, tab-separated fields, \\N for NULL)."""
    columns = [_fields(frame[c]) for c in frame.columns]
    return "\n".join(map("\t".join, zip(*columns))) + "\n"


def copy_frame(conn: psycopg.Connection, table: str, frame: pd.DataFrame) -> int:
    """COPY ``frame`` (its columns named as the table's) into ``table``."""
    if frame.empty:
        return 0
    names = ", ".join(f'"{c}"' for c in frame.columns)
    with conn.cursor() as cur:
        with cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for start in range(0, len(frame), BLOCK_ROWS):
                copy.write(copy_text(frame.iloc[start:start + BLOCK_ROWS]))
    return len(frame)
