"""The marts against the generator's ground truth, on a range that crosses a May campaign (2024 and
2025) and the 2025-07-01 merger (old 30 Hải Dương + old 31 Hải Phòng -> 31 Hải Phòng).

The generator writes the reports (with injected faults: corrected v2 files, duplicates, rejected and
quarantined files, malformed rows) and, independently, `_truth/` (what a correct warehouse must
find). The reports are loaded by the real pipeline functions and the marts built by one real
`dbt build`. Expected values come only from the truth files, the summary files the generator wrote
and the reference CSVs; rates are computed here from those counts and denominators, never read
back from the code under test.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from bhxh.generate import generate

from .marts_support import MERGER, load_source, months, query, reference_rows

from .conftest import scratch_database

START, END = date(2024, 4, 1), date(2025, 7, 5)
PROVINCES = ["30", "31"]
TOLERANCE = Decimal("1e-9")


@pytest.fixture(scope="module")
def built(tmp_path_factory, warehouse_url):
    """Generate, load and build once for the module (in its own database)."""
    from .marts_support import dbt_build

    work = tmp_path_factory.mktemp("ground_truth")
    source = work / "source"
    generate(source, START, END, provinces=PROVINCES, seed=3, scale=0.01, faults=True)
    with scratch_database(warehouse_url, "bhxh_test_marts_truth") as url:
        load_source(source, START, END)
        dbt_build(work / "target")
        yield source, url


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _truth_active(source: Path) -> dict[tuple[str, str, str], int]:
    return {(r["province_code"], r["month"], r["scheme"]): int(r["active_participants"])
            for r in _csv(source / "_truth" / "active.csv")}


def _summaries(source: Path) -> dict[tuple[str, str], dict[str, int]]:
    out = {}
    for path in sorted((source / "summaries").glob("*/*.csv")):
        for r in _csv(path):
            out[(r["province_code"], f"{r['month']}-01")] = {k: int(v) for k, v in r.items()
                                                              if k not in ("province_code", "month")}
    return out


def _denominator(code: str, year: int, column: str) -> int:
    """An old province's figure by the documented extension: the figure of the year if published,
    else the latest earlier published one (2020 for 2024 and 2025)."""
    published = {int(r["year"]): int(r[column]) for r in reference_rows("province_denominators")
                 if r["province_code"] == code and r[column]}
    return published[max(y for y in published if y <= year)]


def _predecessors_of(code: str) -> list[str]:
    return [p["province_code"] for p in reference_rows("provinces") if p["valid_to"] and p["successor_code"] == code]


def _labour_force(code: str, month: date) -> int:
    if month >= MERGER:  # a merged province sums its predecessors
        return sum(_denominator(p, month.year, "working_age_labour_force") for p in _predecessors_of(code))
    return _denominator(code, month.year, "working_age_labour_force")


def _population(code: str, month: date) -> int:
    if month >= MERGER:
        return sum(_denominator(p, month.year, "population") for p in _predecessors_of(code))
    return _denominator(code, month.year, "population")


def _range_months() -> list[str]:
    return [m.isoformat() for m in months(START, END)]


def test_active_participants_per_province_and_month(built):
    source, url = built
    truth = _truth_active(source)
    assert truth, "the generator wrote no active participants"
    rows = query(url, """select province_code, month::text, voluntary_si_participants, hi_household_participants
                         from marts.fct_coverage_monthly where month between %s and %s""", START, END)
    got = {}
    for code, month, tn, hgd in rows:
        got[(code, month, "TN")] = tn
        got[(code, month, "HGD")] = hgd
    expected = {(code, month, scheme): truth.get((code, month, scheme), 0)
                for code in ("30", "31") for month in _range_months() for scheme in ("TN", "HGD")
                if (date.fromisoformat(month) < MERGER or code == "31")}
    assert {k: got.get(k, 0) for k in expected} == expected
    # no other (province, month) in the range
    assert set(got) <= set(expected)


def test_coverage_rates_against_truth_and_reference_denominators(built):
    source, url = built
    truth = _truth_active(source)
    summaries = _summaries(source)
    rows = query(url, """select province_code, month, labour_force, population, mandatory_si_participants,
                                voluntary_si_participants, si_coverage_rate, voluntary_si_rate, hi_coverage_rate,
                                health_insurance_participants, reported_voluntary_si_participants,
                                reconciliation_gap, labour_force_is_estimate
                         from marts.fct_coverage_monthly where month between %s and %s
                         order by month, province_code""", START, END)
    assert len(rows) == 2 * 15 + 1  # 30 and 31 for 2024-04..2025-06, 31 for 2025-07
    for code, month, lf, pop, mandatory, voluntary, si_rate, vol_rate, hi_rate, hi, reported, gap, estimate in rows:
        key = month.isoformat()
        exp_vol = truth.get((code, key, "TN"), 0)
        exp_lf = _labour_force(code, month)
        exp_pop = _population(code, month)
        summary = summaries[(code, key)]
        assert (lf, pop) == (exp_lf, exp_pop), (code, key)
        assert estimate is True  # 2024 and 2025 are beyond the published years
        assert (mandatory, voluntary, hi) == (summary["mandatory_si_participants"], exp_vol,
                                              summary["health_insurance_participants"]), (code, key)
        assert reported == summary["voluntary_si_participants"]
        assert gap == exp_vol - summary["voluntary_si_participants"]
        exp_si = (Decimal(summary["mandatory_si_participants"]) + exp_vol) / Decimal(exp_lf)
        assert abs(si_rate - exp_si) <= TOLERANCE, (code, key, si_rate, exp_si)
        assert abs(vol_rate - Decimal(exp_vol) / Decimal(exp_lf)) <= TOLERANCE, (code, key)
        assert abs(hi_rate - Decimal(summary["health_insurance_participants"]) / Decimal(exp_pop)) <= TOLERANCE


def test_current_geography_sums_history_into_todays_province(built):
    source, url = built
    truth = _truth_active(source)
    summaries = _summaries(source)
    rows = query(url, """select province_code, month, constituent_provinces, voluntary_si_participants,
                                hi_household_participants, labour_force, si_coverage_rate, voluntary_si_rate
                         from marts.fct_coverage_monthly_current_geography
                         where month between %s and %s order by month""", START, END)
    assert {r[0] for r in rows} == {"31"}
    assert [r[1].isoformat() for r in rows] == _range_months()
    for code, month, constituents, tn, hgd, lf, si_rate, vol_rate in rows:
        key = month.isoformat()
        parts = ["30", "31"] if month < MERGER else ["31"]
        assert constituents == len(parts)
        exp_tn = sum(truth.get((p, key, "TN"), 0) for p in parts)
        exp_hgd = sum(truth.get((p, key, "HGD"), 0) for p in parts)
        exp_lf = sum(_labour_force(p, month) for p in parts)
        exp_mandatory = sum(summaries[(p, key)]["mandatory_si_participants"] for p in parts)
        assert (tn, hgd, lf) == (exp_tn, exp_hgd, exp_lf), key
        assert abs(vol_rate - Decimal(exp_tn) / exp_lf) <= TOLERANCE
        assert abs(si_rate - (Decimal(exp_mandatory) + exp_tn) / exp_lf) <= TOLERANCE


def test_new_participants_per_district_and_month(built):
    """Truth counts `new` receipts; every generated participant has exactly one, so the distinct
    participant counts of the marts must equal them."""
    source, url = built
    truth = defaultdict(int)
    for r in _csv(source / "_truth" / "new_by_district.csv"):
        truth[(r["province_code"], r["district_code"] or None, r["month"], r["scheme"])] += int(r["new_participants"])
    got = {(code, district, month.isoformat(), scheme): n for code, district, month, scheme, n in query(
        url, """select province_code, district_code, month, scheme, new_participants
                from intermediate.int_new_participants__monthly""")}
    assert got == dict(truth)
    # the campaign mart: May and April per district and per province, May a year earlier
    campaign = query(url, """select level, province_code, district_code, year, scheme, new_in_may, new_in_april,
                                    new_in_may_prior_year, campaign_goal, reached_campaign_goal
                             from marts.fct_campaign_month where year = 2025""")
    assert campaign
    by_key = {(lvl, code, district, scheme): rest for lvl, code, district, _y, scheme, *rest in campaign}
    for (lvl, code, district, scheme), (may, april, prior, goal, reached) in by_key.items():
        if lvl == "national":
            continue
        sel = [(k, n) for k, n in truth.items() if k[0] == code and k[3] == scheme
               and (lvl == "province" or k[1] == district)]
        assert may == sum(n for k, n in sel if k[2] == "2025-05-01"), (lvl, code, district, scheme)
        assert april == sum(n for k, n in sel if k[2] == "2025-04-01"), (lvl, code, district, scheme)
        assert prior == sum(n for k, n in sel if k[2] == "2024-05-01"), (lvl, code, district, scheme)
        if lvl == "district" and scheme == "TN":
            assert goal == 50 and reached == (may >= 50)
    # every district with a new participant in April or May 2025 has its row
    districts = {(k[0], k[1], k[3]) for k in truth if k[2] in ("2025-04-01", "2025-05-01", "2024-05-01")}
    assert districts <= {(code, district, scheme) for (lvl, code, district, scheme) in by_key if lvl == "district"}


def test_daily_collections_against_truth_files(built):
    source, url = built
    expected = defaultdict(lambda: [0, 0, 0])
    for r in _csv(source / "_truth" / "files.csv"):
        if int(r["receipts"]):
            e = expected[(r["province_code"], r["report_date"], r["org_code"])]
            e[0] += int(r["receipts"]); e[1] += int(r["amount_vnd"]); e[2] += int(r["state_subsidy_vnd"])
    got = {(code, day.isoformat(), org): [n, amount, subsidy] for code, day, org, n, amount, subsidy in query(
        url, """select province_code, report_date, org_code, sum(receipts), sum(amount_vnd), sum(state_subsidy_vnd)
                from marts.fct_daily_collections group by 1, 2, 3""")}
    assert got == dict(expected)


def test_targets_national_sums_and_hai_duong_after_the_merger(built):
    """RES28_VOL_2025 (2.5% voluntary SI by 2025): the national rate is the sum of the provinces'
    voluntary participants over the sum of their labour forces (never an average of rates); Hải
    Dương's 55% is measured on old 30 up to 2025-06 and carries a note afterwards."""
    import math

    source, url = built
    truth = _truth_active(source)
    summaries = _summaries(source)
    rows = query(url, """select month, actual_value, gap, gap_pp, participants_needed, measurement_note
                         from marts.fct_target_attainment where target_id = 'RES28_VOL_2025'
                         and month between %s and %s order by month""", START, END)
    assert [r[0].isoformat() for r in rows] == _range_months()
    target = Decimal("0.025")
    for month, actual, gap, gap_pp, needed, note in rows:
        key = month.isoformat()
        codes = ["30", "31"] if month < MERGER else ["31"]
        volunteers = sum(truth.get((c, key, "TN"), 0) for c in codes)
        labour = sum(_labour_force(c, month) for c in codes)
        expected = Decimal(volunteers) / Decimal(labour)
        assert abs(actual - expected) <= TOLERANCE, key
        assert abs(gap - (target - expected)) <= TOLERANCE and abs(gap_pp - (target - expected) * 100) <= 100 * TOLERANCE
        assert needed == math.ceil((target - expected) * labour)
        assert note == f"sum of the {len(codes)} of {63 if month < MERGER else 34} provinces with data this month, " \
                       "not yet a national figure"
    hd = query(url, """select month, actual_value, projected_value_at_deadline, measurement_note
                       from marts.fct_target_attainment where target_id = 'HD_SI_2025'
                       and month between %s and %s order by month""", START, END)
    for month, actual, projected, note in hd:
        if month < MERGER:
            key = month.isoformat()
            mandatory = summaries[(("30"), key)]["mandatory_si_participants"]
            expected = (Decimal(mandatory) + truth.get(("30", key, "TN"), 0)) / _labour_force("30", month)
            assert abs(actual - expected) <= TOLERANCE and note is None, key
        else:
            assert actual is None and projected is not None
            assert note.startswith("Hải Dương (30) merged into province 31:2025-07-01 on 2025-07-01")
    assert hd[-1][0] == date(2025, 7, 1)
