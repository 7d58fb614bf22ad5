"""The pipeline's steps against the real PostgreSQL: landing, validation, quarantine, supersede.

Expected figures are read off the sample files by hand (shared/samples), not computed by the code.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import psycopg
import pytest

from bhxh import pipeline

from .conftest import SHARED

SAMPLES = SHARED / "samples" / "source"
pytestmark = pytest.mark.skipif(not SAMPLES.exists(), reason="shared/samples not beside the checkout")

DAY = date(2024, 5, 15)


@pytest.fixture
def source(tmp_path) -> Path:
    root = tmp_path / "source"
    shutil.copytree(SAMPLES / "30", root / "30")
    return root


def _run(source: Path, province="30", day=DAY):
    pipeline.collect(str(source), province, day)
    return pipeline.process_landed(day, day)


def _one(url, sql, *args):
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchone()


def test_sample_day_loads_every_receipt_pseudonymised(fresh_db, source):
    summary = _run(source)
    assert (summary.files, summary.loaded, summary.rows_received, summary.rows_loaded) == (1, 1, 9, 9)
    status, received, loaded, quarantined, control = _one(
        fresh_db, "select status, rows_received, rows_loaded, rows_quarantined, control_total from raw.report_files")
    assert (status, received, loaded, quarantined, control) == ("loaded", 9, 9, 0, 14_583_000)
    count, total, refunds = _one(fresh_db, "select count(*), sum(amount), count(*) filter (where months_paid < 0) "
                                           "from raw.receipts")
    assert (count, total, refunds) == (9, 14_583_000, 1)
    # the participant code of line 5 (first receipt) is not stored in clear anywhere in the row
    with psycopg.connect(fresh_db) as conn:
        dump = " ".join(str(r) for r in conn.execute("select * from raw.receipts").fetchall())
    assert "3021004512" not in dump and "Nguyễn Văn Hùng" not in dump


def test_rerunning_a_day_changes_nothing(fresh_db, source):
    _run(source)
    checksum = "select md5(string_agg(t::text, '|' order by t::text)) from {} t"
    before = [_one(fresh_db, checksum.format(t))[0] for t in ("raw.report_files", "raw.receipts")]
    summary = _run(source)
    assert summary.files == 0
    after = [_one(fresh_db, checksum.format(t))[0] for t in ("raw.report_files", "raw.receipts")]
    assert before == after


def test_v2_supersedes_whole_file(fresh_db, source):
    _run(source)
    folder = source / "30" / DAY.isoformat()
    text = (folder / "VNPOST.csv").read_text(encoding="utf-8-sig")
    lines = text.splitlines()
    # keep the title lines, header and the first two receipts; fix the total (297.000 + 1.221.000)
    v2 = lines[:6] + ["Tổng cộng;;;;;;;;;;;;;;;;;;;1.518.000"]
    (folder / "VNPOST.v2.csv").write_text("\n".join(v2) + "\n", encoding="utf-8-sig")
    summary = _run(source)
    assert (summary.files, summary.rows_loaded) == (1, 2)
    rows = _one(fresh_db, """select count(*) filter (where status = 'superseded'), count(*) filter (where status = 'loaded'),
                                    max(version) filter (where status = 'loaded') from raw.report_files""")
    assert rows == (1, 1, 2)
    counted = _one(fresh_db, """select count(*), sum(amount) from raw.receipts r
                                join raw.report_files f using (file_id) where f.status = 'loaded'""")
    assert counted == (2, 1_518_000)
    assert _one(fresh_db, "select count(*) from raw.receipts")[0] == 11  # the superseded rows stay on record


def test_wrong_province_inside_quarantines_whole_file(fresh_db, source):
    path = source / "30" / DAY.isoformat() / "VNPOST.csv"
    path.write_text(path.read_text(encoding="utf-8-sig").replace(";BD-288-01;30;288;", ";BD-288-01;31;288;"),
                    encoding="utf-8-sig")
    summary = _run(source)
    assert summary.quarantined_files == 1
    status, received, loaded, quarantined, reason = _one(
        fresh_db, "select status, rows_received, rows_loaded, rows_quarantined, reason from raw.report_files")
    assert (status, received, loaded, quarantined) == ("quarantined", 9, 0, 9)
    assert "province_code=_file_province" in reason
    assert _one(fresh_db, "select count(*) from raw.quarantine")[0] == 9
    assert _one(fresh_db, "select count(*) from raw.receipts")[0] == 0
    failed = _one(fresh_db, "select unexpected_count from raw.dq_results where not success")
    assert failed == (2,)  # two receipts of collection point BD-288-01


def test_bad_rows_quarantined_rest_loads(fresh_db, source):
    path = source / "30" / DAY.isoformat() / "VNPOST.csv"
    text = path.read_text(encoding="utf-8-sig")
    text = text.replace(";3021007781;", ";302100778;")  # 9-digit participant code on line 6
    text = text.replace("3;0012453;15/05/2024", "3;0012453;31/02/2024")  # impossible date on line 7
    path.write_text(text, encoding="utf-8-sig")
    summary = _run(source)
    assert (summary.rows_received, summary.rows_loaded, summary.rows_quarantined) == (9, 7, 2)
    with psycopg.connect(fresh_db) as conn:
        rows = conn.execute("select line_no, reasons, original from raw.quarantine order by line_no").fetchall()
    assert [r[0] for r in rows] == [6, 7]
    assert any("participant_code" in reason for reason in rows[0][1])
    assert any("collected_on" in reason for reason in rows[1][1])
    assert "full_name" not in rows[0][2] and "302100778" not in str(rows[0][2])


def test_unreadable_file_is_rejected_with_reason(fresh_db, source):
    (source / "30" / DAY.isoformat() / "VNPOST.csv").write_bytes(b"\x00\x01garbage\xff\xfe")
    summary = _run(source)
    assert summary.rejected_files == 1
    status, reason = _one(fresh_db, "select status, reason from raw.report_files")
    assert status == "rejected" and reason
    assert _one(fresh_db, "select line_no from raw.quarantine") == (0,)


def test_changed_content_at_the_same_path_supersedes_the_earlier_version(fresh_db, source):
    _run(source)
    path = source / "30" / DAY.isoformat() / "VNPOST.csv"
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    # re-sent with the first three receipts only (297.000 + 1.221.000 + 2.772.000 = 4.290.000)
    path.write_text("\n".join(lines[:7] + ["Tổng cộng;;;;;;;;;;;;;;;;;;;4.290.000"]) + "\n", encoding="utf-8-sig")
    summary = _run(source)
    assert (summary.files, summary.rows_loaded) == (1, 3)
    with psycopg.connect(fresh_db) as conn:
        files = conn.execute("select file_id, status, superseded_by from raw.report_files order by file_id").fetchall()
        counted = conn.execute("""select count(*), sum(amount) from raw.receipts r
                                  join raw.report_files f using (file_id) where f.status = 'loaded'""").fetchone()
    (old_id, old_status, old_by), (new_id, new_status, _) = files
    assert (old_status, old_by, new_status) == ("superseded", new_id, "loaded")
    assert counted == (3, 4_290_000)


@pytest.mark.parametrize("budget, chunks", [(1, 2), (None, 1)])
def test_a_window_loads_in_chunks_of_days_under_the_budget(fresh_db, tmp_path, monkeypatch, budget, chunks):
    """A run's window (a daily run's look-back, a backfill's month) is loaded in chunks of consecutive
    report days under BHXH_LOAD_CHUNK_BYTES: a one-byte budget makes each day a chunk, the default
    takes both days at once; either way one summary of the window, and one ANALYZE after its last chunk."""
    from bhxh import partitions
    from bhxh.chunks import process_window

    analyzed = []
    analyze_months = partitions.analyze_months

    def spy(conn, start, end):
        analyzed.append((start, end))
        return analyze_months(conn, start, end)

    monkeypatch.setattr(partitions, "analyze_months", spy)
    if budget:
        monkeypatch.setenv("BHXH_LOAD_CHUNK_BYTES", str(budget))
    shutil.copytree(SAMPLES / "30", tmp_path / "source" / "30")
    first, last = date(2024, 5, 15), date(2024, 5, 16)  # 9 receipts, then a header-only file
    assert pipeline.collect(str(tmp_path / "source"), "30", last, lookback_days=1).fetched == 2
    summary = process_window(first, last)
    assert (summary.files, summary.loaded, summary.rows_received, summary.rows_loaded) == (2, 2, 9, 9)
    assert len(summary.run_id.split()) == chunks
    assert analyzed == [(first, last)]
    with psycopg.connect(fresh_db) as conn:
        # the month partition has statistics from that ANALYZE: its 9 rows
        assert conn.execute("select reltuples from pg_class where oid = 'raw.receipts_2024_05'::regclass"
                            ).fetchone() == (9,)
        runs = conn.execute("select report_date, count(distinct run_id) from raw.dq_results "
                            "group by 1 order by 1").fetchall()
        assert runs == [(first, 1), (last, 1)]
        assert conn.execute("select count(distinct run_id) from raw.dq_results").fetchone() == (chunks,)


def test_the_next_chunk_is_read_while_a_chunk_is_written_and_still_finds_its_repeats(fresh_db, source,
                                                                                     monkeypatch):
    """Each day a chunk (one-byte budget). Day 2 repeats day 1's nine receipts: its reading starts while
    day 1's write is held back, and its lookup waits for that write, so the nine are quarantined."""
    import threading

    from bhxh import reader
    from bhxh.chunks import process_window

    later = DAY.replace(day=16)
    shutil.copy(source / "30" / DAY.isoformat() / "VNPOST.csv", source / "30" / later.isoformat() / "VNPOST.csv")
    monkeypatch.setenv("BHXH_LOAD_CHUNK_BYTES", "1")
    assert pipeline.collect(str(source), "30", later, lookback_days=1).fetched == 2
    reading_day_2 = threading.Event()
    read_report, write_batch = reader.read_report, pipeline.write_batch

    def spy_read(data, filename):
        if threading.current_thread() is threading.main_thread() and written:  # day 2's file
            reading_day_2.set()
        return read_report(data, filename)

    written: list[bool] = []

    def held_write(conn, batch):
        held = not written
        written.append(True)
        if held:  # day 1's write waits until day 2 is being read
            assert reading_day_2.wait(60), "day 2 was not read while day 1 was written"
        return write_batch(conn, batch)

    monkeypatch.setattr(reader, "read_report", spy_read)
    monkeypatch.setattr(pipeline, "write_batch", held_write)
    summary = process_window(DAY, later)
    assert reading_day_2.is_set() and len(written) == 2
    assert (summary.rows_received, summary.rows_loaded, summary.rows_quarantined) == (18, 9, 9)
    reasons = _one(fresh_db, "select array_agg(distinct r) from raw.quarantine q join raw.report_files f "
                             "using (file_id), unnest(q.reasons) r where f.report_date = %s", later)[0]
    assert reasons == ["receipt_rows.expect_column_values_to_be_in_set(_receipt_loaded_before)"]


