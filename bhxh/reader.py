"""The one reader of daily collection-service reports (spec: collection-report.md).

``read_report(data, filename)`` turns the bytes of one report, in any of the dialects the spec
lists (UTF-8, UTF-8 with BOM, Windows-1258; ',' or ';'; vi-VN numbers; dd/mm/yyyy or ISO dates;
title lines; an STT column; a final 'Tổng cộng' row; Vietnamese or canonical headers in any order;
.csv or .xlsx), into the canonical form of ``bhxh.canonical``.

Two kinds of failure:

- the whole file cannot be read -> ``ReportRejected`` with a one-line reason;
- a cell cannot be converted, or a row has the wrong number of cells -> the row is still returned
  (the bad cell as null) and ``ReadResult.errors[line_no]`` says why; the caller quarantines it.

CSV is parsed with pandas' C parser when the body has no quote characters (the common case; the
line number of every record is then its physical line), otherwise with the csv module, which
tracks physical lines across quoted line breaks. Conversions work on the distinct values of a
column (``pandas.factorize``), so a million rows read in a few seconds.
"""

from __future__ import annotations

import csv
import datetime as dt
import gc
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import PurePath
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from bhxh import canonical

__all__ = ["ReportRejected", "ReadResult", "read_report"]


class ReportRejected(Exception):
    """The whole file cannot be read. ``str(exc)`` is a one-line reason; ``line`` is set when known."""

    def __init__(self, reason: str, line: int | None = None):
        reason = " ".join(str(reason).split())  # always one line
        super().__init__(reason)
        self.reason = reason
        self.line = line


@dataclass
class ReadResult:
    rows: pd.DataFrame
    original: pd.DataFrame
    errors: dict[int, list[str]] = field(default_factory=dict)
    control_total: int | None = None
    extra_columns: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    encoding: str = "utf-8"
    delimiter: str | None = None


# --------------------------------------------------------------------------------------------
# limits and constants

MAX_XLSX_UNCOMPRESSED = 200 * 1024 * 1024  # bytes, sum over all zip entries
MAX_XLSX_RATIO = 100  # uncompressed / compressed
MAX_XLSX_ENTRIES = 10_000
HEADER_SEARCH_ROWS = 50  # the header must be among the first rows
HEADER_SEARCH_CHARS = 256 * 1024
DELIMITERS = (";", ",", "\t")

STRING_COLUMNS = [
    c for c in canonical.CANONICAL_COLUMNS
    if c not in canonical.INTEGER_COLUMNS
    and c not in canonical.DATE_COLUMNS
    and c not in canonical.MONTH_COLUMNS
    and c not in canonical.CODED_COLUMNS
]
# fixed-width numeric codes: a spreadsheet that stored them as numbers lost the leading zeros
CODE_WIDTHS = {"province_code": 2, "district_code": 3, "commune_code": 5, "participant_code": 10}

_INT64_MAX = 2**63 - 1


# --------------------------------------------------------------------------------------------
# text normalisation


_MARKS = dict.fromkeys(cp for cp in range(0x10000) if unicodedata.category(chr(cp)) == "Mn")  # to delete


@lru_cache(maxsize=1 << 16)
def _fold(text: str) -> str:
    """Match key of a header or a label: NFC, no diacritics (đ->d), lower case, '_' and runs of
    whitespace as one space."""
    text = unicodedata.normalize("NFD", str(text).replace("\ufeff", "").replace("\u200b", ""))
    if not text.isascii():
        if max(text) < "\U00010000":
            text = text.translate(_MARKS)
        else:  # beyond the BMP: the marks one by one
            text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    text = text.replace("đ", "d").replace("Đ", "D").lower().replace("_", " ")
    return " ".join(text.split())


HEADER_KEYS: dict[str, str] = {}
for _name, _vi in canonical.COLUMNS.items():
    HEADER_KEYS[_fold(_name)] = _name
    HEADER_KEYS[_fold(_vi)] = _name
ROW_NUMBER_KEY = _fold(canonical.ROW_NUMBER_HEADER)

CODE_MAPS: dict[str, dict[str, str]] = {}
CODE_HINTS: dict[str, str] = {}
for _col, _vocab in canonical.CODED_COLUMNS.items():
    _m: dict[str, str] = {}
    for _code, _labels in _vocab.items():
        _m[_fold(_code)] = _code
        for _label in _labels:
            _m[_fold(_label)] = _code
    CODE_MAPS[_col] = _m
    CODE_HINTS[_col] = ", ".join(f"{ls[0]}/{c}" for c, ls in _vocab.items())

