"""Personal data out of its place (Decree 13/2023/NĐ-CP): kept out of the warehouse in clear.

The pipeline drops ``full_name`` and pseudonymises ``participant_code``. A name or a code can still
arrive in another column:

- a misaligned row (a cell too many or too few) moves them into other columns, whose values the
  quarantine keeps as sent and whose reasons quote them;
- a person's name or code typed into another column (``collection_point``, ``receipt_no``).

``personal_values`` collects, per file, the values that are personal data: every name and code of
the file's own personal columns, and the name-shaped cells of its misaligned rows. A row holding one of them
outside its column is quarantined (``misplaced_reasons``); quarantined values, reasons and check
samples are scrubbed (``scrub``). The clear values stay in the landing store only.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from bhxh.canonical import CODED_COLUMNS, PERSONAL_COLUMNS

WITHHELD = "<personal data withheld>"
_CODE_RUN = re.compile(r"(?<!\d)\d{10}(?!\d)")  # participant codes are 10 digits
_NAME_SHAPED = re.compile(r"^[^\d]*[^\W\d_][^\d]*\s[^\d]*[^\W\d_][^\d]*$")  # two words, no digit
MISALIGNED = "row has "  # the reader's reasons for a row whose cells do not match the header


def misaligned_lines(errors: dict[int, list[str]]) -> set[int]:
    return {line for line, reasons in errors.items() if any(r.startswith(MISALIGNED) for r in reasons)}


def _cells(values: pd.Series) -> set[str]:
    """The distinct non-null values of a column, stripped, of at least 5 characters."""
    distinct = pd.unique(values.to_numpy(dtype=object))
    stripped = (str(v).strip() for v in distinct if isinstance(v, str) or not pd.isna(v))
    return {v for v in stripped if len(v) >= 5}


# the spec's own words (labels and codes of the coded columns) are never personal data
_VOCABULARY = {w for vocab in CODED_COLUMNS.values() for code, labels in vocab.items() for w in (code, *labels)}


def _personal_columns(rows: pd.DataFrame) -> set[str]:
    return {v for column in PERSONAL_COLUMNS if column in rows.columns for v in _cells(rows[column])} - _VOCABULARY


def personal_values(original: pd.DataFrame, misaligned: set[int]) -> tuple[set[str], set[str]]:
    """(in_columns, withheld): the names and codes in the personal columns of the file's aligned rows,
    and what to withhold from what the warehouse keeps of the file: those, and the name-shaped cells
    of its misaligned rows, wherever they ended up."""
    if not misaligned:
        found = _personal_columns(original)
        return found, found
    is_misaligned = original["line_no"].isin(list(misaligned))
    in_columns = _personal_columns(original[~is_misaligned])
    rows = original[is_misaligned].drop(columns="line_no")
    shaped = {v for column in rows.columns for v in _cells(rows[column]) if _NAME_SHAPED.match(v)}
    return in_columns, in_columns | (shaped - _VOCABULARY)


def misplaced_reasons(original: pd.DataFrame, misaligned: set[int], in_columns: set[str]) -> dict[int, list[str]]:
    """line_no -> reasons, for cells of aligned rows outside the personal columns that hold a name or
    code of ``in_columns`` (misaligned rows are quarantined anyway; their cells are not trusted)."""
    reasons: dict[int, list[str]] = {}
    aligned = original[~original["line_no"].isin(list(misaligned))] if misaligned else original
    personal = in_columns
    if not personal:
        return reasons
    lines = aligned["line_no"].to_numpy()
    columns = [column for column in aligned.columns if column != "line_no" and column not in PERSONAL_COLUMNS]
    if not columns or not len(aligned):
        return reasons
    # every cell of those columns at once, each distinct value looked up once: (column, row) -> personal
    codes, uniques = pd.factorize(np.concatenate([aligned[c].to_numpy(dtype=object) for c in columns]), sort=False)
    is_personal = np.zeros(len(uniques) + 1, dtype=bool)  # the last slot: nulls (code -1)
    is_personal[:-1] = [isinstance(u, str) and u.strip() in personal for u in uniques]
    if not is_personal.any():
        return reasons
    held = is_personal[codes].reshape(len(columns), len(aligned))
    for column, rows in zip(columns, held):
        for row in np.flatnonzero(rows):
            reasons.setdefault(int(lines[row]), []).append(
                f"{column}: holds a participant's name or code of this file (personal data out of place)")
    return reasons


def scrub(value, personal: set[str], also: tuple[str, ...] = ()):
    """``value`` without personal data: a whole personal value becomes WITHHELD; inside text, the
    values of ``also`` (the row's own personal cells) and any 10-digit run are replaced."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):  # a code read as a number
        return WITHHELD if _CODE_RUN.search(str(value)) or str(value) in personal else value
    if not isinstance(value, str):
        return value
    if value.strip() in personal:
        return WITHHELD
    for cell in also:
        value = value.replace(cell, WITHHELD)
    return _CODE_RUN.sub(WITHHELD, value)


def scrub_quarantined(rows: pd.DataFrame, reasons: list[list[str]], personal: set[str]) -> list[list[str]]:
    """The reasons of quarantined ``rows`` (as sent, every column), scrubbed of each row's own
    personal cells and of 10-digit runs."""
    out = []
    for record, row_reasons in zip(rows.to_dict(orient="records"), reasons):
        own = sorted({v.strip() for v in record.values() if isinstance(v, str) and v.strip() in personal},
                     key=len, reverse=True)
        out.append([scrub(r, personal, tuple(own)) for r in row_reasons])
    return out