def test_two_windows_loading_at_once_load_a_repeated_receipt_once(fresh_db, source, monkeypatch):
    """Two backfill runs at once: day 2 (another report) repeats day 1's nine receipts. Each window
    looks them up before the other has written anything; whichever writes second finds the other's
    nine under the collection year's lock, is prepared again and quarantines its nine as repeats.
    Without the lock both would load them (18 receipts)."""
    import threading

    from bhxh.chunks import process_window

    later = DAY.replace(day=16)
    shutil.copy(source / "30" / DAY.isoformat() / "VNPOST.csv", source / "30" / later.isoformat() / "VNPOST.csv")
    assert pipeline.collect(str(source), "30", later, lookback_days=1).fetched == 2
    first_ready, second_looked_up = threading.Event(), threading.Event()
    write_batch, loaded_receipts = pipeline.write_batch, pipeline._loaded_receipts
    lookups: list[str] = []

    def spy_lookup(conn, probe):
        found = loaded_receipts(conn, probe)
        lookups.append(threading.current_thread().name)
        if threading.current_thread() is threading.main_thread():
            second_looked_up.set()
        return found

    def held_write(conn, batch):
        if batch.window == (DAY, DAY) and not first_ready.is_set():  # day 1's first write waits
            first_ready.set()
            assert second_looked_up.wait(60), "day 2 did not look its receipts up"
        return write_batch(conn, batch)

    monkeypatch.setattr(pipeline, "_loaded_receipts", spy_lookup)
    monkeypatch.setattr(pipeline, "write_batch", held_write)
    errors: list[BaseException] = []

    def first_window():
        try:
            process_window(DAY, DAY)
        except BaseException as exc:  # noqa: BLE001 - re-raised below, in the test's thread
            errors.append(exc)
            first_ready.set()

    thread = threading.Thread(target=first_window, name="first-window")
    thread.start()
    assert first_ready.wait(120)
    process_window(later, later)
    thread.join(120)
    assert not errors and not thread.is_alive()
    assert _one(fresh_db, "select count(*), count(distinct receipt_no) from raw.receipts") == (9, 9)
    assert _one(fresh_db, "select count(*) from raw.quarantine") == (9,)
    reasons = _one(fresh_db, "select array_agg(distinct r) from raw.quarantine q, unnest(q.reasons) r")[0]
    assert reasons == ["receipt_rows.expect_column_values_to_be_in_set(_receipt_loaded_before)"]
    assert _one(fresh_db, "select array_agg(status order by report_date) from raw.report_files") == (
        ["loaded", "loaded"],)
    # each window looked up once preparing; the second writer again, under the lock
    assert len(lookups) == 3


