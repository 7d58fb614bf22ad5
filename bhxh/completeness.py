"""Completeness: which organisations have not sent a province's report for a day.

A missing file means the organisation did not report (not "zero collections"): the daily run
checks after the 08:00 deadline and alerts (``bhxh.alerts``).
"""

from __future__ import annotations

from datetime import date


def missing_reports(provinces: list[str], day: date) -> dict[str, list[str]]:
    """{province: [organisation, ...]} of the reports the registry expected for ``day`` (as the day's
    collect task registered them in raw.expected_reports), past the deadline and never fetched."""
    from bhxh.dq import missing_reports as missing_pairs

    wanted, missing = set(provinces), {}
    for province, org in missing_pairs(day):
        if province in wanted:
            missing.setdefault(province, []).append(org)
    return missing
