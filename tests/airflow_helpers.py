"""What the end-to-end tests share: a database of their own, a generated source root with its
ground truth, the project's DAGs run with ``dag.test()``, table checksums, a local webhook."""

from __future__ import annotations

import csv
import json
import threading
from contextlib import contextmanager
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import psycopg
import pytest

from bhxh.dbt_config import WAREHOUSE_CONN_ID
from bhxh.orchestration import logical_date_for

RAW_TABLES = ["raw.report_files", "raw.receipts", "raw.quarantine", "raw.dq_results", "raw.monthly_summaries"]


@contextmanager
def own_database(warehouse_url: str, name: str):
    """A fresh warehouse database ``name`` for the pipeline, Cosmos' connection and the stack."""
    from bhxh.pipeline import init_schema
    from bhxh.settings import get_settings

    admin = warehouse_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"drop database if exists {name} with (force)")
        conn.execute(f"create database {name}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BHXH_DATABASE", name)
        url = get_settings().warehouse_url
        mp.setenv(f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}", url)
        init_schema(get_settings())
        yield url


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
        from bhxh.runner import load_dags

        _DAGS.update(load_dags())
    return _DAGS


def run_daily(day: date, source: Path, provinces=("30", "31"), lookback_days: int = 7) -> str:
    conf = {"source_root": str(source), "lookback_days": lookback_days, "provinces": list(provinces)}
    run = dags()["bhxh_daily_collection"].test(logical_date=logical_date_for(day), run_conf=conf)
    return str(run.state)


def run_marts(*models: str) -> str:
    """The marts DAG (Cosmos), restricted to ``models`` and everything upstream of them."""
    from datetime import datetime

    from bhxh.orchestration import LOCAL_TZ

    dag = dags()["bhxh_marts"]
    subset = dag.partial_subset(task_ids=[t for t in dag.task_ids if any(f".{m}_" in t for m in models)],
                                include_upstream=True)
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
