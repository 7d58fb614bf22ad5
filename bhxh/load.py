"""The one loader: PostgreSQL COPY from in-memory CSV (never row-by-row inserts, never ``to_sql``)."""

from __future__ import annotations

import io

import pandas as pd
import psycopg


def copy_frame(conn: psycopg.Connection, table: str, frame: pd.DataFrame) -> int:
    """COPY ``frame`` (its columns named as the table's) into ``table``; nulls as empty fields."""
    if frame.empty:
        return 0
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False, na_rep="")
    columns = ", ".join(f'"{c}"' for c in frame.columns)
    with conn.cursor() as cur:
        with cur.copy(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv, NULL '')") as copy:
            copy.write(buffer.getvalue())
    return len(frame)
