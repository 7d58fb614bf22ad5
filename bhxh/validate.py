"""Great Expectations validation of a batch of report files, with suites read from ``expectations/``.

One GX context and one validation per suite for the whole batch (all provinces of a run), so the
GX import and set-up are paid once per task, not per province or file. Results are mapped back to
files and rows:

- ``receipt_rows``: a failing row is quarantined with every reason;
- ``receipt_files`` and ``report_files``: any failure quarantines the whole file.

An expectation whose ``meta.severity`` is ``"warning"`` (e.g. the control total, schema drift) is
recorded like any other check but rejects nothing.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from bhxh.canonical import MERGER_DATE, PERSONAL_COLUMNS, REQUIRED_COLUMNS
from bhxh.reference import province_on
from bhxh.settings import get_settings

log = logging.getLogger(__name__)

ROW_SUITE, FILE_ROW_SUITE, FILE_SUITE = "receipt_rows", "receipt_files", "report_files"
SAMPLE_SIZE = 5
DOCS_SITE = "bhxh"
DOCS_LIST_LIMIT = 20  # failing values kept per check in the Data Docs
# the index lists the latest results with a page (it reads every listed result on each build: its cost
# would otherwise grow with the history); older pages stay on disk
DOCS_INDEX_LIMIT = 300
ERROR, WARNING = "error", "warning"
CATEGORY_ROWS_PER_VALUE = 4  # an object column with at most one distinct value per 4 rows goes to GX as categorical


@dataclass
class FileInput:
    file_id: int
    province_code: str
    report_date: date
    org_code: str
    path: str
    rows: pd.DataFrame  # canonical rows from the reader, with line_no
    missing_columns: list[str]
    control_total: int | None
    extra_columns: list[str] = field(default_factory=list)
    is_latest: bool = True  # the highest version of its report in the batch (others will be superseded)


@dataclass
class CheckResult:
    file_id: int
    check_name: str
    success: bool
    unexpected_count: int
    sample_values: list
    severity: str = ERROR


@dataclass
class ValidationOutcome:
    row_reasons: dict[tuple[int, int], list[str]] = field(default_factory=dict)  # (file_id, line_no) -> reasons
    file_reasons: dict[int, list[str]] = field(default_factory=dict)  # file_id -> reasons
    checks: list[CheckResult] = field(default_factory=list)
    data_docs_url: str | None = None


@lru_cache(maxsize=8)
def load_suite_json(name: str, folder: Path | None = None) -> str:
    return ((folder or get_settings().expectations_dir) / f"{name}.json").read_text(encoding="utf-8")


def _suite(name: str):
    from great_expectations.core.expectation_suite import ExpectationSuite

    return ExpectationSuite(**json.loads(load_suite_json(name)))


@lru_cache(maxsize=1)
def _context():
    """An ephemeral GX context whose validation results and Data Docs site live on disk
    ($BHXH_HOME/gx/validations and settings.data_docs_dir), so the docs index lists every run that
    was rendered (the latest DOCS_INDEX_LIMIT results)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import DataContextConfig, InMemoryStoreBackendDefaults

    settings = get_settings()
    config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False))
    config.stores["validation_results_store"] = {
        "class_name": "ValidationResultsStore",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                          "base_directory": str(settings.home / "gx" / "validations")}}
    config.data_docs_sites = {DOCS_SITE: {
        "class_name": "SiteBuilder", "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(settings.data_docs_dir)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder",
                               "validation_results_limit": DOCS_INDEX_LIMIT}}}
    context = gx.get_context(mode="ephemeral", project_config=config)
    _no_frame_fingerprint()
    try:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except Exception:  # progress bars are cosmetic
        pass
    return context


def _no_frame_fingerprint() -> None:
    """GX's pandas engine fingerprints every batch frame below ``HASH_THRESHOLD`` bytes (an md5 of
    ``hash_pandas_object``, twice per suite since ``Batch.validate`` gets its batch again) only to
    put it in the batch markers, which nothing here reads: a quarter of the validation's time on a
    chunk of four national days. The threshold is the engine's own switch for large frames."""
    from great_expectations.execution_engine import pandas_execution_engine

    pandas_execution_engine.HASH_THRESHOLD = 0


def warm_up() -> None:
    """Import GX and make its context, then move every object alive to the garbage collector's
    permanent generation (``gc.freeze``): GX's hundreds of thousands of long-lived objects are then
    not walked again by every full collection while batches are read and checked (0.2 s of CPU a
    national day). Once per process: a later call could freeze a batch still being written
    (``bhxh.chunks`` reads the next chunk meanwhile), whose cyclic garbage would then never be
    collected (a month's load grew to 2 GB so)."""
    import gc

    _batch_definition()
    if not _frozen:
        gc.freeze()
        _frozen.append(True)


