"""Reference facts the package needs at run time (the dbt seeds hold the same files for the marts)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

from bhxh.settings import get_settings


@dataclass(frozen=True)
class Province:
    code: str
    name: str
    valid_from: date
    valid_to: date | None
    successor_code: str | None

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


@lru_cache(maxsize=4)
def provinces(reference_dir: Path | None = None) -> tuple[Province, ...]:
    path = (reference_dir or get_settings().reference_dir) / "provinces.csv"
    with path.open(encoding="utf-8") as handle:
        return tuple(
            Province(
                code=row["province_code"],
                name=row["province_name"],
                valid_from=date.fromisoformat(row["valid_from"]),
                valid_to=date.fromisoformat(row["valid_to"]) if row["valid_to"] else None,
                successor_code=row["successor_code"] or None,
            )
            for row in csv.DictReader(handle)
        )


def province_codes_on(day: date) -> list[str]:
    """The province codes valid on ``day`` (63 before the 2025 merger, 34 from 2025-07-01)."""
    return sorted(p.code for p in provinces() if p.valid_on(day))


def province_on(code: str, day: date) -> Province | None:
    return next((p for p in provinces() if p.code == code and p.valid_on(day)), None)
