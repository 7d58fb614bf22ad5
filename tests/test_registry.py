"""The source registry (config/source_registry.yml): lookups by code and date, the default deadline,
roots, and agreement with what the generator writes (its ground truth)."""

from __future__ import annotations

import csv
from datetime import date, datetime, timedelta, timezone

import pytest

from bhxh import registry
from bhxh.generate import generate


def test_organisations_by_code_and_date():
    # read off config/source_registry.yml by hand
    assert registry.expected_organisations("34", date(2024, 5, 15)) == ["VNPOST", "VIETTELPOST", "OTHER01"]
    assert registry.expected_organisations("30", date(2025, 6, 30)) == ["VNPOST"]
    assert registry.expected_organisations("30", date(2025, 7, 1)) == []  # Hải Dương merged into Hải Phòng
    assert registry.expected_organisations("91", date(2025, 6, 30)) == ["VNPOST", "VIETTELPOST"]  # Kiên Giang
    assert registry.expected_organisations("91", date(2025, 7, 1)) == ["VNPOST", "VIETTELPOST"]  # An Giang


def test_default_deadline_is_8am_local_next_day():
    due = registry.deadline("30", date(2024, 5, 15))
    assert due.tzinfo is not None
    assert due == datetime(2024, 5, 16, 1, 0, tzinfo=timezone.utc)  # 08:00 Asia/Ho_Chi_Minh (UTC+7)


def test_root_falls_back_to_the_run_source(monkeypatch):
    monkeypatch.delenv("BHXH_SOURCE_ROOT", raising=False)
    assert registry.root_for("30", date(2024, 5, 15), "/data/run") == "/data/run"
    assert registry.root_for("30", date(2024, 5, 15), None) is None
    monkeypatch.setenv("BHXH_SOURCE_ROOT", "/data/env")
    assert registry.root_for("30", date(2024, 5, 15), None) == "/data/env"


def test_a_province_with_its_own_root_and_deadline(tmp_path, monkeypatch):
    path = tmp_path / "registry.yml"
    path.write_text("""
defaults: {root: null, deadline: {days_after: 1, time: "08:00", timezone: Asia/Ho_Chi_Minh}}
periods:
  - valid_from: 2008-08-01
    valid_to: 2025-06-30
    provinces:
      "30": {organisations: [vnpost], root: "sftp://bhxh-hd/reports", deadline: {days_after: 2, time: "17:30"}}
""", encoding="utf-8")
    monkeypatch.setenv("BHXH_SOURCE_REGISTRY", str(path))
    assert registry.expected_organisations("30", date(2024, 5, 15)) == ["VNPOST"]
    assert registry.root_for("30", date(2024, 5, 15), "/data/run") == "sftp://bhxh-hd/reports"
    assert registry.deadline("30", date(2024, 5, 15)) == datetime(2024, 5, 17, 10, 30, tzinfo=timezone.utc)
    assert registry.expected_organisations("31", date(2024, 5, 15)) == []


def test_duplicate_period_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "registry.yml"
    path.write_text("""
periods:
  - {valid_from: 2008-08-01, valid_to: null, provinces: {"30": {organisations: [VNPOST]}}}
  - {valid_from: 2025-07-01, valid_to: null, provinces: {"30": {organisations: [VNPOST]}}}
""", encoding="utf-8")
    monkeypatch.setenv("BHXH_SOURCE_REGISTRY", str(path))
    with pytest.raises(registry.RegistryError, match="listed twice"):
        registry.expected_organisations("30", date(2024, 5, 15))


def test_generator_writes_exactly_the_registry_organisations(tmp_path):
    start, end = date(2025, 6, 29), date(2025, 7, 2)  # both sides of the merger
    generate(tmp_path, start, end, provinces=["30", "34", "91"], seed=3, scale=0.005)
    with (tmp_path / "_truth" / "files.csv").open(encoding="utf-8") as fh:
        written = {(r["province_code"], r["report_date"], r["org_code"]) for r in csv.DictReader(fh)}
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    codes = {day: {code for code, d, _ in written if d == day.isoformat()} for day in days}
    assert codes[date(2025, 6, 30)] == {"30", "34", "91"} and codes[date(2025, 7, 1)] == {"31", "33", "91"}
    expected = {(code, day.isoformat(), org)
                for day in days for code in codes[day] for org in registry.expected_organisations(code, day)}
    assert written == expected
    assert ("91", "2025-07-01", "VIETTELPOST") in written and ("30", "2025-07-01", "VNPOST") not in written