_frozen: list[bool] = []


@lru_cache(maxsize=1)
def _batch_definition():
    asset = _context().data_sources.add_pandas("bhxh").add_dataframe_asset("batch")
    return asset.add_batch_definition_whole_dataframe("whole")


def check_name(suite: str, config) -> str:
    kwargs = config.kwargs
    target = kwargs.get("column") or ",".join(kwargs.get("column_list") or []) or (
        f"{kwargs.get('column_A')}={kwargs.get('column_B')}" if kwargs.get("column_A") else "")
    condition = kwargs.get("row_condition")
    condition = f" where {_condition_text(condition)}" if condition else ""
    return f"{suite}.{config.type}({target}){condition}"


def _condition_text(condition) -> str:
    """A readable form of a GX row condition (as stored in the suite JSON)."""
    if hasattr(condition, "to_dict"):
        condition = condition.to_dict()
    if hasattr(condition, "model_dump"):
        condition = condition.model_dump()
    if isinstance(condition, dict):
        if "conditions" in condition:
            joiner = f" {condition.get('type', 'and')} "
            return joiner.join(_condition_text(c) for c in condition["conditions"])
        if "column" in condition:
            column = condition["column"]
            name = column.get("name") if isinstance(column, dict) else column
            return f"{name} {condition.get('operator')} {condition.get('parameter')!r}"
    return str(condition)


def _row_frame(files: list[FileInput], loaded_receipts: frozenset = frozenset()) -> pd.DataFrame:
    """The batch's rows, with the columns the suites check derived for all files at once."""
    from bhxh.statutory import expected_amount

    if not files:
        return pd.DataFrame()
    sizes = [len(f.rows) for f in files]

    def per_file(values: list, dtype) -> np.ndarray:  # one value per file -> one per row
        return np.repeat(np.asarray(values, dtype=dtype), sizes)

    merger = date.fromisoformat(MERGER_DATE)
    combined = pd.concat([f.rows for f in files], ignore_index=True)
    combined["_file_id"] = per_file([f.file_id for f in files], np.int64)
    combined["_file_province"] = per_file([f.province_code for f in files], object)
    org = per_file([f.org_code for f in files], object)
    combined["org_code"] = org
    combined["_before_merger"] = per_file([f.report_date < merger for f in files], bool)
    collected = pd.to_datetime(combined["collected_on"], errors="coerce")
    reported = pd.Series(per_file([np.datetime64(f.report_date, "D") for f in files], "datetime64[s]"))
    combined["_days_before_report"] = (reported - collected).dt.days.astype("Int64")
    combined["_collection_year"] = collected.dt.year.astype("Int64")
    combined["_age_at_collection"] = (combined["_collection_year"] - combined["birth_year"].astype("Int64")
                                      ).astype("Int64")
    keys = np.full(len(combined), None, dtype=object)
    known = (combined["_collection_year"].notna() & combined["receipt_no"].notna()).to_numpy()
    years = combined["_collection_year"].to_numpy(dtype=object)[known]
    numbers = combined["receipt_no"].to_numpy(dtype=object)[known]
    keys[known] = [f"{o}|{y}|{r}" for o, y, r in zip(org[known], years, numbers)]  # org codes never hold '|'
    # uniqueness within the batch: only the report versions that stay (a v1 repeats its v2's numbers)
    combined["_receipt_key"] = pd.Series(np.where(per_file([f.is_latest for f in files], bool), keys, None),
                                         dtype=object)
    combined["_receipt_loaded_before"] = (pd.Series(keys, dtype=object).isin({"|".join(k) for k in loaded_receipts})
                                          if loaded_receipts else False)
    combined["_expected_amount"] = expected_amount(combined)  # parameters per collection day
    combined["_amount_deviation"] = (combined["amount"].astype("Int64") - combined["_expected_amount"]).astype("Int64")
    combined["_row_id"] = range(len(combined))
    return combined


def _file_frame(files: list[FileInput]) -> pd.DataFrame:
    records = []
    for f in files:
        amount_sum = f.rows["amount"].astype("Int64").sum() if len(f.rows) else 0
        records.append({
            "_file_id": f.file_id,
            "missing_required_columns": len([c for c in f.missing_columns if c in REQUIRED_COLUMNS]),
            "province_valid_on_report_date": province_on(f.province_code, f.report_date) is not None,
            "has_control_total": f.control_total is not None,
            "amount_sum": int(amount_sum),
            "control_total": int(f.control_total) if f.control_total is not None else None,
            "extra_column_count": len(f.extra_columns),
            "_row_id": len(records),
        })
    frame = pd.DataFrame.from_records(records)
    frame["control_total"] = frame["control_total"].astype("Int64")
    return frame


