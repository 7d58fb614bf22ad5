"""The one settings object: every path, URL and knob, read from the environment.

Nothing else in the package reads ``os.environ`` for configuration.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The logins the embedded server's setup creates for the pipeline and dbt: (login, group role).
SERVICE_LOGINS = {"loader": ("bhxh_pipeline", "bhxh_loader"), "transformer": ("bhxh_dbt", "bhxh_transformer")}
_warned: set[str] = set()


def _path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).resolve() if value else default


def _positive_int(name: str, default: int) -> int:
    value = os.environ.get(name) or str(default)
    if not value.strip().isdecimal() or int(value) < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, not {value!r}")
    return int(value)


@dataclass(frozen=True)
class Settings:
    """Where things live and how to reach them.

    ``BHXH_HOME``            project-local state (embedded PostgreSQL, landing store, keys, Airflow home)
    ``BHXH_WAREHOUSE_URL``   any PostgreSQL instead of the embedded one, as the login that sets it up
                             (schemas, roles, grants) and that the operator's commands use
    ``BHXH_LOADER_URL``      the pipeline's login (a member of bhxh_loader); ``BHXH_TRANSFORMER_URL`` dbt's
                             (bhxh_transformer). Embedded default: logins the setup creates, with random
                             passwords in ``secrets/``; with BHXH_WAREHOUSE_URL: that URL, with a warning
    ``BHXH_PG_PORT``         TCP port of the embedded server (default: chosen once and remembered)
    ``BHXH_REFERENCE_DIR``   the reference facts (default: the dbt seeds, copies of ``../shared/reference``)
    ``BHXH_PSEUDONYM_KEY``   the HMAC key for participant codes (default: a local 0600 key file)
    ``BHXH_SOURCE_ROOT``     the default source root of daily reports (a folder or URL)
    ``BHXH_HTTP_TIMEOUT``    seconds before an HTTP(S) request to a source counts as failed (default 30)
    ``BHXH_FETCH_ATTEMPTS``  attempts per source request before giving up (default 4; backoff 0.5 s, doubling)
    ``BHXH_SOURCE_REGISTRY`` the source registry (default: ``config/source_registry.yml``)
    ``BHXH_MAX_REPORT_BYTES`` larger report files are refused unread (default 256 MiB)
    ``BHXH_LOAD_CHUNK_BYTES`` a load's budget: consecutive report days are validated and loaded
                             together until their landed files reach it (``bhxh.chunks``; default
                             48 MiB, 3 to 5 national days: a task process of about 1.1 GB measured)
    ``BHXH_CONCURRENT_LOADS`` validate_and_load tasks of one collection DAG running at once, over all
                             its runs, and the parts a backfill month loads in (default 2, one per
                             core of a small machine; read when the DAG files are parsed)
    ``BHXH_DBT_THREADS``     models the marts' ``dbt build`` runs at once (default 3: on two cores, the
                             two coverage parts at once with the other models beside them)
    ``BHXH_ALERT_WEBHOOK_URL``  where alerts are POSTed as JSON (else the Airflow connection bhxh_alert_webhook)
    ``BHXH_ALERT_EMAIL_TO``  comma-separated addresses alerts are mailed to, through ``BHXH_ALERT_SMTP_URL``
    ``BHXH_S3_ENDPOINT_URL`` an S3-compatible endpoint for ``s3://`` sources (default: AWS); credentials
                             come from the standard AWS chain (``AWS_ACCESS_KEY_ID`` ..., ``~/.aws``, a role)
    ``BHXH_SFTP_PASSWORD``, ``BHXH_SFTP_KEY_FILE``  authentication for ``sftp://user@host[:port]/path``
                             sources (default: the SSH agent and ``~/.ssh`` keys)
    ``BHXH_SFTP_KNOWN_HOSTS`` the only SFTP host keys accepted (default ``~/.ssh/known_hosts``)
    """

    home: Path = field(default_factory=lambda: _path("BHXH_HOME", PROJECT_ROOT / ".bhxh"))
    reference_dir: Path = field(
        default_factory=lambda: _path("BHXH_REFERENCE_DIR", PROJECT_ROOT / "dbt_project" / "seeds" / "reference")
    )
    warehouse_url_override: str | None = field(default_factory=lambda: os.environ.get("BHXH_WAREHOUSE_URL") or None)
    loader_url_override: str | None = field(default_factory=lambda: os.environ.get("BHXH_LOADER_URL") or None)
    transformer_url_override: str | None = field(
        default_factory=lambda: os.environ.get("BHXH_TRANSFORMER_URL") or None)
    database: str = field(default_factory=lambda: os.environ.get("BHXH_DATABASE", "bhxh"))
    pseudonym_key_env: str | None = field(default_factory=lambda: os.environ.get("BHXH_PSEUDONYM_KEY") or None)
    source_root: str | None = field(default_factory=lambda: os.environ.get("BHXH_SOURCE_ROOT") or None)
    http_timeout_seconds: float = field(default_factory=lambda: float(os.environ.get("BHXH_HTTP_TIMEOUT", "30")))
    fetch_attempts: int = field(default_factory=lambda: int(os.environ.get("BHXH_FETCH_ATTEMPTS", "4")))
    source_registry_file: Path = field(
        default_factory=lambda: _path("BHXH_SOURCE_REGISTRY", PROJECT_ROOT / "config" / "source_registry.yml"))
    alert_webhook_url: str | None = field(default_factory=lambda: os.environ.get("BHXH_ALERT_WEBHOOK_URL") or None)
    max_report_bytes: int = field(default_factory=lambda: int(os.environ.get("BHXH_MAX_REPORT_BYTES") or 256 * 2**20))
    load_chunk_bytes: int = field(default_factory=lambda: int(os.environ.get("BHXH_LOAD_CHUNK_BYTES") or 48 * 2**20))
    concurrent_loads: int = field(default_factory=lambda: _positive_int("BHXH_CONCURRENT_LOADS", 2))
    dbt_threads: int = field(default_factory=lambda: _positive_int("BHXH_DBT_THREADS", 3))
    alert_email_to: str | None = field(default_factory=lambda: os.environ.get("BHXH_ALERT_EMAIL_TO") or None)
    alert_smtp_url: str | None = field(default_factory=lambda: os.environ.get("BHXH_ALERT_SMTP_URL") or None)
    s3_endpoint_url: str | None = field(default_factory=lambda: os.environ.get("BHXH_S3_ENDPOINT_URL") or None)
    sftp_password: str | None = field(default_factory=lambda: os.environ.get("BHXH_SFTP_PASSWORD") or None,
                                      repr=False)
    sftp_key_file: Path | None = field(
        default_factory=lambda: Path(os.environ["BHXH_SFTP_KEY_FILE"]) if os.environ.get("BHXH_SFTP_KEY_FILE") else None)
    sftp_known_hosts: Path = field(
        default_factory=lambda: _path("BHXH_SFTP_KNOWN_HOSTS", Path.home() / ".ssh" / "known_hosts"))

    project_root: Path = PROJECT_ROOT
    dags_dir: Path = PROJECT_ROOT / "dags"
    dbt_project_dir: Path = PROJECT_ROOT / "dbt_project"
    expectations_dir: Path = PROJECT_ROOT / "expectations"

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def landing_dir(self) -> Path:
        return self.home / "landing"

    @property
    def pseudonym_key_file(self) -> Path:
        return self.home / "secrets" / "pseudonym.key"

    @property
    def warehouse_password_file(self) -> Path:
        return self.home / "secrets" / "warehouse.password"

    def login_password_file(self, login: str) -> Path:
        return self.home / "secrets" / f"{login}.password"

    @property
    def airflow_home(self) -> Path:
        return _path("AIRFLOW_HOME", self.home / "airflow")

    @property
    def data_docs_dir(self) -> Path:
        return self.home / "data_docs"

    @property
    def embedded(self) -> bool:
        return self.warehouse_url_override is None

    @cached_property
    def port(self) -> int:
        from bhxh.warehouse import embedded_port

        return embedded_port(self)

    @property
    def warehouse_url(self) -> str:
        """A libpq URL (psql accepts it) of the warehouse database."""
        if self.warehouse_url_override:
            return self.warehouse_url_override
        from bhxh.warehouse import embedded_password

        return f"postgresql://postgres:{embedded_password(self)}@127.0.0.1:{self.port}/{self.database}"

    @property
    def loader_url(self) -> str:
        """The pipeline's connection (collect, validate and load, summaries): a bhxh_loader login."""
        return self._service_url("loader", self.loader_url_override, "BHXH_LOADER_URL")

    @property
    def transformer_url(self) -> str:
        """dbt's connection (the CLI profile and Cosmos' Airflow connection): a bhxh_transformer login."""
        return self._service_url("transformer", self.transformer_url_override, "BHXH_TRANSFORMER_URL")

    def url_for(self, role: str) -> str:
        """The URL of ``role``: ``owner`` (setup, operator's commands), ``loader`` or ``transformer``."""
        return getattr(self, {"owner": "warehouse_url", "loader": "loader_url", "transformer": "transformer_url"}[role])

    def _service_url(self, role: str, override: str | None, variable: str) -> str:
        if override:
            return override
        if self.warehouse_url_override:
            if variable not in _warned:
                _warned.add(variable)
                logging.getLogger(__name__).warning(
                    "%s is not set: %s connects as BHXH_WAREHOUSE_URL's login, not as a member of %s",
                    variable, "the pipeline" if role == "loader" else "dbt", SERVICE_LOGINS[role][1])
            return self.warehouse_url_override
        from bhxh.warehouse import embedded_password

        login = SERVICE_LOGINS[role][0]
        return f"postgresql://{login}:{embedded_password(self, login)}@127.0.0.1:{self.port}/{self.database}"

    @property
    def airflow_db_url(self) -> str:
        """SQLAlchemy URL of Airflow's metadata database: its own database on the same server."""
        configured = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
        if configured:
            return configured
        if self.warehouse_url_override:
            return f"sqlite:///{self.airflow_home / 'airflow.db'}"
        from bhxh.warehouse import embedded_password

        return f"postgresql+psycopg2://postgres:{embedded_password(self)}@127.0.0.1:{self.port}/airflow"


def get_settings() -> Settings:
    return Settings()
