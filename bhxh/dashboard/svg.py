"""Hand-written inline SVG charts. Every data mark has class "mark" and a data-value attribute
holding the mart's value, so a browser test can count marks and read the figures back."""

from __future__ import annotations

from datetime import date

from markupsafe import Markup, escape

from bhxh.dashboard import fmt

PALETTE = {"actual": "#1565c0", "target": "#c62828", "national": "#6d4c41", "projection": "#ef6c00",
           "good": "#2e7d32", "bad": "#c62828", "neutral": "#78909c"}
SERIES_COLOURS = ["#90a4ae", "#1565c0", "#ffb300"]


def _months(a: date, b: date) -> int:
    return (b.year - a.year) * 12 + b.month - a.month


def _nice_max(value: float, step: float) -> float:
    return max(step, step * int(value / step + 0.999999))


def _attrs(**kw) -> str:
    return " ".join(f'{k.rstrip("_").replace("_", "-")}="{escape(v)}"' for k, v in kw.items() if v is not None)


def _svg(width: int, height: int, body: list[str], label: str, natural: bool = False) -> Markup:
    """natural: drawn at its own pixel size (at most the page width) instead of stretched to the width."""
    size = f' style="width:{width}px;max-width:100%"' if natural else ""
    return Markup(f'<svg class="chart" viewBox="0 0 {width} {height}"{size} role="img" aria-label="{escape(label)}" '
                  f'xmlns="http://www.w3.org/2000/svg">' + "".join(body) + "</svg>")


def line_chart(points: list[tuple[date, object]], lines: list[dict], label: str, estimate_months=()) -> Markup:
    """Actual rate per month, target lines up to their deadlines and projections to the deadline.

    points: (month, rate) with rate possibly None (skipped). lines: dicts with label, value,
    deadline, colour and optionally projected (value at the deadline, drawn from the last point).
    """
    pts = [(m, float(v)) for m, v in points if v is not None]
    width, height, left, right, top, bottom = 760, 300, 52, 215, 16, 34
    months = [m for m, _ in pts] + [ln["deadline"].replace(day=1) for ln in lines]
    start = min(months) if months else date.today().replace(day=1)
    end = max(months) if months else start
    span = max(_months(start, end), 1)
    values = [v for _, v in pts] + [float(ln["value"]) for ln in lines] + \
             [float(ln["projected"]) for ln in lines if ln.get("projected") is not None]
    top_value = _nice_max(max(values or [0.1]) * 1.08, 0.1)
    x = lambda d: left + (width - left - right) * _months(start, d.replace(day=1)) / span  # noqa: E731
    y = lambda v: top + (height - top - bottom) * (1 - max(min(v, top_value), 0) / top_value)  # noqa: E731
    body = []
    for i in range(int(round(top_value / 0.1)) + 1):  # horizontal grid every 10 points
        v = i * 0.1
        body.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>'
                    f'<text class="axis" x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{fmt.rate(v, 0)}</text>')
    years = range(start.year, end.year + 1)
    step = 1 if len(years) <= 8 else 2
    for year in years[::step]:
        d = date(year, 1, 1) if year > start.year else start
        body.append(f'<text class="axis" x="{x(d):.1f}" y="{height - bottom + 18}" text-anchor="middle">'
                    f'{d.month:02d}/{year}</text>' if d == start else
                    f'<line class="tick" x1="{x(d):.1f}" x2="{x(d):.1f}" y1="{height - bottom}" y2="{height - bottom + 5}"/>'
                    f'<text class="axis" x="{x(d):.1f}" y="{height - bottom + 18}" text-anchor="middle">{year}</text>')
    label_ys: list[float] = []
    for ln in lines:
        colour = ln.get("colour", PALETTE["target"])
        ty, dx = y(float(ln["value"])), x(ln["deadline"])
        body.append(f'<line class="target-line" x1="{left}" x2="{dx:.1f}" y1="{ty:.1f}" y2="{ty:.1f}" '
                    f'stroke="{colour}" {_attrs(data_target=ln.get("id"), data_value=fmt.raw(ln["value"]))}/>'
                    f'<circle cx="{dx:.1f}" cy="{ty:.1f}" r="4" fill="{colour}"/>')
        ly = ty + 4
        while any(abs(ly - other) < 13 for other in label_ys):
            ly += 13
        label_ys.append(ly)
        body.append(f'<text class="line-label" x="{width - right + 6}" y="{ly:.1f}" fill="{colour}">'
                    f'{escape(ln["label"])}</text>')
        if ln.get("projected") is not None and pts:
            lm, lv = pts[-1]
            pv = float(ln["projected"])
            body.append(f'<line class="projection mark" x1="{x(lm):.1f}" y1="{y(lv):.1f}" x2="{dx:.1f}" '
                        f'y2="{y(pv):.1f}" {_attrs(data_target=ln.get("id"), data_value=fmt.raw(ln["projected"]))}>'
                        f'<title>Dự báo tại hạn {fmt.day(ln["deadline"])}: {fmt.rate(pv)}</title></line>')
    if pts:
        path = " ".join(f"{'M' if i == 0 else 'L'}{x(m):.1f},{y(v):.1f}" for i, (m, v) in enumerate(pts))
        body.append(f'<path class="actual-line" d="{path}"/>')
        for m, v in pts:
            est = m in estimate_months
            body.append(f'<circle class="mark actual{" estimate" if est else ""}" cx="{x(m):.1f}" cy="{y(v):.1f}" '
                        f'r="4" {_attrs(data_month=m.isoformat(), data_value=fmt.raw(v))}>'
                        f'<title>{fmt.month(m)}: {fmt.rate(v)}{" (mẫu số ước tính)" if est else ""}</title></circle>')
        lm, lv = pts[-1]
        body.append(f'<text class="point-label" x="{x(lm) + 8:.1f}" y="{y(lv) - 8:.1f}">{fmt.rate(lv)} ({fmt.month(lm)})</text>')
    body.append(f'<line class="axis-line" x1="{left}" x2="{width - right}" y1="{height - bottom}" y2="{height - bottom}"/>')
    return _svg(width, height, body, label)