def _named_columns(node) -> set[str]:
    """The columns an expectation's kwargs name (row conditions included)."""
    if isinstance(node, list):
        return {c for item in node for c in _named_columns(item)}
    if not isinstance(node, dict):
        return set()
    found = set(node.get("column_list") or [])
    for key, value in node.items():
        if key in ("column", "column_A", "column_B") and isinstance(value, str):
            found.add(value)
        elif key == "column" and isinstance(value, dict) and isinstance(value.get("name"), str):
            found.add(value["name"])
        elif key != "column_list":
            found |= _named_columns(value)
    return found


@lru_cache(maxsize=8)
def suite_columns(name: str) -> frozenset[str]:
    """Every column the suite's expectations use: GX is given only these (and ``_row_id``)."""
    return frozenset(_named_columns([e.get("kwargs", {}) for e in json.loads(load_suite_json(name))["expectations"]]))


@lru_cache(maxsize=1)
def max_days_before_report() -> int:
    """The most days a receipt may be reported after its collection (the receipt_files suite's bound)."""
    for e in json.loads(load_suite_json(FILE_ROW_SUITE))["expectations"]:
        if e.get("kwargs", {}).get("column") == "_days_before_report":
            return int(e["kwargs"]["max_value"])
    raise LookupError(f"{FILE_ROW_SUITE} has no bound on _days_before_report")


def _few_values(column: pd.Series) -> bool:
    """At most one distinct value per CATEGORY_ROWS_PER_VALUE rows. A column of (nearly) distinct
    values (receipt numbers, participant codes, receipt keys) is told by its first limit + 1 rows
    (all distinct: more than the whole column may have), without hashing all of it."""
    limit = len(column) // CATEGORY_ROWS_PER_VALUE
    if len(column) < 2 * CATEGORY_ROWS_PER_VALUE:
        return False
    return column.iloc[:limit + 1].nunique() <= limit and column.nunique() <= limit


def _run(suite_name: str, frame: pd.DataFrame):
    needed = suite_columns(suite_name) | {"_row_id"}
    frame = frame[[c for c in frame.columns if c in needed]]
    # GX compares numpy integers in one vectorised step, nullable ones value by value: same values
    frame = frame.astype({c: "int64" for c in frame.columns
                          if isinstance(frame[c].dtype, pd.Int64Dtype) and not frame[c].hasnans})
    # GX filters the whole frame for every metric (row conditions, nulls): an object column is
    # copied value by value, a categorical one as small integer codes; the values compare the same
    frame = frame.astype({c: "category" for c in frame.columns
                          if frame[c].dtype == object and _few_values(frame[c])})
    batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
    # first pass: success only (GX then skips listing the failing rows, about half of its work);
    # second pass, over the expectations that failed: every failing row, which replaces their results
    result = batch.validate(_suite(suite_name), result_format="BOOLEAN_ONLY")
    failed = [i for i, r in enumerate(result.results) if not r.success]
    if failed:
        spec = json.loads(load_suite_json(suite_name))
        spec["expectations"] = [spec["expectations"][i] for i in failed]
        from great_expectations.core.expectation_suite import ExpectationSuite

        detail = batch.validate(ExpectationSuite(**spec), result_format={
            "result_format": "COMPLETE", "unexpected_index_column_names": ["_row_id"],
            "partial_unexpected_count": 20})
        for i, r in zip(failed, detail.results):
            if r.expectation_config.type != result.results[i].expectation_config.type or \
                    r.expectation_config.kwargs != result.results[i].expectation_config.kwargs:
                raise RuntimeError(f"{suite_name}: GX returned the results in another order than the suite's")
            result.results[i] = r
    return result


