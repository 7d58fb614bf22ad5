"""One interface over source roots: local folders, http(s), and (with their extras) sftp and s3.

A source root has the layout ``{root}/{province_code}/{YYYY-MM-DD}/{org_code}[.vN].(csv|xlsx)``.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import date

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

    def list_reports(self, province_code: str, report_date: date) -> tuple[list[ReportRef], list[str]]:
        """The current (highest-version) report of each organisation, and names that are not reports."""
        folder = f"{province_code}/{report_date.isoformat()}"
        try:
            names = [entry.rstrip("/").rsplit("/", 1)[-1] for entry in self._retry(self.fs.ls, self._full(folder), detail=False)]
        except FileNotFoundError:
            return [], []
        best: dict[str, ReportRef] = {}
        strays: list[str] = []
        for name in sorted(set(names)):
            match = REPORT_NAME.match(name)
            if not match:
                strays.append(f"{folder}/{name}")
                continue
            org = match["org"].upper()
            ref = ReportRef(province_code, report_date, org, int(match["version"] or 1), f"{folder}/{name}",
                            self._full(f"{folder}/{name}"))
            if org not in best or ref.version > best[org].version:
                best[org] = ref
        return sorted(best.values(), key=lambda r: r.org_code), strays

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