def hbar_chart(rows: list[dict], label: str, reference: float | None = None, unit: str = "rate") -> Markup:
    """Horizontal bars: rows of {label, value, text, colour?, key?}; optional reference line (e.g. 100%)."""
    if not rows:
        return Markup("")
    bar, gap, left, right, top = 20, 8, 170, 110, 8
    width = 760
    height = top * 2 + len(rows) * (bar + gap) + 16
    values = [float(r["value"] or 0) for r in rows] + ([reference] if reference is not None else [])
    lo, hi = min(0.0, min(values)), max(0.0, max(values))
    if hi == lo:
        hi = lo + (1.0 if unit == "rate" else 1)
    scale = (width - left - right) / (hi - lo)
    x0 = left + (-lo) * scale
    body = []
    for i, r in enumerate(rows):
        v = float(r["value"] or 0)
        yy = top + i * (bar + gap)
        x1, w = (x0, v * scale) if v >= 0 else (x0 + v * scale, -v * scale)
        colour = r.get("colour") or PALETTE["actual"]
        body.append(f'<text class="axis" x="{left - 8}" y="{yy + bar * 0.7:.1f}" text-anchor="end">'
                    f'{escape(r["label"])}</text>'
                    f'<rect class="mark" x="{x1:.1f}" y="{yy}" width="{max(w, 1.5):.1f}" height="{bar}" fill="{colour}" '
                    f'{_attrs(data_key=r.get("key"), data_value=fmt.raw(r["value"]))}>'
                    f'<title>{escape(r["label"])}: {escape(r["text"])}</title></rect>'
                    f'<text class="bar-value" x="{max(x1 + w, x0) + 6:.1f}" y="{yy + bar * 0.7:.1f}">{escape(r["text"])}</text>')
    body.append(f'<line class="axis-line" x1="{x0:.1f}" x2="{x0:.1f}" y1="{top - 4}" y2="{height - 16}"/>')
    if reference is not None:
        rx = x0 + reference * scale
        body.append(f'<line class="reference" x1="{rx:.1f}" x2="{rx:.1f}" y1="{top - 4}" y2="{height - 16}"/>'
                    f'<text class="axis" x="{rx:.1f}" y="{height - 3}" text-anchor="middle">{fmt.rate(reference, 0)}</text>')
    return _svg(width, height, body, label)


