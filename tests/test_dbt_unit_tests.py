"""dbt's own unit tests (`unit_tests:` in the models' yml) against the embedded PostgreSQL.

dbt infers the fixtures' column types from the upstream relations, so the seeds and an empty build of
every model (`dbt run --empty`) come first, in a database of their own; then
`dbt test --select test_type:unit` runs every unit test of the project.
"""

from __future__ import annotations

import json
import os

import psycopg
import pytest

from .marts_support import dbt

# models with logic that must keep a unit test
MODELS_WITH_UNIT_TESTS = {
    "int_coverage_periods", "int_active_participants__monthly", "int_provinces__lineage",
    "int_receipts__counted", "int_province_denominators__yearly", "fct_coverage_monthly",
    "fct_coverage_monthly_national", "fct_coverage_monthly_current_geography", "fct_target_attainment",
    "fct_plan_attainment", "fct_campaign_month",
}


@pytest.fixture
def unit_db(warehouse_url):
    from bhxh.pipeline import init_schema
    from bhxh.settings import get_settings

    name = "bhxh_test_dbt_unit"
    admin = warehouse_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"drop database if exists {name} with (force)")
        conn.execute(f"create database {name}")
    previous = os.environ.get("BHXH_DATABASE")
    os.environ["BHXH_DATABASE"] = name
    try:
        init_schema(get_settings())
        yield name
    finally:
        if previous is None:
            os.environ.pop("BHXH_DATABASE", None)
        else:
            os.environ["BHXH_DATABASE"] = previous


def test_dbt_unit_tests_pass(unit_db, tmp_path):
    for args in (["seed"], ["run", "--empty"]):
        result = dbt(args, tmp_path)
        assert result.returncode == 0, f"dbt {' '.join(args)} failed:\n{result.stdout[-4000:]}"
    result = dbt(["test", "--select", "test_type:unit"], tmp_path)
    assert result.returncode == 0, f"dbt unit tests failed:\n{result.stdout[-8000:]}"
    run = json.loads((tmp_path / "run_results.json").read_text())
    executed = [r for r in run["results"] if r["unique_id"].startswith("unit_test.")]
    assert executed and all(r["status"] == "pass" for r in executed)
    tested = {r["unique_id"].split(".")[2] for r in executed}
    assert MODELS_WITH_UNIT_TESTS <= tested, f"models without a unit test: {MODELS_WITH_UNIT_TESTS - tested}"
