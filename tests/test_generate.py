"""Tests of the synthetic source generator (bhxh.generate).

The files are read back here with a small independent parser (not the project's reader) and the
ground truth is recomputed from them with plain Python.
"""

from __future__ import annotations

import csv
import unicodedata
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import pytest

from bhxh.canonical import COLUMNS, CANONICAL_COLUMNS
from bhxh.generate import generate, reference_dir, simulate_stock

START, END = date(2025, 4, 1), date(2025, 7, 6)
PROVINCES = ["30", "91", "26"]
SEED, SCALE = 7, 0.02
MERGER = date(2025, 7, 1)

VI_TO_CANON = {v: k for k, v in COLUMNS.items()}


def _strip(text: str) -> str:
    s = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in s if not unicodedata.combining(ch)).upper().strip()


ASCII_TO_CANON = {_strip(v): k for k, v in COLUMNS.items()}
LABELS = {
    "scheme": {"BHXH tự nguyện": "TN", "BHYT hộ gia đình": "HGD", "TN": "TN", "HGD": "HGD"},
    "transaction_type": {"Tăng mới": "new", "Đóng tiếp": "continued", "Đóng bù": "arrears", "Hoàn trả": "refund"},
    "gender": {"Nam": "M", "Nữ": "F"},
    "subsidy_group": {"Hộ nghèo": "poor", "Hộ cận nghèo": "near_poor", "Dân tộc thiểu số": "ethnic_minority",
                      "Khác": "other"},
}


def _int(v) -> int | None:
    if v is None or v == "":
        return None
    if isinstance(v, int):
        return v
    return int(str(v).replace(".", ""))


def _canon_row(raw: dict) -> dict:
    r = {k: ("" if raw.get(k) is None else str(raw.get(k))) for k in CANONICAL_COLUMNS}
    for k, table in LABELS.items():
        r[k] = table.get(r[k], r[k])
    d = r["collected_on"]
    if "/" in d:
        d = f"{d[6:10]}-{d[3:5]}-{d[0:2]}"
    r["collected_on"] = d
    p = r["period_start"]
    if "/" in p:
        p = f"{p[3:7]}-{p[0:2]}"
    r["period_start"] = p[:7]
    for k in ("birth_year", "months_paid", "declared_income", "household_member_no", "state_subsidy", "amount"):
        r[k] = _int(raw.get(k))
    return r


def read_report(path: Path) -> tuple[list[dict], int | None]:
    """(canonical rows, control total or None)."""
    total = None
    if path.suffix == ".xlsx":
        import openpyxl

        rows = list(openpyxl.load_workbook(path, read_only=True).active.iter_rows(values_only=True))
        hi = next(i for i, r in enumerate(rows) if r and r[0] == "STT")
        header = [VI_TO_CANON.get(h, h) for h in rows[hi]]
        out = []
        for r in rows[hi + 1:]:
            if r[0] == "Tổng cộng":
                total = r[-1]
                break
            out.append(_canon_row(dict(zip(header, r))))
        return out, total
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        lines = data.decode("utf-8-sig").split("\r\n")
        hi = next(i for i, ln in enumerate(lines) if ln.startswith("STT;"))
        header = [VI_TO_CANON[h] if h in VI_TO_CANON else h for h in lines[hi].split(";")]
        out = []
        for ln in lines[hi + 1:]:
            if not ln:
                continue
            cells = ln.split(";")
            if cells[0] == "Tổng cộng":
                total = _int(cells[-1])
                break
            out.append(_canon_row(dict(zip(header, cells))))
        return out, total
    try:
        text = data.decode("utf-8")
        legacy = False
    except UnicodeDecodeError:
        text = unicodedata.normalize("NFC", data.decode("cp1258"))
        legacy = True
    lines = [ln for ln in text.replace("\r\n", "\n").split("\n") if ln]
    head = lines[0].split(",")
    if legacy:
        header = [ASCII_TO_CANON[h] for h in head]
    elif head[0] == "receipt_no":
        header = head
    else:
        header = [VI_TO_CANON[h] for h in head]
    rows = [_canon_row(dict(zip(header, ln.split(",")))) for ln in lines[1:]]
    return rows, total


