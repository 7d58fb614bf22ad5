"""The pipeline's steps, as small functions the DAG tasks (and tests) call.

collect(province, day)   fetch the reports of one province (and its look-back window) into the
                         landing store and record them in the manifest as ``landed``
process_landed(...)      read, pseudonymise, validate (GX) and COPY every landed file; rows that
                         fail are quarantined with their reasons, files that fail whole likewise
load_summaries(month)    the monthly provincial summaries
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from importlib import resources

import numpy as np
import pandas as pd
import psycopg
from psycopg.types.json import Jsonb

from bhxh import access, landing, partitions, privacy
from bhxh.canonical import CANONICAL_COLUMNS
from bhxh.hostile import text_reasons
from bhxh.load import copy_frame
from bhxh.pseudonym import check_key, load_key, pseudonymise
from bhxh.settings import Settings, get_settings
from bhxh.sources import FileRefused, Source
from bhxh.warehouse import connect

log = logging.getLogger(__name__)

RECEIPT_COLUMNS = [c for c in CANONICAL_COLUMNS if c not in ("participant_code", "full_name")]


def init_schema(settings: Settings | None = None) -> None:
    ddl = resources.files("bhxh").joinpath("sql/raw.sql").read_text(encoding="utf-8")
    with connect(settings, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(hashtext('bhxh.init_schema'))")
        try:
            conn.execute(ddl)
            access.setup(conn, settings or get_settings())  # roles, grants, RLS plumbing, embedded logins
        finally:
            conn.execute("select pg_advisory_unlock(hashtext('bhxh.init_schema'))")


@dataclass
class CollectSummary:
    province_code: str
    days: int = 0
    fetched: int = 0
    unchanged: int = 0
    strays: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def collect(source_root: str, province_code: str, day: date, lookback_days: int = 0,
            settings: Settings | None = None, register_days: int = 1) -> CollectSummary:
    """Land the reports (every version) of every organisation of ``province_code`` for ``day`` and the
    ``lookback_days`` before it. Content already in the manifest for the same report is skipped.
    The reports the source registry expects for the last ``register_days`` days of that window (by
    default ``day`` alone: a daily run registers its own day; a month's run every day of the month)
    go to raw.expected_reports, when the root carries the province at all (a root without its
    folder does not serve it)."""
    from bhxh.registry import deadline, expected_organisations

    settings = settings or get_settings()
    source = Source(source_root)
    summary = CollectSummary(province_code)
    with connect(settings, role="loader", autocommit=True) as conn:
        for offset in range(lookback_days, -1, -1):
            report_day = day - timedelta(days=offset)
            if offset < register_days and source.serves(province_code):  # the run's own days
                _register_expected(conn, province_code, report_day, expected_organisations(province_code, report_day),
                                   deadline(province_code, report_day), source_root)
            # every version, lowest first: a v1 is on record (then superseded) even when its v2 came with it
            refs, strays = source.list_reports(province_code, report_day, all_versions=True)
            summary.days += 1
            summary.strays += strays
            for ref in refs:
                try:
                    data = source.fetch(ref, settings.max_report_bytes)
                except FileRefused as exc:
                    _record_refused(conn, ref, str(exc), exc.size)
                    summary.refused.append(str(exc))
                    continue
                digest = landing.store(data, settings)
                inserted = conn.execute(
                    """insert into raw.report_files (province_code, report_date, org_code, version, source_path,
                                                     sha256, bytes, status, source_modified_at)
                       values (%s, %s, %s, %s, %s, %s, %s, 'landed', %s)
                       on conflict (province_code, report_date, org_code, sha256) do nothing
                       returning file_id""",
                    (ref.province_code, ref.report_date, ref.org_code, ref.version, ref.path, digest, len(data),
                     source.modified_at(ref)),
                ).fetchone()
                if inserted:
                    summary.fetched += 1
                else:
                    summary.unchanged += 1
    for stray in summary.strays:
        log.warning("not a report file name, ignored: %r", stray)
    for reason in summary.refused:
        log.warning("refused: %s", reason)
    return summary


def _register_expected(conn, province_code: str, day: date, orgs: list[str], due, source_root: str) -> None:
    """Materialise the registry's expected reports of one province and day (raw.expected_reports)."""
    conn.execute("delete from raw.expected_reports where province_code = %s and report_date = %s and "
                 "org_code <> all(%s)", (province_code, day, orgs))
    for org in orgs:
        conn.execute(
            """insert into raw.expected_reports (province_code, report_date, org_code, deadline, source_root)
               values (%s, %s, %s, %s, %s)
               on conflict (province_code, report_date, org_code) do update
                 set deadline = excluded.deadline, source_root = excluded.source_root, registered_at = now()""",
            (province_code, day, org, due, source_root))


def _record_refused(conn: psycopg.Connection, ref, reason: str, size: int | None) -> None:
    """A file refused unread: in the manifest as 'rejected' with its reason (its sha256 column holds
    'refused:' and a digest of path and reason, since no bytes were fetched), and in the quarantine."""
    marker = "refused:" + landing.sha256(f"{ref.path}|{reason}".encode())
    inserted = conn.execute(
        """insert into raw.report_files
             (province_code, report_date, org_code, version, source_path, sha256, bytes, status, reason)
           values (%s, %s, %s, %s, %s, %s, %s, 'rejected', %s)
           on conflict (province_code, report_date, org_code, sha256) do nothing
           returning file_id""",
        (ref.province_code, ref.report_date, ref.org_code, ref.version, ref.path, marker, size or 0, reason),
    ).fetchone()
    if inserted:
        conn.execute("insert into raw.quarantine (file_id, line_no, reasons, original) values (%s, 0, %s, %s)",
                     (inserted[0], [reason], Jsonb({"source_path": ref.path})))


@dataclass
class ProcessSummary:
    run_id: str
    files: int = 0
    loaded: int = 0
    quarantined_files: int = 0
    rejected_files: int = 0
    rows_received: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    data_docs_url: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def merged(cls, parts: list[ProcessSummary | dict]) -> ProcessSummary:
        """One summary of several loads (a window's chunks, a backfill month's parts): counts added,
        failures and warnings joined, run ids joined by spaces, the last Data Docs URL given."""
        parts = [part if isinstance(part, cls) else cls(**part) for part in parts]
        total = cls(" ".join(part.run_id for part in parts if part.run_id))
        for part in parts:
            for name, value in part.as_dict().items():
                if isinstance(value, (int, list)):
                    setattr(total, name, getattr(total, name) + value)
            total.data_docs_url = part.data_docs_url or total.data_docs_url
        return total


def _json_records(frame: pd.DataFrame) -> list[str]:
    return [json.dumps({k: v for k, v in rec.items() if v is not None and v == v}, ensure_ascii=False, default=str)
            for rec in frame.to_dict(orient="records")]


@partitions.around_load
def process_landed(start: date, end: date, settings: Settings | None = None) -> ProcessSummary:
    """Validate and load every ``landed`` file with a report date in [start, end], in one transaction."""
    settings = settings or get_settings()
    key = load_key(settings)
    with connect(settings, role="loader") as conn:
        check_key(conn, key)
        return commit_batch(conn, prepare_batch(conn, start, end, key, settings), key, settings)


@dataclass
class Batch:
    """What a load writes: made by ``prepare_batch`` (reading and checking, nothing written yet),
    written and committed by ``write_batch`` on the same connection (whose transaction holds the
    files' manifest rows locked in between)."""
    summary: ProcessSummary
    finished: list[tuple]
    receipts: list  # of _Receipts
    quarantine: list[pd.DataFrame]
    meta: dict
    checks: list
    rejected: dict[int, str]
    personal: set
    window: tuple[date, date]
    probe: _Probe | None  # the batch's receipt numbers, as looked up
    looked_up: _Lookup  # what the lookup found
    locked: bool  # the lookup ran under the lock of the batch's collection years (held until commit)


class ConcurrentLoad(Exception):
    """Another load committed receipts the batch repeats after the batch looked them up."""


def prepare_batch(conn: psycopg.Connection, start: date, end: date, key: bytes, settings: Settings | None = None,
                  before_lookup=None, lock_first: bool = False) -> Batch:
    """Lock, read, pseudonymise (with ``key``, which the caller checked against the warehouse's,
    ``check_key``) and validate every ``landed`` file with a report date in [start, end].
    ``before_lookup`` is called after the files are read and before the receipt numbers already
    loaded are looked up (``bhxh.chunks``: the previous chunk's write, committed by then).
    ``lock_first``: look them up under the lock of the batch's collection years (``commit_batch``'s
    second attempt), not only check them again under it before committing."""
    from bhxh.reader import ReportRejected, read_report
    from bhxh.validate import CheckResult, FileInput, validate, warm_up

    settings = settings or get_settings()
    warm_up()
    summary = ProcessSummary(run_id=f"{start.isoformat()}..{end.isoformat()}:{uuid.uuid4().hex[:12]}")
    landed = conn.execute(
        """select file_id, province_code, report_date, org_code, source_path, sha256
           from raw.report_files
           where status = 'landed' and report_date between %s and %s
           order by province_code, report_date, org_code, version, file_id
           for update skip locked""",
        (start, end),
    ).fetchall()
    summary.files = len(landed)
    latest = {}  # the highest version of each report in the batch (landed in version order)
    for file_id, province, report_day, org, _path, _digest in landed:
        latest[(province, report_day, org)] = file_id
    inputs, reads, rejected = [], {}, {}
    for file_id, province, report_day, org, path, digest in landed:
        try:
            result = read_report(landing.fetch(digest, settings), path)
        except ReportRejected as exc:
            rejected[file_id] = str(exc)
            continue
        reads[file_id] = result
        inputs.append(FileInput(file_id, province, report_day, org, path, result.rows, result.missing_columns,
                                result.control_total, result.extra_columns,
                                latest[(province, report_day, org)] == file_id))
    if before_lookup is not None:
        before_lookup()
    probe = _receipt_probe(inputs)
    if lock_first:
        _lock_years(conn, probe)
    looked_up = _loaded_receipts(conn, probe)
    outcome = validate(inputs, looked_up.keys, run_id=summary.run_id)
    summary.data_docs_url = outcome.data_docs_url
    outcome.checks += [
        CheckResult(file_id, "read_report.cells", not result.errors, len(result.errors),
                    sorted({e.split(":", 1)[0] for errs in result.errors.values() for e in errs})[:5])
        for file_id, result in reads.items()]
    meta = {row[0]: row for row in landed}
    summary.warnings = [f"{meta[c.file_id][4]}: {c.check_name}: {c.unexpected_count} unexpected"
                        for c in outcome.checks if not c.success and c.severity == "warning"]

    receipts, quarantine, finished, batch_personal = [], [], [], set()
    rows_named: dict[int, set[int]] = {}  # file_id -> lines with a row-level GX failure
    for file_id, line in outcome.row_reasons:
        rows_named.setdefault(file_id, set()).add(line)
    for file_id, result in reads.items():
        _, province, report_day, org, path, _ = meta[file_id]
        rows, original = result.rows, result.original
        keys = pseudonymise(rows["participant_code"], key)
        file_reasons = outcome.file_reasons.get(file_id, [])
        not_inert = text_reasons(original)
        misaligned = privacy.misaligned_lines(result.errors)
        in_columns, personal = privacy.personal_values(original, misaligned)
        batch_personal |= personal
        out_of_place = privacy.misplaced_reasons(original, misaligned, in_columns)
        # every reason of a row; only the rows some check named (all of them when the file fails whole)
        lines = rows["line_no"].to_numpy()
        named = set(result.errors) | rows_named.get(file_id, set()) | set(not_inert) | set(out_of_place)
        looked_at = np.ones(len(lines), dtype=bool) if file_reasons else np.isin(lines, list(named))
        reasons = [
            file_reasons + result.errors.get(line, []) + outcome.row_reasons.get((file_id, line), [])
            + not_inert.get(line, []) + out_of_place.get(line, [])
            for line in lines[looked_at].tolist()
        ]
        bad_at = np.zeros(len(lines), dtype=bool)
        bad_at[np.flatnonzero(looked_at)[[bool(r) for r in reasons]]] = True
        bad = pd.Series(bad_at, index=rows.index, dtype=bool)
        reasons = [r for r in reasons if r]
        n_good = len(rows) - int(bad_at.sum())
        receipts.append(_Receipts(rows.loc[~bad, ["line_no", *RECEIPT_COLUMNS]] if n_good < len(rows) else rows,
                                  keys[~bad], file_id, province, report_day, org, n_good,
                                  _json_records(original.loc[~bad, result.extra_columns])
                                  if result.extra_columns else None))
        if bad.any():
            bad_reasons = privacy.scrub_quarantined(original.loc[bad], reasons, personal)
            orig = original.loc[bad].drop(columns=["full_name", "line_no"], errors="ignore").copy()
            orig = orig.map(lambda v: privacy.scrub(v, personal)).astype(object)
            if "participant_code" in orig:
                orig["participant_code"] = pseudonymise(original.loc[bad, "participant_code"], key)
                orig = orig.rename(columns={"participant_code": "participant_key"})
            quarantine.append(pd.DataFrame({
                "file_id": file_id,
                "line_no": rows.loc[bad, "line_no"].to_numpy(),
                "reasons": ["{" + ",".join(json.dumps(r, ensure_ascii=False) for r in rs) + "}"
                            for rs in bad_reasons],
                "original": _json_records(orig),
            }))
        n_bad = int(bad.sum())
        status = "quarantined" if file_reasons else "loaded"
        finished.append((file_id, status, len(rows), len(rows) - n_bad, n_bad, result.control_total,
                         result.extra_columns, "; ".join(file_reasons) or None))
        summary.rows_received += len(rows)
        summary.rows_loaded += len(rows) - n_bad
        summary.rows_quarantined += n_bad
        if file_reasons:
            summary.quarantined_files += 1
            summary.failures.append(f"{path}: quarantined whole: {'; '.join(file_reasons)}")
        else:
            summary.loaded += 1
            if n_bad:
                summary.failures.append(f"{path}: {n_bad} of {len(rows)} rows quarantined")
    for file_id, reason in rejected.items():
        path = meta[file_id][4]
        quarantine.append(pd.DataFrame({"file_id": [file_id], "line_no": [0],
                                        "reasons": ["{" + json.dumps(reason, ensure_ascii=False) + "}"],
                                        "original": [json.dumps({"source_path": path}, ensure_ascii=False)]}))
        finished.append((file_id, "rejected", None, 0, None, None, None, reason))
        summary.rejected_files += 1
        summary.failures.append(f"{path}: rejected: {reason}")

    return Batch(summary, finished, receipts, quarantine, meta, outcome.checks, rejected, batch_personal,
                 (start, end), probe, looked_up, lock_first)


def commit_batch(conn: psycopg.Connection, batch: Batch, key: bytes, settings: Settings | None = None
                 ) -> ProcessSummary:
    """``write_batch``; when another load committed receipts this batch repeats after the batch looked
    them up (two backfill months at once: a receipt of January reported again in February), the
    batch is rolled back and prepared again with its lookup under the lock, then written. The
    summary of what was written."""
    try:
        write_batch(conn, batch)
        return batch.summary
    except ConcurrentLoad as exc:
        conn.rollback()
        log.warning("%s: prepared again under the lock", exc)
        start, end = batch.window
        batch.receipts.clear()  # the first attempt's frames freed before the second is read
        batch.quarantine.clear()
        batch = prepare_batch(conn, start, end, key, settings, lock_first=True)
        write_batch(conn, batch)
        return batch.summary


def write_batch(conn: psycopg.Connection, batch: Batch) -> None:
    """Write what ``prepare_batch`` made (on its connection) and commit: the files' outcomes, their
    receipts and quarantined rows, the versions they supersede, the checks.

    Loads of the same collection years commit one at a time: before its commit a load takes the lock
    of its years (held until the commit) and, under it, checks in its own transaction the files loaded
    since its lookup (``_repeats_since``); when another load committed some of its receipt numbers
    since, ``ConcurrentLoad`` is raised and nothing is committed. Only that check and the commit wait
    for the lock: the COPYs of two loads run side by side. (On a second connection the check
    deadlocked: a month's partition being created queued behind this transaction, and the check
    behind it, unseen by PostgreSQL's deadlock detector since this transaction waited on its client.
    The whole lookup again, in this transaction, cost the year's backfill 170 s.)"""
    _finish_files(conn, batch.finished)
    if batch.receipts:
        copy_frame(conn, "raw.receipts", _receipts_frame(batch.receipts))
    if batch.quarantine:
        copy_frame(conn, "raw.quarantine", pd.concat(batch.quarantine, ignore_index=True))
    _supersede(conn, list(batch.meta))
    _record_checks(conn, batch.summary.run_id, batch.checks, batch.meta, batch.rejected, batch.personal)
    if not batch.locked and batch.probe is not None:
        _lock_years(conn, batch.probe)
        if _repeats_since(conn, batch.probe, batch.looked_up):
            raise ConcurrentLoad(f"report days {batch.window[0]}..{batch.window[1]}: receipts repeated from "
                                 "a load committed after this batch looked them up")
    conn.commit()


@dataclass
class _Receipts:
    """The rows of one file that load, and what raw.receipts adds to them."""
    rows: pd.DataFrame  # line_no and RECEIPT_COLUMNS (more columns are ignored)
    participant_keys: pd.Series
    file_id: int
    province_code: str
    report_date: date
    org_code: str
    count: int
    extra: list[str] | None  # the unknown columns of each row, as JSON


def _receipts_frame(parts: list[_Receipts]) -> pd.DataFrame:
    """The batch's rows for raw.receipts: one concatenation, the per-file columns repeated per row."""
    sizes = [p.count for p in parts]

    def per_file(values: list) -> np.ndarray:
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return np.repeat(out, sizes)

    frame = pd.concat([p.rows[["line_no", *RECEIPT_COLUMNS]] for p in parts], ignore_index=True)
    frame.insert(0, "file_id", np.repeat(np.asarray([p.file_id for p in parts], dtype=np.int64), sizes))
    frame.insert(2, "file_province_code", per_file([p.province_code for p in parts]))
    frame.insert(3, "report_date", per_file([p.report_date for p in parts]))
    frame.insert(4, "org_code", per_file([p.org_code for p in parts]))
    frame["participant_key"] = np.concatenate([p.participant_keys.to_numpy(dtype=object) for p in parts])
    if any(p.extra is not None for p in parts):
        frame["extra"] = np.concatenate([np.asarray(p.extra if p.extra is not None else [None] * p.count, dtype=object)
                                         for p in parts])
    return frame


@dataclass(frozen=True)
class _Probe:
    """What the receipt-number lookup looks for: the batch's numbers, the report days that can hold a
    receipt of its collection years, and its own reports (not repeats of themselves)."""
    numbers: list
    years: list[int]
    first: date
    last: date
    reports: frozenset
    files: list[int]  # the batch's files (loaded once it is written: not files loaded by others)


def _receipt_probe(inputs) -> _Probe | None:
    """The lookup of a batch's files (None: no receipt with a number and a collection year).

    Only the report days that can hold a receipt of the batch's collection years are probed (a
    loaded receipt was reported 0 to ``max_days_before_report`` days after its collection, the
    receipt_files suite quarantines any other file whole), so PostgreSQL prunes the other months."""
    from bhxh.validate import max_days_before_report

    if not inputs:
        return None
    receipt_no = np.concatenate([f.rows["receipt_no"].to_numpy(dtype=object) for f in inputs])
    collected = np.concatenate([f.rows["collected_on"].to_numpy(dtype=object) for f in inputs])
    keyed = pd.notna(receipt_no) & pd.notna(collected)
    numbers = set(receipt_no[keyed].tolist())
    # the years of the distinct collection days
    years = sorted(set(pd.to_datetime(pd.Series(pd.unique(collected[keyed]), dtype=object), errors="coerce")
                       .dt.year.dropna().astype(int).tolist()))
    if not numbers or not years:  # a key needs a collection year (as validate derives it)
        return None
    return _Probe(sorted(numbers), years, date(years[0], 1, 1),
                  date(years[-1], 12, 31) + timedelta(days=max_days_before_report()),
                  frozenset((f.province_code, f.report_date, f.org_code) for f in inputs),
                  sorted(f.file_id for f in inputs))


def _lock_years(conn, probe: _Probe | None) -> None:
    """The transaction's advisory locks of the probe's collection years, in order (a receipt repeats
    only within its collection year: its key is (org_code, year, receipt_no)), held until commit."""
    for year in probe.years if probe else ():
        conn.execute("select pg_advisory_xact_lock(hashtext('bhxh.receipts'), %s)", (year,))


@dataclass(frozen=True)
class _Lookup:
    keys: frozenset  # (org_code, year, receipt_no) already loaded from other reports than the batch's
    found_in: frozenset  # the files holding them
    loaded: dict  # {file_id: report_date} of the files loaded in the probed report days, just before


def _loaded_files(conn, probe: _Probe) -> dict:
    """{file_id: report_date} of the loaded files in the probed report days (a year's are about 46 k)."""
    return dict(conn.execute("""select file_id, report_date from raw.report_files
                                where status = 'loaded' and report_date between %s and %s""",
                             (probe.first, probe.last)).fetchall())


def _loaded_receipts(conn, probe: _Probe | None) -> _Lookup:
    """The batch's receipt numbers already loaded from other reports than those in the batch."""
    if probe is None:
        return _Lookup(frozenset(), frozenset(), {})
    loaded = _loaded_files(conn, probe)
    # a generic plan: a custom one estimates `= any(array)` element by element in every partition
    # probed, holding that memory until planned (a chunk's 330 k numbers over a year's 13 month
    # partitions: 1.8 GB in one backend, and 17 s per 100 k numbers against 2 s generic).
    # The receipts are found first, on their own (materialized): joined to raw.report_files, the plan
    # could start from the files (when their statistics say few are loaded) and test every receipt of
    # them against the whole array, which a generic plan cannot hash (75 k numbers against a loaded
    # day: 97 s, against 7 ms through the receipt_no index). The numbers go in binary (no quoting).
    conn.execute("set local plan_cache_mode = force_generic_plan")
    found = conn.execute(
        """with found as materialized (
               select file_id, org_code, extract(year from collected_on)::int as year, receipt_no,
                      file_province_code, report_date
               from raw.receipts where report_date between %s and %s and receipt_no = any(%b))
           select found.org_code, found.year, found.receipt_no, found.file_province_code, found.report_date,
                  found.file_id
           from found join raw.report_files f using (file_id) where f.status = 'loaded'""",
        (probe.first, probe.last, probe.numbers)).fetchall()
    conn.execute("reset plan_cache_mode")
    found = [row for row in found if (row[3], row[4], row[0]) not in probe.reports]
    return _Lookup(frozenset((org, str(year), no) for org, year, no, *_ in found),
                   frozenset(row[5] for row in found), loaded)


def _repeats_since(conn, probe: _Probe, lookup: _Lookup) -> bool:
    """Whether loads committed since ``lookup`` change what it found: a file it found repeats in is no
    longer loaded (superseded), or a file loaded since holds receipt numbers of the probe that it did
    not find. Reads only the files loaded since (through raw.receipts' key), not the numbers' index."""
    now = _loaded_files(conn, probe)
    if lookup.found_in - now.keys():
        return True
    new = sorted(set(now) - set(lookup.loaded) - set(probe.files))
    if not new:
        return False
    rows = conn.execute(
        """select org_code, extract(year from collected_on)::int, receipt_no, file_province_code, report_date
           from raw.receipts where report_date = any(%s) and file_id = any(%s)
                                   and receipt_no is not null and collected_on is not null""",
        (sorted({now[file_id] for file_id in new}), new)).fetchall()
    # a number of the batch in one of its collection years (its organisation unchecked: a false alarm
    # only prepares the batch again)
    numbers, years = set(probe.numbers), set(probe.years)
    return any(no in numbers and year in years and (org, str(year), no) not in lookup.keys
               and (province, day, org) not in probe.reports for org, year, no, province, day in rows)


def _finish_files(conn, finished: list[tuple]) -> None:
    """The files' outcomes into the manifest, one statement for the batch: tuples of (file_id,
    status, rows received, loaded, quarantined, control total, extra columns, reason)."""
    with conn.cursor() as cur:
        cur.executemany(
            """update raw.report_files set status = %s, rows_received = %s, rows_loaded = %s,
                   rows_quarantined = %s, control_total = %s, extra_columns = %s, reason = %s
               where file_id = %s""",
            [(status, received, loaded, quarantined, control_total, extra or None, reason, file_id)
             for file_id, status, received, loaded, quarantined, control_total, extra, reason in finished])


def _supersede(conn: psycopg.Connection, file_ids: list[int]) -> None:
    """A newer file of the same province, day and organisation replaces the earlier ones whole."""
    if not file_ids:
        return
    conn.execute(
        """with latest as (
               select distinct on (province_code, report_date, org_code)
                      file_id, province_code, report_date, org_code
               from raw.report_files
               where status <> 'landed'
                 and (province_code, report_date, org_code) in (
                     select province_code, report_date, org_code from raw.report_files where file_id = any(%s))
               order by province_code, report_date, org_code, version desc, file_id desc)
           update raw.report_files f set status = 'superseded', superseded_by = latest.file_id
           from latest
           where f.province_code = latest.province_code and f.report_date = latest.report_date
             and f.org_code = latest.org_code and f.file_id <> latest.file_id and f.status <> 'superseded'
             and f.status <> 'landed'""",
        (file_ids,),
    )
    # the quarantine records of a replaced version say so (they stay on record, resolved)
    conn.execute(
        """update raw.quarantine q set superseded_by = f.superseded_by
           from raw.report_files f
           where q.file_id = f.file_id and f.status = 'superseded' and q.superseded_by is distinct from f.superseded_by
             and (f.province_code, f.report_date, f.org_code) in (
                 select province_code, report_date, org_code from raw.report_files where file_id = any(%s))""",
        (file_ids,))


def _record_checks(conn, run_id, checks, meta, rejected, personal) -> None:
    records = [{
        "run_id": run_id, "file_id": c.file_id, "province_code": meta[c.file_id][1],
        "report_date": meta[c.file_id][2], "file": meta[c.file_id][4], "check_name": c.check_name,
        "success": c.success, "unexpected_count": c.unexpected_count,
        "sample_values": json.dumps([privacy.scrub(v, personal) for v in c.sample_values], ensure_ascii=False,
                                    default=str),
        "severity": c.severity,
    } for c in checks]
    records += [{
        "run_id": run_id, "file_id": fid, "province_code": meta[fid][1], "report_date": meta[fid][2],
        "file": meta[fid][4], "check_name": "read_report", "success": False, "unexpected_count": None,
        "sample_values": json.dumps([reason], ensure_ascii=False), "severity": "error",
    } for fid, reason in rejected.items()]
    if records:
        frame = pd.DataFrame.from_records(records)
        # nullable integer: a None (rejected file) beside counts must not turn 0 into "0.0" for COPY
        frame["unexpected_count"] = frame["unexpected_count"].astype("Int64")
        copy_frame(conn, "raw.dq_results", frame)


SUMMARY_COLUMNS = ["province_code", "month", "mandatory_si_participants", "voluntary_si_participants",
                   "unemployment_insurance_participants", "health_insurance_participants"]


def load_summaries(source_root: str, month: date, settings: Settings | None = None) -> int:
    """Load the monthly provincial summaries of ``month`` (replacing what changed); return files loaded."""
    import io

    settings = settings or get_settings()
    source = Source(source_root)
    folder = f"summaries/{month:%Y-%m}"
    try:
        names = [n.rstrip("/").rsplit("/", 1)[-1] for n in source.fs.ls(source._full(folder), detail=False)]
    except FileNotFoundError:
        return 0
    frames = []
    for name in sorted(names):
        if not name.endswith(".csv"):
            continue
        data = source.fetch(f"{folder}/{name}")
        digest = landing.store(data, settings)
        frame = pd.read_csv(io.BytesIO(data), dtype=str, encoding="utf-8-sig")
        frame.columns = [c.strip() for c in frame.columns]
        frame = frame[SUMMARY_COLUMNS]
        frame["month"] = pd.to_datetime(frame["month"].str.strip() + "-01").dt.date
        frame["sha256"] = digest
        frames.append(frame)
    if not frames:
        return 0
    with connect(settings, role="loader") as conn:
        conn.execute("create temp table summaries_in (like raw.monthly_summaries including defaults) on commit drop")
        copy_frame(conn, "summaries_in", pd.concat(frames, ignore_index=True))
        conn.execute(
            """insert into raw.monthly_summaries select * from summaries_in
               on conflict (province_code, month) do update set
                 mandatory_si_participants = excluded.mandatory_si_participants,
                 voluntary_si_participants = excluded.voluntary_si_participants,
                 unemployment_insurance_participants = excluded.unemployment_insurance_participants,
                 health_insurance_participants = excluded.health_insurance_participants,
                 sha256 = excluded.sha256, loaded_at = excluded.loaded_at
               where raw.monthly_summaries.sha256 <> excluded.sha256""")
        conn.commit()
    return len(frames)
