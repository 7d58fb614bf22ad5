"""Task bodies: translate an Airflow context into pipeline calls, and failures into task states."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from bhxh import pipeline
from bhxh.orchestration import days_of, report_day, report_days
from bhxh.settings import get_settings

log = logging.getLogger(__name__)


def _source_root(context, province_code: str | None = None, day=None) -> str:
    """The run's source root; for a province, the source registry's root for it if it names one."""
    root = (context["params"] or {}).get("source_root") or get_settings().source_root
    if province_code is not None:
        from bhxh.registry import root_for

        root = root_for(province_code, day, root)
    if not root:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException("no source root: pass params.source_root or set BHXH_SOURCE_ROOT")
    return root


COLLECT_SLOTS = 4  # collect tasks per run: the task slots of a 2-core machine (a task start costs seconds)


def run_days(context) -> tuple:
    """The first and last report day of the run's data interval: one day in the daily DAG, a
    calendar month in the backfill DAG (``bhxh.timetable``)."""
    return report_days(context["data_interval_start"], context.get("data_interval_end"))


def province_codes(context) -> list[str]:
    """The provinces a run collects: ``params.provinces``, else every province on a report day of the run."""
    from bhxh.reference import province_codes_on

    chosen = (context["params"] or {}).get("provinces")
    if chosen:
        return [str(c) for c in chosen]
    return sorted({code for day in days_of(*run_days(context)) for code in province_codes_on(day)})


def province_batches(codes: list[str], slots: int = COLLECT_SLOTS) -> list[list[str]]:
    """``codes`` dealt into at most ``slots`` batches, one collect task each (one province per task
    when there are no more provinces than slots)."""
    count = min(len(codes), slots)
    return [codes[i::count] for i in range(count)]


def is_backfill(context) -> bool:
    """A run of ``airflow backfill create`` (run type ``backfill``), not a scheduled or manual one."""
    return getattr(context.get("dag_run"), "run_type", None) == "backfill"  # DagRunType, a str enum


def lookback_days(context) -> int:
    """The run's look-back (days before its data interval): ``params.lookback_days``; in a backfill 0
    unless its conf names one. A backfill lists every day of its range in that day's own run, so the
    look-back would only list each day seven more times (and land the week before the range): the
    per-run cost a long backfill cannot afford."""
    if is_backfill(context) and "lookback_days" not in (context["dag_run"].conf or {}):
        return 0
    return int(context["params"]["lookback_days"])


def collect_province(context, province_code: str) -> dict:
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    from bhxh.sources import SourceError

    first, day = run_days(context)
    own_days = (day - first).days + 1  # every day of the interval registers its expected reports
    try:
        summary = pipeline.collect(_source_root(context, province_code, day), province_code, day,
                                   lookback_days(context) + own_days - 1, register_days=own_days)
    except SourceError as exc:  # transient: let Airflow retry with backoff
        raise AirflowException(str(exc)) from exc
    except (ValueError, OSError) as exc:  # permanent: fail without retrying
        raise AirflowFailException(f"{province_code} {first}..{day}: {exc}") from exc
    log.info("province %s, %s..%s: %d new files, %d unchanged", province_code, first, day, summary.fetched,
             summary.unchanged)
    return {"province_code": province_code, "fetched": summary.fetched, "unchanged": summary.unchanged,
            "strays": summary.strays}


def collect_provinces(context, province_codes: list[str]) -> list[dict]:
    """Collect each province of a batch; one province's failure does not stop the others. Then the
    task fails: for a retry when any error was transient (collecting again is idempotent), for good
    when all were permanent."""
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    done, transient, permanent = [], [], []
    for code in province_codes:
        try:
            done.append(collect_province(context, code))
        except AirflowFailException as exc:
            permanent.append(str(exc))
        except AirflowException as exc:
            transient.append(f"{code}: {exc}")
    if transient:
        raise AirflowException("; ".join(transient + permanent))
    if permanent:
        raise AirflowFailException("; ".join(permanent))
    return done


def validate_and_load_day(context, part: int = 0, parts: int = 1) -> dict:
    """Validate and load the run's report days and their look-back, in chunks (``bhxh.chunks``); with
    ``parts``, only part ``part`` of the days (``orchestration.part_of``; the look-back goes with the
    first part)."""
    from bhxh.chunks import process_window
    from bhxh.orchestration import part_of

    first, last = run_days(context)
    window = part_of(first, last, part, parts)
    if window is None:  # more parts than days
        log.info("load part %d of %d: no report day of %s..%s left for it", part + 1, parts, first, last)
        return pipeline.ProcessSummary("").as_dict()
    start, end = window
    if part == 0:
        start -= timedelta(days=lookback_days(context))
    summary = process_window(start, end)
    log.info("run %s (report days %s..%s, part %d of %d): %d files, %d loaded, %d quarantined whole, "
             "%d rejected; rows %d received, %d loaded, %d quarantined", summary.run_id, start, end, part + 1,
             parts, summary.files, summary.loaded, summary.quarantined_files, summary.rejected_files,
             summary.rows_received, summary.rows_loaded, summary.rows_quarantined)
    for failure in summary.failures:
        log.warning("data check failed: %s", failure)
    return summary.as_dict()


def report_data_quality_day(context, summary: dict | Sequence[dict]) -> dict:
    """Fail (red, alerted) when the run rejected rows or files or a report of its days is missing;
    log and alert warnings either way. ``summary``: the run's load summary, or its parts' (a mapped
    validate_and_load), merged here. The marts do not wait for this task (they follow the asset
    that validate_and_load emits), so one province's bad file never stops the others."""
    from airflow.sdk.exceptions import AirflowFailException

    from bhxh.dq import gate

    if summary and not isinstance(summary, dict):
        summary = pipeline.ProcessSummary.merged(list(summary)).as_dict()
    first, day = run_days(context)
    result = gate(summary or {}, first, day)
    for line in result.rejections + result.missing:
        log.error("data quality: %s", line)
    for line in result.warnings:
        log.warning("data quality warning: %s", line)
    if result.failed:
        raise AirflowFailException(
            f"{first}..{day}: {len(result.rejections)} rejections, {len(result.missing)} missing reports "
            f"(details above, in marts.fct_data_quality / fct_report_completeness and `bhxh dq --date {day}`)")
    return {"report_date": day.isoformat(), "warnings": len(result.warnings)}


def check_reports(context, provinces: list[str]) -> dict[str, dict[str, list[str]]]:
    """Alert on the reports still missing after the deadline, one alert per report day of the run
    (never fails); returns {day: {province: [organisation, ...]}} of the days with any. A backfill
    only logs them: chasing an organisation for a report of a past year is not what this alert is
    for, and a year's backfill would send one per day. The run's report_data_quality still fails on
    them, and marts.fct_report_completeness records them."""
    from bhxh.alerts import missing_reports_alert, send
    from bhxh.completeness import missing_reports

    found = {}
    for day in days_of(*run_days(context)):
        missing = missing_reports(list(provinces), day)
        if missing and is_backfill(context):
            log.warning("backfill of %s: reports missing (not alerted): %s", day, missing)
        elif missing:
            send(missing_reports_alert(day, missing))
        else:
            log.info("every expected report for %s has arrived", day)
        if missing:
            found[day.isoformat()] = missing
    return found


def load_month(context) -> dict:
    from bhxh.orchestration import month_start

    month = month_start(report_day(context["data_interval_start"]))
    files = pipeline.load_summaries(_source_root(context), month)
    log.info("monthly summaries %s: %d files", month, files)
    return {"month": month.isoformat(), "files": files}