def grouped_bars(categories: list[str], series: list[str], values: list[list], label: str) -> Markup:
    """Vertical grouped bars: values[category][series] (counts); a legend above."""
    if not categories:
        return Markup("")
    width, height, left, bottom, top = 760, 260, 56, 40, 30
    group_w = (width - left - 10) / len(categories)
    bar_w = min(36, group_w * 0.8 / len(series))
    top_value = max([float(v or 0) for row in values for v in row] + [1]) * 1.12
    y = lambda v: top + (height - top - bottom) * (1 - float(v or 0) / top_value)  # noqa: E731
    body = []
    for j, name in enumerate(series):
        body.append(f'<rect x="{left + j * 170}" y="6" width="12" height="12" fill="{SERIES_COLOURS[j]}"/>'
                    f'<text class="axis" x="{left + j * 170 + 16}" y="16">{escape(name)}</text>')
    for i, cat in enumerate(categories):
        gx = left + i * group_w + (group_w - bar_w * len(series)) / 2
        for j, name in enumerate(series):
            v = values[i][j]
            bx = gx + j * bar_w
            body.append(f'<rect class="mark" x="{bx:.1f}" y="{y(v):.1f}" width="{bar_w - 2:.1f}" '
                        f'height="{max(y(0) - y(v), 1):.1f}" fill="{SERIES_COLOURS[j]}" '
                        f'{_attrs(data_value=fmt.raw(v), data_series=name)}><title>{escape(cat)} – {escape(name)}: '
                        f'{fmt.integer(v)}</title></rect>'
                        f'<text class="bar-value" x="{bx + bar_w / 2 - 1:.1f}" y="{y(v) - 3:.1f}" text-anchor="middle">'
                        f'{fmt.integer(v)}</text>')
        body.append(f'<text class="axis" x="{left + (i + 0.5) * group_w:.1f}" y="{height - bottom + 18}" '
                    f'text-anchor="middle">{escape(cat)}</text>')
    body.append(f'<line class="axis-line" x1="{left}" x2="{width - 10}" y1="{y(0):.1f}" y2="{y(0):.1f}"/>')
    return _svg(width, height, body, label)


def _heat_colour(v: float | None) -> str:
    if v is None:
        return "#eceff1"
    # red (0) -> amber (0.5) -> green (1)
    stops = [(0.0, (198, 40, 40)), (0.5, (255, 179, 0)), (1.0, (46, 125, 50))]
    for (a, ca), (b, cb) in zip(stops, stops[1:]):
        if v <= b:
            t = (v - a) / (b - a)
            return "#%02x%02x%02x" % tuple(round(ca[k] + (cb[k] - ca[k]) * t) for k in range(3))
    return "#2e7d32"


def heatmap(rows: list[str], days: list[date], cells: dict[tuple[str, date], tuple[float | None, str]],
            label: str, keys: dict[str, str] | None = None) -> Markup:
    """rows x days; cells[(row, day)] = (rate or None, tooltip). Rates colour red -> green."""
    if not rows or not days:
        return Markup("")
    left, top, cell = 150, 34, 28
    width = left + len(days) * cell + 10
    height = top + len(rows) * cell + 10
    body = []
    for j, d in enumerate(days):
        if j % 2 == 0 or len(days) <= 16:
            body.append(f'<text class="axis small" x="{left + j * cell + cell / 2:.1f}" y="{top - 6}" '
                        f'text-anchor="middle">{d:%d/%m}</text>')
    for i, r in enumerate(rows):
        body.append(f'<text class="axis" x="{left - 6}" y="{top + i * cell + cell * 0.7:.1f}" text-anchor="end">'
                    f'{escape(r)}</text>')
        for j, d in enumerate(days):
            v, tip = cells.get((r, d), (None, "không có báo cáo dự kiến"))
            key = f'{(keys or {}).get(r, r)}|{d.isoformat()}'
            body.append(f'<rect class="mark cell" x="{left + j * cell}" y="{top + i * cell}" width="{cell - 2}" '
                        f'height="{cell - 2}" fill="{_heat_colour(v)}" {_attrs(data_key=key, data_value=fmt.raw(v))}>'
                        f'<title>{escape(r)} {d:%d/%m/%Y}: {escape(tip)}</title></rect>')
    return _svg(width, height, body, label, natural=True)