def test_a_month_partition_created_while_a_load_commits_waits_for_it_and_blocks_nothing(fresh_db, source,
                                                                                       monkeypatch):
    """Another run creates its month's partition (raw.add_receipt_months: a lock on raw.receipts that
    waits for this load's COPY) while this load checks its receipt numbers under the collection year's
    lock: the check goes through, the load commits, then the partition is created. (A check on a
    second connection queued behind the partition and waited until its lock_timeout.)"""
    import threading

    created: list = []

    def create_partition():
        with psycopg.connect(fresh_db) as conn:
            conn.execute("set lock_timeout = '20s'")
            try:
                created.append(conn.execute("select raw.add_receipt_months(%s, %s)",
                                            (date(2024, 8, 1), date(2024, 8, 31))).fetchone()[0])
            except psycopg.errors.LockNotAvailable as exc:
                created.append(exc)

    lock_years = pipeline._lock_years
    other = threading.Thread(target=create_partition)

    def lock_while_a_partition_waits(conn, probe):
        lock_years(conn, probe)
        other.start()
        for _ in range(200):  # until the partition's creation waits on this load
            if _one(fresh_db, "select count(*) from pg_locks where not granted and locktype = 'relation'")[0]:
                break
            threading.Event().wait(0.05)
        else:
            pytest.fail("the partition's creation did not wait for the load")

    monkeypatch.setattr(pipeline, "_lock_years", lock_while_a_partition_waits)
    summary = _run(source)
    other.join(60)
    assert summary.rows_loaded == 9
    assert created == [1]  # created once the load committed, not timed out
    assert _one(fresh_db, "select to_regclass('raw.receipts_2024_08') is not null") == (True,)


