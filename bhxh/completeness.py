"""Completeness: which organisations have not sent a province's report for a day.

A missing file means the organisation did not report (not "zero collections"): the daily run
checks after the 08:00 deadline and alerts (``bhxh.alerts``).
"""

from __future__ import annotations

from datetime import date

from bhxh.settings import Settings, get_settings
from bhxh.warehouse import connect


def expected_organisations(province_code: str, day: date) -> list[str]:
    """The organisations that must report for ``province_code`` on ``day``.

    The one place that knows; point it at ``bhxh.registry.expected_organisations`` once the source
    registry lands. Until then: the organisations the synthetic sources assign to the province.
    """
    from bhxh.generate import orgs_of

    return orgs_of(province_code)


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
