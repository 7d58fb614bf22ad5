"""Data-quality alerts: always logged; POSTed as JSON to a webhook when one is configured.

Where the webhook is: ``BHXH_ALERT_WEBHOOK_URL`` (settings), else the Airflow connection
``bhxh_dq_webhook`` (its host, or its ``extra.url``) when running inside Airflow. A failed POST is
logged, never raised: an alert must not fail the pipeline a second time.
(Generic task-failure notifiers live in ``bhxh.alerts``; this module only speaks about data.)
"""

from __future__ import annotations

import json
import logging

from bhxh.settings import get_settings

log = logging.getLogger(__name__)

CONNECTION_ID = "bhxh_dq_webhook"
TIMEOUT_SECONDS = 10


def _webhook_url() -> str | None:
    url = get_settings().alert_webhook_url
    if url:
        return url
    try:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(CONNECTION_ID)
    except Exception:  # not in Airflow, or no such connection: logging only
        return None
    extra = conn.extra_dejson or {}
    return extra.get("url") or (conn.get_uri() if conn.host else None)


def send_quality_alert(title: str, payload: dict) -> bool:
    """Log the alert (warning) and POST ``{"title", "text", **payload}`` to the webhook if any.
    Returns True when a webhook accepted it."""
    lines = [title] + [f"  - {line}" for line in payload.get("lines", [])]
    log.warning("DATA QUALITY ALERT: %s", "\n".join(lines))
    url = _webhook_url()
    if not url:
        return False
    import requests

    body = {"title": title, "text": "\n".join(lines), **payload}
    try:
        response = requests.post(url, data=json.dumps(body, ensure_ascii=False, default=str).encode("utf-8"),
                                 headers={"Content-Type": "application/json"}, timeout=TIMEOUT_SECONDS)
        response.raise_for_status()
    except Exception as exc:
        log.error("data-quality alert not delivered to the webhook: %s", exc)
        return False
    return True
