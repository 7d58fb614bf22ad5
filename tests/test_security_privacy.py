"""Personal data that arrives where it should not: a misaligned row (a cell too many or too few moves
the name and the participant code into other columns) or a name or code typed into another column.
Nothing of it may reach the warehouse in clear: not raw.receipts, not raw.quarantine (its original
values or its reasons), not raw.dq_results, not raw.report_files.

The sample day (shared/samples) read by hand: receipts on lines 5..13, names and codes below.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import psycopg
import pytest

from bhxh import pipeline

from .conftest import SHARED

SAMPLES = SHARED / "samples" / "source"
pytestmark = pytest.mark.skipif(not SAMPLES.exists(), reason="shared/samples not beside the checkout")
DAY = date(2024, 5, 15)
PEOPLE = {  # line -> (participant code, full name)
    5: ("3021004512", "Nguyễn Văn Hùng"), 6: ("3021007781", "Trần Thị Mai"), 7: ("3021012345", "Phạm Văn Đức"),
    8: ("3021045671", "Lê Thị Hoa"), 9: ("3021098876", "Vũ Văn Nam"), 10: ("3021098877", "Đỗ Thị Lan"),
    11: ("3021098878", "Vũ Minh Khôi"), 12: ("3021110022", "Hoàng Văn Tuấn"), 13: ("3020876543", "Ngô Thị Thu"),
}


def _edit(path: Path, line: int, edit) -> None:
    lines = path.read_text(encoding="utf-8-sig").split("\n")
    cells = lines[line - 1].split(";")
    edit(cells)
    lines[line - 1] = ";".join(cells)
    path.write_text("\n".join(lines), encoding="utf-8-sig")


def _raw_dump(url: str) -> str:
    with psycopg.connect(url) as conn:
        tables = [t for (t,) in conn.execute(
            "select format('%I.%I', schemaname, tablename) from pg_tables where schemaname = 'raw'").fetchall()]
        assert {"raw.receipts", "raw.quarantine", "raw.dq_results", "raw.report_files"} <= set(tables)
        return "\n".join(r[0] for t in tables for r in conn.execute(f"select t::text from {t} t").fetchall())


def test_misaligned_and_misplaced_personal_data_never_stored(fresh_db, tmp_path):
    root = tmp_path / "source"
    shutil.copytree(SAMPLES / "30", root / "30")
    path = root / "30" / DAY.isoformat() / "VNPOST.csv"
    path.chmod(0o644)
    _edit(path, 6, lambda c: c.insert(7, "10510"))  # one cell too many: the name moves into birth_year
    _edit(path, 7, lambda c: c.pop(6))  # one cell too few: the code moves into commune_code, the name into participant_code
    _edit(path, 8, lambda c: c.__setitem__(3, "Lê Thị Hoa"))  # her own name typed as the collection point
    _edit(path, 9, lambda c: c.__setitem__(1, "3021098876"))  # his own participant code as the receipt number
    # without its `Tổng cộng` row, so that the file is checked row by row (the misaligned rows' amounts
    # would fail the control total and quarantine it whole)
    path.write_text("\n".join(l for l in path.read_text(encoding="utf-8-sig").split("\n")
                              if not l.startswith("Tổng cộng")), encoding="utf-8-sig")
    pipeline.collect(str(root), "30", DAY)
    summary = pipeline.process_landed(DAY, DAY)
    assert (summary.rows_received, summary.rows_loaded, summary.rows_quarantined) == (9, 5, 4)
    with psycopg.connect(fresh_db) as conn:
        quarantined = dict(conn.execute("select line_no, reasons from raw.quarantine").fetchall())
    assert sorted(quarantined) == [6, 7, 8, 9]
    assert any("cells" in r for r in quarantined[6]) and any("cells" in r for r in quarantined[7])
    assert any("personal data" in r for r in quarantined[8]) and any("personal data" in r for r in quarantined[9])
    dump = _raw_dump(fresh_db)
    leaks = [v for code, name in PEOPLE.values() for v in (code, name) if v in dump]
    assert not leaks, leaks
