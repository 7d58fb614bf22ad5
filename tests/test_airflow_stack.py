"""`make airflow` for real: the components start against the embedded PostgreSQL, the UI/API lists
the project's DAGs to a logged-in user (and to nobody else), and Ctrl-C stops every component."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from datetime import time as dtime

import pytest

from bhxh.stack import Stack, admin_password, free_port

from .conftest import ROOT

EXPECTED = {"bhxh_daily_collection", "bhxh_collection_backfill", "bhxh_marts", "bhxh_monthly_summaries"}


def _wait_for_line(process, text: str, timeout: float) -> list[str]:
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if text in line:
            return lines
    raise AssertionError(f"no {text!r} within {timeout}s; output: {lines}")


def test_make_airflow_serves_the_dags(warehouse_url):
    port = free_port()
    # started with SIGINT ignored, as a background job of a script's shell inherits it: Ctrl-C must still stop it
    process = subprocess.Popen([sys.executable, "-m", "bhxh.stack", "--port", str(port)], cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        lines = _wait_for_line(process, "Ctrl-C stops", timeout=150)
        assert f"Airflow UI: http://127.0.0.1:{port}" in lines
        assert f"  password: {admin_password()}" in lines
        stack = Stack(port)
        with pytest.raises(urllib.error.HTTPError) as denied:  # the API wants a login
            urllib.request.urlopen(f"{stack.url}/api/v2/dags", timeout=10)
        assert denied.value.code == 401
        token, listed, deadline = stack.token(), set(), time.monotonic() + 90
        while not EXPECTED <= listed and time.monotonic() < deadline:  # the dag-processor parses, then serialises
            time.sleep(2)
            listed = {d["dag_id"] for d in stack.api("dags", token=token)["dags"]}
        assert EXPECTED <= listed
        with urllib.request.urlopen(stack.url + "/", timeout=10) as page:  # the UI itself
            assert page.status == 200 and "<html" in page.read().decode().lower()
        daily = stack.api("dags/bhxh_daily_collection", token=token)
        assert daily["timetable_summary"] == "report day, at 08:30 next day (Asia/Ho_Chi_Minh)"
        assert "bhxh" in {t["name"] for t in daily["tags"]}
        # the plugin timetable as the scheduler sees it: the next run covers one local day, runs at 08:30 after it
        start, end, run_after = (datetime.fromisoformat(daily[f"next_dagrun_{k}"].replace("Z", "+00:00"))
                                 for k in ("data_interval_start", "data_interval_end", "run_after"))
        assert (start.astimezone(timezone.utc).time(), end - start, run_after - end) == (
            dtime(17, 0), timedelta(days=1), timedelta(hours=8, minutes=30))
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
    assert process.returncode == 0, out
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/version", timeout=5)
