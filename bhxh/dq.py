"""What went wrong on a report day: the gate of the daily DAG and ``bhxh dq``.

``gate(summary, day)``   after validate_and_load: log the run's rejections, warnings and the day's
                         missing reports, alert (bhxh.alerts), and say whether to fail
``day_report(day)``      the published view (marts.fct_data_quality, marts.fct_report_completeness)
                         as text, for ``bhxh dq``
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

from bhxh.warehouse import connect

log = logging.getLogger(__name__)


@dataclass
class Gate:
    day: date
    rejections: list[str] = field(default_factory=list)  # rows or files quarantined, files rejected
    missing: list[str] = field(default_factory=list)     # expected reports of the day not received
    warnings: list[str] = field(default_factory=list)    # recorded, not rejected (control total, drift)

    @property
    def failed(self) -> bool:
        return bool(self.rejections or self.missing)


def missing_reports(day: date) -> list[tuple[str, str]]:
    """(province, organisation) the registry expected for ``day``, past the deadline, with no file."""
    with connect(role="loader") as conn:
        return conn.execute(
            """select e.province_code, e.org_code from raw.expected_reports e
               where e.report_date = %s and e.deadline < now()
                 and not exists (select 1 from raw.report_files f
                                 where f.province_code = e.province_code and f.report_date = e.report_date
                                   and f.org_code = e.org_code)
               order by 1, 2""", (day,)).fetchall()


def gate(summary: dict, day: date, last: date | None = None) -> Gate:
    """The run's rejections and warnings, and the reports missing on its days ``day``..``last``."""
    from bhxh.alerts import data_quality_alert, send
    from bhxh.orchestration import days_of

    result = Gate(day, list(summary.get("failures") or []),
                  [f"{p}/{d.isoformat()}/{o}: report missing (expected by the source registry)"
                   for d in days_of(day, last or day) for p, o in missing_reports(d)],
                  list(summary.get("warnings") or []))
    log.info("data quality of run %s (%s): %d rejections, %d missing reports, %d warnings; rows %s received, "
             "%s loaded, %s quarantined; Data Docs: %s", summary.get("run_id"), day, len(result.rejections),
             len(result.missing), len(result.warnings), summary.get("rows_received"), summary.get("rows_loaded"),
             summary.get("rows_quarantined"), summary.get("data_docs_url") or "not built")
    lines = [f"REJECTED {x}" for x in result.rejections] + [f"MISSING {x}" for x in result.missing] + \
            [f"WARNING {x}" for x in result.warnings]
    if lines:
        send(data_quality_alert(day, summary.get("run_id"), lines,
                                {"rejections": len(result.rejections), "missing reports": len(result.missing),
                                 "warnings": len(result.warnings)}, summary.get("data_docs_url")))
    return result


def day_report(day: date | None = None) -> tuple[str, int]:
    """The day's failed checks and incomplete reports from the marts, as text; and how many there are."""
    with connect() as conn:
        exists = conn.execute("select to_regclass('marts.fct_data_quality') is not null "
                              "and to_regclass('marts.fct_report_completeness') is not null").fetchone()[0]
        if not exists:
            return "no data-quality marts yet: run `bhxh run` first", 0
        if day is None:
            day = conn.execute("select max(report_date) from marts.fct_report_completeness").fetchone()[0]
            if day is None:
                return "no reports yet: run `bhxh run` first", 0
        checks = conn.execute(
            """select severity, coalesce(file, province_code), check_name, unexpected_count, sample_values::text
               from marts.fct_data_quality where report_date = %s and not success
               order by severity, 2, check_name""", (day,)).fetchall()
        reports = conn.execute(
            """select province_code, org_code, status, days_late, rows_received, rows_loaded, rows_quarantined,
                      file_reason
               from marts.fct_report_completeness
               where report_date = %s and status <> 'on_time' order by 1, 2""", (day,)).fetchall()
        totals = conn.execute(
            """select count(*) filter (where expected), count(*) filter (where expected and received),
                      count(*) filter (where expected and on_time)
               from marts.fct_report_completeness where report_date = %s""", (day,)).fetchone()
    lines = [f"Data quality of report day {day}: {totals[1]}/{totals[0]} expected reports received, "
             f"{totals[2]} on time; {len(checks)} failed checks"]
    if reports:
        lines.append("")
        lines.append("Reports not on time:")
        for province, org, status, late, received, loaded, quarantined, reason in reports:
            detail = f"{late} days late" if status == "late" else (reason or "")
            rows = "" if received is None else f" rows {received} = {loaded} loaded + {quarantined} quarantined"
            lines.append(f"  {status.upper():10} {province} {org}{rows} {detail}".rstrip())
    if checks:
        lines.append("")
        lines.append("Failed checks:")
        for severity, where, name, count, sample in checks:
            lines.append(f"  {severity.upper():8} {where}: {name}: {'' if count is None else count} {sample or ''}")
    return "\n".join(lines), len(checks) + len(reports)
