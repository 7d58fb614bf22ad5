"""Completeness: which organisations have not sent a province's report for a day.

A missing file means the organisation did not report (not "zero collections"): the daily run
checks after the 08:00 deadline and alerts (``bhxh.alerts``).
"""

from __future__ import annotations

from datetime import date

from bhxh.registry import expected_organisations
from bhxh.settings import Settings, get_settings
from bhxh.warehouse import connect


def missing_reports(provinces: list[str], day: date, settings: Settings | None = None) -> dict[str, list[str]]:
    """{province: [organisation, ...]} of the expected reports for ``day`` never fetched (any version)."""
    with connect(settings or get_settings()) as conn:
        rows = conn.execute("select distinct province_code, org_code from raw.report_files "
                            "where report_date = %s and province_code = any(%s)", (day, list(provinces))).fetchall()
    reported = set(rows)
    missing = {}
    for province in provinces:
        absent = [org for org in expected_organisations(province, day) if (province, org) not in reported]
        if absent:
            missing[province] = absent
    return missing
