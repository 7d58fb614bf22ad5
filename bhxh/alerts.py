"""Alerts, the one way to send them: task failures, missing reports, the data-quality gate.
``send`` always logs; it also POSTs to a webhook and mails when those channels are configured.

Channels, the environment (settings) first, else an Airflow connection when running inside Airflow:
  webhook  ``BHXH_ALERT_WEBHOOK_URL``, else the connection ``bhxh_alert_webhook`` (its ``host``
           holds the full URL, like Airflow's Slack webhook connections)
  e-mail   to ``BHXH_ALERT_EMAIL_TO`` (comma-separated), else the ``to`` of the connection
           ``bhxh_alert_smtp``'s extra; through ``BHXH_ALERT_SMTP_URL``, else that connection
           (``smtp://user:<password>@host:587`` with STARTTLS, ``smtps://`` for implicit TLS)

A channel that fails is logged and never fails the task that raised the alert.
"""

from __future__ import annotations

import json
import logging
import smtplib
import urllib.request
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from airflow.sdk import BaseNotifier

from bhxh.settings import Settings, get_settings

log = logging.getLogger("bhxh.alerts")

WEBHOOK_CONN_ID = "bhxh_alert_webhook"
SMTP_CONN_ID = "bhxh_alert_smtp"


@dataclass
class Alert:
    kind: str       # "task_failed" | "missing_reports" | "data_quality"
    title: str
    details: dict = field(default_factory=dict)

    def text(self) -> str:
        lines = [self.title]
        for key, value in self.details.items():
            if isinstance(value, list):
                lines += [f"  {key}:"] + [f"    - {item}" for item in value]
            else:
                lines.append(f"  {key}: {value}")
        return "\n".join(lines)


def _connection(conn_id: str):
    try:
        from airflow.sdk import BaseHook

        return BaseHook.get_connection(conn_id)
    except Exception:  # no such connection, or not inside Airflow
        return None


def webhook_url(settings: Settings | None = None) -> str | None:
    settings = settings or get_settings()
    if settings.alert_webhook_url:
        return settings.alert_webhook_url
    conn = _connection(WEBHOOK_CONN_ID)
    return (conn.host or None) if conn else None


def email_channel(settings: Settings | None = None) -> tuple[str, str] | None:
    """(recipients, SMTP URL) when both are configured."""
    settings = settings or get_settings()
    to, smtp_url = settings.alert_email_to, settings.alert_smtp_url
    if not (to and smtp_url):
        conn = _connection(SMTP_CONN_ID)
        if conn and conn.host:
            to = to or (conn.extra_dejson or {}).get("to")
            smtp_url = smtp_url or conn.get_uri().split("?", 1)[0]
    return (to, smtp_url) if to and smtp_url else None


def send(alert: Alert, settings: Settings | None = None) -> list[str]:
    """Log ``alert`` and deliver it to every configured channel; return the channels it reached."""
    settings = settings or get_settings()
    log.error("ALERT %s: %s", alert.kind, alert.text())
    reached = ["log"]
    url = webhook_url(settings)
    if url:
        try:
            _post(url, {"text": alert.text(), **asdict(alert)})
            reached.append("webhook")
        except Exception as exc:
            log.error("alert webhook %s failed: %s", urlsplit(url).netloc, exc)
    email = email_channel(settings)
    if email:
        try:
            _mail(email[1], email[0], alert)
            reached.append("email")
        except Exception as exc:
            log.error("alert e-mail failed: %s", exc)
    return reached


def _post(url: str, payload: dict) -> None:
    data = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json; charset=utf-8"})
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def _mail(smtp_url: str, to: str, alert: Alert) -> None:
    parts = urlsplit(smtp_url)
    message = EmailMessage()
    message["Subject"] = f"[BHXH] {alert.title}"
    message["From"] = unquote(parts.username) if parts.username and "@" in unquote(parts.username) \
        else f"bhxh-alerts@{parts.hostname}"
    message["To"] = to
    message.set_content(alert.text())
    client = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
    with client(parts.hostname, parts.port or (465 if parts.scheme == "smtps" else 25), timeout=10) as smtp:
        if parts.scheme == "smtp" and parts.username:
            smtp.starttls()
        if parts.username:
            smtp.login(unquote(parts.username), unquote(parts.password or ""))
        smtp.send_message(message)


def failure_alert(context) -> Alert:
    ti = context.get("ti") or context.get("task_instance")
    run = context.get("dag_run")
    exception = context.get("exception")
    return Alert(
        kind="task_failed",
        title=f"BHXH task failed: {ti.dag_id}.{ti.task_id}" + (f"[{ti.map_index}]" if ti.map_index >= 0 else ""),
        details={"dag_id": ti.dag_id, "task_id": ti.task_id, "map_index": ti.map_index,
                 "run_id": getattr(run, "run_id", None) or ti.run_id, "try_number": ti.try_number,
                 "error": str(exception) if exception else None},
    )


def missing_reports_alert(day, missing: dict[str, list[str]]) -> Alert:
    listed = "; ".join(f"{p}: {', '.join(orgs)}" for p, orgs in sorted(missing.items()))
    return Alert(kind="missing_reports",
                 title=f"BHXH: {sum(map(len, missing.values()))} report(s) for {day} missing after the deadline: "
                       f"{listed}",
                 details={"report_date": day.isoformat(), "missing": missing})


def data_quality_alert(day, run_id, lines: list[str], counts: dict[str, int], data_docs_url: str | None) -> Alert:
    """The data-quality gate's alert (``bhxh.dq.gate``): rejections, missing reports, warnings."""
    return Alert(kind="data_quality",
                 title=f"BHXH data quality {day}: " + ", ".join(f"{n} {what}" for what, n in counts.items()),
                 details={"report_date": day.isoformat(), "run_id": run_id, "lines": lines,
                          "data_docs_url": data_docs_url})


class FailureNotifier(BaseNotifier):
    """``on_failure_callback`` of every BHXH task (see ``bhxh.orchestration.default_args``)."""

    def notify(self, context) -> None:
        send(failure_alert(context))
