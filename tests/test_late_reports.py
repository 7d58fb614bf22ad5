"""Late and corrected reports, re-runs and alerts through the real daily DAG (``dag.test()``) and
the real marts DAG (Cosmos), against the real PostgreSQL. Expected figures come from the
generator's ground truth (``_truth/files.csv``), never from the pipeline.

The story, one report day after another, nobody acting in between:
  05-14  province 30's VNPOST report is missing at the deadline: alert; the marts lack it
  05-15  still missing; 31's report of 05-15 loads
         then 30's report of 05-14 arrives (3 days late) and 31 re-sends 05-15 as VNPOST.v2
  05-17  the run's 7-day look-back loads both; the marts follow
  05-17  again: nothing changes (checksums)
"""

from __future__ import annotations

import shutil
from datetime import date

import pytest

from .airflow_helpers import (RAW_TABLES, Webhook, checksums, generate, one, own_database, run_daily, run_marts,
                              truth_files)

pytestmark = pytest.mark.e2e

D13, D14, D15, D16, D17 = (date(2024, 5, d) for d in range(13, 18))
LATE = ("30", "2024-05-14", "VNPOST")       # arrives 3 days late
CORRECTED = ("31", "2024-05-15", "VNPOST")  # re-sent as VNPOST.v2
MART = "marts.fct_daily_collections"


@pytest.fixture(scope="module")
def world(warehouse_url, tmp_path_factory):
    base = tmp_path_factory.mktemp("late")
    source = generate(base / "source", D13, D17)
    # the correction: the same organisation's report of the same day from another draw of the generator
    other = generate(base / "other", D15, D15, provinces=["31"], seed=7)
    truth = {(r["province_code"], r["report_date"], r["org_code"]): r for r in truth_files(source)}
    fixed = {(r["province_code"], r["report_date"], r["org_code"]): r for r in truth_files(other)}[CORRECTED]
    late_path = source / truth[LATE]["path"]
    held_back = base / "held-back" / late_path.name
    held_back.parent.mkdir()
    shutil.move(late_path, held_back)
    hook = Webhook()
    with own_database(warehouse_url, "bhxh_test_late") as url, pytest.MonkeyPatch.context() as mp:
        mp.setenv("BHXH_ALERT_WEBHOOK_URL", hook.url)
        yield {"url": url, "source": source, "truth": truth, "fixed": fixed, "other": other, "hook": hook,
               "late_path": late_path, "held_back": held_back}
    hook.close()


def _loaded(url, province, day):
    """(receipts, amount) the marts count for a province and report day."""
    return one(url, f"select coalesce(sum(receipts), 0), coalesce(sum(amount_vnd), 0) from {MART} "
                    "where province_code = %s and report_date = %s", province, day)


def _expected(row):
    return (int(row["receipts"]), int(row["amount_vnd"]))


def test_missing_report_alerts_and_the_rest_loads(world):
    url, truth, hook = world["url"], world["truth"], world["hook"]
    assert "success" in run_daily(D14, world["source"])
    files = one(url, "select count(*), count(*) filter (where status = 'loaded') from raw.report_files")
    # 05-13 and 05-14 (look-back included) of both provinces, less the one held back
    expected = [k for k in truth if k[1] in ("2024-05-13", "2024-05-14") and k != LATE]
    assert files == (len(expected), len(expected))
    alerts = hook.of_kind("missing_reports")
    assert len(alerts) == 1
    assert alerts[0]["details"] == {"report_date": "2024-05-14", "missing": {"30": ["VNPOST"]}}
    assert "success" in run_marts("fct_daily_collections")
    assert _loaded(url, "30", D14) == (0, 0)
    assert _loaded(url, "31", D14) == _expected(truth[("31", "2024-05-14", "VNPOST")])


def test_late_and_corrected_reports_load_without_anyone_acting(world):
    url, truth, hook = world["url"], world["truth"], world["hook"]
    assert "success" in run_daily(D15, world["source"])
    assert len(hook.of_kind("missing_reports")) == 1, "05-15 itself is complete: no new alert"
    v1 = _expected(truth[CORRECTED])
    # the late report arrives, and 31 corrects its 05-15 report
    shutil.move(world["held_back"], world["late_path"])
    v2_source = world["other"] / world["fixed"]["path"]
    v2_path = world["source"] / "31" / "2024-05-15" / ("VNPOST.v2" + v2_source.suffix)
    shutil.copy(v2_source, v2_path)
    assert one(url, "select rows_loaded from raw.report_files where province_code = '31' and report_date = %s "
                    "and status = 'loaded'", D15) == (v1[0],)

    assert "success" in run_daily(D17, world["source"])
    assert "success" in run_marts("fct_daily_collections")
    assert _loaded(url, "30", D14) == _expected(truth[LATE])
    v2 = _expected(world["fixed"])
    assert v2 != v1 and _loaded(url, "31", D15) == v2
    status = one(url, "select array_agg(status || ':' || version order by version) from raw.report_files "
                      "where province_code = '31' and report_date = %s", D15)[0]
    assert status == ["superseded:1", "loaded:2"]
    # every other report of the window, once
    for key, row in truth.items():
        if key != CORRECTED:
            assert _loaded(url, key[0], date.fromisoformat(key[1])) == _expected(row), key


def test_rerunning_a_day_changes_nothing(world):
    url = world["url"]
    before = checksums(url, RAW_TABLES + [MART])
    assert "success" in run_daily(D17, world["source"])
    assert "success" in run_daily(D16, world["source"])
    assert "success" in run_marts("fct_daily_collections")
    assert checksums(url, RAW_TABLES + [MART]) == before