def _reference():
    ref = reference_dir()
    with (ref / "provinces.csv").open(encoding="utf-8") as fh:
        prov = list(csv.DictReader(fh))
    with (ref / "contribution_parameters.csv").open(encoding="utf-8") as fh:
        params = list(csv.DictReader(fh))
    return prov, params


def param(params, name, day: date):
    for r in params:
        if r["parameter"] == name and date.fromisoformat(r["valid_from"]) <= day and (
                not r["valid_to"] or day <= date.fromisoformat(r["valid_to"])):
            return float(r["value"])
    return None


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("gen")
    a = base / "a"
    generate(a, START, END, PROVINCES, seed=SEED, scale=SCALE)
    return base, a


def _report_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and p.parts[len(root.parts)] not in ("_truth",)}


def _all_rows(root: Path):
    with (root / "_truth" / "files.csv").open(encoding="utf-8") as fh:
        files = list(csv.DictReader(fh))
    out = []
    for f in files:
        rows, total = read_report(root / f["path"])
        out.append((f, rows, total))
    return out


@pytest.fixture(scope="module")
def parsed(runs):
    return _all_rows(runs[1])


def test_determinism_and_subsets(runs):
    base, a = runs
    b = base / "b"
    generate(b, START, END, PROVINCES, seed=SEED, scale=SCALE)
    fa, fb = _report_files(a), _report_files(b)
    assert fa == fb
    for name in ("files.csv", "active.csv", "new_by_district.csv"):
        assert (a / "_truth" / name).read_bytes() == (b / "_truth" / name).read_bytes()
    # province 30 alone (and its successor 31 from 2025-07-01), and a sub-range of 91
    c = base / "c"
    generate(c, START, END, ["30"], seed=SEED, scale=SCALE)
    fc = _report_files(c)
    assert fc and all(k.split("/")[0] in ("30", "31", "summaries") for k in fc)
    assert {k: fa[k] for k in fc} == fc
    d = base / "d"
    generate(d, date(2025, 5, 10), date(2025, 5, 20), ["91"], seed=SEED, scale=SCALE)
    fd = _report_files(d)
    assert len([k for k in fd if not k.startswith("summaries")]) == 11 * 2
    assert {k: fa[k] for k in fd} == fd
    # another seed gives other data
    e = base / "e"
    generate(e, date(2025, 5, 10), date(2025, 5, 12), ["91"], seed=SEED + 1, scale=SCALE)
    fe = _report_files(e)
    assert any(fe[k] != fa[k] for k in fe if not k.startswith("summaries"))


def test_layout_and_codes(runs, parsed):
    _, a = runs
    prov, _ = _reference()
    old = {r["province_code"] for r in prov if r["valid_to"]}
    new = {r["province_code"] for r in prov if not r["valid_to"]}
    succ = {r["province_code"]: r["successor_code"] for r in prov if r["valid_to"]}
    days = (END - START).days + 1
    by_day = Counter(f["report_date"] for f, _, _ in parsed)
    assert len(by_day) == days
    receipt_nos = Counter()
    codes_pre, codes_post = set(), set()
    for f, rows, _ in parsed:
        day = date.fromisoformat(f["report_date"])
        code = f["province_code"]
        assert f["path"].startswith(f"{code}/{f['report_date']}/{f['org_code']}.")
        (codes_pre if day < MERGER else codes_post).add(code)
        for r in rows:
            assert r["province_code"] == code
            if day < MERGER:
                assert len(r["district_code"]) == 3 and r["district_code"].isdigit()
            else:
                assert r["district_code"] == ""
            assert len(r["commune_code"]) == 5 and r["commune_code"].isdigit()
            assert len(r["participant_code"]) == 10 and r["participant_code"].isdigit()
            coll = date.fromisoformat(r["collected_on"])
            assert 0 <= (day - coll).days <= 31
            assert r["full_name"] and r["full_name"] == unicodedata.normalize("NFC", r["full_name"])
            if r["scheme"] == "TN":
                assert coll.year - r["birth_year"] >= 15
            receipt_nos[(f["org_code"], coll.year, r["receipt_no"])] += 1
    assert codes_pre == set(PROVINCES) and codes_pre <= old
    assert codes_post == {succ[c] for c in PROVINCES} and codes_post <= new
    assert max(receipt_nos.values()) == 1
    # an old province's participant keeps his code in the successor's reports
    pre = {r["participant_code"] for f, rows, _ in parsed if f["province_code"] == "30" for r in rows}
    post = {r["participant_code"] for f, rows, _ in parsed if f["report_date"] >= "2025-07-01"
            and f["province_code"] == "31" for r in rows}
    assert pre & post
    # summaries: every month, the codes valid in it
    for mon in ("2025-04", "2025-05", "2025-06"):
        assert sorted(p.stem for p in (a / "summaries" / mon).iterdir()) == sorted(PROVINCES)
    assert sorted(p.stem for p in (a / "summaries" / "2025-07").iterdir()) == sorted({succ[c] for c in PROVINCES})
    with (a / "summaries" / "2025-05" / "30.csv").open(encoding="utf-8") as fh:
        row = next(csv.DictReader(fh))
    assert row["month"] == "2025-05" and int(row["voluntary_si_participants"]) > 0
    assert int(row["health_insurance_participants"]) > int(row["mandatory_si_participants"]) > 0


