"""GX validation of a batch (no database): what GX is given does not change what it finds, and the
Data Docs are rendered only for runs with a failed check.

The batch is the shared sample of 2024-05-15 (9 receipts) read four times as four files, each copy
with its own receipt numbers; the faults are planted by hand below.
"""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from bhxh import validate
from bhxh.reader import read_report
from bhxh.settings import get_settings

from .conftest import SHARED

SAMPLE = SHARED / "samples" / "source" / "30" / "2024-05-15" / "VNPOST.csv"
pytestmark = pytest.mark.skipif(not SAMPLE.exists(), reason="shared/samples not beside the checkout")
DAY = date(2024, 5, 15)


def _batch(faults: bool) -> list[validate.FileInput]:
    files = []
    for k in range(4):
        result = read_report(SAMPLE.read_bytes(), SAMPLE.name)
        rows = result.rows
        rows["receipt_no"] = rows["receipt_no"] + f"-{k}"
        if faults and k == 0:
            rows.at[0, "scheme"] = None  # line 5
        if faults and k == 1:
            rows.at[2, "gender"] = "X"  # line 7
        if faults and k == 2:
            rows.at[1, "district_code"] = "12"  # line 6; before the 2025 merger a district has 3 digits
        files.append(validate.FileInput(k + 1, "30", DAY, "VNPOST", f"30/{DAY}/VNPOST-{k}.csv", rows,
                                        result.missing_columns, result.control_total, result.extra_columns))
    return files


def _outcome(files, run_id=None):
    outcome = validate.validate(files, run_id=run_id)
    checks = [(c.file_id, c.check_name, c.success, c.unexpected_count, c.sample_values, c.severity)
              for c in outcome.checks]
    return outcome, (outcome.row_reasons, outcome.file_reasons, checks)


def test_categorical_columns_find_the_same_faults_as_object_columns(monkeypatch):
    files = _batch(faults=True)
    outcome, as_categorical = _outcome(files)
    assert outcome.row_reasons == {
        (1, 5): ["receipt_rows.expect_column_values_to_not_be_null(scheme)"],
        (2, 7): ["receipt_rows.expect_column_values_to_be_in_set(gender)"],
        (3, 6): ["receipt_rows.expect_column_values_to_match_regex(district_code) where _before_merger == True"],
    }
    assert outcome.file_reasons == {}
    nulls = [c for c in outcome.checks if c.check_name.endswith("to_not_be_null(scheme)") and not c.success]
    assert [(c.file_id, c.sample_values) for c in nulls] == [(1, [None])]  # a null, not a categorical NaN
    monkeypatch.setattr(validate, "CATEGORY_ROWS_PER_VALUE", 10**9)  # every text column as object
    assert _outcome(files)[1] == as_categorical


def test_data_docs_are_rendered_only_for_a_run_with_a_failed_check():
    run = uuid.uuid4().hex[:12]
    stored = get_settings().home / "gx" / "validations"
    clean, _ = _outcome(_batch(faults=False), run_id=f"clean-{run}")
    assert all(c.success for c in clean.checks) and clean.data_docs_url is None
    # the three suites' results are stored all the same
    assert sorted(p.parent.parent.parent.name for p in stored.rglob("*.json") if f"clean-{run}" in str(p)) == [
        "receipt_files", "receipt_rows", "report_files"]
    failed, _ = _outcome(_batch(faults=True), run_id=f"failed-{run}")
    assert failed.data_docs_url and failed.data_docs_url.endswith("index.html")
    index = (get_settings().data_docs_dir / "index.html").read_text(encoding="utf-8")
    assert f"failed-{run}" in index and f"clean-{run}" not in index


def test_gx_does_not_fingerprint_the_frames_and_finds_the_same_faults(monkeypatch):
    from great_expectations.execution_engine import pandas_execution_engine as engine

    files = _batch(faults=True)
    _, unhashed = _outcome(files)
    hashed: list[int] = []
    monkeypatch.setattr(engine, "hash_pandas_dataframe", lambda frame: hashed.append(len(frame)) or "0")
    assert _outcome(files)[1] == unhashed and hashed == []  # the loader's setting: no fingerprint
    monkeypatch.setattr(engine, "HASH_THRESHOLD", 1e9)  # GX's default
    assert _outcome(files)[1] == unhashed and hashed  # fingerprinted, and the same faults found


def test_the_loader_freezes_the_gc_generations_once_per_process(monkeypatch):
    """A second freeze could catch a chunk still being written (its cyclic garbage then never freed)."""
    import gc

    frozen: list[int] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(1))
    monkeypatch.setattr(validate, "_frozen", [])
    validate.warm_up()
    validate.warm_up()
    assert frozen == [1]
