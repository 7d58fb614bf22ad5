"""Turn the marts' rows (queries.Data) into static pages: index.html, one page per province,
CSV files of every chart's data in data/, the stylesheet inlined (no network, no script)."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from datetime import date, datetime, timezone
from importlib import resources
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from bhxh.dashboard import fmt, svg
from bhxh.dashboard.queries import Data

METRICS = {
    "si_coverage_rate": "Tỷ lệ bao phủ BHXH (bắt buộc + tự nguyện) / lực lượng lao động trong độ tuổi",
    "voluntary_si_rate": "Tỷ lệ tham gia BHXH tự nguyện / lực lượng lao động trong độ tuổi",
    "hi_coverage_rate": "Tỷ lệ bao phủ BHYT / dân số",
    "ui_coverage_rate": "Tỷ lệ tham gia BH thất nghiệp / lực lượng lao động trong độ tuổi",
}
METRIC_SHORT = {"si_coverage_rate": "BHXH", "voluntary_si_rate": "BHXH tự nguyện", "hi_coverage_rate": "BHYT",
                "ui_coverage_rate": "BHTN"}
SCHEMES = {"TN": "BHXH tự nguyện", "HGD": "BHYT hộ gia đình"}
STATUS = {"confirmed": "", "from_article": "theo bài báo", "unconfirmed": "chưa xác nhận"}
LINE_COLOURS = ["#c62828", "#6a1b9a", "#00838f", "#6d4c41"]


# -- figures: every number shown carries its mart, column, row and raw value -------------------------

def figure(value, text: str, table: str, column: str, **where) -> Markup:
    """A number as shown, with the mart row it comes from (data-source/-column/-where/-value)."""
    cond = ";".join(f"{k}={fmt.raw(v)}" for k, v in where.items())
    return Markup(f'<span class="fig" data-source="marts.{table}" data-column="{column}" '
                  f'data-where="{escape(cond)}" data-value="{escape(fmt.raw(value))}">{escape(text)}</span>')


def derived(value, text: str, formula: str, **inputs) -> Markup:
    """A number the dashboard computes from mart figures (formula and inputs in attributes)."""
    ins = ";".join(f"{k}={fmt.raw(v)}" for k, v in inputs.items())
    return Markup(f'<span class="fig derived" data-formula="{escape(formula)}" data-inputs="{escape(ins)}" '
                  f'data-value="{escape(fmt.raw(value))}">{escape(text)}</span>')


# -- CSV --------------------------------------------------------------------------------------------

class Downloads:
    def __init__(self, out: Path):
        self.dir = out / "data"
        self.dir.mkdir(parents=True, exist_ok=True)

    def write(self, name: str, rows: list[dict], columns: list[str] | None = None) -> str:
        columns = columns or (list(rows[0]) if rows else ["(no rows)"])
        with (self.dir / f"{name}.csv").open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(columns)
            for row in rows:
                writer.writerow([fmt.raw(row.get(c)) for c in columns])
        return f"data/{name}.csv"


# -- pieces shared by the pages ---------------------------------------------------------------------

def _estimate_note(is_estimate) -> Markup:
    return Markup('<abbr class="estimate" title="Mẫu số (lực lượng lao động) là số ước tính, '
                  'không phải số liệu chính thức">ước tính*</abbr>') if is_estimate else Markup("")


def _on_track(value) -> Markup:
    if value is None:
        return Markup('<span class="status none">chưa đủ dữ liệu dự báo</span>')
    return Markup('<span class="status good">đúng tiến độ</span>' if value else
                  '<span class="status bad">chậm tiến độ</span>')


def _target_rows(targets: list[dict]) -> list[dict]:
    rows = []
    for t in targets:
        key = {"target_id": t["target_id"], "month": t["month"]}
        rows.append({
            "id": t["target_id"], "metric": METRIC_SHORT.get(t["metric"], t["metric"]),
            "document": t["source_document"], "status": STATUS.get(t["target_status"], t["target_status"]),
            "deadline": fmt.day(t["deadline"]),
            "target": figure(t["target_value"], fmt.rate(t["target_value"]), "fct_target_attainment", "target_value", **key),
            "actual": figure(t["actual_value"], fmt.rate(t["actual_value"]), "fct_target_attainment", "actual_value", **key),
            "gap": figure(t["gap"], fmt.points(t["gap"]), "fct_target_attainment", "gap", **key),
            "needed": figure(t["participants_needed"], fmt.integer(t["participants_needed"]), "fct_target_attainment",
                             "participants_needed", **key),
            "projected": figure(t["projected_value_at_deadline"], fmt.rate(t["projected_value_at_deadline"]),
                                "fct_target_attainment", "projected_value_at_deadline", **key),
            "on_track": _on_track(t["on_track"]),
        })
    return rows


def _coverage_chart(series: list[dict], lines_from: list[tuple[dict, str, bool]], metric: str, title: str) -> dict:
    """A chart of one metric over time with its target lines; lines_from: (target row, label, with projection)."""
    lines = []
    for i, (t, label, projection) in enumerate(lines_from):
        lines.append({"id": t["target_id"], "label": f"{label} {fmt.rate(t['target_value'])} ({t['deadline']:%Y})",
                      "value": t["target_value"], "deadline": t["deadline"],
                      "projected": t["projected_value_at_deadline"] if projection else None,
                      "colour": LINE_COLOURS[i % len(LINE_COLOURS)]})
    first = next((r["month"] for r in series if r.get("mandatory_si_participants") is not None), None)
    series = [r for r in series if first is not None and r["month"] >= first]
    points = [(r["month"], r[metric]) for r in series]
    estimates = {r["month"] for r in series if r.get("labour_force_is_estimate")}
    return {"svg": svg.line_chart(points, lines, title, estimate_months=estimates),
            "has_data": any(v is not None for _, v in points), "estimates": bool(estimates),
            "projections": [ln for ln in lines if ln["projected"] is not None]}


def _campaign(rows: list[dict] | None, province_names: dict[str, str], only: str | None) -> dict:
    """May campaign figures per province (scheme TN) and districts that reached the goal."""
    if rows is None:
        return {"state": "absent"}
    rows = [r for r in rows if only is None or r["province_code"] == only]
    if not rows:
        return {"state": "empty"}
    provinces, districts = [], []
    for r in rows:
        key = {"province_code": r["province_code"], "district_code": r["district_code"], "year": r["year"],
               "scheme": r["scheme"]}
        f = lambda col, signed=False: figure(r[col], fmt.integer(r[col], signed), "fct_campaign_month", col, **key)  # noqa: E731
        d = lambda a, b: derived(None if r[a] is None or r[b] is None else r[a] - r[b],  # noqa: E731
                                 "–" if r[a] is None or r[b] is None else fmt.integer(r[a] - r[b], True),
                                 f"{a} - {b}", **{a: r[a], b: r[b]})
        item = {"row": r, "name": province_names.get(r["province_code"], r["province_code"]),
                "scheme": SCHEMES.get(r["scheme"], r["scheme"]), "may": f("new_in_may"), "april": f("new_in_april"),
                "prior": f("new_in_may_prior_year"), "vs_april": d("new_in_may", "new_in_april"),
                "vs_prior": d("new_in_may", "new_in_may_prior_year"), "goal": f("campaign_goal"),
                "reached": r["reached_campaign_goal"]}
        (provinces if r["district_code"] is None else districts).append(item)
    reached = defaultdict(lambda: [0, 0])
    for item in districts:
        if item["row"]["scheme"] == "TN":
            reached[item["row"]["province_code"]][1] += 1
            reached[item["row"]["province_code"]][0] += bool(item["row"]["reached_campaign_goal"])
    tn = [p for p in provinces if p["row"]["scheme"] == "TN"] or provinces
    chart = svg.grouped_bars([f'{p["row"]["province_code"]} {p["name"]}' for p in tn],
                             ["Tháng 4", "Tháng 5", "Tháng 5 năm trước"],
                             [[p["row"]["new_in_april"], p["row"]["new_in_may"], p["row"]["new_in_may_prior_year"]]
                              for p in tn], "Người tham gia mới tháng 5 so với tháng 4 và tháng 5 năm trước")
    return {"state": "ok", "provinces": provinces, "districts": districts, "chart": chart,
            "reached": {code: derived(n, f"{n}/{total}", "count(reached_campaign_goal) / count(districts)",
                                      province_code=code) for code, (n, total) in reached.items()}}


def _plans(rows: list[dict], names: dict[str, str]) -> dict:
    if not rows:
        return {"state": "empty"}
    items, bars = [], []
    for r in rows:
        key = {"province_code": r["province_code"], "district_code": r["district_code"], "year": r["year"],
               "scheme": r["scheme"]}
        label = f'{r["province_code"]} {names.get(r["province_code"], "")}'.strip()
        if r["district_code"]:
            label = f'{r["district_name"] or r["district_code"]} ({r["province_code"]})'
        text = f'{fmt.integer(r["new_participants_ytd"])} / {fmt.integer(r["annual_plan"])} = {fmt.rate(r["attainment_rate"], 0)}'
        items.append({"row": r, "label": label, "scheme": SCHEMES.get(r["scheme"], r["scheme"]),
                      "ytd": figure(r["new_participants_ytd"], fmt.integer(r["new_participants_ytd"]),
                                    "fct_plan_attainment", "new_participants_ytd", **key),
                      "plan": figure(r["annual_plan"], fmt.integer(r["annual_plan"]), "fct_plan_attainment",
                                     "annual_plan", **key),
                      "rate": figure(r["attainment_rate"], fmt.rate(r["attainment_rate"], 0), "fct_plan_attainment",
                                     "attainment_rate", **key),
                      "half": r["half_year_reached"], "status": r.get("plan_status")})
        bars.append({"label": f'{label} {r["year"]}', "value": r["attainment_rate"] or 0, "text": text,
                     "colour": svg.PALETTE["good"] if (r["attainment_rate"] or 0) >= 1 else svg.PALETTE["actual"]})
    return {"state": "ok", "rows": items,
            "chart": svg.hbar_chart(bars, "Tỷ lệ hoàn thành kế hoạch phát triển người tham gia mới", reference=1.0)}


def _health(data: Data, only: str | None, names: dict[str, str]) -> dict:
    out: dict = {}
    if data.completeness is None:
        out["completeness"] = {"state": "absent"}
    else:
        rows = [r for r in data.completeness if only is None or r["province_code"] == only]
        if not rows:
            out["completeness"] = {"state": "empty"}
        else:
            days = sorted({r["report_date"] for r in rows})
            group = (lambda r: r["org_code"]) if only else (lambda r: f'{r["province_code"]} {names.get(r["province_code"], "")}'.strip())
            agg: dict = defaultdict(lambda: [0, 0, 0])
            for r in rows:
                a = agg[(group(r), r["report_date"])]
                a[0] += r["expected"]
                a[1] += r["received"] if r["expected"] else 0
                a[2] += r["on_time"] if r["expected"] else 0
            labels = sorted({k[0] for k in agg})
            reporting, timely, table = {}, {}, []
            for (label, d), (exp, rec, ontime) in agg.items():
                rr = rec / exp if exp else None
                tr = ontime / rec if rec else None
                reporting[(label, d)] = (rr, f"nhận {rec}/{exp} báo cáo dự kiến")
                timely[(label, d)] = (tr, f"đúng hạn {ontime}/{rec} báo cáo nhận được")
                table.append({"group": label, "report_date": d, "expected": exp, "received": rec, "on_time": ontime,
                              "reporting_rate": None if rr is None else round(rr, 6),
                              "on_time_rate": None if tr is None else round(tr, 6)})
            out["completeness"] = {
                "state": "ok", "first": days[0], "last": days[-1], "by": "đơn vị thu" if only else "tỉnh",
                "reporting": svg.heatmap(labels, days, reporting, "Tỷ lệ báo cáo nhận được theo ngày"),
                "timely": svg.heatmap(labels, days, timely, "Tỷ lệ báo cáo đúng hạn theo ngày"),
                "table": sorted(table, key=lambda t: (t["group"], t["report_date"])),
            }
    if data.failed_checks is None:
        out["checks"] = {"state": "absent"}
    else:
        rows = [r for r in data.failed_checks if only is None or r["province_code"] == only]
        out["checks"] = {"state": "ok" if rows else "empty", "rows": rows}
    return out


# -- pages ------------------------------------------------------------------------------------------

def _env() -> Environment:
    env = Environment(loader=PackageLoader("bhxh.dashboard", "templates"), autoescape=select_autoescape(["j2", "html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(integer=fmt.integer, rate=fmt.rate, points=fmt.points, month=fmt.month, day=fmt.day)
    env.globals["STYLE"] = Markup(resources.files("bhxh.dashboard").joinpath("static/style.css").read_text("utf-8"))
    return env


def _nearest(targets: list[dict], scope: str, metric: str) -> dict | None:
    rows = [t for t in targets if t["scope"] == scope and t["metric"] == metric]
    return min(rows, key=lambda t: t["deadline"]) if rows else None


def _ranking(data: Data) -> list[dict]:
    """Provinces by gap to their SI coverage target (their own, else the nearest national one)."""
    national = _nearest(data.targets, "national", "si_coverage_rate")
    current = {r["province_code"]: r for r in data.coverage if r["month"] == data.month}
    rows = []
    for code, name in data.provinces.items():
        own = _nearest(data.targets, code, "si_coverage_rate")
        cov = current.get(code)
        if own is not None and own["actual_value"] is not None:
            key = {"target_id": own["target_id"], "month": data.month}
            gap, needed, target = own["gap"], own["participants_needed"], own
            rate = figure(own["actual_value"], fmt.rate(own["actual_value"]), "fct_target_attainment", "actual_value", **key)
            gap_fig = figure(gap, fmt.points(gap), "fct_target_attainment", "gap", **key)
            needed_fig = figure(needed, fmt.integer(needed), "fct_target_attainment", "participants_needed", **key)
            which = f'mục tiêu của tỉnh ({own["target_id"]})'
        elif national is not None and cov is not None and cov["si_coverage_rate"] is not None:
            target = national
            actual = cov["si_coverage_rate"]
            gap = national["target_value"] - actual
            needed = math.ceil(max(gap, 0) * cov["labour_force"]) if cov["labour_force"] is not None else None
            rate = figure(actual, fmt.rate(actual), "fct_coverage_monthly", "si_coverage_rate",
                          province_code=code, month=data.month)
            gap_fig = derived(gap, fmt.points(gap), "target_value - si_coverage_rate",
                              target_value=national["target_value"], si_coverage_rate=actual)
            needed_fig = derived(needed, fmt.integer(needed), "ceil(max(gap, 0) * labour_force)",
                                 gap=gap, labour_force=cov["labour_force"])
            which = f'mục tiêu toàn quốc ({national["target_id"]}), tỉnh chưa có mục tiêu riêng'
        else:
            continue
        rows.append({"code": code, "name": name, "rate": rate, "gap": gap, "gap_fig": gap_fig, "needed_fig": needed_fig,
                     "needed": needed, "target": target, "which": which,
                     "target_fig": figure(target["target_value"], fmt.rate(target["target_value"]),
                                          "fct_target_attainment", "target_value", target_id=target["target_id"],
                                          month=data.month),
                     "estimate": _estimate_note(cov and cov.get("labour_force_is_estimate"))})
    rows.sort(key=lambda r: -float(r["gap"]))
    return rows


def build(data: Data, out: Path, province: str | None = None, source: str = "marts") -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    env = _env()
    downloads = Downloads(out)
    generated = datetime.now(timezone.utc).astimezone().strftime("%d/%m/%Y %H:%M %Z")
    codes = [province] if province else list(data.provinces)
    common = {"month": data.month, "generated": generated, "source": source, "provinces": data.provinces,
              "pages": {c: f"province-{c}.html" for c in codes}, "present": data.present}
    names = data.provinces
    first = next((r["month"] for r in data.national if r["mandatory_si_participants"] is not None), data.month)
    written = []

    # national page
    nat = next((r for r in data.national if r["month"] == data.month), None)
    nat_targets = [t for t in data.targets if t["scope"] == "national"]
    charts = {}
    for metric in ("si_coverage_rate", "voluntary_si_rate"):
        lines = [(t, "Mục tiêu NQ" if "28" in t["source_document"] else "Mục tiêu", True)
                 for t in nat_targets if t["metric"] == metric]
        charts[metric] = _coverage_chart(data.national, lines, metric, METRICS[metric])
        charts[metric]["csv"] = downloads.write(f"national_{metric}", data.national,
                                                ["month", "provinces_included", "provinces_valid", "labour_force",
                                                 "labour_force_is_estimate", "mandatory_si_participants",
                                                 "voluntary_si_participants", metric])
    ranking = _ranking(data)
    ranking_chart = svg.hbar_chart(
        [{"label": f'{r["code"]} {r["name"]}', "value": r["gap"], "text": fmt.points(r["gap"]), "key": r["code"],
          "colour": svg.PALETTE["bad"] if float(r["gap"]) > 0 else svg.PALETTE["good"]} for r in ranking],
        "Khoảng cách tới mục tiêu bao phủ BHXH (điểm phần trăm)", unit="points")
    ranking_csv = downloads.write("ranking_gap_to_target", [
        {"province_code": r["code"], "province_name": r["name"], "target_id": r["target"]["target_id"],
         "target_value": r["target"]["target_value"], "gap": r["gap"], "participants_needed": r["needed"]}
        for r in ranking])
    campaign = _campaign(data.campaign, names, None)
    if campaign["state"] == "ok":
        campaign["csv"] = downloads.write("campaign_month", [c["row"] for c in campaign["provinces"] + campaign["districts"]])
    plans = _plans(data.plans, names)
    if plans["state"] == "ok":
        plans["csv"] = downloads.write("plan_attainment", data.plans)
    health = _health(data, None, names)
    if health["completeness"]["state"] == "ok":
        health["completeness"]["csv"] = downloads.write("report_completeness_by_province", health["completeness"]["table"])
    if health["checks"]["state"] == "ok":
        health["checks"]["csv"] = downloads.write("failed_checks", health["checks"]["rows"])
    nat_csv = downloads.write("national_targets", nat_targets)
    page = env.get_template("index.html.j2").render(
        **common, title="Bao phủ bảo hiểm xã hội toàn quốc", nat=nat, first=first, charts=charts,
        estimate=_estimate_note(nat and nat["labour_force_is_estimate"]),
        kpis=_kpis(nat, "fct_coverage_monthly_national", {"month": data.month}),
        targets=_target_rows(nat_targets), targets_csv=nat_csv, ranking=ranking, ranking_chart=ranking_chart,
        ranking_csv=ranking_csv, campaign=campaign, plans=plans, health=health)
    (out / "index.html").write_text(page, encoding="utf-8")
    written.append(out / "index.html")

    # province pages
    for code in codes:
        series = [r for r in data.coverage if r["province_code"] == code]
        if not series:
            raise LookupError(f"no coverage rows for province {code} in marts.fct_coverage_monthly")
        row = next((r for r in series if r["month"] == data.month), None)
        own = [t for t in data.targets if t["scope"] == code]
        charts = {}
        for metric in ("si_coverage_rate", "voluntary_si_rate"):
            lines = [(t, "Mục tiêu tỉnh", True) for t in own if t["metric"] == metric]
            lines += [(t, "NQ 28 toàn quốc", False) for t in nat_targets
                      if t["metric"] == metric and "28" in t["source_document"]]
            charts[metric] = _coverage_chart(series, lines, metric, METRICS[metric])
            charts[metric]["csv"] = downloads.write(f"province_{code}_{metric}", series,
                                                    ["province_code", "province_name", "month", "labour_force",
                                                     "labour_force_is_estimate", "mandatory_si_participants",
                                                     "voluntary_si_participants", metric])
        campaign = _campaign(data.campaign, names, code)
        if campaign["state"] == "ok":
            campaign["csv"] = downloads.write(f"province_{code}_campaign_month",
                                              [c["row"] for c in campaign["provinces"] + campaign["districts"]])
        plans = _plans([p for p in data.plans if p["province_code"] == code], names)
        if plans["state"] == "ok":
            plans["csv"] = downloads.write(f"province_{code}_plan_attainment", [i["row"] for i in plans["rows"]])
        health = _health(data, code, names)
        if health["completeness"]["state"] == "ok":
            health["completeness"]["csv"] = downloads.write(f"province_{code}_report_completeness",
                                                            health["completeness"]["table"])
        if health["checks"]["state"] == "ok":
            health["checks"]["csv"] = downloads.write(f"province_{code}_failed_checks", health["checks"]["rows"])
        page = env.get_template("province.html.j2").render(
            **common, title=f"{code} {names.get(code, '')}", code=code, name=names.get(code, code), row=row,
            first=next((r["month"] for r in series if r["mandatory_si_participants"] is not None), data.month),
            charts=charts, estimate=_estimate_note(row and row["labour_force_is_estimate"]),
            kpis=_kpis(row, "fct_coverage_monthly", {"province_code": code, "month": data.month}),
            targets=_target_rows(own), targets_csv=downloads.write(f"province_{code}_targets", own),
            campaign=campaign, plans=plans, health=health)
        path = out / f"province-{code}.html"
        path.write_text(page, encoding="utf-8")
        written.append(path)
    return written


def _kpis(row: dict | None, table: str, key: dict) -> list[dict]:
    if row is None:
        return []
    out = []
    for metric, count, count_label in (
            ("si_coverage_rate", None, None),
            ("voluntary_si_rate", "voluntary_si_participants", "người tham gia BHXH tự nguyện"),
            ("hi_coverage_rate", "health_insurance_participants", "người tham gia BHYT")):
        out.append({"label": METRICS[metric], "short": METRIC_SHORT[metric],
                    "value": figure(row[metric], fmt.rate(row[metric]), table, metric, **key),
                    "count": figure(row[count], fmt.integer(row[count]), table, count, **key) if count else None,
                    "count_label": count_label})
    out[0]["count"] = figure(row["mandatory_si_participants"], fmt.integer(row["mandatory_si_participants"]), table,
                             "mandatory_si_participants", **key)
    out[0]["count_label"] = "người tham gia BHXH bắt buộc"
    return out
