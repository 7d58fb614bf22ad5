"""``bhxh dashboard``: a self-contained static site (inline SVG charts, CSV beside the pages) built
only from the ``marts`` schema. See queries.py (what is read), render.py (how it is shown)."""

from __future__ import annotations

from datetime import date
from pathlib import Path


def build_dashboard(out: Path, month: date | None = None, province: str | None = None, settings=None) -> Path:
    """Write the site into ``out``; return the main page (the province's page when one is asked for)."""
    from bhxh.dashboard import queries, render
    from bhxh.warehouse import connect

    with connect(settings) as conn:
        data = queries.load(conn, month)
    if province is not None and province not in data.provinces:
        raise LookupError(f"province {province} has no coverage rows up to {data.month:%Y-%m} in marts.fct_coverage_monthly")
    pages = render.build(data, Path(out), province=province)
    return pages[-1] if province else pages[0]
