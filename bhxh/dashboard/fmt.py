"""vi-VN number and date formatting: 1.650.000; 45,2%; 05/2024."""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal


def _num(value) -> float | None:
    if value is None:
        return None
    return float(value) if isinstance(value, (Decimal, int, float)) else float(value)


def integer(value, signed: bool = False) -> str:
    """1650000 -> '1.650.000' (signed: '+871', '−12')."""
    if value is None:
        return "–"
    n = int(value)
    text = f"{abs(n):,}".replace(",", ".")
    if n < 0:
        return "−" + text
    return ("+" + text) if signed and n > 0 else text


def rate(value, digits: int = 1) -> str:
    """0.4523 -> '45,2%'."""
    v = _num(value)
    if v is None or math.isnan(v):
        return "–"
    return f"{v * 100:.{digits}f}".replace(".", ",") + "%"


def points(value, digits: int = 1) -> str:
    """A gap in percentage points: 0.083 -> '8,3 điểm %' (negative: target exceeded)."""
    v = _num(value)
    if v is None:
        return "–"
    text = f"{abs(v) * 100:.{digits}f}".replace(".", ",")
    return ("−" if v < 0 else "") + text + " điểm %"


def month(value: date | None) -> str:
    return "–" if value is None else f"{value:%m/%Y}"


def day(value: date | None) -> str:
    return "–" if value is None else f"{value:%d/%m/%Y}"


def raw(value) -> str:
    """The machine-readable value put in data-value attributes (what the marts hold)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