_TOTAL_KEY_RX = re.compile(r"^tong cong\b[^a-z]*$")
# letters whose base letter is o / O (NFC text): to spot 'Tổng cộng' in raw text quickly
_O = "".join(sorted({chr(i) for i in range(0xC0, 0x2000)
                     if unicodedata.normalize("NFD", chr(i))[0] in "oO"} | {"o", "O"}))
_TOTAL_RAW_RX = re.compile(rf"[tT][{_O}][nN][gG]\s+[cC][{_O}][nN][gG]")


def _is_total_label(cell: object) -> bool:
    return isinstance(cell, str) and bool(_TOTAL_RAW_RX.search(cell)) and bool(_TOTAL_KEY_RX.match(_fold(cell)))


def _show(value: object, limit: int = 60) -> str:
    text = str(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    return repr(text)


# --------------------------------------------------------------------------------------------
# cell parsers: one distinct raw value -> (value, None) or (None, reason)

_INT_VI_RX = re.compile(r"^([+-]?)(\d{1,3}(?:\.\d{3})+|\d+)(?:,(\d+))?$")  # 1.650.000 / 1650000 / 1.650.000,00
_INT_EN_RX = re.compile(r"^([+-]?)(\d+)\.(\d{1,2}|\d{4,})$")  # 1650000.0 (spreadsheet float), never 1.650
_SPACES_RX = re.compile(r"(?<=\d)[ \u00a0\u202f](?=\d{3})")


def _parse_int(raw: str) -> tuple[int | None, str | None]:
    s = raw.strip()
    if not s:
        return None, None
    s = _SPACES_RX.sub("", s.replace("\u2212", "-"))
    m = _INT_VI_RX.match(s)
    if m:
        sign, digits, frac = m.groups()
    else:
        m = _INT_EN_RX.match(s)
        if not m:
            return None, "is not an integer"
        sign, digits, frac = m.groups()
    if frac and frac.strip("0"):
        return None, "is not an integer (has a fractional part)"
    value = int(digits.replace(".", ""))
    if sign == "-":
        value = -value
    if abs(value) > _INT64_MAX:
        return None, "is out of range"
    return value, None


_DATE_DMY_RX = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
_DATE_ISO_RX = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
_MONTH_MY_RX = re.compile(r"^(\d{1,2})/(\d{4})$")
_MONTH_ISO_RX = re.compile(r"^(\d{4})-(\d{1,2})$")


def _parse_date(raw: str) -> tuple[dt.date | None, str | None]:
    s = raw.strip()
    if not s:
        return None, None
    m = _DATE_DMY_RX.match(s)
    if m:
        d, mo, y = (int(x) for x in m.groups())
    else:
        m = _DATE_ISO_RX.match(s)
        if not m:
            return None, "is not a date (dd/mm/yyyy or yyyy-mm-dd)"
        y, mo, d = (int(x) for x in m.groups())
    try:
        return dt.date(y, mo, d), None
    except ValueError:
        return None, "is not a date"


def _parse_month(raw: str) -> tuple[dt.date | None, str | None]:
    s = raw.strip()
    if not s:
        return None, None
    m = _MONTH_MY_RX.match(s)
    if m:
        mo, y = int(m.group(1)), int(m.group(2))
    else:
        m = _MONTH_ISO_RX.match(s)
        if m:
            y, mo = int(m.group(1)), int(m.group(2))
        else:
            day, reason = _parse_date(s)
            if day is None:
                return None, "is not a month (mm/yyyy or yyyy-mm)"
            return day.replace(day=1), None
    if not 1 <= mo <= 12 or y < 1:
        return None, "is not a month"
    return dt.date(y, mo, 1), None


def _code_parser(column: str) -> Callable[[str], tuple[str | None, str | None]]:
    mapping = CODE_MAPS[column]
    hint = CODE_HINTS[column]

    def parse(raw: str) -> tuple[str | None, str | None]:
        s = raw.strip()
        if not s:
            return None, None
        code = mapping.get(_fold(s))
        if code is None:
            return None, f"is not one of {hint}"
        return code, None

    return parse


# --------------------------------------------------------------------------------------------
# decoding and header detection


def _decode(data: bytes, filename: str) -> tuple[str, str, bool]:
    """(text, encoding, nfc). The text is NOT normalised here (normalising a whole large decomposed
    text is slow): nfc is True when it already is NFC; otherwise the caller normalises the header
    lines and then each column's distinct values."""
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            text, encoding = data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise ReportRejected(
                f"{filename}: starts with a UTF-8 byte-order mark but is not valid UTF-8 "
                f"(byte 0x{data[3 + exc.start]:02x} at offset {3 + exc.start})"
            ) from None
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ReportRejected(f"{filename}: UTF-16 text is not a supported encoding (UTF-8 or Windows-1258 expected)")
    elif data.startswith(b"PK\x03\x04"):
        raise ReportRejected(f"{filename}: is a zip archive (an .xlsx workbook?), not a CSV text file")
    else:
        if b"\x00" in data:
            nul = data.index(b"\x00")
            raise ReportRejected(f"{filename}: binary content (NUL byte at offset {nul}), not a CSV text file")
        try:
            text, encoding = data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError as exc_utf8:
            try:
                text, encoding = data.decode("cp1258"), "cp1258"
            except UnicodeDecodeError as exc:
                raise ReportRejected(
                    f"{filename}: undecodable content: not UTF-8 (byte 0x{data[exc_utf8.start]:02x} at offset "
                    f"{exc_utf8.start}) nor Windows-1258 (byte 0x{data[exc.start]:02x} at offset {exc.start} is undefined)"
                ) from None
    # Windows-1258 text is decomposed by nature (and is_normalized is slow on a text that is not NFC)
    nfc = encoding != "cp1258" and (text.isascii() or unicodedata.is_normalized("NFC", text))
    return text, encoding, nfc


def _nfc_column(values: np.ndarray, decomposed: bool = False) -> np.ndarray:
    """NFC of every cell of a column, normalising each distinct value once. decomposed: the source is
    known to be decomposed (Windows-1258), so do not spend time asking whether it is NFC."""
    try:
        joined = "\x00".join(values)
    except TypeError:
        return values
    if joined.isascii() or (not decomposed and unicodedata.is_normalized("NFC", joined)):
        return values
    codes, uniques = pd.factorize(values, sort=False)
    normal = np.empty(len(uniques) + 1, dtype=object)
    normal[:-1] = [unicodedata.normalize("NFC", u) for u in uniques]
    normal[-1] = None
    return normal[codes]


@dataclass
class _Header:
    line: int  # physical line (csv) or sheet row (xlsx) of the header; for csv the LAST line of the record
    cells: list[str]
    matched: int
    delimiter: str | None = None


def _header_score(cells: list[str]) -> tuple[int, int, set[str]]:
    nonempty = 0
    matched = 0
    found: set[str] = set()
    for cell in cells:
        key = _fold(cell)
        if not key:
            continue
        nonempty += 1
        if key in HEADER_KEYS:
            matched += 1
            found.add(HEADER_KEYS[key])
        elif key == ROW_NUMBER_KEY:
            matched += 1
    return nonempty, matched, found


def _find_header(records: Iterable[tuple[int, list[str]]]) -> tuple[_Header | None, set[str], int | None]:
    """First record in which at least 3 and at least half of the non-empty cells are known headers.
    Returns (header or None, columns found in the best candidate, line of the best candidate)."""
    best_found: set[str] = set()
    best_line = None
    for line, cells in records:
        nonempty, matched, found = _header_score(cells)
        if matched >= 3 and 2 * matched >= nonempty:
            return _Header(line, cells, matched), found, line
        if len(found) > len(best_found):
            best_found, best_line = found, line
    return None, best_found, best_line


def _no_header(filename: str, found: set[str], line: int | None, where: str, one: str) -> ReportRejected:
    missing = [c for c in canonical.REQUIRED_COLUMNS if c not in found]
    names = ", ".join(f"{canonical.COLUMNS[c]} ({c})" for c in missing)
    if line is None:
        return ReportRejected(
            f"{filename}: no header row in the first {HEADER_SEARCH_ROWS} {where}: no cell is a known column name; "
            f"required columns not found: {names}"
        )
    return ReportRejected(
        f"{filename}: no header row in the first {HEADER_SEARCH_ROWS} {where} (best candidate: {one} {line}, "
        f"with {len(found)} known columns); required columns not found: {names}",
        line=line,
    )


# --------------------------------------------------------------------------------------------
# CSV


_LINEBREAK_RX = re.compile(r"\r\n|\r|\n")


def _read_csv(data: bytes, filename: str) -> ReadResult:
    text, encoding, nfc = _decode(data, filename)
    if not text or text.isspace():
        raise ReportRejected(f"{filename}: no content (only whitespace)")

    head = text[:HEADER_SEARCH_CHARS]
    if not nfc:
        head = unicodedata.normalize("NFC", head)  # line breaks are unchanged by NFC
    best: _Header | None = None
    best_found: set[str] = set()
    best_line: int | None = None
    for delim in DELIMITERS:
        if best is not None and delim not in head:
            continue  # every record one cell: no header (only a missing header's message reads them)
        reader = csv.reader(io.StringIO(head, newline=""), delimiter=delim)

        def records(reader=reader):
            try:
                for i, rec in enumerate(reader):
                    if i >= HEADER_SEARCH_ROWS:
                        return
                    yield reader.line_num, rec
            except csv.Error:
                return

        header, found, line = _find_header(records())
        if header is not None:
            header.delimiter = delim
            if best is None or header.matched > best.matched:
                best = header
        elif len(found) > len(best_found):
            best_found, best_line = found, line
    if best is None:
        raise _no_header(filename, best_found, best_line, "lines", "line")

    # the body starts after the header's last physical line
    offset = 0
    for i, m in enumerate(_LINEBREAK_RX.finditer(text)):
        if i + 1 == best.line:
            offset = m.end()
            break
    else:
        offset = len(text)
    first_line = best.line + 1
    delim = best.delimiter
    assert delim is not None
    width = _header_width(best.cells)

    # the body as UTF-8 bytes: a slice of the input when decoding changed nothing
    if nfc and encoding != "cp1258":
        body_bytes = data[(3 if encoding == "utf-8-sig" else 0) + len(text[:offset].encode("utf-8")):]
    else:
        body_bytes = text[offset:].encode("utf-8")
    del text
    parsed = None
    if b'"' not in body_bytes and body_bytes.count(b"\r") == body_bytes.count(b"\r\n"):
        parsed = _parse_body_fast(body_bytes, delim, width, first_line)
    if parsed is None:
        parsed = _parse_body_csv(body_bytes.decode("utf-8"), delim, width, first_line, filename)
    cells, ncells, line_nos = parsed
    if not nfc:
        cells = [_nfc_column(values, decomposed=encoding == "cp1258") for values in cells]

    return _build(cells, ncells, line_nos, best.cells, best.line, encoding, delim, filename, strict_width=True)


def _header_width(cells: list[str]) -> int:
    width = len(cells)
    while width > 0 and not str(cells[width - 1]).strip():
        width -= 1
    return width


def _parse_body_fast(raw: bytes, delim: str, width: int, first_line: int):
    """pandas C parser on the UTF-8 body; valid when the body has no quotes and only \\n or \\r\\n line
    breaks, so that every physical line is one record. Cells per line are counted with numpy (pandas
    pads short rows silently)."""
    arr = np.frombuffer(raw, dtype=np.uint8)
    # positions of every delimiter and line break, in order; a line's delimiters lie between two breaks
    marks = np.flatnonzero((arr == ord(delim)) | (arr == 10))
    nl_at = np.flatnonzero(arr[marks] == 10)
    nl = marks[nl_at]
    counts = np.diff(np.concatenate(([-1], nl_at))) - 1
    ends = nl
    if len(raw) and raw[-1:] != b"\n":  # a last line without a line break
        ends = np.append(nl, len(raw))
        counts = np.append(counts, len(marks) - 1 - (nl_at[-1] if len(nl_at) else -1))
    n = len(ends)
    starts = np.concatenate(([0], nl + 1))[:n]
    lengths = ends - starts
    if n:
        has_cr = np.zeros(n, dtype=bool)
        valid = lengths > 0
        has_cr[valid] = arr[ends[valid] - 1] == 13
        lengths = lengths - has_cr
    ncells = np.where(lengths > 0, counts + 1, 0).astype(np.int64)
    ncols = max(int(ncells.max()) if n else 0, width, 1)
    if n == 0:
        cells = [np.empty(0, dtype=object) for _ in range(ncols)]
    else:
        try:
            frame = pd.read_csv(
                io.BytesIO(raw), sep=delim, header=None, names=list(range(ncols)),
                dtype=object, keep_default_na=False, na_filter=False, skip_blank_lines=False, quoting=csv.QUOTE_NONE,
                encoding="utf-8", engine="c", index_col=False,
            )
        except Exception:
            return None
        if len(frame) != n:
            return None  # the parser saw the lines differently: use the csv module
        cells = [frame[i].to_numpy(dtype=object) for i in range(ncols)]
    line_nos = np.arange(first_line, first_line + n, dtype=np.int64)
    return cells, ncells, line_nos


def _object_grid(records: list[list[str]], ncols: int) -> np.ndarray:
    """Equal-length rows -> 2-D object array (pandas' C helper when available)."""
    if not records:
        return np.empty((0, ncols), dtype=object)
    try:
        from pandas._libs import lib

        return lib.to_object_array(records, ncols)
    except Exception:  # pragma: no cover - private pandas helper moved
        grid = np.empty((len(records), ncols), dtype=object)
        for r, rec in enumerate(records):
            grid[r, :] = rec
        return grid


def _parse_body_csv(body: str, delim: str, width: int, first_line: int, filename: str):
    """The csv module: handles quotes (and line breaks inside quotes), tracking physical lines."""
    reader = csv.reader(io.StringIO(body, newline=""), delimiter=delim)
    records: list[list[str]] = []
    starts: list[int] = []
    prev = 0
    try:
        for rec in reader:
            starts.append(first_line + prev)
            prev = reader.line_num
            records.append(rec)
    except csv.Error as exc:
        raise ReportRejected(f"{filename}: line {first_line + prev}: unreadable CSV ({exc})",
                             line=first_line + prev) from None
    ncells = np.fromiter((len(r) for r in records), dtype=np.int64, count=len(records))
    ncols = max(int(ncells.max()) if len(records) else 0, width, 1)
    for rec in records:
        if len(rec) < ncols:
            rec.extend([""] * (ncols - len(rec)))
    grid = _object_grid(records, ncols)
    del records
    cells = [grid[:, i].copy() for i in range(ncols)]
    return cells, ncells, np.asarray(starts, dtype=np.int64)


# --------------------------------------------------------------------------------------------
# XLSX


def _check_zip(data: bytes, filename: str) -> None:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise ReportRejected(f"{filename}: corrupt .xlsx: not a zip archive ({exc})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_XLSX_ENTRIES:
            raise ReportRejected(f"{filename}: refused .xlsx: {len(infos)} zip entries (limit {MAX_XLSX_ENTRIES})")
        total = sum(i.file_size for i in infos)
        packed = sum(i.compress_size for i in infos)
        if total > MAX_XLSX_UNCOMPRESSED:
            raise ReportRejected(
                f"{filename}: refused .xlsx: uncompressed size {total} bytes exceeds the limit of "
                f"{MAX_XLSX_UNCOMPRESSED} bytes (zip bomb?)")
        if total > 1024 * 1024 and total > MAX_XLSX_RATIO * max(packed, 1):
            raise ReportRejected(
                f"{filename}: refused .xlsx: compression ratio {total / max(packed, 1):.0f} exceeds "
                f"{MAX_XLSX_RATIO} (zip bomb?)")
        for i in infos:
            if i.file_size > 1024 * 1024 and i.file_size > MAX_XLSX_RATIO * max(i.compress_size, 1):
                raise ReportRejected(
                    f"{filename}: refused .xlsx: entry {i.filename} has compression ratio "
                    f"{i.file_size / max(i.compress_size, 1):.0f} over {MAX_XLSX_RATIO} (zip bomb?)")


def _xlsx_text(value: object, code_width: int | None = None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value if unicodedata.is_normalized("NFC", value) else unicodedata.normalize("NFC", value)
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        text = str(value)
        return text.zfill(code_width) if code_width and value >= 0 else text
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        if value.is_integer():
            text = str(int(value))
            return text.zfill(code_width) if code_width and value >= 0 else text
        return repr(value).replace(".", ",")  # vi-VN decimal mark: read as a non-integer, not as thousands
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def _read_xlsx(data: bytes, filename: str) -> ReadResult:
    """The first worksheet with a header, through calamine (Rust; every row from A1, typed values)."""
    _check_zip(data, filename)
    from python_calamine import CalamineWorkbook, SheetTypeEnum

    try:
        wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
    except Exception as exc:
        raise ReportRejected(f"{filename}: corrupt .xlsx: {type(exc).__name__}: {exc}") from None
    try:
        first_failure: ReportRejected | None = None
        for sheet in wb.sheets_metadata:
            if sheet.typ != SheetTypeEnum.WorkSheet:
                continue  # chartsheet, macro sheet
            rows = iter(wb.get_sheet_by_name(sheet.name).to_python(skip_empty_area=False))
            head: list[tuple[int, list]] = []
            for row_no, row in enumerate(rows, start=1):
                head.append((row_no, row))
                if len(head) >= HEADER_SEARCH_ROWS:
                    break
            header, found, line = _find_header((r, [_xlsx_text(v) for v in row]) for r, row in head)
            if header is None:
                if first_failure is None:
                    first_failure = _no_header(filename, found, line, f"rows of sheet {sheet.name!r}", "row")
                continue
            return _read_sheet(rows, head, header, filename)
        if first_failure is None:
            raise ReportRejected(f"{filename}: the workbook has no worksheet")
        raise first_failure
    except ReportRejected:
        raise
    except Exception as exc:
        raise ReportRejected(f"{filename}: corrupt .xlsx: {type(exc).__name__}: {exc}") from None
    finally:
        wb.close()


def _read_sheet(rows, head, header: _Header, filename: str) -> ReadResult:
    """The body rows after the header, converted to text column by column (each distinct value of a
    column once); a row's cell count is its last non-blank cell, at least the header's width."""
    width = _header_width(header.cells)
    keys = [_fold(c) for c in header.cells[:width]]
    widths = [CODE_WIDTHS.get(HEADER_KEYS.get(k, ""), None) for k in keys]
    body = [row for row_no, row in head if row_no > header.line]
    body.extend(rows)
    n = len(body)
    line_nos = np.arange(header.line + 1, header.line + 1 + n, dtype=np.int64)
    ncols_raw = max(max(map(len, body), default=0), width, 1)
    grid = _object_grid(body, ncols_raw) if n else np.empty((0, ncols_raw), dtype=object)
    texts, filled = [], np.zeros((n, ncols_raw), dtype=bool)
    for i in range(ncols_raw):
        text, filled[:, i] = _xlsx_column(grid[:, i], widths[i] if i < width else None)
        texts.append(text)
    # the last non-blank cell of each row (0: a blank row)
    last = np.where(filled.any(axis=1), ncols_raw - np.argmax(filled[:, ::-1], axis=1), 0) if n else \
        np.zeros(0, dtype=np.int64)
    # a spreadsheet row has no cell count: only values beyond the header's columns are wrong
    ncells = np.where(last == 0, 0, np.maximum(last, width)).astype(np.int64)
    ncols = max(int(ncells.max()) if n else 0, width, 1)
    cells = []
    for i in range(ncols):
        column = texts[i] if i < ncols_raw else np.full(n, "", dtype=object)
        beyond = last <= i  # cells after a row's last non-blank one are empty
        if beyond.any():
            column = column.copy()
            column[beyond] = ""
        cells.append(column)
    return _build(cells, ncells, line_nos, header.cells, header.line, "xlsx", None, filename, strict_width=False)


def _xlsx_column(values: np.ndarray, code_width: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(text, filled): ``_xlsx_text`` of every cell of a column, and whether it is not blank, once per
    distinct value. Values that compare equal have the same text, except booleans beside numbers
    (True == 1) and NaN beside empty cells: such a column is converted cell by cell."""
    kinds = set(map(type, values))
    nan = pd.isna(values) if float in kinds else None
    if (bool in kinds and kinds & {int, float}) or (nan is not None and any(v is not None for v in values[nan])):
        codes, uniques = np.arange(len(values)), values
    else:
        codes, uniques = pd.factorize(values, sort=False)  # None -> -1
    table = np.empty(len(uniques) + 1, dtype=object)
    table[:-1] = [_xlsx_text(u, code_width) for u in uniques]
    table[-1] = ""
    return table[codes], ~_blank_rows(table)[codes]


# --------------------------------------------------------------------------------------------
# common: header mapping, row filtering, conversion


class _Column:
    """One source column, factorized once: codes per row, distinct raw values, and those stripped.
    The code -1 (a null, never produced by the parsers) indexes the extra last slot of every table."""

    def __init__(self, values) -> None:
        codes, uniques = pd.factorize(np.asarray(values, dtype=object), sort=False)
        self.codes = codes
        self.uniques = np.asarray(uniques, dtype=object)
        stripped = np.empty(len(self.uniques), dtype=object)
        stripped[:] = [str(u).strip() for u in self.uniques]
        self.stripped = stripped



def _build(cells: list[np.ndarray], ncells: np.ndarray, line_nos: np.ndarray, header_cells: list[str], header_line: int,
           encoding: str, delimiter: str | None, filename: str, strict_width: bool) -> ReadResult:
    width = _header_width(header_cells)
    n = len(line_nos)
    ncols = len(cells)

    # header -> column positions
    positions: dict[str, int] = {}
    extras: list[tuple[str, int]] = []
    for i, h in enumerate(header_cells[:width]):
        h = str(h)
        key = _fold(h)
        if key in HEADER_KEYS:
            name = HEADER_KEYS[key]
            if name in positions:
                raise ReportRejected(
                    f"{filename}: line {header_line}: column {canonical.COLUMNS[name]} ({name}) appears twice "
                    f"(columns {positions[name] + 1} and {i + 1})", line=header_line)
            positions[name] = i
        elif key == ROW_NUMBER_KEY:
            continue
        elif not key:
            if n and not _blank_rows(cells[i]).all():  # a nameless column with data
                extras.append((f"column_{i + 1}", i))
        else:
            extras.append((h.strip(), i))
    missing = [c for c in canonical.CANONICAL_COLUMNS if c not in positions]
    missing_required = [c for c in canonical.REQUIRED_COLUMNS if c not in positions]
    if missing_required:
        names = ", ".join(f"{canonical.COLUMNS[c]} ({c})" for c in missing_required)
        unknown = "; unrecognised columns: " + ", ".join(_show(h) for h, _ in extras) if extras else ""
        raise ReportRejected(f"{filename}: line {header_line}: the header lacks required columns: {names}{unknown}",
                             line=header_line)
    named: list[tuple[str, int]] = []
    seen: set[str] = set(canonical.CANONICAL_COLUMNS) | {"line_no"}
    for base, i in extras:
        name, k = base, 1
        while name in seen:
            k += 1
            name = f"{base}.{k}"
        seen.add(name)
        named.append((name, i))
    extras = named

    factorized: dict[int, _Column] = {}

    def column(i: int) -> _Column:
        if i not in factorized:
            factorized[i] = _Column(cells[i])
        return factorized[i]

    keep = np.ones(n, dtype=bool)
    control_total: int | None = None
    if n:
        # blank rows: every cell empty
        maybe_blank = np.flatnonzero((ncells == 0) | _blank_rows(cells[0]))
        if len(maybe_blank):
            blank = np.ones(len(maybe_blank), dtype=bool)
            for i in range(ncols):
                blank &= _blank_rows(cells[i][maybe_blank])
            keep[maybe_blank[blank]] = False

        # the 'Tổng cộng' row: a receipt always has a receipt number, so only rows whose receipt number
        # is empty (or is the label itself) are candidates; then any cell may carry the label
        receipt = cells[positions["receipt_no"]]
        is_cand = _blank_rows(receipt)
        if _TOTAL_RAW_RX.search("\x00".join(receipt)):  # one pass in C before any per-value test
            is_cand |= np.array([_is_total_label(v) for v in receipt], dtype=bool)
        cand = np.flatnonzero(is_cand & keep)
        if len(cand):
            has_label = np.zeros(len(cand), dtype=bool)
            for i in range(ncols):
                sub = cells[i][cand]
                has_label |= np.array([_is_total_label(v) for v in sub], dtype=bool)
            totals = cand[has_label]
            if len(totals) > 1:
                first, second = int(line_nos[totals[0]]), int(line_nos[totals[1]])
                raise ReportRejected(
                    f"{filename}: line {second}: a second 'Tổng cộng' row (the first is on line {first})", line=second)
            if len(totals) == 1:
                r = int(totals[0])
                line = int(line_nos[r])
                keep[r] = False
                raw_total = cells[positions["amount"]][r]
                if raw_total is not None and str(raw_total).strip():
                    value, reason = _parse_int(str(raw_total))
                    if reason:
                        raise ReportRejected(  # the cell is not quoted: it may hold personal data
                            f"{filename}: line {line}: the 'Tổng cộng' row's amount {reason}", line=line)
                    control_total = value

    take: np.ndarray | None = None
    if not keep.all():
        take = np.flatnonzero(keep)
        ncells = ncells[take]
        line_nos = line_nos[take]
    n = len(line_nos)

    def raw_values(i: int) -> np.ndarray:
        values = cells[i]
        return values[take] if take is not None else values

    def codes_of(i: int) -> np.ndarray:
        c = column(i)
        return c.codes[take] if take is not None else c.codes

    errors: dict[int, list[str]] = {}

    # rows whose cell count differs from the header's (empty cells beyond the header are tolerated)
    short = np.zeros(n, dtype=bool)
    if n:
        bad = ncells != width
        if bad.any():
            beyond = np.zeros(n, dtype=bool)
            for i in range(width, ncols):
                beyond |= ~_blank_rows(raw_values(i))
            bad &= (ncells < width) | beyond
            if strict_width:
                short = bad & (ncells < width)
            for r in np.flatnonzero(bad):
                k = int(ncells[r])
                if strict_width:
                    reason = f"row has {k} cells, the header has {width}"
                else:
                    last = max(i for i in range(width, ncols) if str(raw_values(i)[r]).strip()) + 1
                    reason = f"row has values beyond the header's {width} columns (up to column {last})"
                errors.setdefault(int(line_nos[r]), []).append(reason)

    def original_column(i: int) -> np.ndarray:
        values = raw_values(i)
        if short.any():
            absent = short & (ncells <= i)
            if absent.any():
                values = values.copy()
                values[absent] = None
        return values

    # canonical rows and the original cells
    line_nos = line_nos.astype(np.int64)
    rows: dict[str, object] = {"line_no": line_nos}
    original: dict[str, object] = {"line_no": line_nos.copy()}
    cell_errors: list[tuple[str, np.ndarray, list, np.ndarray]] = []
    for col in canonical.CANONICAL_COLUMNS:
        if col not in positions:
            if col in canonical.INTEGER_COLUMNS:
                rows[col] = pd.array([pd.NA] * n, dtype="Int64")
            else:
                rows[col] = np.full(n, None, dtype=object)
            continue
        i = positions[col]
        original[col] = original_column(i)
        if col in STRING_COLUMNS:
            rows[col] = _convert_text(column(i), codes_of(i))
        else:
            rows[col] = _convert(col, column(i), codes_of(i), cell_errors)
    for name, i in extras:
        original[name] = original_column(i)

    for col, codes, bad_codes, uniques in cell_errors:
        reasons = dict(bad_codes)
        for r in np.flatnonzero(np.isin(codes, list(reasons))):
            code = int(codes[r])
            errors.setdefault(int(line_nos[r]), []).append(f"{col}: {_show(uniques[code])} {reasons[code]}")

    return ReadResult(
        rows=_frame(rows, n),
        original=_frame(original, n),
        errors={k: errors[k] for k in sorted(errors)},
        control_total=control_total,
        extra_columns=[name for name, _ in extras],
        missing_columns=missing,
        encoding=encoding,
        delimiter=delimiter,
    )


def _frame(columns: dict[str, object], n: int) -> pd.DataFrame:
    """A frame of these column arrays, in this order, each keeping its dtype (object arrays stay object:
    pandas would otherwise infer strings); the object columns are given to pandas in one go."""
    objects = {name: v for name, v in columns.items() if isinstance(v, np.ndarray) and v.dtype == object}
    frame = pd.DataFrame(objects, index=pd.RangeIndex(n), dtype=object, copy=False)
    for position, (name, values) in enumerate(columns.items()):
        if name not in objects:
            frame.insert(position, name, values)
    return frame


def _blank_rows(values: np.ndarray) -> np.ndarray:
    return np.fromiter((not v or v.isspace() for v in values), dtype=bool, count=len(values))


def _convert_text(source: _Column, codes: np.ndarray) -> np.ndarray:
    """The stripped text of each cell; empty cells as None."""
    table = np.empty(len(source.stripped) + 1, dtype=object)
    table[:-1] = [v or None for v in source.stripped]
    table[-1] = None
    return table[codes]


def _convert(col: str, source: _Column, codes: np.ndarray, cell_errors: list) -> object:
    n = len(codes)

    if col in canonical.INTEGER_COLUMNS:
        parse = _parse_int
    elif col in canonical.DATE_COLUMNS:
        parse = _parse_date
    elif col in canonical.MONTH_COLUMNS:
        parse = _parse_month
    else:
        parse = _code_parser(col)

    values: list[object] = []
    bad: list[tuple[int, str]] = []
    for k, u in enumerate(source.stripped):
        value, reason = parse(u)
        if reason:
            bad.append((k, reason))
        values.append(value)
    values.append(None)  # code -1 (null)
    if bad:
        cell_errors.append((col, codes, bad, source.uniques))

    if col in canonical.INTEGER_COLUMNS:
        if n == 0:
            return pd.array([], dtype="Int64")
        ints = np.array([0 if v is None else v for v in values], dtype=np.int64)
        nulls = np.array([v is None for v in values], dtype=bool)
        return pd.arrays.IntegerArray(ints[codes], nulls[codes])
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out[codes] if n else np.empty(0, dtype=object)


# --------------------------------------------------------------------------------------------
# entry point


def read_report(data: bytes, filename: str) -> ReadResult:
    """Read one collection-service report (.csv or .xlsx) into canonical rows.

    Raises ReportRejected when the file as a whole cannot be read; cell-level problems are in
    ``ReadResult.errors``.
    """
    name = PurePath(str(filename)).name
    suffix = PurePath(name).suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise ReportRejected(f"{name}: unsupported file type {suffix or '(no extension)'!r}: expected .csv or .xlsx")
    if data is None or len(data) == 0:
        raise ReportRejected(f"{name}: empty file (0 bytes)")
    # no cyclic garbage collection during a read: the rows' lists and cells all live until it ends, and
    # each collection they would trigger sweeps the whole process (GX's objects included) for nothing
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        if suffix == ".xlsx":
            return _read_xlsx(bytes(data), name)
        return _read_csv(bytes(data), name)
    except ReportRejected:
        raise
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:  # never let bad content escape as something else
        raise ReportRejected(f"{name}: unreadable report ({type(exc).__name__}: {exc})") from None
    finally:
        if gc_was_enabled:
            gc.enable()
