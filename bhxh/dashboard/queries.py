"""Everything the dashboard shows, read from the `marts` schema only (spec/marts.md columns).

Marts that may not exist yet on a branch (fct_campaign_month, fct_report_completeness,
fct_data_quality) are read only when present; their sections then say there is no data yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from psycopg.rows import dict_row

OPTIONAL = ("fct_campaign_month", "fct_report_completeness", "fct_data_quality")
HEATMAP_DAYS = 31
FAILED_CHECKS = 20


@dataclass
class Data:
    month: date                                   # the dashboard's "as of" month
    provinces: dict[str, str]                     # code -> name (provinces with coverage rows)
    national: list[dict]                          # fct_coverage_monthly_national, by month
    coverage: list[dict]                          # fct_coverage_monthly, by province and month
    targets: list[dict]                           # fct_target_attainment rows at `month`
    plans: list[dict]                             # fct_plan_attainment
    campaign: list[dict] | None = None            # fct_campaign_month (None: table absent)
    completeness: list[dict] | None = None        # per province x org x day, last HEATMAP_DAYS days
    failed_checks: list[dict] | None = None       # fct_data_quality, latest failures
    present: dict[str, bool] = field(default_factory=dict)


def _rows(conn, sql: str, params=None) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params or {})
        return cur.fetchall()


def exists(conn, table: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (f"marts.{table}",)).fetchone()[0]


def latest_month(conn) -> date | None:
    if not exists(conn, "fct_coverage_monthly"):
        return None
    return conn.execute("select max(month) from marts.fct_coverage_monthly").fetchone()[0]


def load(conn, month: date | None = None) -> Data:
    month = month or latest_month(conn)
    if month is None:
        raise LookupError("no coverage data in marts.fct_coverage_monthly yet: run `bhxh run` first")
    month = month.replace(day=1)
    coverage = _rows(conn, """select * from marts.fct_coverage_monthly
                              where month <= %(m)s order by province_code, month""", {"m": month})
    provinces = {}
    for row in coverage:
        if row["month"] == month or row["province_code"] not in provinces:
            provinces[row["province_code"]] = row["province_name"]
    data = Data(
        month=month,
        provinces=dict(sorted(provinces.items())),
        national=_rows(conn, "select * from marts.fct_coverage_monthly_national where month <= %(m)s order by month",
                       {"m": month}),
        coverage=coverage,
        targets=_rows(conn, """select * from marts.fct_target_attainment where month = %(m)s
                               order by scope, metric, deadline, target_id""", {"m": month}),
        plans=_rows(conn, """select * from marts.fct_plan_attainment
                             order by year desc, province_code, district_code nulls first, scheme"""),
    )
    data.present = {t: exists(conn, t) for t in OPTIONAL}
    if data.present["fct_campaign_month"]:
        data.campaign = _rows(conn, """select * from marts.fct_campaign_month
                                       where year = %(y)s and province_code is not null
                                       order by province_code, district_code nulls first, scheme""",
                              {"y": month.year})
    if data.present["fct_report_completeness"]:
        end = conn.execute("select max(report_date) from marts.fct_report_completeness where report_date < %(e)s",
                           {"e": _next_month(month)}).fetchone()[0]
        data.completeness = [] if end is None else _rows(conn, """
            select province_code, org_code, report_date,
                   coalesce(expected::int, 0) as expected, coalesce(received::int, 0) as received,
                   coalesce(on_time::int, 0) as on_time, days_late, status
            from marts.fct_report_completeness
            where report_date between %(s)s and %(e)s
            order by province_code, org_code, report_date""",
            {"s": end - timedelta(days=HEATMAP_DAYS - 1), "e": end})
    if data.present["fct_data_quality"]:
        data.failed_checks = _rows(conn, """
            select run_id, province_code, report_date, file, check_name, unexpected_count,
                   sample_values::text as sample_values,
                   checked_at at time zone 'Asia/Ho_Chi_Minh' as checked_at
            from marts.fct_data_quality where not success
            order by checked_at desc, check_name limit %(n)s""", {"n": FAILED_CHECKS})
    return data


def _next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)
