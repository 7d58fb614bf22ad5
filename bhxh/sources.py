"""One interface over source roots: local folders, http(s), and (with their extras) sftp and s3.

A source root has the layout ``{root}/{province_code}/{YYYY-MM-DD}/{org_code}[.vN].(csv|xlsx)``.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone

import fsspec

from bhxh.settings import Settings, get_settings

log = logging.getLogger(__name__)

REPORT_NAME = re.compile(r"^(?P<org>[A-Z0-9_]{2,32})(?:\.v(?P<version>[1-9][0-9]{0,2}))?\.(?P<ext>csv|xlsx)$", re.I)


class SourceError(RuntimeError):
    """A source could not be read after retries; the message says which and why."""


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
        options = {}
        if self.root.split("://", 1)[0] in ("http", "https"):
            import aiohttp

            options["client_kwargs"] = {"timeout": aiohttp.ClientTimeout(total=self.settings.http_timeout_seconds)}
        self.fs, self.base = fsspec.core.url_to_fs(self.root, **options)

    def _full(self, relative: str) -> str:
        return f"{self.base}/{relative}" if self.base else relative

    def list_reports(self, province_code: str, report_date: date,
                     all_versions: bool = False) -> tuple[list[ReportRef], list[str]]:
        """The current (highest-version) report of each organisation, and names that are not reports.
        ``all_versions``: every version instead, lowest first (so a v1 is recorded before its v2)."""
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

    def fetch(self, ref_or_path: ReportRef | str) -> bytes:
        path = ref_or_path.url if isinstance(ref_or_path, ReportRef) else self._full(ref_or_path)
        return self._retry(self.fs.cat_file, path)

    def _retry(self, func, *args, **kwargs):
        delay, attempts = 0.5, self.settings.fetch_attempts
        for attempt in range(1, attempts + 1):
            try:
                return func(*args, **kwargs)
            except FileNotFoundError:
                raise
            except Exception as exc:  # network errors, 5xx, timeouts, truncated bodies
                if attempt == attempts:
                    raise SourceError(f"{args[0]}: failed after {attempt} attempts: {exc}") from exc
                log.warning("%s: attempt %d failed (%s); retrying in %.1fs", args[0], attempt, exc, delay)
                time.sleep(delay)
                delay *= 2
