"""Tests of bhxh.reader: the samples against their expected canonical twins, and small inline inputs.

Every expected value below is written by hand (from the spec and the sample files), never computed
by the code under test.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from bhxh import canonical, reader
from bhxh.reader import ReadResult, ReportRejected, read_report

SHARED = Path(__file__).resolve().parents[2] / "shared"
SOURCE = SHARED / "samples" / "source"
EXPECTED = SHARED / "samples" / "expected"

HEADER_VI = ";".join(canonical.COLUMNS.values())  # Số biên lai;Ngày thu;...;Số tiền


def _sample_files() -> list[Path]:
    if not SOURCE.is_dir():
        return []
    return sorted(p for p in SOURCE.glob("[0-9][0-9]/*/*") if p.suffix in (".csv", ".xlsx"))


def _render(value: object) -> str:
    """A canonical value as the expected CSV writes it: ISO dates, ints without decimals, '' for null."""
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, float) and value != value:
        return ""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def _rendered_rows(result: ReadResult) -> list[list[str]]:
    rows = result.rows[canonical.CANONICAL_COLUMNS]
    return [[_render(v) for v in rec] for rec in rows.itertuples(index=False, name=None)]


def _read(text: str, filename: str = "r.csv", encoding: str = "utf-8") -> ReadResult:
    return read_report(text.encode(encoding), filename)


# ---------------------------------------------------------------------------------------------
# the samples


@pytest.mark.skipif(not SOURCE.is_dir(), reason=f"shared samples not found at {SOURCE}")
@pytest.mark.parametrize("path", _sample_files(), ids=lambda p: "/".join(p.parts[-3:]))
def test_sample_reads_exactly_its_expected_twin(path: Path):
    province, day, org = path.parts[-3], path.parts[-2], path.name.split(".")[0]
    twin = EXPECTED / f"{province}_{day}_{org}.csv"
    assert twin.is_file(), f"no expected twin {twin.name}"
    with twin.open(encoding="utf-8", newline="") as fh:
        header, *expected = list(csv.reader(fh))
    assert header == canonical.CANONICAL_COLUMNS

    result = read_report(path.read_bytes(), path.name)

    assert list(result.rows.columns) == ["line_no", *canonical.CANONICAL_COLUMNS]
    assert _rendered_rows(result) == expected
    assert result.errors == {}
    assert result.missing_columns == []
    assert list(result.original.index) == list(result.rows.index)


def test_sample_list_is_not_empty():
    if not SOURCE.is_dir():
        pytest.skip(f"shared samples not found at {SOURCE}")
    assert len(_sample_files()) >= 6


@pytest.fixture
def sample():
    def load(rel: str) -> ReadResult:
        path = SOURCE / rel
        if not path.is_file():
            pytest.skip(f"sample {path} not found")
        return read_report(path.read_bytes(), path.name)

    return load


def test_sample_30_2024_05_15_control_total_title_lines_and_stt(sample):
    result = sample("30/2024-05-15/VNPOST.csv")
    # 297.000 + 1.221.000 + 2.772.000 + 1.485.000 + 972.000 + 680.400 + 291.600 + 7.524.000 - 660.000
    assert result.control_total == 14583000
    assert int(result.rows["amount"].sum()) == 14583000
    assert result.encoding == "utf-8-sig"
    assert result.delimiter == ";"
    # three title lines, the header on line 4: receipts on lines 5..13, the total row (line 14) is not a receipt
    assert result.rows["line_no"].tolist() == list(range(5, 14))
    assert result.rows["receipt_no"].tolist()[0] == "0012451"
    assert "STT" not in result.original.columns
    assert result.original["amount"].tolist()[0] == "297.000"
    assert result.original["collected_on"].tolist()[0] == "15/05/2024"


def test_sample_26_viettelpost_schema_drift(sample):
    result = sample("26/2020-05-23/VIETTELPOST.csv")
    assert result.extra_columns == ["ghi_chu"]
    assert "ghi_chu" not in result.rows.columns
    assert result.original["ghi_chu"].tolist() == ["đã đối soát"] * 3
    assert result.rows["commune_code"].tolist() == ["08869", "08980", "09178"]
    assert result.control_total is None


def test_sample_91_is_cp1258(sample):
    result = sample("91/2020-05-20/VNPOST.csv")
    assert result.encoding == "cp1258"
    assert result.rows["full_name"].tolist()[0] == "Danh Thị Sa Rươl"
    assert result.original["gender"].tolist()[0] == "Nữ"


def test_sample_79_xlsx(sample):
    result = sample("79/2025-07-02/VNPOST.xlsx")
    assert result.encoding == "xlsx"
    assert result.delimiter is None
    assert result.control_total == 8866860
    assert result.rows["line_no"].tolist() == [3, 4, 5, 6, 7]


def test_sample_header_only(sample):
    result = sample("30/2024-05-16/VNPOST.csv")
    assert len(result.rows) == 0
    assert list(result.rows.columns) == ["line_no", *canonical.CANONICAL_COLUMNS]
    assert result.errors == {}


# ---------------------------------------------------------------------------------------------
# small inline inputs

ROW_TN = "0012451;15/05/2024;BD-288-01;30;288;10507;3021004512;Nguyễn Văn Hùng;1978;Nam;BHXH tự nguyện;Tăng mới;05/2024;1;1.500.000;;Khác;33.000;297.000"
ROW_HGD = "0012456;15/05/2024;BD-299-02;30;299;11278;3021098877;Đỗ Thị Lan;1961;Nữ;BHYT hộ gia đình;Đóng tiếp;06/2024;12;;2;Khác;0;680.400"


def test_types_of_the_canonical_columns():
    result = _read(HEADER_VI + "\n" + ROW_TN + "\n" + ROW_HGD + "\n")
    rows = result.rows
    assert rows.columns[0] == "line_no"
    assert rows["line_no"].tolist() == [2, 3]
    for col in canonical.INTEGER_COLUMNS:
        assert str(rows[col].dtype) == "Int64", col
    first = rows.iloc[0]
    assert first["collected_on"] == dt.date(2024, 5, 15) and type(first["collected_on"]) is dt.date
    assert first["period_start"] == dt.date(2024, 5, 1)
    assert first["receipt_no"] == "0012451"
    assert (first["gender"], first["scheme"], first["transaction_type"], first["subsidy_group"]) == ("M", "TN", "new", "other")
    assert first["declared_income"] == 1500000
    assert first["household_member_no"] is pd.NA
    second = rows.iloc[1]
    assert (second["gender"], second["scheme"], second["transaction_type"]) == ("F", "HGD", "continued")
    assert second["amount"] == 680400
    assert second["declared_income"] is pd.NA
    assert result.encoding == "utf-8" and result.delimiter == ";"
    assert result.errors == {}


def test_cp1258_decomposed_text_becomes_nfc():
    # Windows-1258 bytes written by hand: ê=0xEA, ư=0xFD, ơ=0xF5, ă=0xE3, and the tone marks as separate
    # combining characters: tilde=0xDE, dot below=0xF2, acute=0xEC (decomposed text, as cp1258 writers send it)
    head = "receipt_no,collected_on,collection_point,province_code,district_code,commune_code,participant_code,full_name,birth_year,gender,scheme,transaction_type,period_start,months_paid,declared_income,household_member_no,subsidy_group,state_subsidy,amount\r\n"
    row = (b"KG-1,20/05/2020,BD-913-01,91,913,31231,9120301145,Nguy\xea\xden Thi\xf2 Hoa,1972,N\xfd\xde,"
           b"BHXH t\xfd\xf2 nguy\xea\xf2n,T\xe3ng m\xf5\xeci,05/2020,1,700.000,,Kha\xecc,15.400,138.600\r\n")
    result = read_report(head.encode("ascii") + row, "x.csv")
    assert result.encoding == "cp1258"
    first = result.rows.iloc[0]
    assert first["full_name"] == "Nguyễn Thị Hoa"
    assert first["full_name"] == "Nguy\u1ec5n Th\u1ecb Hoa"  # precomposed code points
    assert (first["gender"], first["scheme"], first["transaction_type"], first["subsidy_group"]) == ("F", "TN", "new", "other")
    assert result.original["gender"].tolist() == ["N\u1eef"]  # 'Nữ' in NFC
    assert result.rows["amount"].tolist() == [138600]


def test_semicolon_and_vi_vn_numbers():
    rows = [
        "A1;15/05/2024;P;30;288;10507;3021004512;X;1978;Nam;TN;new;05/2024;1;1.500.000;;Khác;33.000;297.000",
        "A2;15/05/2024;P;30;288;10507;3021004513;Y;1978;Nam;TN;refund;05/2024;-2;1500000;;Khác;0;-660.000",
        "A3;15/05/2024;P;30;288;10507;3021004514;Z;1978;Nam;TN;new;05/2024;12;12.000.000,00;;Khác;0;31.680.000",
    ]
    result = _read(HEADER_VI + "\r\n" + "\r\n".join(rows) + "\r\n")
    assert result.delimiter == ";"
    assert result.rows["amount"].tolist() == [297000, -660000, 31680000]
    assert result.rows["months_paid"].tolist() == [1, -2, 12]
    assert result.rows["declared_income"].tolist() == [1500000, 1500000, 12000000]
    assert result.rows["state_subsidy"].tolist() == [33000, 0, 0]
    assert result.errors == {}


def test_comma_delimiter_with_iso_dates_and_months():
    header = ",".join(canonical.CANONICAL_COLUMNS)
    row = "AG-0001,2025-07-02,BD-AG-031,91,,30292,8920004410,Néang Sóc Pha,1984,F,TN,new,2025-08,12,1500000,,poor,1980000,1980000"
    result = _read(header + "\n" + row + "\n")
    assert result.delimiter == ","
    first = result.rows.iloc[0]
    assert first["collected_on"] == dt.date(2025, 7, 2)
    assert first["period_start"] == dt.date(2025, 8, 1)
    assert first["district_code"] is None
    assert first["subsidy_group"] == "poor"


def test_period_start_accepts_a_full_iso_date_and_takes_its_month():
    header = ",".join(canonical.CANONICAL_COLUMNS)
    row = "R1,2024-05-15,P,30,288,10507,3021004512,X,1978,M,TN,new,2024-06-17,1,1500000,,other,33000,297000"
    result = _read(header + "\n" + row + "\n")
    assert result.rows["period_start"].tolist() == [dt.date(2024, 6, 1)]


def test_title_lines_above_the_header():
    text = (
        "BẢO HIỂM XÃ HỘI TỈNH HẢI DƯƠNG;;;\r\n"
        "BÁO CÁO THU NGÀY 15/05/2024;;;\r\n"
        ";;;\r\n"
        + HEADER_VI + "\r\n" + ROW_TN + "\r\n"
    )
    result = _read(text)
    assert result.rows["line_no"].tolist() == [5]
    assert result.rows["receipt_no"].tolist() == ["0012451"]
    assert result.errors == {}


def test_header_without_diacritics_upper_case_extra_spaces():
    header = ("  SO  BIEN LAI ;NGAY THU;MA DIEM   THU;MA TINH;MA HUYEN;MA XA;MA SO BHXH;HO VA TEN;NAM SINH;GIOI TINH;"
              "LOAI HINH;LOAI THU;TU THANG;SO THANG;MUC THU NHAP LAM CAN CU DONG;THANH VIEN THU;DOI TUONG;"
              "NSNN HO TRO;SO  TIEN")
    result = _read(header + "\n" + ROW_TN + "\n")
    assert result.missing_columns == []
    assert result.extra_columns == []
    assert result.rows["amount"].tolist() == [297000]
    assert result.rows["full_name"].tolist() == ["Nguyễn Văn Hùng"]


def test_coded_values_without_diacritics_any_case_and_canonical_codes():
    rows = [
        "R1;15/05/2024;P;30;288;10507;3021004512;X;1978;NU;bhxh tu nguyen;DONG BU;05/2024;1;1.500.000;;ho can ngheo;33.000;297.000",
        "R2;15/05/2024;P;30;288;10507;3021004513;Y;1978;m;hgd;Continued;05/2024;3;;1;ETHNIC_MINORITY;0;100.000",
        "R3;15/05/2024;P;30;288;10507;3021004514;Z;1978;Nữ;BHYT hộ gia đình;Hoàn trả;05/2024;-3;;1;Dân tộc thiểu số;0;-100.000",
    ]
    result = _read(HEADER_VI + "\n" + "\n".join(rows) + "\n")
    assert result.rows["gender"].tolist() == ["F", "M", "F"]
    assert result.rows["scheme"].tolist() == ["TN", "HGD", "HGD"]
    assert result.rows["transaction_type"].tolist() == ["arrears", "continued", "refund"]
    assert result.rows["subsidy_group"].tolist() == ["near_poor", "ethnic_minority", "ethnic_minority"]
    assert result.errors == {}


def test_shuffled_column_order():
    header = "Số tiền;Họ và tên;Ngày thu;Số biên lai;Loại hình;Loại thu;Giới tính;Năm sinh;Mã xã;Mã huyện;Mã tỉnh;Mã điểm thu;Mã số BHXH;Từ tháng;Số tháng;Đối tượng;NSNN hỗ trợ"
    row = "297.000;Nguyễn Văn Hùng;15/05/2024;0012451;BHXH tự nguyện;Tăng mới;Nam;1978;10507;288;30;BD-288-01;3021004512;05/2024;1;Khác;33.000"
    result = _read(header + "\n" + row + "\n")
    assert list(result.rows.columns) == ["line_no", *canonical.CANONICAL_COLUMNS]
    assert _rendered_rows(result) == [[
        "0012451", "2024-05-15", "BD-288-01", "30", "288", "10507", "3021004512", "Nguyễn Văn Hùng", "1978", "M",
        "TN", "new", "2024-05-01", "1", "", "", "other", "33000", "297000",
    ]]
    assert result.missing_columns == ["declared_income", "household_member_no"]


def test_header_only_file():
    result = _read(HEADER_VI + "\r\n")
    assert len(result.rows) == 0 and len(result.original) == 0
    assert list(result.rows.columns) == ["line_no", *canonical.CANONICAL_COLUMNS]
    assert result.control_total is None
    assert result.errors == {}


def test_header_only_without_line_break():
    result = _read(HEADER_VI)
    assert len(result.rows) == 0


def test_blank_rows_are_skipped_and_line_numbers_stay_physical():
    text = HEADER_VI + "\n\n" + ROW_TN + "\n;;;;;;;;;;;;;;;;;;\n   \n" + ROW_HGD + "\n\n"
    result = _read(text)
    assert result.rows["line_no"].tolist() == [3, 6]
    assert result.errors == {}


def test_total_row_is_the_control_total_not_a_receipt():
    text = "STT;" + HEADER_VI + "\n1;" + ROW_TN + "\n2;" + ROW_HGD + "\nTỔNG CỘNG;;;;;;;;;;;;;;;;;;;977.400\n"
    result = _read(text)
    assert result.control_total == 977400
    assert result.rows["receipt_no"].tolist() == ["0012451", "0012456"]


def test_total_label_without_diacritics_in_another_cell():
    text = HEADER_VI + "\n" + ROW_TN + "\n;;;;;;;tong cong:;;;;;;;;;;;297.000\n"
    result = _read(text)
    assert result.control_total == 297000
    assert len(result.rows) == 1


def test_a_receipt_of_someone_named_tong_cong_is_a_receipt():
    row = ROW_TN.replace("Nguyễn Văn Hùng", "Tống Công")
    result = _read(HEADER_VI + "\n" + row + "\n")
    assert result.rows["full_name"].tolist() == ["Tống Công"]
    assert result.control_total is None


def test_bad_date_and_non_numeric_amount_are_row_errors():
    bad_date = ROW_TN.replace("15/05/2024", "32/13/2024")
    bad_amount = ROW_HGD.replace(";680.400", ";abc")
    fractional = ROW_HGD.replace("0012456", "0012457").replace(";680.400", ";680.400,5")
    result = _read(HEADER_VI + "\n" + bad_date + "\n" + bad_amount + "\n" + fractional + "\n")
    assert len(result.rows) == 3
    assert result.errors == {
        2: ["collected_on: '32/13/2024' is not a date"],
        3: ["amount: 'abc' is not an integer"],
        4: ["amount: '680.400,5' is not an integer (has a fractional part)"],
    }
    rows = result.rows.set_index("line_no")
    assert rows.loc[2, "collected_on"] is None
    assert rows.loc[2, "amount"] == 297000  # the other cells are still converted
    assert rows.loc[3, "amount"] is pd.NA
    assert rows.loc[4, "amount"] is pd.NA
    assert result.original.set_index("line_no").loc[3, "amount"] == "abc"


def test_unknown_code_is_a_row_error():
    row = ROW_TN.replace(";Nam;", ";Khong ro;")
    result = _read(HEADER_VI + "\n" + row + "\n")
    assert result.rows["gender"].tolist() == [None]
    assert result.errors == {2: ["gender: 'Khong ro' is not one of Nam/M, Nữ/F"]}


def test_row_with_wrong_number_of_cells_is_a_row_error():
    short = ";".join(ROW_TN.split(";")[:-1])  # 18 cells
    long = ROW_HGD + ";extra"  # 20 cells
    trailing = ROW_TN.replace("0012451", "0012452") + ";"  # an empty cell past the header: tolerated
    result = _read(HEADER_VI + "\n" + short + "\n" + long + "\n" + trailing + "\n")
    assert result.rows["line_no"].tolist() == [2, 3, 4]
    assert result.errors == {
        2: ["row has 18 cells, the header has 19"],
        3: ["row has 20 cells, the header has 19"],
    }
    assert result.original.set_index("line_no").loc[2, "amount"] is None  # absent, not empty


def test_quoted_fields_and_line_numbers_across_a_quoted_line_break():
    header = ",".join(canonical.CANONICAL_COLUMNS)
    r1 = 'R1,2024-05-15,P,30,288,10507,3021004512,"Nguyễn, Văn\nHùng",1978,M,TN,new,2024-05,1,1500000,,other,33000,297000'
    r2 = "R2,2024-05-15,P,30,288,10507,3021004513,Lê Thị Hoa,1990,F,TN,new,2024-05,1,1500000,,other,33000,BAD"
    result = _read(header + "\n" + r1 + "\n" + r2 + "\n")
    assert result.rows["full_name"].tolist() == ["Nguyễn, Văn\nHùng", "Lê Thị Hoa"]
    assert result.rows["line_no"].tolist() == [2, 4]
    assert result.errors == {4: ["amount: 'BAD' is not an integer"]}


def test_a_larger_file_keeps_every_row_and_line():
    n = 20000
    body = "".join(f"R{i:06d};15/05/2024;P;30;288;10507;30210{i:05d};X;1978;Nam;TN;new;05/2024;1;1.500.000;;Khác;33.000;297.000\r\n"
                   for i in range(n))
    result = _read("TITLE;;\r\n" + HEADER_VI + "\r\n" + body + "Tổng cộng;;;;;;;;;;;;;;;;;;5.940.000.000\r\n")
    assert len(result.rows) == n
    assert result.rows["line_no"].iloc[-1] == n + 2
    assert result.rows["receipt_no"].iloc[-1] == "R019999"
    assert result.control_total == 5940000000
    assert result.errors == {}


# ---------------------------------------------------------------------------------------------
# whole-file rejections


def test_empty_file_is_rejected():
    with pytest.raises(ReportRejected, match=r"^VNPOST\.csv: empty file \(0 bytes\)$"):
        read_report(b"", "VNPOST.csv")


def test_garbage_bytes_are_rejected():
    with pytest.raises(ReportRejected) as exc:
        read_report(bytes(range(256)) * 4, "VNPOST.csv")
    assert "NUL byte at offset 0" in str(exc.value)
    with pytest.raises(ReportRejected) as exc:
        read_report(b"\x81\x8a\x8d\xff\xfe garbage", "VNPOST.csv")
    assert str(exc.value).startswith("VNPOST.csv: undecodable content: not UTF-8")


def test_text_without_a_header_is_rejected_naming_the_required_columns():
    with pytest.raises(ReportRejected) as exc:
        _read("hello;world\n1;2\n")
    message = str(exc.value)
    assert "\n" not in message
    assert message.startswith("r.csv: no header row in the first 50 lines")
    assert "Số biên lai (receipt_no)" in message and "Số tiền (amount)" in message


def test_header_lacking_required_columns_is_rejected():
    header = "Số biên lai;Ngày thu;Mã tỉnh;Số tiền"
    with pytest.raises(ReportRejected) as exc:
        _read(header + "\n" + "R1;15/05/2024;30;1.000\n")
    message = str(exc.value)
    assert message.startswith("r.csv: line 1: the header lacks required columns: Mã điểm thu (collection_point)")
    assert "Ngày thu (collected_on)" not in message
    assert exc.value.line == 1


def test_unsupported_extension_is_rejected():
    with pytest.raises(ReportRejected, match=r"unsupported file type '\.xls'"):
        read_report(b"whatever", "VNPOST.xls")


def test_corrupt_xlsx_is_rejected():
    with pytest.raises(ReportRejected, match=r"^VNPOST\.xlsx: corrupt \.xlsx"):
        read_report(b"this is not a zip", "VNPOST.xlsx")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("hello.txt", "not a workbook")
    with pytest.raises(ReportRejected, match=r"^VNPOST\.xlsx: corrupt \.xlsx"):
        read_report(buf.getvalue(), "VNPOST.xlsx")


def test_unexpected_errors_become_rejections(monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(reader, "_build", boom)
    with pytest.raises(ReportRejected, match=r"^r\.csv: unreadable report \(RuntimeError: kaboom\)$"):
        _read(HEADER_VI + "\n" + ROW_TN + "\n")


# ---------------------------------------------------------------------------------------------
# xlsx


def _xlsx(rows: list[list[object]]) -> bytes:
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_xlsx_with_title_rows_numbers_dates_and_total_row():
    header = ["STT", *canonical.COLUMNS.values()]
    data = _xlsx([
        ["BÁO CÁO THU NGÀY 15/05/2024"],
        [],
        header,
        [1, "0012451", dt.datetime(2024, 5, 15), "BD-288-01", 30, 288, 8869, "3021004512", "Nguyễn Văn Hùng", 1978,
         "Nam", "BHXH tự nguyện", "Tăng mới", dt.datetime(2024, 5, 1), 1.0, 1500000, None, "Khác", 33000.0, 297000],
        [2, "0012452", "16/05/2024", "BD-288-01", "30", "288", "10510", "3021007781", "Trần Thị Mai", "1985", "Nữ",
         "BHXH tự nguyện", "Đóng tiếp", "05/2024", 3, "2.000.000", None, "Khác", 99000, 1221000.5],
        ["Tổng cộng", None, None, None, None, None, None, None, None, None, None, None, None, None, None, None, None,
         None, None, 1518000],
    ])
    result = read_report(data, "VNPOST.xlsx")
    assert result.encoding == "xlsx" and result.delimiter is None
    assert result.control_total == 1518000
    assert result.rows["line_no"].tolist() == [4, 5]
    assert _rendered_rows(result)[0] == [
        "0012451", "2024-05-15", "BD-288-01", "30", "288", "08869", "3021004512", "Nguyễn Văn Hùng", "1978", "M",
        "TN", "new", "2024-05-01", "1", "1500000", "", "other", "33000", "297000",
    ]
    second = result.rows.iloc[1]
    assert second["collected_on"] == dt.date(2024, 5, 16)
    assert second["declared_income"] == 2000000
    assert second["amount"] is pd.NA
    assert result.errors == {5: ["amount: '1221000,5' is not an integer (has a fractional part)"]}


def test_xlsx_value_beyond_the_header_is_a_row_error():
    header = list(canonical.COLUMNS.values())
    row = ["R1", "15/05/2024", "P", "30", "288", "10507", "3021004512", "X", 1978, "Nam", "TN", "new", "05/2024",
           1, 1500000, None, "Khác", 33000, 297000, None, "stray"]
    result = read_report(_xlsx([header, row]), "a.xlsx")
    assert result.errors == {2: ["row has values beyond the header's 19 columns (up to column 21)"]}


def test_xlsx_zip_bomb_is_rejected_by_ratio():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/worksheets/sheet1.xml", b"\0" * (20 * 1024 * 1024))  # 20 MB that packs to ~20 kB
    with pytest.raises(ReportRejected, match=r"^bomb\.xlsx: refused \.xlsx: compression ratio \d+ exceeds 100"):
        read_report(buf.getvalue(), "bomb.xlsx")


def test_xlsx_over_the_size_limit_is_rejected(monkeypatch):
    monkeypatch.setattr(reader, "MAX_XLSX_UNCOMPRESSED", 1000)
    data = _xlsx([list(canonical.COLUMNS.values())])
    with pytest.raises(ReportRejected, match=r"refused \.xlsx: uncompressed size \d+ bytes exceeds the limit of 1000"):
        read_report(data, "big.xlsx")


def test_xlsx_without_header_is_rejected():
    with pytest.raises(ReportRejected, match=r"^x\.xlsx: no header row in the first 50 rows"):
        read_report(_xlsx([["just a title"], [1, 2, 3]]), "x.xlsx")


# ---------------------------------------------------------------------------------------------
# more dialect details


def test_utf8_bom_and_decomposed_utf8_are_normalised():
    decomposed = ROW_TN.replace("Nguyễn", "Nguye\u0302\u0303n")  # NFD: e + circumflex + tilde
    data = b"\xef\xbb\xbf" + (HEADER_VI + "\r\n" + decomposed + "\r\n").encode("utf-8")
    result = read_report(data, "r.csv")
    assert result.encoding == "utf-8-sig"
    assert result.rows["full_name"].tolist() == ["Nguy\u1ec5n Văn Hùng"]
    assert result.original["full_name"].tolist() == ["Nguy\u1ec5n Văn Hùng"]


def test_duplicate_column_is_rejected():
    with pytest.raises(ReportRejected, match=r"^r\.csv: line 1: column Số tiền \(amount\) appears twice \(columns 19 and 20\)$"):
        _read(HEADER_VI + ";SO TIEN\n" + ROW_TN + ";1\n")


def test_unknown_and_nameless_columns_are_kept_in_original():
    # a nameless column inside the header that carries data is kept as column_<n>; an empty one is ignored
    result = _read(HEADER_VI + ";;Ghi chú;;Số tiền gốc\n" + ROW_TN + ";x;đã đối soát;;1\n")
    assert result.extra_columns == ["column_20", "Ghi chú", "Số tiền gốc"]
    assert result.original["Ghi chú"].tolist() == ["đã đối soát"]
    assert result.original["column_20"].tolist() == ["x"]
    assert result.original["Số tiền gốc"].tolist() == ["1"]
    assert result.errors == {}


def test_missing_required_column_message_names_the_unrecognised_ones():
    header = HEADER_VI.replace("Mã điểm thu", "Mã bưu cục")
    with pytest.raises(ReportRejected) as exc:
        _read(header + "\n" + ROW_TN + "\n")
    assert str(exc.value) == (
        "r.csv: line 1: the header lacks required columns: Mã điểm thu (collection_point); "
        "unrecognised columns: 'Mã bưu cục'"
    )


def test_xlsx_column_mixing_booleans_numbers_and_blanks_keeps_each_cell_text():
    """Cells are converted once per distinct value of a column, but True == 1 in Python: such a column
    is converted cell by cell (TRUE stays TRUE, 1 stays 1); whitespace after the last value is blank."""
    header = list(canonical.COLUMNS.values())
    base = ["15/05/2024", "P", "30", "288", "10507", "3021004512", "X", 1978, "Nam", "TN", "new", "05/2024",
            1, 1500000, None, "Khác", 33000, 297000]
    rows = [[f"R{i}", *base] for i in range(3)]
    rows[0][2] = True  # collection point
    rows[1][2] = 1
    rows[2][2] = 1.0
    rows[2] = rows[2] + ["   "]  # a blank cell beyond the header: not a value
    result = read_report(_xlsx([header, *rows]), "a.xlsx")
    assert result.original["collection_point"].tolist() == ["TRUE", "1", "1"]
    assert result.rows["collection_point"].tolist() == ["TRUE", "1", "1"]
    assert result.errors == {}
