"""The canonical form of a collection-service receipt (spec: collection-report.md).

Column names and order, the Vietnamese header of each column, and the canonical codes of the
coded columns with their Vietnamese labels. Readers and writers of every dialect share these.
"""

from __future__ import annotations

# canonical name -> Vietnamese header, in the spec's order
COLUMNS: dict[str, str] = {
    "receipt_no": "Số biên lai",
    "collected_on": "Ngày thu",
    "collection_point": "Mã điểm thu",
    "province_code": "Mã tỉnh",
    "district_code": "Mã huyện",
    "commune_code": "Mã xã",
    "participant_code": "Mã số BHXH",
    "full_name": "Họ và tên",
    "birth_year": "Năm sinh",
    "gender": "Giới tính",
    "scheme": "Loại hình",
    "transaction_type": "Loại thu",
    "period_start": "Từ tháng",
    "months_paid": "Số tháng",
    "declared_income": "Mức thu nhập làm căn cứ đóng",
    "household_member_no": "Thành viên thứ",
    "subsidy_group": "Đối tượng",
    "state_subsidy": "NSNN hỗ trợ",
    "amount": "Số tiền",
}
CANONICAL_COLUMNS: list[str] = list(COLUMNS)

# Columns that must be present in every report (the rest may be absent and read as nulls).
REQUIRED_COLUMNS: list[str] = [c for c in CANONICAL_COLUMNS if c not in ("declared_income", "household_member_no")]

INTEGER_COLUMNS = ["birth_year", "months_paid", "declared_income", "household_member_no", "state_subsidy", "amount"]
DATE_COLUMNS = ["collected_on"]
MONTH_COLUMNS = ["period_start"]
PERSONAL_COLUMNS = ["participant_code", "full_name"]

# canonical code -> Vietnamese label (the first is the one writers use)
SCHEMES = {"TN": ["BHXH tự nguyện"], "HGD": ["BHYT hộ gia đình"]}
TRANSACTION_TYPES = {"new": ["Tăng mới"], "continued": ["Đóng tiếp"], "arrears": ["Đóng bù"], "refund": ["Hoàn trả"]}
GENDERS = {"M": ["Nam"], "F": ["Nữ"]}
SUBSIDY_GROUPS = {
    "poor": ["Hộ nghèo"],
    "near_poor": ["Hộ cận nghèo"],
    "ethnic_minority": ["Dân tộc thiểu số"],
    "other": ["Khác"],
}
CODED_COLUMNS = {
    "scheme": SCHEMES,
    "transaction_type": TRANSACTION_TYPES,
    "gender": GENDERS,
    "subsidy_group": SUBSIDY_GROUPS,
}

TOTAL_ROW_LABEL = "Tổng cộng"
ROW_NUMBER_HEADER = "STT"

# The 2025 merger: reports dated from this day use the 34 new province codes, without districts.
MERGER_DATE = "2025-07-01"
