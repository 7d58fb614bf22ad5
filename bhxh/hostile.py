"""Text cells that must not travel on: spreadsheet formulas and control characters.

The warehouse stores every value as data (COPY, bound parameters, jsonb), so SQL-looking text is
inert and loads as sent. Two kinds of text are not inert downstream, where an analyst exports rows
to a spreadsheet or prints them in a terminal:

- a cell starting with ``=``, ``@``, or ``+``/``-`` followed by something other than a number
  (formula injection: ``=HYPERLINK(...)``, ``+cmd|...``, ``@SUM(...)``);
- C0/C1 control characters and Unicode bidirectional overrides (terminal escapes, spoofed text).

``text_reasons`` names such cells; the pipeline quarantines their rows with the reason, and the
value stays, as sent, only in ``raw.quarantine.original`` (jsonb).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from bhxh.canonical import DATE_COLUMNS, INTEGER_COLUMNS, MONTH_COLUMNS, PERSONAL_COLUMNS

_NUMBER = re.compile(r"^[+-][\d\s.,\u00a0]*$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# a cheap screen of a whole column (its distinct values joined by line breaks): a control character
# anywhere, or a line starting with a formula's first character; only then is each value checked
_SUSPECT = re.compile(_CONTROL.pattern + r"|^\s*[=@+-]", re.MULTILINE)
# numbers and dates may start with a sign and are checked by their parsers; names and participant
# codes are dropped or pseudonymised and never stored as text
_NOT_TEXT = {"line_no", *INTEGER_COLUMNS, *DATE_COLUMNS, *MONTH_COLUMNS, *PERSONAL_COLUMNS}


def cell_reason(value: str) -> str | None:
    """Why ``value`` is not inert text, or None."""
    if _CONTROL.search(value):
        return "contains control characters"
    head = value.lstrip()
    if head[:1] in ("=", "@") or (head[:1] in ("+", "-") and not _NUMBER.match(head)):
        return "looks like a spreadsheet formula"
    return None


def _show(value: str, limit: int = 40) -> str:
    text = value if len(value) <= limit else value[:limit] + "…"
    return ascii(text)  # escapes every control character: the reason itself is inert


def _suspect(values: np.ndarray) -> bool:
    """Whether some distinct text value passes the screen (a value's own match is found in any join
    of values that holds it, so one screen of several columns misses nothing a column's would find)."""
    return bool(_SUSPECT.search("\n".join(u for u in pd.unique(values) if isinstance(u, str))))


def text_reasons(original: pd.DataFrame) -> dict[int, list[str]]:
    """line_no -> reasons, for the text cells of a report's original rows (as read, before conversion)."""
    reasons: dict[int, list[str]] = {}
    lines = original["line_no"].to_numpy()
    columns = [column for column in original.columns if column not in _NOT_TEXT]
    if not columns or not _suspect(np.concatenate([original[c].to_numpy(dtype=object) for c in columns])):
        return reasons  # the common case: one screen of the distinct values of all the text columns
    for column in columns:
        values = original[column].to_numpy(dtype=object)
        if not _suspect(values):
            continue
        codes, uniques = pd.factorize(values, sort=False)
        bad = {k: f"{column}: {_show(str(u))} {r}" for k, u in enumerate(uniques)
               if isinstance(u, str) and (r := cell_reason(u))}
        if not bad:
            continue
        for row in np.flatnonzero(np.isin(codes, list(bad))):
            reasons.setdefault(int(lines[row]), []).append(bad[int(codes[row])])
    return reasons
