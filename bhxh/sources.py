"""One interface over source roots: local folders, http(s), sftp and s3 (fsspec URLs).

A source root has the layout ``{root}/{province_code}/{YYYY-MM-DD}/{org_code}[.vN].(csv|xlsx)``.
Credentials never go into a URL: ``s3://bucket/prefix`` uses the standard AWS chain and
``BHXH_S3_ENDPOINT_URL``; ``sftp://user@host[:port]/path`` uses ``BHXH_SFTP_PASSWORD`` or
``BHXH_SFTP_KEY_FILE`` (else the SSH agent and ``~/.ssh`` keys) and accepts only the host keys
listed in ``BHXH_SFTP_KNOWN_HOSTS`` (default ``~/.ssh/known_hosts``).
"""

from __future__ import annotations

import errno
import logging
import os
import re
import stat
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path, PurePosixPath

import fsspec

from bhxh.settings import Settings, get_settings

log = logging.getLogger(__name__)

REPORT_NAME = re.compile(r"^(?P<org>[A-Z0-9_]{2,32})(?:\.v(?P<version>[1-9][0-9]{0,2}))?\.(?P<ext>csv|xlsx)\Z",
                         re.I | re.ASCII)


PROVINCE_CODE = re.compile(r"[0-9]{2}\Z")


class SourceError(RuntimeError):
    """A source could not be read after retries; the message says which and why."""


class SourceAccessDenied(PermissionError):
    """The source refused the credentials, or the server's host key is not known: permanent (retrying
    cannot help; the configuration must change), so it is raised at once and Airflow does not retry it
    (an OSError: see bhxh.tasks)."""


class FileRefused(Exception):
    """A report file the pipeline will not read (a symbolic link, not a regular file, too large).
    ``str(exc)`` is a one-line reason; ``size`` is the file's size when known."""

    def __init__(self, reason: str, size: int | None = None):
        super().__init__(reason)
        self.size = size


@dataclass(frozen=True)
class ReportRef:
    province_code: str
    report_date: date
    org_code: str
    version: int
    path: str  # relative to the root, e.g. "30/2024-05-15/VNPOST.v2.csv"
    url: str  # absolute, for fetching


