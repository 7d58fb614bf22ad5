"""The statutory amount of a receipt, from the dated parameters in ``contribution_parameters.csv``.

    TN   expected = sign(m) * round(22% * declared_income * |m|) - state_subsidy
    HGD  expected = sign(m) * round(4.5% * base_salary * |m| * factor(member_no)) - state_subsidy

(m = months_paid, negative on a refund; factor 1, 0.7, 0.6, 0.5, then 0.4 from the 5th member).
Parameters are those in force on the receipt's ``collected_on``. The reported subsidy is taken as
sent (local budgets may add to the central share), so the check is on what the person paid.
``bhxh.validate`` compares the amount with this within ``TOLERANCE_VND`` (rounding).
"""

from __future__ import annotations

import csv
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from bhxh.settings import get_settings

TOLERANCE_VND = 1_000  # "rounding to the nearest 1,000 VND or less is normal" (collection-report.md)
MEMBER_FACTORS = ("hgd_member_factor_2", "hgd_member_factor_3", "hgd_member_factor_4", "hgd_member_factor_5_plus")


@lru_cache(maxsize=2)
def _parameters(path: Path) -> dict[str, list[tuple[date, date | None, float]]]:
    out: dict[str, list] = {}
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            out.setdefault(row["parameter"], []).append(
                (date.fromisoformat(row["valid_from"]),
                 date.fromisoformat(row["valid_to"]) if row["valid_to"] else None, float(row["value"])))
    return out


def parameter(name: str, day: date) -> float | None:
    """The value of a contribution parameter in force on ``day`` (None when none is)."""
    for lo, hi, value in _parameters(get_settings().reference_dir / "contribution_parameters.csv").get(name, []):
        if lo <= day and (hi is None or day <= hi):
            return value
    return None


def _round(values: pd.Series) -> pd.Series:
    return np.floor(values.astype("float64") + 0.5)


def expected_amount(rows: pd.DataFrame) -> pd.Series:
    """Expected ``amount`` of each canonical row (nullable Int64; null where it cannot be computed)."""
    out = pd.Series(pd.NA, index=rows.index, dtype="Int64")
    if rows.empty:
        return out
    collected = pd.to_datetime(rows["collected_on"], errors="coerce")
    months = pd.to_numeric(rows["months_paid"], errors="coerce")
    subsidy = pd.to_numeric(rows["state_subsidy"], errors="coerce").fillna(0)
    income = pd.to_numeric(rows["declared_income"], errors="coerce")
    member = pd.to_numeric(rows["household_member_no"], errors="coerce").clip(1, 5)
    for day in collected.dropna().dt.date.unique():
        on_day = collected.dt.date == day
        rate, base, hgd = (parameter(n, day) for n in ("tn_contribution_rate", "base_salary", "hgd_rate_first_member"))
        factors = [1.0] + [parameter(n, day) for n in MEMBER_FACTORS]
        tn = on_day & (rows["scheme"] == "TN") & months.notna() & income.notna()
        if rate is not None and tn.any():
            gross = np.sign(months[tn]) * _round(rate * income[tn] * months[tn].abs())
            out[tn] = (gross - subsidy[tn]).round().astype("Int64")
        hg = on_day & (rows["scheme"] == "HGD") & months.notna() & member.notna()
        if base is not None and hgd is not None and None not in factors and hg.any():
            factor = member[hg].astype(int).map(lambda k: factors[k - 1])
            gross = np.sign(months[hg]) * _round(hgd * base * months[hg].abs() * factor)
            out[hg] = (gross - subsidy[hg]).round().astype("Int64")
    return out
