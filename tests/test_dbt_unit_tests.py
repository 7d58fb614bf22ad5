"""dbt's own unit tests (`unit_tests:` in the models' yml) against the embedded PostgreSQL.

dbt infers the fixtures' column types from the upstream relations, so the seeds and an empty build of
every model (`dbt run --empty`) come first, in a database of their own; then
`dbt test --select test_type:unit` runs every unit test of the project.
"""

from __future__ import annotations

import json

import pytest

from .marts_support import dbt

from .conftest import scratch_database

# models with logic that must keep a unit test
MODELS_WITH_UNIT_TESTS = {
    "int_coverage_periods__part0", "int_active_participants__monthly", "int_provinces__lineage",
    "int_receipts__versions", "int_province_denominators__yearly", "fct_coverage_monthly",
    "fct_coverage_monthly_national", "fct_coverage_monthly_current_geography", "fct_target_attainment",
    "fct_plan_attainment", "fct_campaign_month", "fct_daily_collections", "fct_report_completeness",
    "int_monthly_summaries__provinces",
    "int_new_participants__monthly", "int_campaign_month__new_participants",
}


@pytest.fixture(scope="module")
def empty_build(warehouse_url, tmp_path_factory):
    """A database of its own with the seeds and every model built empty; yields dbt's target path."""

    with scratch_database(warehouse_url, "bhxh_test_dbt_unit"):
        target = tmp_path_factory.mktemp("dbt_unit")
        for args in (["seed"], ["run", "--empty"]):
            result = dbt(args, target)
            assert result.returncode == 0, f"dbt {' '.join(args)} failed:\n{result.stdout[-4000:]}"
        yield target


def test_dbt_unit_tests_pass(empty_build):
    tmp_path = empty_build
    result = dbt(["test", "--select", "test_type:unit"], tmp_path)
    assert result.returncode == 0, f"dbt unit tests failed:\n{result.stdout[-8000:]}"
    run = json.loads((tmp_path / "run_results.json").read_text())
    executed = [r for r in run["results"] if r["unique_id"].startswith("unit_test.")]
    assert executed and all(r["status"] == "pass" for r in executed)
    tested = {r["unique_id"].split(".")[2] for r in executed}
    assert MODELS_WITH_UNIT_TESTS <= tested, f"models without a unit test: {MODELS_WITH_UNIT_TESTS - tested}"


def test_dbt_docs_generate(empty_build):
    """`dbt docs generate` works (README: browse with `dbt docs serve`): every mart is in the catalog
    with its columns, and the BI exposures are in the manifest."""
    tmp_path = empty_build
    result = dbt(["docs", "generate"], tmp_path)
    assert result.returncode == 0, f"dbt docs generate failed:\n{result.stdout[-4000:]}"
    catalog = json.loads((tmp_path / "catalog.json").read_text())
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    marts = {n["name"]: n for n in manifest["nodes"].values()
             if n["resource_type"] == "model" and n["schema"] == "marts"}
    assert "fct_campaign_month" in marts
    for name, node in marts.items():
        entry = catalog["nodes"].get(node["unique_id"])
        assert entry, f"{name} missing from the catalog"
        assert set(entry["columns"]) == set(node["columns"]), name
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    assert {"metabase_coverage_dashboard", "superset_campaign_dashboard", "static_coverage_dashboard"} <= set(exposures)
    read = {dep.split(".")[-1] for e in exposures.values() for dep in e["depends_on"]["nodes"]}
    assert {"fct_campaign_month", "fct_target_attainment", "fct_coverage_monthly"} <= read