def test_files_truth_and_control_totals(parsed):
    dialects = Counter()
    for f, rows, total in parsed:
        dialects[f["dialect"]] += 1
        assert int(f["receipts"]) == len(rows)
        assert int(f["amount_vnd"]) == sum(r["amount"] for r in rows)
        assert int(f["state_subsidy_vnd"]) == sum(r["state_subsidy"] for r in rows)
        assert int(f["new_receipts"]) == sum(r["transaction_type"] == "new" for r in rows)
        if f["dialect"] in ("b", "d") and rows:
            assert total == sum(r["amount"] for r in rows)
    assert len(dialects) >= 3


def test_statutory_amounts(parsed):
    _, params = _reference()
    factor = {1: 1.0}
    kinds = Counter()
    for f, rows, _ in parsed:
        for r in rows:
            kinds[r["transaction_type"]] += 1
            day = date.fromisoformat(r["collected_on"])
            n = r["months_paid"]
            if r["scheme"] == "TN":
                pov = param(params, "rural_poverty_line", day)
                rate = param(params, "tn_contribution_rate", day)
                assert r["declared_income"] >= pov and r["household_member_no"] is None
                share = param(params, f"tn_subsidy_share_{r['subsidy_group']}", day)
                assert share is not None
                sub = round(share * rate * pov * n) if n > 0 else 0
                assert r["state_subsidy"] == sub, r
                assert r["amount"] == round(rate * r["declared_income"] * n) - sub, r
                assert n in (1, 3, 6, 12) or 0 < n <= 60 or (n < 0 and r["transaction_type"] == "refund")
            else:
                base = param(params, "base_salary", day)
                k = r["household_member_no"]
                fac = factor.get(k) or param(params, f"hgd_member_factor_{min(k, 5)}" + ("_plus" if k >= 5 else ""),
                                             day)
                assert r["amount"] == round(param(params, "hgd_rate_first_member", day) * base * n * fac), r
                assert r["state_subsidy"] == 0 and r["declared_income"] is None
                assert n in (3, 6, 12) or (n < 0 and r["transaction_type"] == "refund")
            assert (r["amount"] < 0) == (r["transaction_type"] == "refund")
    assert kinds["new"] and kinds["continued"] and kinds["arrears"]