def test_a_failed_chunk_write_stops_the_window_and_the_next_chunk_stays_landed(fresh_db, source, monkeypatch):
    from bhxh.chunks import process_window

    later = DAY.replace(day=16)
    monkeypatch.setenv("BHXH_LOAD_CHUNK_BYTES", "1")
    assert pipeline.collect(str(source), "30", later, lookback_days=1).fetched == 2

    def failing_write(conn, batch):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pipeline, "write_batch", failing_write)
    with pytest.raises(RuntimeError, match="disk full"):
        process_window(DAY, later)
    assert _one(fresh_db, "select count(*) filter (where status = 'landed'), count(*) from raw.report_files") == (2, 2)
    assert _one(fresh_db, "select count(*) from raw.receipts") == (0,)


def test_a_receipt_number_loaded_from_another_month_is_quarantined_as_a_repeat(fresh_db, source):
    """The lookup of loaded receipt numbers reads only the report days that can hold a receipt of the
    batch's collection years; a repeat in another month partition is still found."""
    _run(source)  # 2024-05-15: 9 receipts collected 15/05/2024
    later = date(2024, 6, 10)  # 26 days after collection: within the 31 days a report may lag
    folder = source / "30" / later.isoformat()
    folder.mkdir()
    shutil.copy(source / "30" / DAY.isoformat() / "VNPOST.csv", folder / "VNPOST.csv")
    summary = _run(source, day=later)
    assert (summary.rows_received, summary.rows_loaded, summary.rows_quarantined) == (9, 0, 9)
    with psycopg.connect(fresh_db) as conn:
        reasons = conn.execute("select reasons from raw.quarantine q join raw.report_files f using (file_id) "
                               "where f.report_date = %s", (later,)).fetchall()
    assert len(reasons) == 9
    assert all(any("_receipt_loaded_before" in r for r in rs) for (rs,) in reasons)


def test_a_replaced_version_marks_its_quarantined_rows_superseded(fresh_db, source):
    folder = source / "30" / DAY.isoformat()
    path = folder / "VNPOST.csv"
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    path.write_text("\n".join(lines).replace(";3021007781;", ";302100778;") + "\n", encoding="utf-8-sig")
    assert _run(source).rows_quarantined == 1
    _run(source, day=date(2024, 5, 16))  # another report in between: the v2's run is a batch of its own
    v2 = lines[:6] + ["Tổng cộng;;;;;;;;;;;;;;;;;;;1.518.000"]
    (folder / "VNPOST.v2.csv").write_text("\n".join(v2) + "\n", encoding="utf-8-sig")
    _run(source)
    with psycopg.connect(fresh_db) as conn:
        v1, v2_id = [r[0] for r in conn.execute("select file_id from raw.report_files where report_date = %s "
                                                "order by version", (DAY,)).fetchall()]
        marked = conn.execute("select file_id, line_no, superseded_by from raw.quarantine").fetchall()
    assert marked == [(v1, 6, v2_id)]
