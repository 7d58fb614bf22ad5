"""What the end-to-end tests share: a database of their own, a generated source root with its
ground truth, the project's DAGs run with ``dag.test()``, table checksums, a local webhook."""

from __future__ import annotations

import csv
import json
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import psycopg

from bhxh.orchestration import logical_date_for

from .conftest import scratch_database

RAW_TABLES = ["raw.report_files", "raw.receipts", "raw.quarantine", "raw.dq_results", "raw.monthly_summaries"]


own_database = scratch_database  # the name the Airflow tests use


def generate(out: Path, start: date, end: date, provinces=("30", "31"), seed: int = 1) -> Path:
    from bhxh.generate import generate as gen

    gen(out, start, end, provinces=list(provinces), seed=seed, scale=0.02, progress=lambda *_: None)
    return out


def truth_files(root: Path) -> list[dict]:
    with open(root / "_truth" / "files.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


_DAGS: dict = {}


def dags() -> dict:
    if not _DAGS:
        from bhxh import airflow_env
        from bhxh.runner import load_dags

        airflow_env.migrate()  # Airflow's metadata database, whichever test runs first
        _DAGS.update(load_dags())
    return _DAGS


def run_daily(day: date, source: Path, provinces=("30", "31"), lookback_days: int = 7) -> str:
    conf = {"source_root": str(source), "lookback_days": lookback_days, "provinces": list(provinces)}
    run = dags()["bhxh_daily_collection"].test(logical_date=logical_date_for(day), run_conf=conf)
    from bhxh.runner import DATA_QUALITY_TASKS, _failed_tasks

    failed = _failed_tasks(run)
    if failed and failed <= DATA_QUALITY_TASKS:  # a red data-quality gate: bad input recorded, the pipeline ran
        return "success (data checks failed)"
    return str(run.state)


def run_marts(*models: str) -> str:
    """The marts DAG (Cosmos), restricted to ``models`` and everything upstream of them."""
    from datetime import datetime

    from bhxh.orchestration import LOCAL_TZ

    dag = dags()["bhxh_marts"]
    selected = [t for t in dag.task_ids if any(f".{m}." in t for m in models)]  # dbt.<model>.run/.test
    assert selected, f"no task of {models} in bhxh_marts"
    subset = dag.partial_subset(task_ids=selected, include_upstream=True)
    return str(subset.test(run_after=datetime.now(tz=LOCAL_TZ)).state)


def one(url: str, sql: str, *args):
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchone()


def checksums(url: str, tables=RAW_TABLES) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"select count(*) || ':' || coalesce(md5(string_agg(x::text, '|' order by x::text)), '')"
                                f" from {t} x").fetchone()[0] for t in tables}


class Webhook:
    """A tiny HTTP server on 127.0.0.1 that keeps every JSON body POSTed to it."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/bhxh"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of_kind(self, kind: str) -> list[dict]:
        return [r for r in self.received if r.get("kind") == kind]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def wait_for_dags(stack, dag_ids, timeout: float = 120) -> None:
    """Until the dag-processor has parsed and serialised ``dag_ids`` (the API lists them)."""
    import time

    token, deadline = stack.token(), time.monotonic() + timeout
    while True:
        stack.check_alive()
        listed = {d["dag_id"] for d in stack.api("dags", token=token)["dags"]}
        if set(dag_ids) <= listed:
            return
        assert time.monotonic() < deadline, f"the dag-processor did not list {dag_ids} in {timeout}s"
        time.sleep(2)


def wait_for_runs(stack, dag_id: str, count: int, query: str = "", timeout: float = 300) -> list[dict]:
    """Until ``count`` runs of ``dag_id`` (matching ``query``) have finished; return them."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        stack.check_alive()
        try:
            runs = stack.api(f"dags/{dag_id}/dagRuns?limit=100{query}")["dag_runs"]
        except TimeoutError:  # a loaded 2-core machine: the API server may answer slowly; ask again
            assert time.monotonic() < deadline, f"no answer from the API server in {timeout}s"
            continue
        done = [r for r in runs if r["state"] in ("success", "failed")]
        if len(done) >= count and len(runs) == len(done):
            return runs
        assert time.monotonic() < deadline, f"runs not finished in {timeout}s: {[(r['run_id'], r['state']) for r in runs]}"
        time.sleep(3)