def test_active_truth_matches_files(runs, parsed):
    _, a = runs
    prov, _ = _reference()
    succ = {r["province_code"]: r["successor_code"] for r in prov if r["valid_to"]}

    def add_months(ym: str, k: int) -> str:
        y, m = int(ym[:4]), int(ym[5:7]) - 1 + k
        return f"{y + m // 12:04d}-{m % 12 + 1:02d}"

    # the province a participant is counted in for a month: his old province's code before 2025-07,
    # its successor from then on (a receipt in a new province's report only covers months from 2025-07)
    covered, removed, home = defaultdict(set), defaultdict(set), defaultdict(set)
    for f, rows, _ in parsed:
        pre = f["report_date"] < "2025-07-01"
        for r in rows:
            key = (r["participant_code"], r["scheme"])
            n = r["months_paid"]
            months = {add_months(r["period_start"], i) for i in range(abs(n))}
            if not pre:
                assert min(months) >= "2025-07"
            (covered if n > 0 else removed)[key] |= months
            code = f["province_code"]
            home[key].add(("pre", code) if pre else ("post", code))
    expected = Counter()
    first, last = f"{START:%Y-%m}", f"{END:%Y-%m}"
    for key, months in covered.items():
        pre_codes = {c for t, c in home[key] if t == "pre"}
        post_codes = {c for t, c in home[key] if t == "post"} | {succ[c] for c in pre_codes}
        assert len(pre_codes) <= 1 and len(post_codes) <= 1
        for m in months - removed.get(key, set()):
            if first <= m <= last:
                c = next(iter(pre_codes)) if m < "2025-07" else next(iter(post_codes))
                expected[(c, m + "-01", key[1])] += 1
    with (a / "_truth" / "active.csv").open(encoding="utf-8") as fh:
        got = {(r["province_code"], r["month"], r["scheme"]): int(r["active_participants"])
               for r in csv.DictReader(fh)}
    assert got == dict(expected)
    # new participants by district = receipts of type new
    news = Counter()
    for f, rows, _ in parsed:
        for r in rows:
            if r["transaction_type"] == "new":
                news[(f["province_code"], r["district_code"], r["collected_on"][:7] + "-01", r["scheme"])] += 1
    with (a / "_truth" / "new_by_district.csv").open(encoding="utf-8") as fh:
        got = {(r["province_code"], r["district_code"], r["month"], r["scheme"]): int(r["new_participants"])
               for r in csv.DictReader(fh)}
    assert got == dict(news)


def test_may_campaign(parsed):
    new = Counter()
    for f, rows, _ in parsed:
        for r in rows:
            if r["transaction_type"] == "new" and r["scheme"] == "TN":
                new[r["collected_on"][:7]] += 1
    assert new["2025-05"] > 1.3 * new["2025-04"]


def test_calibration_voluntary_stock():
    stock = simulate_stock(date(2024, 6, 1), seed=0, scale=0.02)["TN"]
    assert abs(stock - 2_000_000) / 2_000_000 < 0.10, stock


def test_faults_recorded(runs, tmp_path):
    _, a = runs
    rates = {k: 0.06 for k in ("missing", "late", "corrected_v2", "duplicate_file", "wrong_encoding",
                               "wrong_province", "malformed_rows", "control_total_mismatch", "schema_drift")}
    f = tmp_path / "f"
    generate(f, date(2025, 6, 20), date(2025, 7, 6), PROVINCES, seed=SEED, scale=SCALE, faults=rates)
    with (f / "_truth" / "faults.csv").open(encoding="utf-8") as fh:
        faults = list(csv.DictReader(fh))
    kinds = Counter(r["fault"] for r in faults)
    assert len(kinds) >= 6, kinds
    with (f / "_truth" / "files.csv").open(encoding="utf-8") as fh:
        files = {(r["province_code"], r["report_date"], r["org_code"]): r for r in csv.DictReader(fh)}
    for r in faults:
        key = (r["province_code"], r["report_date"], r["org_code"])
        p = f / r["path"]
        if r["fault"] == "missing":
            assert key not in files and not p.exists()
            continue
        assert files[key]["fault"] == r["fault"] and files[key]["path"] == r["path"]
        if r["fault"] == "wrong_encoding":
            assert p.read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff") and files[key]["receipts"] == "0"
            continue
        rows, total = read_report(p)
        if r["fault"] == "corrected_v2" or r["fault"] == "duplicate_file":
            assert p.name.endswith((".v2.csv", ".v2.xlsx"))
            assert (p.parent / p.name.replace(".v2", "")).exists()
        if r["fault"] == "wrong_province":
            assert all(x["province_code"] != r["province_code"] for x in rows) and files[key]["receipts"] == "0"
        elif r["fault"] == "malformed_rows":
            bad = [x for x in rows if x["collected_on"][5:] == "02-30"]
            assert bad and len(rows) - len(bad) == int(files[key]["receipts"])
        else:
            assert len(rows) == int(files[key]["receipts"])
            assert sum(x["amount"] for x in rows) == int(files[key]["amount_vnd"])
        if r["fault"] == "control_total_mismatch":
            assert total != sum(x["amount"] for x in rows)
        if r["fault"] == "schema_drift":
            head = p.read_bytes().decode("cp1258" if files[key]["dialect"] == "c" else "utf-8-sig")
            assert "ghi" in head.lower()
    # files without a fault are the same as in a run without faults
    for key, r in files.items():
        if not r["fault"] and (a / r["path"]).exists():
            assert (f / r["path"]).read_bytes() == (a / r["path"]).read_bytes()


