"""The one loader: PostgreSQL COPY from in-memory text (never row-by-row inserts, never ``to_sql``).

The frame is written in COPY's text format column by column (integers and booleans through numpy,
other values with ``str``), nulls, NaN and empty strings as NULL."""

from __future__ import annotations

import numpy as np
import pandas as pd
import psycopg

NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _fields(column: pd.Series) -> list[str]:
    """The COPY text fields of one column."""
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype) and not column.hasnans:
        return np.where(column.to_numpy(dtype=bool), "t", "f").tolist()
    if pd.api.types.is_integer_dtype(dtype):
        nulls = column.isna().to_numpy()
        digits = column.to_numpy(dtype=np.int64, na_value=0).astype(str)
        return np.where(nulls, NULL, digits).tolist() if nulls.any() else digits.tolist()
    values = column.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        texts = values.copy()  # strings and nulls
    else:  # dates and other values: each distinct one converted once
        codes, uniques = pd.factorize(values, sort=False)  # nulls (None, NaN, NaT, NA) -> -1
        texts = np.empty(len(uniques) + 1, dtype=object)
        texts[:-1] = [v if v.__class__ is str else str(v) for v in uniques]
        texts[-1] = None
        texts = texts[codes]
    missing = pd.isna(texts)
    missing[~missing] = texts[~missing] == ""  # empty strings are NULL too
    present = texts[~missing]
    joined = "".join(present)
    if any(c in joined for c in "\\\t\n\r"):
        texts[~missing] = [t.translate(_ESCAPES) for t in present]
    texts[missing] = NULL
    return texts.tolist()


def copy_frame(conn: psycopg.Connection, table: str, frame: pd.DataFrame) -> int:
    """COPY ``frame`` (its columns named as the table's) into ``table``."""
    if frame.empty:
        return 0
    columns = [_fields(frame[c]) for c in frame.columns]
    text = "\n".join(map("\t".join, zip(*columns))) + "\n"
    names = ", ".join(f'"{c}"' for c in frame.columns)
    with conn.cursor() as cur:
        with cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            copy.write(text)
    return len(frame)
