"""``bhxh report``: coverage against targets, as a table, from the marts."""

from __future__ import annotations

from datetime import date

from bhxh.warehouse import connect


def day_summary(day: date) -> str:
    with connect() as conn:
        row = conn.execute(
            """select count(*), count(*) filter (where status = 'loaded'),
                      coalesce(sum(rows_loaded), 0), coalesce(sum(rows_quarantined), 0),
                      count(*) filter (where status in ('quarantined', 'rejected'))
               from raw.report_files where report_date = %s and status <> 'superseded'""", (day,)).fetchone()
    files, loaded, rows, quarantined, bad = row
    return f"{files} files ({bad} quarantined or rejected), {rows:,} receipts loaded, {quarantined:,} quarantined"


def _fmt_rate(value) -> str:
    return "" if value is None else f"{float(value) * 100:6.2f}%"


def _fmt_int(value) -> str:
    return "" if value is None else f"{int(value):,}".replace(",", ".")


QUERY = """
with coverage as (
    select * from marts.fct_coverage_monthly where month = %(month)s
),
targets as (
    select distinct on (scope) scope, target_id, target_value, deadline
    from marts_reference_targets
    where metric = 'si_coverage_rate' and deadline >= %(month)s
    order by scope, deadline
)
select c.province_code, c.province_name, c.labour_force, c.mandatory_si_participants,
       c.voluntary_si_participants, c.si_coverage_rate,
       coalesce(tp.target_id, tn.target_id) as target_id,
       coalesce(tp.target_value, tn.target_value) as target_value
from coverage c
left join targets tp on tp.scope = c.province_code
left join targets tn on tn.scope = 'national'
order by c.province_code
"""


def coverage_report(month: date | None = None) -> str:
    with connect() as conn:
        if month is None:
            month = conn.execute("select max(month) from marts.fct_coverage_monthly").fetchone()[0]
            if month is None:
                return "no coverage data yet: run `bhxh run` first"
        targets_table = conn.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_name in ('targets', 'stg_reference__targets') order by table_name = 'targets' desc limit 1"
        ).fetchone()
        query = QUERY.replace("marts_reference_targets", targets_table[0] if targets_table else "(select null::text as scope, null::text as target_id, null::numeric as target_value, null::date as deadline, null::text as metric) t0")
        rows = conn.execute(query, {"month": month}).fetchall()
    header = ["code", "province", "labour force", "mandatory SI", "voluntary SI", "SI coverage", "target", "gap (pp)"]
    table = []
    totals = [0, 0, 0]
    for code, name, lf, mandatory, voluntary, rate, target_id, target in rows:
        gap = "" if rate is None or target is None else f"{(float(target) - float(rate)) * 100:+.2f}"
        table.append([code, name, _fmt_int(lf), _fmt_int(mandatory), _fmt_int(voluntary), _fmt_rate(rate),
                      f"{float(target) * 100:.1f}% {target_id}" if target is not None else "", gap])
        for i, value in enumerate((lf, mandatory, voluntary)):
            totals[i] += int(value or 0)
    if rows:
        national = (totals[1] + totals[2]) / totals[0] if totals[0] else None
        table.append(["", "provinces shown, summed", _fmt_int(totals[0]), _fmt_int(totals[1]), _fmt_int(totals[2]),
                      _fmt_rate(national), "", ""])
    widths = [max(len(str(r[i])) for r in [header] + table) for i in range(len(header))]
    lines = [f"Social insurance coverage against targets, {month:%Y-%m}",
             "  ".join(h.ljust(w) for h, w in zip(header, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in table]
    return "\n".join(lines)
