"""The source registry: per province and period, where the daily reports come from, which
organisations must send one, and by when (``config/source_registry.yml``, a reviewed file).

Public API (used by completeness, collection and the generator):

    expected_organisations(province_code, day) -> list[str]
    deadline(province_code, day)               -> datetime (tz-aware, Asia/Ho_Chi_Minh by default)
    root_for(province_code, day, override)     -> str | None

A province code names a province only together with a date (91 is Kiên Giang until 2025-06-30 and
An Giang from 2025-07-01), so every lookup takes both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from bhxh.settings import get_settings

__all__ = ["expected_organisations", "deadline", "root_for", "RegistryError"]


class RegistryError(ValueError):
    """The registry file is malformed; the message names the entry."""


@dataclass(frozen=True)
class Deadline:
    days_after: int
    at: time
    timezone: str

    def for_day(self, day: date) -> datetime:
        return datetime.combine(day + timedelta(days=self.days_after), self.at, tzinfo=ZoneInfo(self.timezone))


@dataclass(frozen=True)
class Entry:
    province_code: str
    valid_from: date
    valid_to: date | None
    organisations: tuple[str, ...]
    root: str | None
    deadline: Deadline

    def covers(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


def _date(value, where: str) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise RegistryError(f"{where}: not a date: {value!r}") from None


def _deadline(spec: dict | None, default: Deadline | None, where: str) -> Deadline:
    spec = spec or {}
    try:
        hh, mm = str(spec.get("time", default.at.strftime("%H:%M") if default else "08:00")).split(":")
        result = Deadline(int(spec.get("days_after", default.days_after if default else 1)), time(int(hh), int(mm)),
                          str(spec.get("timezone", default.timezone if default else "Asia/Ho_Chi_Minh")))
        ZoneInfo(result.timezone)
    except Exception as exc:
        raise RegistryError(f"{where}: bad deadline {spec!r}: {exc}") from None
    return result


@lru_cache(maxsize=4)
def _load(path: Path) -> tuple[Deadline, tuple[Entry, ...]]:
    """The default deadline and the entries of the registry file."""
    import yaml

    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    defaults = doc.get("defaults") or {}
    default_deadline = _deadline(defaults.get("deadline"), None, f"{path}: defaults")
    entries: list[Entry] = []
    for i, period in enumerate(doc.get("periods") or []):
        where = f"{path}: period {i + 1} ({period.get('name', '')})"
        valid_from = _date(period.get("valid_from"), where)
        valid_to = _date(period.get("valid_to"), where)
        if valid_from is None:
            raise RegistryError(f"{where}: valid_from is required")
        for code, spec in (period.get("provinces") or {}).items():
            code = str(code)
            spec = spec or {}
            orgs = spec.get("organisations")
            if not (len(code) == 2 and code.isdigit()) or not orgs:
                raise RegistryError(f"{where}: province {code!r} needs a 2-digit code and organisations")
            entries.append(Entry(code, valid_from, valid_to, tuple(str(o).upper() for o in orgs),
                                 spec.get("root", defaults.get("root")),
                                 _deadline(spec.get("deadline"), default_deadline, f"{where}: {code}")))
    for a in entries:  # one entry per province code and day
        for b in entries:
            if a is not b and a.province_code == b.province_code and a.covers(b.valid_from):
                raise RegistryError(f"{path}: province {a.province_code} is listed twice from {b.valid_from}")
    return default_deadline, tuple(entries)


def _entry(province_code: str, day: date) -> Entry | None:
    _, entries = _load(get_settings().source_registry_file)
    return next((e for e in entries if e.province_code == province_code and e.covers(day)), None)


def expected_organisations(province_code: str, day: date) -> list[str]:
    """Organisations that must send ``province_code``'s report of ``day`` (empty: not a province that day)."""
    entry = _entry(province_code, day)
    return list(entry.organisations) if entry else []


def deadline(province_code: str, day: date) -> datetime:
    """When the report of ``day`` is due (default 08:00 Asia/Ho_Chi_Minh the next day)."""
    entry = _entry(province_code, day)
    default_deadline, _ = _load(get_settings().source_registry_file)
    return (entry.deadline if entry else default_deadline).for_day(day)


def root_for(province_code: str, day: date, override: str | None = None) -> str | None:
    """The source root of the province's reports: the registry's own root for it if set, else
    ``override`` (the run's --source), else BHXH_SOURCE_ROOT; None when nothing says."""
    entry = _entry(province_code, day)
    return (entry.root if entry and entry.root else None) or override or get_settings().source_root
