"""The figures of the background articles (shared/reference/article_facts.csv) that the marts can
express, from hand-crafted reports loaded by the real pipeline and one real `dbt build`.

* Hải Dương (30), May 2024 (article 004): voluntary SI participants +871 on April 2024 and +2,557
  on May 2023; mandatory SI participants +3,234 on April 2024 and +6,799 on May 2023.
* U Minh Thượng district of Kiên Giang (91, district 913, code unconfirmed), 2020 (article 003):
  366 new voluntary participants against an annual plan of 244 = 150%; Kiên Giang's campaign goal
  of at least 50 new voluntary participants per district (campaign_targets KG_2020_DISTRICT).

The reports are written by hand in the canonical form of spec/collection-report.md (snake_case
headers, ISO dates, canonical codes), one file per report day, with statutory amounts. Every
population below is chosen by hand so that the stocks move exactly as the articles say; the
arithmetic is spelled out next to it and checked on the design itself, not on the marts.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from .marts_support import Reports, dbt_build, load_source, query, reference_rows

from .conftest import scratch_database

FACTS = {row["fact_id"]: row for row in reference_rows("article_facts")}
PLAN = next(row for row in reference_rows("annual_plans") if row["district_name"] == "U Minh Thượng")

# --- Hải Dương, voluntary SI (TN): who is active when ------------------------------------------
A = 443     # new on 2023-05-10, 12 months from 2023-05: active 2023-05 .. 2024-04
A_RENEW = 300  # of A, renew on 2024-04-15 for 12 months from 2024-05 (the other 143 lapse)
B = 1686    # new on 2024-04-15, 6 months from 2024-04: active 2024-04 .. 2024-09
B_REFUND = 1  # of B, refund 2024-05 .. 2024-09 (5 months) on 2024-05-15
C_DISTRICTS = {"288": 30, "289": 49, "290": 50, "291": 127, "292": 127, "293": 127, "294": 127,
               "295": 126, "296": 126, "297": 126}  # new on 2024-05-15, 12 months from 2024-05
C = sum(C_DISTRICTS.values())
MAY_2023 = A
APRIL_2024 = A + B
MAY_2024 = A_RENEW + (B - B_REFUND) + C
# mandatory SI (monthly summaries): level chosen freely, differences from the article
MANDATORY_MAY_2024 = 251_000

# --- U Minh Thượng (91 Kiên Giang, 2020), new voluntary participants ----------------------------
UMT = PLAN["district_code"]          # 913
UMT_MAY = 150                         # new on 2020-05-20 (inside the campaign window 05-01 .. 06-30)
UMT_AUGUST = 216                      # new on 2020-08-12
OTHER_DISTRICT, OTHER_MAY = "914", 20  # another Kiên Giang district, below the goal of 50
UMT_CONTINUED = 30                    # continued payments in 913 (not new: must not count)
UMT_HGD_NEW = 12                      # household HI enrolments in 913 (not the TN plan)


def test_design_matches_the_articles():
    """The hand-made populations reproduce the article figures (arithmetic only)."""
    assert MAY_2024 - APRIL_2024 == int(FACTS["HD_2024_05_VOLUNTARY_MOM"]["value"]) == 871
    assert MAY_2024 - MAY_2023 == int(FACTS["HD_2024_05_VOLUNTARY_YOY"]["value"]) == 2557
    assert UMT_MAY + UMT_AUGUST == int(FACTS["UMT_2020_NEW_VOLUNTARY"]["value"]) == 366
    assert int(PLAN["plan_value"]) == 244 and UMT_MAY >= 244 / 2


def _build_source(root: Path) -> None:
    r = Reports(root)
    line_2024 = 1_500_000
    # Hải Dương
    group_a = [r.person("30") for _ in range(A)]
    for i, p in enumerate(group_a):
        r.add("30", date(2023, 5, 10), participant=p, district="288" if i % 2 else "289", transaction="new",
              period_start=date(2023, 5, 1), months=12, poverty_line=line_2024)
    for p in group_a[:A_RENEW]:
        r.add("30", date(2024, 4, 15), participant=p, district="289", transaction="continued",
              period_start=date(2024, 5, 1), months=12, poverty_line=line_2024)
    group_b = [r.person("30") for _ in range(B)]
    for i, p in enumerate(group_b):
        r.add("30", date(2024, 4, 15), participant=p, district=f"{288 + i % 10}", transaction="new",
              period_start=date(2024, 4, 1), months=6, poverty_line=line_2024)
    for p in group_b[:B_REFUND]:
        r.add("30", date(2024, 5, 15), participant=p, district="288", transaction="refund",
              period_start=date(2024, 5, 1), months=-5, poverty_line=line_2024)
    for district, n in C_DISTRICTS.items():
        for _ in range(n):
            r.add("30", date(2024, 5, 15), participant=r.person("30"), district=district, transaction="new",
                  period_start=date(2024, 5, 1), months=12, poverty_line=line_2024)
    r.summary("30", "2023-05", MANDATORY_MAY_2024 - int(FACTS["HD_2024_05_MANDATORY_YOY"]["value"]), MAY_2023,
              1_700_000)
    r.summary("30", "2024-04", MANDATORY_MAY_2024 - int(FACTS["HD_2024_05_MANDATORY_MOM"]["value"]), APRIL_2024,
              1_750_000)
    r.summary("30", "2024-05", MANDATORY_MAY_2024, MAY_2024, 1_760_000)
    # Kiên Giang 2020 (code 91 meant Kiên Giang then)
    line_2020 = 700_000
    for _ in range(UMT_MAY):
        r.add("91", date(2020, 5, 20), participant=r.person("91"), district=UMT, transaction="new",
              period_start=date(2020, 6, 1), months=12, poverty_line=line_2020)
    for _ in range(OTHER_MAY):
        r.add("91", date(2020, 5, 20), participant=r.person("91"), district=OTHER_DISTRICT, transaction="new",
              period_start=date(2020, 6, 1), months=6, poverty_line=line_2020)
    for _ in range(UMT_CONTINUED):
        r.add("91", date(2020, 5, 20), participant=r.person("91"), district=UMT, transaction="continued",
              period_start=date(2020, 6, 1), months=3, poverty_line=line_2020)
    for _ in range(UMT_HGD_NEW):
        r.add("91", date(2020, 5, 20), participant=r.person("91"), district=UMT, transaction="new",
              period_start=date(2020, 6, 1), months=12, scheme="HGD", poverty_line=line_2020)
    for _ in range(UMT_AUGUST):
        r.add("91", date(2020, 8, 12), participant=r.person("91"), district=UMT, transaction="new",
              period_start=date(2020, 8, 1), months=3, poverty_line=line_2020)
    r.write()


@pytest.fixture(scope="module")
def marts(tmp_path_factory, warehouse_url):

    work = tmp_path_factory.mktemp("article_facts")
    source = work / "source"
    _build_source(source)
    with scratch_database(warehouse_url, "bhxh_test_marts_facts") as url:
        load_source(source, date(2020, 5, 1), date(2024, 5, 31))
        loaded = query(url, "select count(*), count(*) filter (where status = 'loaded') from raw.report_files")
        assert loaded == [(5, 5)], "every hand-made report must load"
        dbt_build(work / "target")
        yield url


def test_hai_duong_may_2024_month_on_month_and_year_on_year(marts):
    rows = query(marts, """select active_in_may, active_in_april, active_in_may_prior_year,
                                  active_change_vs_april, active_change_vs_may_prior_year,
                                  mandatory_si_change_vs_april, mandatory_si_change_vs_may_prior_year,
                                  new_in_may, new_in_april, new_in_may_prior_year, province_key
                           from marts.fct_campaign_month
                           where level = 'province' and province_code = '30' and year = 2024 and scheme = 'TN'""")
    assert len(rows) == 1
    (may, april, prior, change_april, change_prior, mand_april, mand_prior,
     new_may, new_april, new_prior, key) = rows[0]
    assert key == "30:2008-08-01"
    assert (may, april, prior) == (MAY_2024, APRIL_2024, MAY_2023)
    assert change_april == int(FACTS["HD_2024_05_VOLUNTARY_MOM"]["value"]) == 871
    assert change_prior == int(FACTS["HD_2024_05_VOLUNTARY_YOY"]["value"]) == 2557
    assert mand_april == int(FACTS["HD_2024_05_MANDATORY_MOM"]["value"]) == 3234
    assert mand_prior == int(FACTS["HD_2024_05_MANDATORY_YOY"]["value"]) == 6799
    # the flow behind the stock: new enrolments are not the change in participants
    assert (new_may, new_april, new_prior) == (C, B, A)


def test_hai_duong_coverage_monthly_says_the_same(marts):
    rows = dict(query(marts, """select month, voluntary_si_participants from marts.fct_coverage_monthly
                                where province_code = '30' and month in ('2023-05-01', '2024-04-01', '2024-05-01')"""))
    assert rows[date(2024, 5, 1)] - rows[date(2024, 4, 1)] == 871
    assert rows[date(2024, 5, 1)] - rows[date(2023, 5, 1)] == 2557
    gaps = query(marts, """select count(*) from marts.fct_coverage_monthly
                           where province_code = '30' and reconciliation_gap <> 0""")
    assert gaps == [(0,)], "the summaries report the same voluntary counts as the receipts"


def test_hai_duong_districts_reaching_the_campaign_goal(marts):
    rows = query(marts, """select district_code, new_in_may, campaign_goal, reached_campaign_goal, campaign_goal_status
                           from marts.fct_campaign_month
                           where level = 'district' and province_code = '30' and year = 2024 and scheme = 'TN'
                           order by district_code""")
    got = {d: (n, goal, reached) for d, n, goal, reached, _ in rows}
    assert got == {d: (n, 50, n >= 50) for d, n in C_DISTRICTS.items()}
    assert all(status.startswith("default: 50") for *_, status in rows)
    province = query(marts, """select districts_with_new_participants, districts_reached_campaign_goal
                               from marts.fct_campaign_month
                               where level = 'province' and province_code = '30' and year = 2024 and scheme = 'TN'""")
    assert province == [(10, 8)]  # 290 .. 297 reach 50; 288 (30) and 289 (49) do not


def test_u_minh_thuong_plan_attainment_366_of_244(marts):
    rows = query(marts, """select province_key, district_code, district_name, annual_plan, new_participants_ytd,
                                  attainment_rate, new_participants_by_30_june, half_year_reached, plan_status
                           from marts.fct_plan_attainment where year = 2020 and scheme = 'TN'""")
    assert len(rows) == 1
    key, district, name, plan, ytd, rate, by_june, half, status = rows[0]
    assert (key, district, name) == ("91:2008-08-01", "913", "U Minh Thượng")  # 91 meant Kiên Giang in 2020
    assert (plan, ytd) == (244, 366)
    assert rate == pytest.approx(1.5, abs=1e-12) and float(rate) == 366 / 244
    assert (by_june, half) == (UMT_MAY, True)
    assert status.startswith("from_article")


def test_kien_giang_2020_campaign_goal_per_district(marts):
    rows = query(marts, """select district_code, campaign_id, campaign_goal, campaign_window_start, campaign_window_end,
                                  new_in_may, new_in_campaign_window, reached_campaign_goal, campaign_goal_status
                           from marts.fct_campaign_month
                           where level = 'district' and province_code = '91' and year = 2020 and scheme = 'TN'
                           order by district_code""")
    assert [r[:8] for r in rows] == [
        (UMT, "KG_2020_DISTRICT", 50, date(2020, 5, 1), date(2020, 6, 30), UMT_MAY, UMT_MAY, True),
        (OTHER_DISTRICT, "KG_2020_DISTRICT", 50, date(2020, 5, 1), date(2020, 6, 30), OTHER_MAY, OTHER_MAY, False),
    ]
    assert all(r[8] == "from_article" for r in rows)
