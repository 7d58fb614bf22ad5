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


# Every column that is not personal, by its position in the sample's header (0 is STT)
OTHER_COLUMNS = [1, 2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]


def _variants() -> dict[str, callable]:
    """Name -> an edit of the sample's lines: each puts people's names and codes where the reader or
    the checks complain about the cell, so that every kind of message has a chance to quote them."""
    people = list(PEOPLE.values())

    def cells_replaced(kind: int, offset: int):
        def edit(lines):
            for line in range(5, 14):
                column = OTHER_COLUMNS[(line - 5 + offset) % len(OTHER_COLUMNS)]
                # the row's own code or name, or another row's (personal data of the same file)
                person = people[(line - 5 + offset) % len(people)]
                cells = lines[line - 1].split(";")
                cells[column] = person[kind]
                lines[line - 1] = ";".join(cells)
        return edit

    variants = {f"{'code' if kind == 0 else 'name'} in columns from {offset}": cells_replaced(kind, offset)
                for kind in (0, 1) for offset in range(0, len(OTHER_COLUMNS), 9)}

    def total_is_a_name(lines):
        lines[13] = lines[13].rsplit(";", 1)[0] + ";" + PEOPLE[13][1]

    def total_is_a_code(lines):
        lines[13] = lines[13].rsplit(";", 1)[0] + ";" + PEOPLE[13][0] + "x"

    def misaligned_everywhere(lines):
        for line in range(5, 14):
            cells = lines[line - 1].split(";")
            cells.insert(line % 7 + 1, PEOPLE[line][1]) if line % 2 else cells.pop(line % 7 + 1)
            lines[line - 1] = ";".join(cells)

    def no_header(lines):
        del lines[3]

    def names_in_the_title(lines):
        lines[1] = f"BÁO CÁO {PEOPLE[5][1]} {PEOPLE[5][0]};;;"

    def quoted_multiline_name(lines):
        cells = lines[5].split(";")
        cells[8] = f'"{PEOPLE[6][1]}\n{PEOPLE[7][0]}"'
        lines[5] = ";".join(cells)

    def duplicate_receipts_numbered_by_code(lines):
        for line in range(5, 14):
            cells = lines[line - 1].split(";")
            cells[1] = PEOPLE[5][0]
            lines[line - 1] = ";".join(cells)

    def wrong_province_by_name(lines):
        for line in range(5, 14):
            cells = lines[line - 1].split(";")
            cells[4] = PEOPLE[line][1]
            lines[line - 1] = ";".join(cells)

    return {**variants, "total is a name": total_is_a_name, "total is a code": total_is_a_code,
            "misaligned everywhere": misaligned_everywhere, "no header": no_header,
            "names in the title": names_in_the_title, "quoted multi-line name": quoted_multiline_name,
            "receipt numbers are a code": duplicate_receipts_numbered_by_code,
            "province codes are names": wrong_province_by_name}


def test_no_message_quotes_a_participant(fresh_db, tmp_path, caplog):
    """Whatever the reader and the checks say about a bad cell, row or file (quarantine reasons, the
    reasons of rejected files, check samples, the run's failures and warnings that alerts carry, the
    log), none quotes a participant's code or name."""
    import logging
    from datetime import timedelta

    caplog.set_level(logging.DEBUG)
    root = tmp_path / "source"
    sample = (SAMPLES / "30" / DAY.isoformat() / "VNPOST.csv").read_text(encoding="utf-8-sig").split("\n")
    variants = _variants()
    summaries = []
    for i, (name, edit) in enumerate(variants.items()):
        day = DAY + timedelta(days=i)  # one report day per variant; collected_on (15/05) stays within 31 days
        lines = list(sample)
        edit(lines)
        folder = root / "30" / day.isoformat()
        folder.mkdir(parents=True)
        (folder / "VNPOST.csv").write_text("\n".join(lines), encoding="utf-8-sig")
        pipeline.collect(str(root), "30", day)
        summaries.append((name, pipeline.process_landed(day, day)))
    # each variant but the title (read past, never stored) was refused somewhere, else it tested nothing
    for name, summary in summaries:
        assert name == "names in the title" or summary.rows_quarantined or summary.rejected_files \
            or summary.quarantined_files, name
    messages = "\n".join(f"{name}: {m}" for name, s in summaries for m in s.failures + s.warnings)
    texts = {"the warehouse": _raw_dump(fresh_db), "the run summaries": messages,
             "the log": "\n".join(r.getMessage() for r in caplog.records)}
    leaks = [f"{where}: {line[:300]}" for where, text in texts.items() for line in text.split("\n")
             if any(v in line for person in PEOPLE.values() for v in person)]
    assert not leaks, leaks