class Source:
    def __init__(self, root: str, settings: Settings | None = None):
        self.settings = settings or get_settings()
        self.root = root.rstrip("/")
        # an unknown protocol is a permanent error (ValueError), not retried; connecting (sftp) is
        fsspec.get_filesystem_class(fsspec.utils.get_protocol(self.root))
        self.fs, self.base = self._retry(fsspec.core.url_to_fs, self.root, **self._storage_options())
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        # a local root is resolved once (the root itself may be a link); nothing below it is followed
        self.local_root = Path(os.path.realpath(self.base)) if "file" in protocols else None

    def _storage_options(self) -> dict:
        protocol = self.root.split("://", 1)[0] if "://" in self.root else "file"
        settings = self.settings
        if protocol in ("http", "https"):
            import aiohttp

            return {"client_kwargs": {"timeout": aiohttp.ClientTimeout(total=settings.http_timeout_seconds)}}
        if protocol == "s3":  # no listings cache: a long-lived worker must see reports that arrive later
            options = {"use_listings_cache": False}
            if settings.s3_endpoint_url:
                options["endpoint_url"] = settings.s3_endpoint_url
            return options
        if protocol in ("sftp", "ssh"):
            options = {"host_key_policy": _known_hosts_only(settings.sftp_known_hosts),
                       "timeout": settings.http_timeout_seconds}
            if settings.sftp_password:
                options["password"] = settings.sftp_password
            if settings.sftp_key_file:
                options["key_filename"] = str(settings.sftp_key_file)
            return options
        return {}

    def _full(self, relative: str) -> str:
        return f"{self.base}/{relative}" if self.base else relative

    def list_reports(self, province_code: str, report_date: date,
                     all_versions: bool = False) -> tuple[list[ReportRef], list[str]]:
        """The current (highest-version) report of each organisation, and names that are not reports.
        ``all_versions``: every version instead, lowest first (so a v1 is recorded before its v2)."""
        if not PROVINCE_CODE.fullmatch(str(province_code)):
            raise ValueError(f"not a province code (two digits): {province_code!r}")
        folder = f"{province_code}/{report_date.isoformat()}"
        try:
            names = [entry.rstrip("/").rsplit("/", 1)[-1] for entry in self._retry(self.fs.ls, self._full(folder), detail=False)]
        except FileNotFoundError:
            return [], []
        best: dict[str, ReportRef] = {}
        every: list[ReportRef] = []
        strays: list[str] = []
        for name in sorted(set(names)):
            match = REPORT_NAME.match(name)
            if not match:
                strays.append(f"{folder}/{name}")
                continue
            org = match["org"].upper()
            ref = ReportRef(province_code, report_date, org, int(match["version"] or 1), f"{folder}/{name}",
                            self._full(f"{folder}/{name}"))
            every.append(ref)
            if org not in best or ref.version > best[org].version:
                best[org] = ref
        if all_versions:
            return sorted(every, key=lambda r: (r.org_code, r.version, r.path)), strays
        return sorted(best.values(), key=lambda r: r.org_code), strays

    def serves(self, province_code: str) -> bool:
        """Whether the root has a folder for the province at all (a root may carry only some provinces)."""
        try:
            return bool(self._retry(self.fs.exists, self._full(province_code)))
        except SourceError:
            return True  # unreachable: better a false "missing" than a silent province

    def modified_at(self, ref: ReportRef) -> datetime | None:
        """The source file's modification time (its arrival), where the source gives one."""
        try:
            info = self._retry(self.fs.info, ref.url)
        except Exception as exc:  # the time is nice to have; the report itself is what matters
            log.warning("%s: no modification time (%s)", ref.path, exc)
            return None
        value = info.get("mtime") or info.get("LastModified") or info.get("last_modified") or info.get("modified")
        if isinstance(value, (int, float)):
            return datetime.fromtimestamp(value, tz=timezone.utc)
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        if isinstance(value, str):
            from email.utils import parsedate_to_datetime

            try:
                return parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
        return None

    def fetch(self, ref_or_path: ReportRef | str, max_bytes: int | None = None) -> bytes:
        """The file's bytes; ``FileRefused`` for a symbolic link or special file in a local source, or
        a file larger than ``max_bytes`` (checked before reading when the size is known)."""
        relative = ref_or_path.path if isinstance(ref_or_path, ReportRef) else ref_or_path
        if self.local_root is not None:
            return self._read_local(relative, max_bytes)
        path = ref_or_path.url if isinstance(ref_or_path, ReportRef) else self._full(ref_or_path)
        if max_bytes is not None:
            size = self._retry(self.fs.info, path).get("size")
            if size is not None and size > max_bytes:
                raise FileRefused(_too_large(relative, size, max_bytes), size)
        data = self._retry(self.fs.cat_file, path)
        if max_bytes is not None and len(data) > max_bytes:
            raise FileRefused(_too_large(relative, len(data), max_bytes), len(data))
        return data

    def _read_local(self, relative: str, max_bytes: int | None) -> bytes:
        parts = PurePosixPath(relative).parts
        if not parts or PurePosixPath(relative).is_absolute() or any(p in ("", ".", "..") for p in parts):
            raise FileRefused(f"{relative!r}: not a plain path below the source root")
        path = self.local_root
        for part in parts:
            path = path / part
            if path.is_symlink():
                raise FileRefused(f"{relative}: {path.relative_to(self.local_root)} is a symbolic link (not followed)")
        try:  # O_NOFOLLOW: a link swapped in since the check is refused too; O_NONBLOCK: a FIFO never blocks
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise FileRefused(f"{relative}: is a symbolic link (not followed)") from None
            raise
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise FileRefused(f"{relative}: not a regular file")
            if max_bytes is not None and info.st_size > max_bytes:
                raise FileRefused(_too_large(relative, info.st_size, max_bytes), info.st_size)
            data = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
        if max_bytes is not None and len(data) > max_bytes:
            raise FileRefused(_too_large(relative, len(data), max_bytes), len(data))
        return data

    def _retry(self, func, *args, **kwargs):
        delay, attempts = 0.5, self.settings.fetch_attempts
        for attempt in range(1, attempts + 1):
            try:
                return func(*args, **kwargs)
            except FileNotFoundError:
                raise
            except Exception as exc:  # network errors, 5xx, timeouts, truncated bodies
                if _denied(exc):
                    raise SourceAccessDenied(f"{args[0]}: access denied, not retried: {exc}") from exc
                if attempt == attempts:
                    raise SourceError(f"{args[0]}: failed after {attempt} attempts: {exc}") from exc
                log.warning("%s: attempt %d failed (%s); retrying in %.1fs", args[0], attempt, exc, delay)
                time.sleep(delay)
                delay *= 2
                self._reopen_sftp_session()

    def _reopen_sftp_session(self) -> None:
        """fsspec keeps one SFTP session per process and options: one that failed is opened anew before
        the next attempt, so a dropped connection does not fail every later request of a long run."""
        fs = getattr(self, "fs", None)  # None while the first connection is being made
        if fs is None or "sftp" not in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
            return
        try:
            fs.client.close()
            fs._connect()
        except Exception as exc:  # the next attempt reports it
            log.warning("%s: reconnecting failed (%s)", self.root, exc)


def _denied(exc: Exception) -> bool:
    """Whether ``exc`` says the source refused us (credentials, host key, HTTP 401/403): no retry."""
    import paramiko

    if isinstance(exc, (PermissionError, paramiko.AuthenticationException, paramiko.BadHostKeyException,
                        UnknownHostKey)):
        return True
    return getattr(exc, "status", None) in (401, 403)  # aiohttp's ClientResponseError (http, https)


class UnknownHostKey(Exception):
    """An SFTP server whose host key is not in the known-hosts file (BHXH_SFTP_KNOWN_HOSTS)."""


def _known_hosts_only(known_hosts: Path):
    """paramiko's missing-host-key policy for SFTP sources: a server whose key is not in the known-hosts
    file is refused (fsspec's default would accept any key on first sight)."""
    import paramiko

    class KnownHostsOnly(paramiko.MissingHostKeyPolicy):
        def missing_host_key(self, client, hostname: str, key) -> None:
            known = paramiko.HostKeys(str(known_hosts)) if known_hosts.is_file() else paramiko.HostKeys()
            if not known.check(hostname, key):
                raise UnknownHostKey(f"{hostname}: host key {key.fingerprint} is not in {known_hosts} "
                                            "(BHXH_SFTP_KNOWN_HOSTS)")

        def __repr__(self) -> str:  # fsspec keeps one connection per distinct options, compared by repr
            return f"KnownHostsOnly({str(known_hosts)!r})"

    return KnownHostsOnly()


def _too_large(relative: str, size: int, limit: int) -> str:
    return f"{relative}: {size} bytes exceeds the limit of {limit} bytes (BHXH_MAX_REPORT_BYTES)"
