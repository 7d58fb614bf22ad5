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


def parameter(name: str, day: date, reference_dir: Path | None = None) -> float | None:
    """The value of a contribution parameter in force on ``day`` (None when none is)."""
    path = (reference_dir or get_settings().reference_dir) / "contribution_parameters.csv"
    for lo, hi, value in _parameters(path).get(name, []):
        if lo <= day and (hi is None or day <= hi):
            return value
    return None


def _round(values: pd.Series) -> pd.Series:
    return np.floor(values.astype("float64") + 0.5)


def expected_amount(rows: pd.DataFrame) -> pd.Series:
    """Expected ``amount`` of each canonical row (nullable Int64; null where it cannot be computed).
    Parameters are looked up once per distinct collection day, then applied to all rows at once."""
    out = pd.Series(pd.NA, index=rows.index, dtype="Int64")
    if rows.empty:
        return out
    collected = pd.to_datetime(rows["collected_on"], errors="coerce").dt.normalize()
    months = pd.to_numeric(rows["months_paid"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    subsidy = pd.to_numeric(rows["state_subsidy"], errors="coerce").fillna(0).to_numpy(dtype="float64",
                                                                                         na_value=np.nan)
    income = pd.to_numeric(rows["declared_income"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    member = pd.to_numeric(rows["household_member_no"], errors="coerce").clip(1, 5).to_numpy(dtype="float64",
                                                                                               na_value=np.nan)
    days = pd.DatetimeIndex(collected.dropna().unique())
    names = ("tn_contribution_rate", "base_salary", "hgd_rate_first_member") + MEMBER_FACTORS
    reference = get_settings().reference_dir
    table = np.array([[np.nan if v is None else v for v in (parameter(n, d.date(), reference) for n in names)]
                      for d in days],
                     dtype="float64").reshape(len(days), len(names))
    table = np.vstack([table, np.full(len(names), np.nan)])  # the row of an unknown collection day
    at = days.get_indexer(collected)  # -1 (the last row: all unknown) where collected_on is missing
    rate, base, hgd = table[at, 0], table[at, 1], table[at, 2]
    factors = np.column_stack([np.ones(len(at)), table[at, 3:]])
    scheme = rows["scheme"].to_numpy(dtype=object)
    result = np.full(len(rows), np.nan)
    tn = (scheme == "TN") & ~np.isnan(months) & ~np.isnan(income) & ~np.isnan(rate)
    gross = np.sign(months[tn]) * np.floor(rate[tn] * income[tn] * np.abs(months[tn]) + 0.5)
    result[tn] = np.round(gross - subsidy[tn])
    hg = ((scheme == "HGD") & ~np.isnan(months) & ~np.isnan(member) & ~np.isnan(base) & ~np.isnan(hgd)
          & ~np.isnan(factors).any(axis=1))
    factor = factors[hg, np.nan_to_num(member[hg], nan=1).astype(int) - 1]
    gross = np.sign(months[hg]) * np.floor(hgd[hg] * base[hg] * np.abs(months[hg]) * factor + 0.5)
    result[hg] = np.round(gross - subsidy[hg])
    known = ~np.isnan(result)
    out[known] = result[known].astype("int64")
    return out