# --- provincial calibration ----------------------------------------------------------------------
# One report day of every province at a small scale; the September 2024 office summaries against the
# reference (read here, not through the generator): denominators of 2020 (what the marts carry
# forward), national_actuals.csv for 2024-09 and the provincial targets of targets.csv.
CALIBRATION_DAY, CALIBRATION_SCALE = date(2024, 9, 30), 0.002


def _reference_rows(name: str) -> list[dict[str, str]]:
    with (reference_dir() / name).open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def september_2024(tmp_path_factory):
    root = tmp_path_factory.mktemp("calibration") / "all"
    generate(root, CALIBRATION_DAY, CALIBRATION_DAY, seed=3, scale=CALIBRATION_SCALE)
    figures = {}
    for path in sorted((root / "summaries" / "2024-09").glob("*.csv")):
        with path.open(encoding="utf-8") as fh:
            (row,) = csv.DictReader(fh)
        figures[row["province_code"]] = {k: int(v) / CALIBRATION_SCALE for k, v in row.items()
                                         if k.endswith("_participants")}
    denominators = {r["province_code"]: r for r in _reference_rows("province_denominators.csv") if r["year"] == "2020"}
    return figures, denominators


def test_national_totals_within_ten_percent_of_the_published_ones(september_2024):
    figures, _ = september_2024
    assert len(figures) == 63
    published = next(r for r in _reference_rows("national_actuals.csv") if r["period_end"] == "2024-09")
    for column, reference_column in (("mandatory_si_participants", "si_mandatory"),
                                     ("voluntary_si_participants", "si_voluntary"),
                                     ("health_insurance_participants", "hi_total")):
        total = sum(f[column] for f in figures.values())
        expected = float(published[reference_column])  # 17.03 M, 1.99 M, 93.45 M
        assert abs(total - expected) / expected < 0.10, (column, total, expected)


def test_every_province_has_a_plausible_coverage(september_2024):
    figures, denominators = september_2024
    si = {}
    for code, f in figures.items():
        working_age = float(denominators[code]["working_age_labour_force"])
        si[code] = (f["mandatory_si_participants"] + f["voluntary_si_participants"]) / working_age
        voluntary = f["voluntary_si_participants"] / working_age
        hi = f["health_insurance_participants"] / float(denominators[code]["population"])
        assert 0.08 <= si[code] <= 0.80, (code, si[code])
        assert 0.005 <= voluntary <= 0.10, (code, voluntary)
        assert 0.80 <= hi <= 1.05, (code, hi)
    # the regional gap: the industrial South-East above the Central Highlands, not by chance of a draw
    assert min(si[c] for c in ("74", "75", "79")) > max(si[c] for c in ("62", "64", "66", "67"))


def test_provinces_with_a_published_target_are_below_it(september_2024):
    """Hải Dương: 55% of the working-age labour force by the end of 2025 (targets HD_SI_2025), a goal the
    province was still striving for in June 2024 (article 004): its 2024 coverage is below 55%, and above
    60% of it (33%, near the national 38-42% of 2023-2024). Hà Nội likewise against its 50% for 2025."""
    figures, denominators = september_2024
    targets = {r["scope"]: float(r["target_value"]) for r in _reference_rows("targets.csv")
               if r["metric"] == "si_coverage_rate" and r["deadline"] == "2025-12-31" and r["scope"] != "national"}
    assert targets == {"30": 0.55, "01": 0.50}
    for code, target in targets.items():
        f = figures[code]
        coverage = ((f["mandatory_si_participants"] + f["voluntary_si_participants"])
                    / float(denominators[code]["working_age_labour_force"]))
        assert 0.6 * target <= coverage < target, (code, coverage)