def content(url: str) -> dict[str, list[tuple]]:
    """The warehouse's raw state without surrogate keys or clocks (file ids, fetch times, run ids),
    to compare two warehouses that loaded the same reports in another order."""
    queries = {
        "report_files": """select f.province_code, f.report_date, f.org_code, f.version, f.source_path, f.sha256,
                                  f.bytes, f.status, s.source_path, f.rows_received, f.rows_loaded,
                                  f.rows_quarantined, f.control_total, f.extra_columns, f.reason
                           from raw.report_files f left join raw.report_files s on s.file_id = f.superseded_by""",
        "receipts": """select f.source_path, f.sha256, to_jsonb(r) - 'file_id' from raw.receipts r
                       join raw.report_files f using (file_id)""",
        "quarantine": """select f.source_path, f.sha256, to_jsonb(q) - 'file_id' from raw.quarantine q
                         join raw.report_files f using (file_id)""",
        "dq_results": """select d.file, d.check_name, d.success, d.unexpected_count, d.sample_values::text
                         from raw.dq_results d""",
    }
    with psycopg.connect(url) as conn:
        return {name: sorted(tuple(map(str, row)) for row in conn.execute(sql).fetchall())
                for name, sql in queries.items()}


def fail_run(stack, dag_id: str, run_id: str, token: str, attempts: int = 5) -> None:
    """Mark a run failed. The scheduler may be scheduling the run's tasks at that moment: PostgreSQL
    then breaks the deadlock by failing one side (the API answers 500), so try again."""
    import time
    import urllib.error

    for attempt in range(attempts):
        try:
            stack.api(f"dags/{dag_id}/dagRuns/{run_id}", "PATCH", {"state": "failed"}, token=token)
            return
        except urllib.error.HTTPError as exc:
            if exc.code < 500 or attempt == attempts - 1:
                raise
            time.sleep(1)


def delete_runs(stack, dag_id: str) -> None:
    """Forget earlier runs of ``dag_id`` in the test metadata database (dag.test() leaves them)."""
    token = stack.token()
    for backfill in stack.api(f"backfills?dag_id={dag_id}", token=token)["backfills"]:
        if not backfill["completed_at"]:  # one running backfill per DAG: cancel a leftover
            stack.api(f"backfills/{backfill['id']}/cancel", "PUT", token=token)
    for run in stack.api(f"dags/{dag_id}/dagRuns?limit=1000", token=token)["dag_runs"]:
        if run["state"] not in ("success", "failed"):  # a running run cannot be deleted
            fail_run(stack, dag_id, run["dag_run_id"], token)
        stack.api(f"dags/{dag_id}/dagRuns/{run['dag_run_id']}", "DELETE", token=token)


def unpause(stack, dag_id: str, timeout: float = 30) -> None:
    """Unpause ``dag_id``. With catchup off the scheduler then starts the latest scheduled interval
    (today's: correct in production); on this small machine the test stops that run at once."""
    import time

    token = stack.token()
    assert stack.api(f"dags/{dag_id}", "PATCH", {"is_paused": False}, token=token)["is_paused"] is False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = stack.api(f"dags/{dag_id}/dagRuns?run_type=scheduled", token=token)["dag_runs"]
        if runs:
            for run in runs:
                fail_run(stack, dag_id, run["dag_run_id"], token)
            return
        time.sleep(0.5)


def pause(stack, dag_id: str) -> None:
    """Leave ``dag_id`` paused, as a fresh stack finds it (no scheduled run at the next start)."""
    stack.api(f"dags/{dag_id}", "PATCH", {"is_paused": True})
