"""Static checks of the dbt project (no database needed).

1. The reference seeds are byte-for-byte copies of shared/reference.
2. `dbt parse` succeeds; every mart enforces its contract, and every mart column has a data type
   and a description; the columns that spec/marts.md requires are declared.
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT = ROOT / "dbt_project"
SEEDS = DBT_PROJECT / "seeds" / "reference"
SHARED_REFERENCE = ROOT.parent / "shared" / "reference"

REQUIRED_COLUMNS = {
    "dim_province": {"province_code", "province_name", "valid_from", "valid_to", "successor_code", "is_current"},
    "fct_daily_collections": {
        "province_code", "report_date", "org_code", "scheme", "receipts", "participants",
        "amount_vnd", "state_subsidy_vnd", "new_participants",
    },
    "fct_coverage_monthly": {
        "province_code", "province_name", "month", "labour_force", "population",
        "mandatory_si_participants", "voluntary_si_participants", "si_coverage_rate",
        "voluntary_si_rate", "hi_household_participants", "health_insurance_participants",
        "hi_coverage_rate", "reconciliation_gap", "labour_force_is_estimate",
    },
    "fct_coverage_monthly_current_geography": {
        "province_code", "province_name", "month", "labour_force", "population",
        "mandatory_si_participants", "voluntary_si_participants", "si_coverage_rate",
        "voluntary_si_rate", "hi_household_participants", "health_insurance_participants",
        "hi_coverage_rate", "reconciliation_gap", "labour_force_is_estimate",
    },
    "fct_target_attainment": {
        "month", "target_id", "scope", "metric", "target_value", "deadline", "source_document", "actual_value",
        "gap", "participants_needed", "projected_value_at_deadline", "on_track", "target_status", "measurement_note",
    },
    "fct_plan_attainment": {
        "province_code", "district_code", "year", "scheme", "annual_plan", "new_participants_ytd",
        "attainment_rate", "half_year_reached",
    },
    "fct_campaign_month": {
        "province_code", "district_code", "year", "scheme", "new_in_may", "new_in_april", "new_in_may_prior_year",
        "new_change_vs_april", "new_change_vs_may_prior_year", "campaign_goal", "reached_campaign_goal",
    },
}


def _dbt_executable() -> str:
    candidate = Path(sys.executable).parent / "dbt"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("dbt")
    if not found:
        pytest.skip("dbt is not installed")
    return found


@pytest.mark.skipif(not SHARED_REFERENCE.is_dir(), reason="shared/reference is not available")
def test_seeds_identical_to_shared_reference():
    shared = sorted(p.name for p in SHARED_REFERENCE.glob("*.csv"))
    seeds = sorted(p.name for p in SEEDS.glob("*.csv"))
    assert shared, "no CSV in shared/reference"
    assert seeds == shared, "the seed CSVs must be exactly the CSVs of shared/reference"
    differing = [name for name in shared if not filecmp.cmp(SHARED_REFERENCE / name, SEEDS / name, shallow=False)]
    assert not differing, f"seeds differ from shared/reference: {differing}"


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> dict:
    target = tmp_path_factory.mktemp("dbt_target")
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    result = subprocess.run(
        [_dbt_executable(), "parse", "--profiles-dir", str(DBT_PROJECT), "--project-dir", str(DBT_PROJECT),
         "--target-path", str(target), "--log-path", str(target / "logs"), "--no-partial-parse"],
        cwd=DBT_PROJECT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, f"dbt parse failed:\n{result.stdout}\n{result.stderr}"
    return json.loads((target / "manifest.json").read_text())


def _marts(manifest: dict) -> dict[str, dict]:
    return {
        node["name"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["original_file_path"].startswith("models/marts/")
    }


def test_marts_have_enforced_contracts_and_documented_columns(manifest):
    marts = _marts(manifest)
    assert set(REQUIRED_COLUMNS) <= set(marts), f"missing marts: {set(REQUIRED_COLUMNS) - set(marts)}"
    problems = []
    for name, node in sorted(marts.items()):
        if not node["config"].get("contract", {}).get("enforced"):
            problems.append(f"{name}: contract not enforced")
        # an incremental model is a table too (fct_daily_collections: a new day does not rebuild the past)
        if node["config"].get("materialized") not in ("table", "incremental") or node["schema"] != "marts":
            problems.append(f"{name}: must be a table in schema marts (is {node['config'].get('materialized')} in {node['schema']})")
        if node["config"].get("materialized") == "incremental" and node["config"].get("on_schema_change") != "fail":
            problems.append(f"{name}: an incremental mart with a contract must fail on a schema change")
        if not node.get("description", "").strip():
            problems.append(f"{name}: no description")
        if not node["columns"]:
            problems.append(f"{name}: no columns declared")
        for column_name, column in node["columns"].items():
            if not (column.get("description") or "").strip():
                problems.append(f"{name}.{column_name}: no description")
            if not column.get("data_type"):
                problems.append(f"{name}.{column_name}: no data_type")
    assert not problems, "\n".join(problems)


def test_marts_declare_the_contract_columns(manifest):
    marts = _marts(manifest)
    for name, required in REQUIRED_COLUMNS.items():
        missing = required - set(marts[name]["columns"])
        assert not missing, f"{name} lacks {sorted(missing)}"


def test_staging_models_keep_the_source_renamed_shape():
    staging = sorted((DBT_PROJECT / "models" / "staging").glob("stg_*.sql"))
    assert staging
    for path in staging:
        sql = path.read_text()
        for fragment in ("source as (", "renamed as (", "select * from renamed"):
            assert fragment in sql, f"{path.name}: missing `{fragment}`"
