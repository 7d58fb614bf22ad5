"""Two runs of the same day at once cannot double-load: two processes call the real pipeline
functions (collect every province, then validate and load) at the same moment on one database."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import date

import pytest

from .airflow_helpers import generate, one, own_database, truth_files
from .conftest import ROOT

pytestmark = pytest.mark.e2e

START, DAY = date(2024, 5, 13), date(2024, 5, 17)
WORKER = """
import json, sys, time
from datetime import date
from pathlib import Path
from bhxh import pipeline
source, go = sys.argv[1], Path(sys.argv[2])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.005)
day = date(2024, 5, 17)
fetched = sum(pipeline.collect(source, p, day, lookback_days=7).fetched for p in ("30", "31"))
summary = pipeline.process_landed(date(2024, 5, 10), day)
print(json.dumps({"fetched": fetched, "files": summary.files, "rows": summary.rows_loaded}), flush=True)
"""


def test_two_runs_of_one_day_at_once_load_each_report_once(warehouse_url, tmp_path):
    source = generate(tmp_path / "source", START, DAY)
    truth = truth_files(source)
    go = tmp_path / "go"
    with own_database(warehouse_url, "bhxh_test_concurrency") as url:
        runs = [subprocess.Popen([sys.executable, "-c", WORKER, str(source), str(go)], cwd=ROOT, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
        for run in runs:
            assert run.stdout.readline().strip() == "ready", run.stderr.read()
        go.touch()  # both start together
        results = []
        for run in runs:
            out, err = run.communicate(timeout=120)
            assert run.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
        receipts = sum(int(r["receipts"]) for r in truth)
        amount = sum(int(r["amount_vnd"]) for r in truth)
        # between them the two runs fetched and loaded every report exactly once
        assert sum(r["fetched"] for r in results) == len(truth)
        assert sum(r["files"] for r in results) == len(truth)
        assert sum(r["rows"] for r in results) == receipts
        assert one(url, "select count(*), count(distinct (province_code, report_date, org_code, version)), "
                        "count(*) filter (where status = 'loaded') from raw.report_files") == (len(truth),) * 3
        assert one(url, "select count(*), sum(amount) from raw.receipts") == (receipts, amount)
        assert one(url, "select count(*) from (select file_id, line_no from raw.receipts "
                        "group by 1, 2 having count(*) > 1) d")[0] == 0
