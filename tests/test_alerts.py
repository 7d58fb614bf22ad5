"""Alerts for real: a task that fails for good notifies (Airflow 3 notifier, on_failure_callback)
through the webhook named by an Airflow connection; e-mail goes through SMTP; every alert is logged.
Transient source errors are retried by Airflow, permanent ones fail at once."""

from __future__ import annotations

import asyncore  # noqa: F401  (smtpd needs it; both ship with Python 3.11)
import json
import logging
import threading
from datetime import date

import pytest

from bhxh import alerts
from bhxh.orchestration import logical_date_for
from bhxh.settings import get_settings
from bhxh.stack import free_port

from .airflow_helpers import Webhook, own_database, run_daily
from .conftest import SHARED

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture
def hook(monkeypatch):
    server = Webhook()
    monkeypatch.delenv("BHXH_ALERT_WEBHOOK_URL", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_BHXH_ALERT_WEBHOOK", json.dumps({"conn_type": "http", "host": server.url}))
    yield server
    server.close()


def test_a_permanently_failing_task_alerts_once_per_task(warehouse_url, hook, caplog):
    with own_database(warehouse_url, "bhxh_test_alerts"):
        run_daily(date(2024, 5, 14), "nosuch://nowhere")  # unknown protocol: permanent, no retry
    failed = hook.of_kind("task_failed")
    assert sorted((a["details"]["task_id"], a["details"]["map_index"]) for a in failed) == [("collect", 0),
                                                                                          ("collect", 1)]
    assert all(a["details"]["try_number"] == 1 for a in failed), "a permanent error is not retried"
    assert all("nosuch" in a["details"]["error"] for a in failed)
    assert all(a["details"]["dag_id"] == "bhxh_daily_collection" for a in failed)


def test_transient_errors_are_retried_permanent_ones_are_not(fresh_db):
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    from bhxh.tasks import collect_province

    def context(root):
        return {"data_interval_start": logical_date_for(date(2024, 5, 13)),
                "params": {"source_root": root, "lookback_days": 0}}

    with pytest.raises(AirflowException) as transient:  # nothing listens there: a network error
        collect_province(context(f"http://127.0.0.1:{free_port()}/source"), "30")
    assert not isinstance(transient.value, AirflowFailException)
    with pytest.raises(AirflowFailException):
        collect_province(context("nosuch://nowhere"), "30")


@pytest.mark.parametrize("configured_by", ["env", "airflow_connection"])
def test_email_channel_and_log(monkeypatch, caplog, configured_by):
    import smtpd

    received = []

    class Server(smtpd.SMTPServer):
        def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):
            received.append((rcpttos, data.decode() if isinstance(data, bytes) else data))

    port = free_port()
    sockets = {}  # this server's own asyncore map: a loop left over from another test never touches it
    server = Server(("127.0.0.1", port), None, map=sockets)
    loop = threading.Thread(target=asyncore.loop, kwargs={"timeout": 0.1, "map": sockets}, daemon=True)
    loop.start()
    try:
        monkeypatch.delenv("BHXH_ALERT_WEBHOOK_URL", raising=False)
        if configured_by == "env":
            monkeypatch.setenv("BHXH_ALERT_EMAIL_TO", "ops@bhxh.local")
            monkeypatch.setenv("BHXH_ALERT_SMTP_URL", f"smtp://127.0.0.1:{port}")
        else:
            for name in ("BHXH_ALERT_EMAIL_TO", "BHXH_ALERT_SMTP_URL"):
                monkeypatch.delenv(name, raising=False)
            monkeypatch.setenv("AIRFLOW_CONN_BHXH_ALERT_SMTP", json.dumps(
                {"conn_type": "smtp", "host": "127.0.0.1", "port": port, "extra": {"to": "ops@bhxh.local"}}))
        alert = alerts.missing_reports_alert(date(2024, 5, 14), {"30": ["VNPOST"]})
        with caplog.at_level(logging.ERROR, logger="bhxh.alerts"):
            reached = alerts.send(alert, get_settings())
    finally:
        server.close()
    assert reached == ["log", "email"]
    assert received and received[0][0] == ["ops@bhxh.local"]
    assert "2024-05-14" in received[0][1] and "30: VNPOST" in received[0][1]
    assert "ALERT missing_reports" in caplog.text


def test_a_broken_channel_is_logged_not_raised(monkeypatch, caplog):
    monkeypatch.setenv("BHXH_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{free_port()}/nobody")
    with caplog.at_level(logging.ERROR, logger="bhxh.alerts"):
        reached = alerts.send(alerts.Alert("task_failed", "x"), get_settings())
    assert reached == ["log"] and "alert webhook" in caplog.text


@pytest.mark.skipif(not (SHARED / "samples").exists(), reason="shared/samples not beside the checkout")
def test_a_collect_batch_collects_every_province_before_it_fails(fresh_db, tmp_path):
    """Provinces are collected in batches (one task per slot); one bad province stops no other."""
    import shutil

    import psycopg
    from airflow.sdk.exceptions import AirflowFailException

    from bhxh.tasks import collect_provinces, province_batches

    assert province_batches(["01", "02", "04", "06", "08"]) == [["01", "08"], ["02"], ["04"], ["06"]]
    assert province_batches(["30", "31"]) == [["30"], ["31"]]
    root = tmp_path / "source"
    shutil.copytree(SHARED / "samples" / "source" / "30", root / "30")
    context = {"data_interval_start": logical_date_for(date(2024, 5, 15)),  # the sample's report day
               "params": {"source_root": str(root), "lookback_days": 0}}
    with pytest.raises(AirflowFailException, match="ZZ"):
        collect_provinces(context, ["ZZ", "30"])
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("select province_code, count(*) from raw.report_files group by 1").fetchall() == [("30", 1)]


def test_a_backfill_looks_back_nowhere_and_does_not_chase_old_reports(fresh_db, tmp_path, monkeypatch, caplog):
    """A backfill run lists its own day only (unless its conf names a look-back), and a report missing
    on a past day is logged, not alerted; a scheduled or manual run keeps both."""
    from types import SimpleNamespace

    from bhxh.tasks import check_reports, collect_provinces, lookback_days

    def context(run_type, conf=None, params=None):
        return {"data_interval_start": logical_date_for(date(2024, 5, 15)),  # the sample's report day
                "dag_run": SimpleNamespace(run_type=run_type, conf=conf or {}),
                "params": {"source_root": str(root), "lookback_days": 7, **(params or {})}}

    root = tmp_path / "source"
    (root / "30" / "2024-05-15").mkdir(parents=True)  # province 30 sent nothing that day
    assert lookback_days(context("backfill")) == 0
    assert lookback_days(context("backfill", {"lookback_days": 3}, {"lookback_days": 3})) == 3
    assert lookback_days(context("scheduled")) == 7 and lookback_days(context("manual")) == 7

    hook = Webhook()
    monkeypatch.setenv("BHXH_ALERT_WEBHOOK_URL", hook.url)
    try:
        collect_provinces(context("backfill"), ["30"])
        with caplog.at_level(logging.WARNING, logger="bhxh.tasks"):
            missing = check_reports(context("backfill"), ["30"])
        assert missing and hook.of_kind("missing_reports") == []
        assert "not alerted" in caplog.text
        assert check_reports(context("manual"), ["30"]) == missing
        assert [a["kind"] for a in hook.received] == ["missing_reports"]
    finally:
        hook.close()
