"""Alerts: task failures and missing reports. Always logged; also POSTed to a webhook and mailed
when channels are configured.

Channels, first found wins:
  webhook  ``BHXH_ALERT_WEBHOOK_URL``, else the Airflow connection ``bhxh_alert_webhook`` (its
           ``host`` holds the full URL, like Airflow's Slack webhook connections)
  e-mail   ``BHXH_ALERT_EMAIL_TO`` (comma-separated) through ``BHXH_ALERT_SMTP_URL``
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


@dataclass
class Alert:
    kind: str       # "task_failed" | "missing_reports"
    title: str
    details: dict = field(default_factory=dict)

    def text(self) -> str:
        lines = [self.title] + [f"  {k}: {v}" for k, v in self.details.items()]
        return "\n".join(lines)


def webhook_url(settings: Settings | None = None) -> str | None:
    settings = settings or get_settings()
    if settings.alert_webhook_url:
        return settings.alert_webhook_url
    try:
        from airflow.sdk import BaseHook

        return BaseHook.get_connection(WEBHOOK_CONN_ID).host or None
    except Exception:  # no such connection, or not inside Airflow
        return None


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
    if settings.alert_email_to and settings.alert_smtp_url:
        try:
            _mail(settings.alert_smtp_url, settings.alert_email_to, alert)
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


class FailureNotifier(BaseNotifier):
    """``on_failure_callback`` of every BHXH task (see ``bhxh.orchestration.default_args``)."""

    def notify(self, context) -> None:
        send(failure_alert(context))