def publish_data_docs(results: dict, run_id: str, render: bool = True) -> str | None:
    """Store this run's validation results (personal values withheld, lists cut) and, with ``render``,
    render them into the Data Docs site (settings.data_docs_dir/index.html). Returns the index URL
    when rendered; never raises."""
    import datetime as dt

    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (ExpectationSuiteIdentifier,
                                                                             ValidationResultIdentifier)
    try:
        context = _context()
        run = RunIdentifier(run_name=run_id.replace(":", "_").replace("/", "_"),
                            run_time=dt.datetime.now(dt.timezone.utc))
        keys = []
        for suite_name, result in results.items():
            for r in result.results:
                column = r.expectation_config.kwargs.get("column")
                for name in ("unexpected_list", "partial_unexpected_list", "unexpected_index_list",
                             "partial_unexpected_index_list", "partial_unexpected_counts"):
                    if name in r.result:
                        r.result[name] = [] if column in PERSONAL_COLUMNS else r.result[name][:DOCS_LIST_LIMIT]
                r.result.pop("unexpected_index_query", None)
            result.meta["run_id"] = run
            suite_id = ExpectationSuiteIdentifier(name=suite_name)
            if not context.expectations_store.has_key(suite_id):
                context.suites.add(_suite(suite_name))
            key = ValidationResultIdentifier(expectation_suite_identifier=suite_id, run_id=run,
                                             batch_identifier="report_files")
            context.validation_results_store.set(key, result)
            keys.append(key)
        if not render:
            return None
        urls = context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=keys)
        return urls.get(DOCS_SITE)
    except Exception as exc:  # the docs are a view; a rendering problem must not stop the load
        log.warning("Data Docs not built: %s: %s", type(exc).__name__, exc)
        return None


def _sample(column: str | None, values: list) -> list:
    if column in PERSONAL_COLUMNS:
        return ["<personal data withheld>"] * min(len(values), SAMPLE_SIZE)
    out = []
    for value in values[:SAMPLE_SIZE]:
        if isinstance(value, dict):  # a file profile's failing fields
            value = {k: (v.item() if hasattr(v, "item") else v) for k, v in value.items()}
        elif hasattr(value, "item"):  # numpy scalar
            value = value.item()
        out.append(value if isinstance(value, (str, int, float, bool, dict)) or value is None else str(value))
    return out


def validate(files: list[FileInput], loaded_receipts: frozenset = frozenset(), run_id: str | None = None
             ) -> ValidationOutcome:
    """Validate the batch. ``loaded_receipts``: (org_code, year, receipt_no) already loaded from other
    reports, so a receipt number is unique per organisation and year across days too. With ``run_id``
    the results are also published as Great Expectations Data Docs."""
    outcome = ValidationOutcome()
    if not files:
        return outcome
    file_ids = [f.file_id for f in files]
    rows = _row_frame(files, loaded_receipts)
    profile = _file_frame(files)
    row_index = rows.set_index("_row_id")[["_file_id", "line_no"]] if len(rows) else None

    results = {}
    for suite_name, frame in ((ROW_SUITE, rows), (FILE_ROW_SUITE, rows), (FILE_SUITE, profile)):
        if frame.empty:
            continue
        result = results[suite_name] = _run(suite_name, frame)
        for r in result.results:
            config = r.expectation_config
            name = check_name(suite_name, config)
            column = config.kwargs.get("column") or config.kwargs.get("column_A")
            severity = (config.meta or {}).get("severity", ERROR)
            if r.exception_info and r.exception_info.get("raised_exception"):
                raise RuntimeError(f"{name} could not run: {r.exception_info.get('exception_message')}")
            unexpected = r.result.get("unexpected_index_list") or []
            per_file: dict[int, list] = {fid: [] for fid in file_ids}
            for item in unexpected:
                row_id = int(item["_row_id"])
                if suite_name == FILE_SUITE:
                    fid = int(frame.at[row_id, "_file_id"])
                    per_file[fid].append({k: v for k, v in item.items() if k != "_row_id"})
                    continue
                fid, line_no = (int(v) for v in row_index.loc[row_id])
                value = item.get(column) if column else None
                if isinstance(value, float) and value != value:  # a null of a categorical column (NaN)
                    value = None
                per_file[fid].append(value)
                if suite_name == ROW_SUITE and severity == ERROR:
                    outcome.row_reasons.setdefault((fid, line_no), []).append(name)
            for fid, values in per_file.items():
                if suite_name == FILE_SUITE and fid not in set(frame["_file_id"]):
                    continue
                if values and suite_name != ROW_SUITE and severity == ERROR:
                    outcome.file_reasons.setdefault(fid, []).append(f"{name}: {len(values)} unexpected")
                outcome.checks.append(CheckResult(fid, name, not values, len(values), _sample(column, values),
                                                  severity))
    if run_id and results:  # every run's results are stored; pages are rendered for runs with a failed check
        outcome.data_docs_url = publish_data_docs(results, run_id,
                                                  render=not all(c.success for c in outcome.checks))
    return outcome
