"""Synthetic source data: daily collection-service reports, monthly summaries and ground truth.

``generate(out_dir, start, end, ...)`` writes, under ``out_dir``:

* ``{province}/{YYYY-MM-DD}/{org}.csv|.xlsx`` -- one daily report per province x organisation x day,
  in one of five dialects (see ``DIALECTS``), conforming to ``shared/spec/collection-report.md``;
* ``summaries/{YYYY-MM}/{province}.csv`` -- the provincial office's monthly summary;
* ``_truth/`` -- what a correct warehouse must find (``files.csv``, ``active.csv``,
  ``new_by_district.csv``, ``faults.csv``, ``summary.json``).

Design
------
The simulation unit is an *old* (63-code) province and a scheme (``TN`` voluntary social insurance,
``HGD`` household health insurance). Each unit keeps its participants in numpy arrays (no Python
object per person) and is stepped one calendar month at a time from a fixed epoch (2018-01), with a
random stream derived from ``(seed, province, scheme, month)`` only. Hence the state of a unit on a
given day does not depend on the requested range or on the other provinces: generating a sub-range
or a subset of provinces writes exactly the same files for those provinces and days as a bigger run.
Months before ``start`` are simulated (warm-up) without writing anything.

Per-person attributes that never change (name, gender, birth year, district, commune, collection
point, organisation) are derived from a hash of the participant code, so they need no storage.

From 2025-07-01 an old province's participants are reported under its ``successor_code`` (they keep
their participant code); a merged province's report holds the receipts of all its predecessors.

Amounts (statutory, by the receipt's ``collected_on`` date, parameters from
``contribution_parameters.csv``)::

    TN   subsidy = round(share(subsidy_group, date) * 22% * rural_poverty_line * months)   (months > 0)
         amount  = round(22% * declared_income * months) - subsidy
    HGD  amount  = round(4.5% * base_salary * months * factor(member_no)),  subsidy = 0
    refund (months < 0): subsidy = 0 and the same formula gives a negative amount.

``round`` is round-half-up to whole VND; with the published parameters every product is already a
whole number, so no rounding actually happens. Before 2025-07-01 there is no ethnic-minority share,
so the group is written as ``Khác`` (other) on receipts dated before that day.
"""

from __future__ import annotations

import csv
import json
import os
import re
import time
import unicodedata
import zipfile
import zlib
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Callable, Iterable
from xml.sax.saxutils import escape as _xml_escape

import numpy as np

from bhxh.canonical import (CANONICAL_COLUMNS, COLUMNS, GENDERS, ROW_NUMBER_HEADER, SCHEMES, SUBSIDY_GROUPS,
                            TOTAL_ROW_LABEL, TRANSACTION_TYPES)

__all__ = ["generate", "GenerateSummary", "simulate_stock", "dialect_of", "orgs_of", "DIALECTS",
           "load_parameters", "reference_dir"]

MERGER = date(2025, 7, 1)
EPOCH = date(2018, 1, 1)

# ----------------------------------------------------------------------------------------------
# small helpers


def _mi(d: date) -> int:
    """Month index (year*12 + month-1)."""
    return d.year * 12 + d.month - 1


def _mdate(m: int) -> date:
    return date(m // 12, m % 12 + 1, 1)


MERGER_M = _mi(MERGER)
EPOCH_M = _mi(EPOCH)


def _crc(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def reference_dir() -> Path:
    """BHXH_REFERENCE_DIR, else the project's dbt seeds, else ``shared/reference`` beside the checkout."""
    env = os.environ.get("BHXH_REFERENCE_DIR")
    if env:
        return Path(env)
    root = Path(__file__).resolve().parent.parent
    for cand in (root / "dbt_project" / "seeds" / "reference", root.parent / "shared" / "reference",
                 Path("/work/shared/reference")):
        if (cand / "contribution_parameters.csv").exists() and (cand / "provinces.csv").exists():
            return cand
    raise FileNotFoundError("reference directory not found; set BHXH_REFERENCE_DIR")


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


# ----------------------------------------------------------------------------------------------
# reference data


class Parameters:
    """Dated statutory parameters from contribution_parameters.csv."""

    def __init__(self, rows: list[dict[str, str]]):
        self._p: dict[str, list[tuple[date, date | None, float]]] = defaultdict(list)
        for r in rows:
            self._p[r["parameter"]].append((date.fromisoformat(r["valid_from"]),
                                            date.fromisoformat(r["valid_to"]) if r["valid_to"] else None,
                                            float(r["value"])))
        for v in self._p.values():
            v.sort()

    def get(self, name: str, day: date, default: float | None = None) -> float | None:
        for lo, hi, val in self._p.get(name, []):
            if lo <= day and (hi is None or day <= hi):
                return val
        return default

    def tn_share(self, group: str, day: date) -> float:
        v = self.get(f"tn_subsidy_share_{group}", day)
        if v is None:
            v = self.get("tn_subsidy_share_other", day, 0.0)
        return float(v)


def load_parameters(ref: Path | None = None) -> Parameters:
    return Parameters(_read_csv((ref or reference_dir()) / "contribution_parameters.csv"))


@dataclass
class OldProvince:
    code: str
    name: str
    successor: str
    lf: float          # labour force 15+ (2020)
    pop: float         # population (2020)
    wa_lf: float       # working-age labour force (2020, derived in the reference): the SI coverage denominator
    districts: list[str]
    communes: list[list[str]]   # per district


# approximate first GSO district code of each old province (districts are numbered in province order)
_DISTRICT_START = {
    "01": 1, "02": 24, "04": 40, "06": 58, "08": 70, "10": 80, "11": 94, "12": 105, "14": 116, "15": 132,
    "17": 148, "19": 164, "20": 178, "22": 193, "24": 213, "25": 227, "26": 243, "27": 256, "30": 288,
    "31": 303, "33": 323, "34": 336, "35": 347, "36": 356, "37": 369, "38": 380, "40": 412, "42": 436,
    "44": 450, "45": 461, "46": 474, "48": 490, "49": 502, "51": 522, "52": 540, "54": 555, "56": 568,
    "58": 582, "60": 593, "62": 610, "64": 622, "66": 643, "67": 660, "68": 672, "70": 688, "72": 703,
    "74": 718, "75": 731, "77": 747, "79": 760, "80": 794, "82": 815, "83": 829, "84": 842, "86": 855,
    "87": 866, "89": 883, "91": 899, "92": 916, "93": 930, "94": 941, "95": 954, "96": 964,
}


@dataclass
class Geography:
    old: dict[str, OldProvince]
    new_names: dict[str, str]
    old_names: dict[str, str]

    def successors(self, new_code: str) -> list[str]:
        return [c for c, p in self.old.items() if p.successor == new_code]


def load_geography(ref: Path | None = None) -> Geography:
    ref = ref or reference_dir()
    prov = _read_csv(ref / "provinces.csv")
    dens = _read_csv(ref / "province_denominators.csv")
    den: dict[str, dict[str, float]] = defaultdict(dict)
    for r in dens:
        for k in ("population", "labour_force_15plus", "working_age_labour_force"):
            if r[k]:
                den[r["province_code"]].setdefault(k, 0.0)
                if r["year"] == "2020" or k not in den[r["province_code"]] or not den[r["province_code"]][k]:
                    den[r["province_code"]][k] = float(r[k])
    old_rows = [r for r in prov if r["valid_to"]]
    new_rows = [r for r in prov if not r["valid_to"]]
    old_codes = sorted(r["province_code"] for r in old_rows)
    old: dict[str, OldProvince] = {}
    for i, r in enumerate(sorted(old_rows, key=lambda r: r["province_code"])):
        c = r["province_code"]
        start = _DISTRICT_START.get(c, 1 + 15 * i)
        nxt = [v for k, v in _DISTRICT_START.items() if v > start]
        span = (min(nxt) - start) if nxt else 10
        nd = max(8, min(15, span))
        dcodes = [f"{start + j:03d}" for j in range(nd)]
        comms = []
        for dc in dcodes:
            nc = 6 + _crc("communes" + dc) % 5
            comms.append([f"{int(dc) * 33 + 3 * j + 1:05d}" for j in range(nc)])
        d = den.get(c, {})
        lf = d.get("labour_force_15plus", 5e5)
        old[c] = OldProvince(c, r["province_name"], r["successor_code"], lf, d.get("population", 1e6),
                             d.get("working_age_labour_force", 0.9 * lf), dcodes, comms)
    assert len(old_codes) == len(old)
    return Geography(old, {r["province_code"]: r["province_name"] for r in new_rows},
                     {r["province_code"]: r["province_name"] for r in old_rows})


# ----------------------------------------------------------------------------------------------
# organisations and dialects

ORG_PREFIX = {"VNPOST": "BD", "VIETTELPOST": "VTP", "OTHER01": "DL"}
ORG_SHARE = {"VNPOST": 0.65, "VIETTELPOST": 0.25, "OTHER01": 0.10}
ORG_NAME = {"VNPOST": "BƯU ĐIỆN", "VIETTELPOST": "VIETTEL POST", "OTHER01": "ĐẠI LÝ THU"}
DIALECTS = ("a", "b", "c", "d", "e")
DIALECT_DOC = {
    "a": "canonical: UTF-8, ',', LF, snake_case headers in canonical order, canonical codes, ISO dates",
    "b": "Excel vi-VN: UTF-8 BOM, ';', CRLF, 2 title lines + blank row, STT, Vietnamese headers/labels, "
         "1.650.000 numbers, dd/mm/yyyy, mm/yyyy, final 'Tổng cộng' row",
    "c": "legacy Windows-1258 (NFD tone marks), ',', CRLF, upper-case headers without diacritics, "
         "dd/mm/yyyy, mm/yyyy, 1.650.000 numbers",
    "d": "xlsx: title line, STT, Vietnamese headers/labels, numbers as numbers, dates dd/mm/yyyy text, "
         "final 'Tổng cộng' row",
    "e": "UTF-8 ',', LF, Vietnamese headers in a shuffled (stable) column order, ISO dates, yyyy-mm months",
}


def orgs_of(code: str, day: date | None = None) -> list[str]:
    """Organisations reporting in a province code on ``day``: the source registry's list
    (config/source_registry.yml), the single source of truth shared with report completeness.
    Without ``day``: the code's latest period."""
    from bhxh import registry

    if day is not None:
        return registry.expected_organisations(code, day)
    return registry.expected_organisations(code, MERGER) or registry.expected_organisations(code, MERGER - timedelta(days=1))


def dialect_of(code: str, org: str) -> str:
    """Stable dialect of a (province code, organisation): crc32('code:org') mod 5 -> a..e."""
    return DIALECTS[_crc(f"{code}:{org}") % 5]


# ----------------------------------------------------------------------------------------------
# calendar

TET = {2018: date(2018, 2, 16), 2019: date(2019, 2, 5), 2020: date(2020, 1, 25), 2021: date(2021, 2, 12),
       2022: date(2022, 2, 1), 2023: date(2023, 1, 22), 2024: date(2024, 2, 10), 2025: date(2025, 1, 29),
       2026: date(2026, 2, 17), 2027: date(2027, 2, 6), 2028: date(2028, 1, 26)}


def _day_weights(m: int) -> np.ndarray:
    d0 = _mdate(m)
    n = (_mdate(m + 1) - d0).days
    w = np.ones(n)
    tet = TET.get(d0.year)
    for i in range(n):
        d = d0 + timedelta(days=i)
        wd = d.weekday()
        if wd == 6:
            w[i] = 0.25
        elif wd == 5:
            w[i] = 0.8
        if tet is not None and -3 <= (d - tet).days <= 4:
            w[i] = 0.03
    return w / w.sum()


# ----------------------------------------------------------------------------------------------
# calibration targets (national, scale 1): stock of active participants at the end of a month


def _pts(pairs):
    return [(_mi(date(y, m, 1)), v) for (y, m), v in pairs]


TN_TARGET = _pts([((2017, 12), 240_000), ((2018, 12), 270_000), ((2019, 12), 551_000), ((2020, 12), 1_120_000),
                  ((2021, 12), 1_450_000), ((2022, 9), 1_510_000), ((2022, 12), 1_550_000),
                  ((2023, 12), 1_830_000), ((2024, 9), 1_990_000), ((2024, 12), 2_000_000),
                  ((2025, 11), 2_016_000), ((2027, 12), 2_150_000)])
HGD_TARGET = _pts([((2017, 12), 18_500_000), ((2019, 12), 19_500_000), ((2021, 12), 20_000_000),
                   ((2023, 12), 21_000_000), ((2025, 12), 21_500_000), ((2028, 12), 22_000_000)])
MANDATORY = _pts([((2018, 6), 14_500_000), ((2019, 12), 15_185_000), ((2020, 12), 15_000_000),
                  ((2021, 12), 15_100_000), ((2022, 9), 15_730_000), ((2023, 12), 16_430_000),
                  ((2024, 9), 17_030_000), ((2025, 11), 18_032_000), ((2027, 12), 18_800_000)])
HI_RATE = _pts([((2018, 5), 0.817), ((2019, 12), 0.900), ((2020, 12), 0.9085), ((2021, 12), 0.89),
                ((2022, 12), 0.911), ((2023, 12), 0.9335), ((2024, 9), 0.935), ((2025, 11), 0.914),
                ((2027, 12), 0.94)])


def _interp(points, m: int) -> float:
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return float(np.interp(m, xs, ys))


# ----------------------------------------------------------------------------------------------
# participants

KIND_NEW, KIND_CONT, KIND_ARR, KIND_REF = 0, 1, 2, 3
KIND_CODE = ["new", "continued", "arrears", "refund"]
GROUP_CODE = ["other", "poor", "near_poor", "ethnic_minority"]
TN, HGD = 0, 1
SCHEME_CODE = ["TN", "HGD"]
_PERM_A = 61_728_353
_U64 = np.uint64


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, vectorised (uint64 arithmetic wraps)."""
    z = x.astype(np.uint64) + _U64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
    return z ^ (z >> _U64(31))


def participant_code(unit: str, scheme: int, seq: np.ndarray) -> np.ndarray:
    x = (np.asarray(seq, dtype=np.int64) + scheme * 50_000_000) % 100_000_000
    return int(unit) * 100_000_000 + (x * _PERM_A + 7_654_321) % 100_000_000


class Population:
    """One old province x one scheme: participant state as numpy arrays, stepped month by month."""

    TN_CYCLES = np.array([1, 3, 6, 12, 24, 36, 60])
    TN_CYCLE_P = np.array([0.22, 0.25, 0.20, 0.31, 0.008, 0.006, 0.006])
    HGD_CYCLES = np.array([3, 6, 12])
    HGD_CYCLE_P = np.array([0.08, 0.17, 0.75])

    def __init__(self, prov: OldProvince, scheme: int, seed: int, scale: float, share: float):
        self.prov = prov
        self.unit = prov.code
        self.scheme = scheme
        self.seed = seed
        self.scale = scale
        self.share = share          # this unit's share of the national stock
        self.lead = 0 if scheme == TN else 1
        self.month = EPOCH_M
        rng = self._rng(-1)
        target = self._target(EPOCH_M - 1)
        n = int(rng.poisson(target)) if target < 1e6 else int(round(target))
        self.seq = np.arange(n, dtype=np.int32)
        self.next_seq = n
        cyc = self._draw_cycles(rng, n)
        self.cycle = cyc.astype(np.int8)
        if scheme == TN:
            pt = EPOCH_M - 1 + (rng.random(n) * cyc).astype(np.int32)
        else:
            pt = EPOCH_M + (rng.random(n) * cyc).astype(np.int32)
            ann = cyc == 12
            moy = rng.choice(12, size=n, p=np.r_[np.full(11, 0.6 / 11), 0.4])  # 0=Jan .. 11=Dec
            pt12 = EPOCH_M + (moy - (EPOCH_M % 12)) % 12
            pt = np.where(ann, pt12, pt)
        self.pt = pt.astype(np.int32)                      # last paid month
        self.cov_start = (EPOCH_M - 1 - rng.integers(0, 36, n)).astype(np.int32)
        self.status = np.zeros(n, np.int8)                 # 0 paying, 1 late, 2 gone
        self.late_due = np.zeros(n, np.int32)
        self.late_g = np.zeros(n, np.int8)
        self.income_extra, self.member, self.group = self._draw_attrs(rng, n)

    # -- random streams and targets
    def _rng(self, m: int) -> np.random.Generator:
        return np.random.default_rng([self.seed & 0xFFFFFFFF, int(self.unit), self.scheme, m + 1_000_000])

    def _target(self, m: int) -> float:
        pts = TN_TARGET if self.scheme == TN else HGD_TARGET
        return _interp(pts, m) * self.share * self.scale

    def _draw_cycles(self, rng, n):
        if self.scheme == TN:
            return rng.choice(self.TN_CYCLES, size=n, p=self.TN_CYCLE_P)
        return rng.choice(self.HGD_CYCLES, size=n, p=self.HGD_CYCLE_P)

    def _draw_attrs(self, rng, n):
        if self.scheme == TN:
            u = rng.random(n)
            extra = np.where(u < 0.55, 0, np.where(u < 0.85, rng.integers(1, 11, n) * 100_000,
                                                   rng.integers(1, 71, n) * 50_000)).astype(np.int32)
            g = rng.choice(4, size=n, p=[0.78, 0.08, 0.08, 0.06]).astype(np.int8)
            return extra, np.zeros(n, np.int8), g
        member = rng.choice([1, 2, 3, 4, 5], size=n, p=[0.38, 0.27, 0.17, 0.10, 0.08]).astype(np.int8)
        return np.zeros(n, np.int32), member, np.zeros(n, np.int8)

    FIELDS = ("seq", "cycle", "pt", "cov_start", "status", "late_due", "late_g", "income_extra", "member", "group")

    def _append(self, rng, n: int, ps: np.ndarray):
        """Append n new participants (amortised: arrays live in buffers with spare capacity)."""
        seq = np.arange(self.next_seq, self.next_seq + n, dtype=np.int32)
        self.next_seq += n
        cyc = self._draw_cycles(rng, n)
        extra, member, group = self._draw_attrs(rng, n)
        new = {"seq": seq, "cycle": cyc.astype(np.int8), "pt": (ps + cyc - 1).astype(np.int32),
               "cov_start": ps.astype(np.int32), "status": np.zeros(n, np.int8), "late_due": np.zeros(n, np.int32),
               "late_g": np.zeros(n, np.int8), "income_extra": extra, "member": member, "group": group}
        old_n = len(self.seq)
        total = old_n + n
        buf = getattr(self, "_buf", None)
        if buf is None or len(buf["seq"]) < total:
            cap = max(total + total // 2, 1024)
            buf = {}
            for f in self.FIELDS:
                cur = getattr(self, f)
                a = np.empty(cap, dtype=cur.dtype)
                a[:old_n] = cur
                buf[f] = a
            self._buf = buf
        for f in self.FIELDS:
            buf[f][old_n:total] = new[f]
            setattr(self, f, buf[f][:total])
        return np.arange(old_n, total), cyc

    def _compact(self):
        keep = np.flatnonzero(self.status != 2)
        k = len(keep)
        for name in self.FIELDS:
            arr = getattr(self, name)
            kept = arr[keep]
            buf = getattr(self, "_buf", None)
            if buf is not None:
                buf[name][:k] = kept
                setattr(self, name, buf[name][:k])
            else:
                setattr(self, name, kept)

    def stock(self, m: int) -> int:
        """Active participants in month m (paid period covers m), as the office counts them."""
        return int(np.count_nonzero((self.status != 2) & (self.cov_start <= m) & (self.pt >= m)))

    # -- one month
    def step(self) -> dict[str, np.ndarray]:
        """Simulate the current month; return its receipts (event arrays) and advance."""
        m = self.month
        rng = self._rng(m)
        if m % 12 == 0 and m > EPOCH_M:
            self._compact()
        idx_l, kind_l, ps_l, n_l = [], [], [], []

        def emit(idx, kind, ps, n):
            if len(idx):
                idx_l.append(np.asarray(idx)); kind_l.append(np.full(len(idx), kind, np.int8))
                ps_l.append(np.asarray(ps, np.int32)); n_l.append(np.asarray(n, np.int32))

        st, pt = self.status, self.pt
        # 1. late payers come back
        back = np.flatnonzero((st == 1) & (self.late_due == m))
        if len(back):
            if self.scheme == TN:
                g = self.late_g[back].astype(np.int32)
                first = pt[back] + 1
                ok = ~((m >= MERGER_M) & (first < MERGER_M))
                emit(back[ok], KIND_ARR, first[ok], g[ok])
                pt[back] = m - 1            # arrears cover the missed months (or the gap stays unpaid)
            else:
                pt[back] = m                # HGD: a gap, the card restarts next month
            st[back] = 0
        # 2. renewals due this month
        due = np.flatnonzero((st == 0) & (pt == m - 1 + self.lead))
        lapsed = 0
        if len(due):
            c = self.cycle[due].astype(np.float64)
            u = rng.random(len(due))
            if self.scheme == TN:
                p_lapse = 1 - 0.80 ** (c / 12)
                p_late = np.minimum(0.06, 0.012 + 0.04 * c / 12)
            else:
                p_lapse = 1 - 0.88 ** (c / 12)
                p_late = 0.01 + 0.03 * c / 12
            lapse = u < p_lapse
            late = (~lapse) & (u < p_lapse + p_late)
            renew = ~(lapse | late)
            lapsed = int(lapse.sum())
            st[due[lapse]] = 2
            li = due[late]
            st[li] = 1
            g = rng.choice([1, 3], size=len(li), p=[0.7, 0.3]) if self.scheme == TN else rng.integers(1, 3, len(li))
            self.late_g[li] = g
            self.late_due[li] = m + g
            ri = due[renew]
            # a few change their payment cycle
            ch = rng.random(len(ri)) < 0.05
            if ch.any():
                self.cycle[ri[ch]] = self._draw_cycles(rng, int(ch.sum())).astype(np.int8)
            cyc = self.cycle[ri].astype(np.int32)
            emit(ri, KIND_CONT, pt[ri] + 1, cyc)
            pt[ri] += cyc
        # 3. refunds of prepaid months (moved to mandatory insurance, death ...)
        p_ref = 0.0006 if self.scheme == TN else 0.0002
        cand = np.flatnonzero((st == 0) & (pt >= m + 2))
        if len(cand):
            rf = cand[rng.random(len(cand)) < p_ref]
            if len(rf):
                avail = pt[rf] - m
                k = 1 + (rng.random(len(rf)) * np.minimum(avail, 12)).astype(np.int32)
                k = np.minimum(k, avail)
                emit(rf, KIND_REF, pt[rf] - k + 1, -k)
                pt[rf] -= k
                st[rf] = 2
                lapsed += len(rf)
        # 4. new enrolments: a controller towards the calibration target, with seasonality
        horizon = m + self.lead
        covered = int(np.count_nonzero((st == 0) & (self.cov_start <= horizon) & (pt >= horizon)))
        gap = self._target(horizon) - covered
        floor = 0.4 * lapsed + 0.002 * covered
        moy = m % 12 + 1
        if self.scheme == TN:
            season = {1: 0.7, 2: 0.7, 5: 2.6, 6: 1.4, 12: 1.1}.get(moy, 1.0)
        else:
            season = {1: 0.6, 2: 0.6, 11: 1.3, 12: 2.0}.get(moy, 1.0)
        lam = max(gap, floor) * season
        nn = int(rng.poisson(max(lam, 0.0)))
        if nn:
            if self.scheme == TN:
                ps = m + (rng.random(nn) < 0.3).astype(np.int32)
            else:
                ps = np.full(nn, m + 1, np.int32)
            ni, cyc = self._append(rng, nn, ps)
            emit(ni, KIND_NEW, ps, cyc)
        # assemble the month's receipts with their days
        if idx_l:
            idx = np.concatenate(idx_l); kind = np.concatenate(kind_l)
            ps = np.concatenate(ps_l); nmon = np.concatenate(n_l)
        else:
            idx = np.zeros(0, np.int64); kind = np.zeros(0, np.int8); ps = np.zeros(0, np.int32)
            nmon = np.zeros(0, np.int32)
        k = len(idx)
        w = _day_weights(m)
        day = rng.choice(len(w), size=k, p=w).astype(np.int16)
        lag = np.where(rng.random(k) < 0.03, rng.integers(1, 4, k), 0).astype(np.int16)
        ev = {
            "seq": self.seq[idx], "kind": kind, "ps": ps, "months": nmon, "day": day, "lag": lag,
            "extra": self.income_extra[idx], "member": self.member[idx], "group": self.group[idx],
        }
        order = np.lexsort((np.arange(k), ev["day"]))
        ev = {kk: v[order] for kk, v in ev.items()}
        self.month = m + 1
        return ev


# ----------------------------------------------------------------------------------------------
# names and hashed attributes

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô",
          "Dương", "Lý", "Đinh", "Trịnh", "Lâm", "Mai", "Tô", "Hà", "Thạch", "Danh", "Châu", "Kiều", "Lương"]
FAMILY_W = np.array([38, 11, 9.5, 7, 5, 4, 4.5, 3.9, 3, 2.1, 2, 1.4, 1.3, 1.3, 1, 0.5, 0.8, 0.6, 0.6, 0.5, 0.4,
                     0.5, 0.3, 0.3, 0.4, 0.3, 0.4])
MIDDLE_M = ["Văn", "Hữu", "Đức", "Minh", "Quang", "Thành", "Công", "Xuân", "Ngọc", "Văn"]
MIDDLE_F = ["Thị", "Thị", "Thị", "Ngọc", "Thu", "Kim", "Thanh", "Mỹ", "Hồng", "Thị"]
GIVEN_M = ["Hùng", "Dũng", "Tuấn", "Minh", "Nam", "Long", "Hải", "Sơn", "Phúc", "Quân", "Đức", "Thắng", "Bình",
           "Lợi", "Tư", "Út", "Hoàng", "Khoa", "Trung", "Việt", "Thành", "Cường", "Hiếu", "Tâm", "Phong", "Lộc"]
GIVEN_F = ["Mai", "Lan", "Hoa", "Hạnh", "Nga", "Hương", "Thảo", "Trang", "Linh", "Ngọc", "Hằng", "Sen", "Thu",
           "Yến", "Nhung", "Phương", "Huyền", "Oanh", "Bé", "Tuyết", "Dung", "Loan", "Vân", "Hà", "Nhàn", "Thủy"]
_FAM_CUM = np.cumsum(FAMILY_W) / FAMILY_W.sum()
_A = lambda xs: np.array(xs, dtype=object)  # noqa: E731
_FAMILY, _MID_M, _MID_F, _GIV_M, _GIV_F = map(_A, (FAMILY, MIDDLE_M, MIDDLE_F, GIVEN_M, GIVEN_F))


def _attrs(pid: np.ndarray, scheme: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    h = _mix64(pid.astype(np.uint64) ^ _U64((seed * 0x9E3779B1) & 0xFFFFFFFF))
    h2 = _mix64(h)
    f = lambda hh, s, n: ((hh >> _U64(s)) % _U64(n)).astype(np.int64)  # noqa: E731
    female = np.where(scheme == TN, f(h, 0, 100) < 55, f(h, 0, 100) < 52)
    fam = np.searchsorted(_FAM_CUM, f(h, 8, 1_000_000) / 1e6, side="right").clip(0, len(FAMILY) - 1)
    mid = f(h, 28, 10)
    giv = f(h, 36, 26)
    name = _FAMILY[fam] + " " + np.where(female, _MID_F[mid], _MID_M[mid]) + " " + \
        np.where(female, _GIV_F[giv], _GIV_M[giv])
    birth = np.where(scheme == TN, 1960 + f(h2, 0, 44), 1940 + f(h2, 0, 78))
    return {"female": female, "name": name, "birth": birth, "dsel": f(h2, 12, 1 << 20),
            "csel": f(h2, 32, 1 << 16), "point": 1 + f(h2, 50, 3), "org_u": f(h, 44, 1 << 16) / 65536.0}


# ----------------------------------------------------------------------------------------------
# formatting


def _vn_num(vals: Iterable) -> list[str]:
    return ["" if v is None else f"{v:,}".replace(",", ".") for v in vals]


_CP1258_COMPOSE = {"a\u0302": "â", "A\u0302": "Â", "e\u0302": "ê", "E\u0302": "Ê", "o\u0302": "ô", "O\u0302": "Ô",
                   "o\u031b": "ơ", "O\u031b": "Ơ", "u\u031b": "ư", "U\u031b": "Ư", "a\u0306": "ă", "A\u0306": "Ă"}


def to_cp1258_form(text: str) -> str:
    """NFD, then recompose only the base letters Windows-1258 has (â ê ô ơ ư ă, đ); tone marks stay combining."""
    s = unicodedata.normalize("NFD", text)
    return _COMB_RE.sub(_recompose, s)


def _recompose(mt) -> str:
    base, marks = mt.group(1), mt.group(2)
    for mk in ("\u0302", "\u031b", "\u0306"):
        if mk in marks and base + mk in _CP1258_COMPOSE:
            return _CP1258_COMPOSE[base + mk] + marks.replace(mk, "", 1)
    return base + marks


_COMB_RE = re.compile("([aAeEoOuU])([\u0300-\u036f]+)")


def _ascii_upper(text: str) -> str:
    s = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in s if not unicodedata.combining(ch)).upper()


VI_HEADERS = [COLUMNS[c] for c in CANONICAL_COLUMNS]
SCHEME_VI = [SCHEMES["TN"][0], SCHEMES["HGD"][0]]
KIND_VI = [TRANSACTION_TYPES[k][0] for k in KIND_CODE]
GROUP_VI = [SUBSIDY_GROUPS[g][0] for g in GROUP_CODE]
GENDER_VI = [GENDERS["M"][0], GENDERS["F"][0]]


def _shuffled_columns(code: str, org: str) -> list[str]:
    rng = np.random.default_rng(_crc(f"cols:{code}:{org}"))
    return [CANONICAL_COLUMNS[i] for i in rng.permutation(len(CANONICAL_COLUMNS))]


def _title_lines(code: str, day: date, org: str, geo: Geography) -> tuple[str, str]:
    name = (geo.new_names if day >= MERGER else geo.old_names)[code]
    city = code in ("01", "31", "48", "79", "92", "46") and not (code == "46" and day < MERGER)
    unit = ("THÀNH PHỐ " if city else "TỈNH ") + name.upper()
    return (f"BẢO HIỂM XÃ HỘI {unit}",
            f"BÁO CÁO DANH SÁCH BIÊN LAI THU NGÀY {day:%d/%m/%Y} - {ORG_NAME[org]} {unit}")


def _xlsx_col(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


_XLSX_STATIC = {
    "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>',
    "_rels/.rels": '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    "xl/workbook.xml": '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Bao cao thu" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>',
    "xl/styles.xml": '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><numFmts count="0"/><fonts count="1"><font><name val="Calibri"/><family val="2"/><sz val="11"/></font></fonts><fills count="2"><fill><patternFill/></fill><fill><patternFill patternType="gray125"/></fill></fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>',
}


def write_xlsx(path: Path, rows: list[list]) -> None:
    """A minimal, deterministic .xlsx (inline strings, fixed zip timestamps); openpyxl reads it.

    (openpyxl itself stamps the current time into the package, which breaks byte-for-byte determinism.)"""
    parts = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>']
    for r, row in enumerate(rows, 1):
        cells = []
        for c, v in enumerate(row):
            if v is None or v == "":
                continue
            ref = f"{_xlsx_col(c)}{r}"
            if isinstance(v, (int, np.integer)):
                cells.append(f'<c r="{ref}"><v>{int(v)}</v></c>')
            else:
                cells.append(f'<c r="{ref}" t="inlineStr"><is><t>{_xml_escape(str(v))}</t></is></c>')
        parts.append(f'<row r="{r}">{"".join(cells)}</row>')
    parts.append("</sheetData></worksheet>")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in list(_XLSX_STATIC.items()) + [("xl/worksheets/sheet1.xml", "".join(parts))]:
            zi = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(zi, text)


# ----------------------------------------------------------------------------------------------
# receipts of one file -> canonical columns (python values), then a dialect


@dataclass
class Receipts:
    """Canonical receipts of one file, column -> array (object or int)."""
    cols: dict[str, np.ndarray]
    n: int


def _format_file(rc: Receipts, code: str, org: str, day: date, dialect: str, geo: Geography, path: Path,
                 cell_code: str | None = None, total_delta: int = 0, extra_col: str | None = None) -> None:
    """Write one report. The keyword arguments inject faults: another province code in the cells, a control
    total off by ``total_delta``, an extra (unknown) column named ``extra_col``."""
    c = rc.cols
    n = rc.n
    cells_code = cell_code or code
    xv = ["đã đối soát" if i % 2 == 0 else "" for i in range(n)]
    iso_coll = c["collected_on"]                       # 'YYYY-MM-DD'
    ps_ym = c["period_start"]                          # 'YYYY-MM'

    def dmy(s):
        return [f"{x[8:10]}/{x[5:7]}/{x[0:4]}" for x in s]

    def my(s):
        return [f"{x[5:7]}/{x[0:4]}" for x in s]

    def opt(v, fmt=str):
        return ["" if x < 0 else fmt(x) for x in v]    # -1 = empty

    income = c["declared_income"]
    member = c["household_member_no"]
    if dialect == "a":
        out = {
            "receipt_no": c["receipt_no"], "collected_on": iso_coll, "collection_point": c["collection_point"],
            "province_code": [cells_code] * n, "district_code": c["district_code"], "commune_code": c["commune_code"],
            "participant_code": c["participant_code"], "full_name": c["full_name"],
            "birth_year": list(map(str, c["birth_year"])), "gender": np.where(c["female"], "F", "M"),
            "scheme": [SCHEME_CODE[s] for s in c["scheme"]], "transaction_type": [KIND_CODE[k] for k in c["kind"]],
            "period_start": [x + "-01" for x in ps_ym], "months_paid": list(map(str, c["months_paid"])),
            "declared_income": opt(income), "household_member_no": opt(member),
            "subsidy_group": [GROUP_CODE[g] for g in c["group"]], "state_subsidy": list(map(str, c["state_subsidy"])),
            "amount": list(map(str, c["amount"])),
        }
        cols = list(CANONICAL_COLUMNS)
        if extra_col:
            out[extra_col] = xv
            cols.append(extra_col)
        lines = [",".join(cols)] + [",".join(r) for r in zip(*[out[k] for k in cols])]
        path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
        return
    vi = {
        "receipt_no": c["receipt_no"], "collection_point": c["collection_point"],
        "province_code": [cells_code] * n, "district_code": c["district_code"], "commune_code": c["commune_code"],
        "participant_code": c["participant_code"], "full_name": c["full_name"],
        "birth_year": list(map(str, c["birth_year"])), "gender": [GENDER_VI[int(f)] for f in c["female"]],
        "scheme": [SCHEME_VI[s] for s in c["scheme"]], "transaction_type": [KIND_VI[k] for k in c["kind"]],
        "months_paid": list(map(str, c["months_paid"])), "household_member_no": opt(member),
        "subsidy_group": [GROUP_VI[g] for g in c["group"]],
    }
    if dialect in ("b", "c"):
        vi["collected_on"] = dmy(iso_coll)
        vi["period_start"] = my(ps_ym)
        vi["declared_income"] = ["" if x < 0 else f"{x:,}".replace(",", ".") for x in income]
        vi["state_subsidy"] = _vn_num(c["state_subsidy"].tolist())
        vi["amount"] = _vn_num(c["amount"].tolist())
        cols = list(CANONICAL_COLUMNS)
        heads = list(VI_HEADERS)
        if extra_col:
            vi[extra_col] = xv
            cols.append(extra_col)
            heads.append(extra_col)
        body = list(zip(*[vi[k] for k in cols]))
        total = int(c["amount"].sum()) + total_delta
        if dialect == "b":
            ncol = len(cols) + 1
            header = ";".join([ROW_NUMBER_HEADER] + heads)
            if n == 0:
                lines = [header]
            else:
                t1, t2 = _title_lines(code, day, org, geo)
                lines = [t1 + ";" * (ncol - 1), t2 + ";" * (ncol - 1), ";" * (ncol - 1), header]
                lines += [f"{i};" + ";".join(r) for i, r in enumerate(body, 1)]
                lines.append(TOTAL_ROW_LABEL + ";" * (len(CANONICAL_COLUMNS)) + _vn_num([total])[0]
                             + (";" if extra_col else ""))
            path.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8"))
        else:
            header = ",".join(_ascii_upper(h) for h in heads)
            lines = [header] + [",".join(r) for r in body]
            text = to_cp1258_form("\r\n".join(lines) + "\r\n")
            path.write_bytes(text.encode("cp1258"))
        return
    if dialect == "e":
        vi["collected_on"] = iso_coll
        vi["period_start"] = ps_ym
        vi["declared_income"] = opt(income)
        vi["state_subsidy"] = list(map(str, c["state_subsidy"]))
        vi["amount"] = list(map(str, c["amount"]))
        order = _shuffled_columns(code, org)
        names = [COLUMNS[k] for k in order]
        if extra_col:
            vi[extra_col] = xv
            order.append(extra_col)
            names.append(extra_col)
        lines = [",".join(names)] + [",".join(r) for r in zip(*[vi[k] for k in order])]
        path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
        return
    # d: xlsx
    vi["collected_on"] = dmy(iso_coll)
    vi["period_start"] = my(ps_ym)
    rows: list[list] = []
    header = [ROW_NUMBER_HEADER] + VI_HEADERS
    ints = {"birth_year": c["birth_year"], "months_paid": c["months_paid"], "state_subsidy": c["state_subsidy"],
            "amount": c["amount"]}
    if n:
        rows.append([_title_lines(code, day, org, geo)[1]])
    rows.append(header)
    if n:
        colvals = []
        for k in CANONICAL_COLUMNS:
            if k in ints:
                colvals.append([int(x) for x in ints[k]])
            elif k == "declared_income":
                colvals.append([None if x < 0 else int(x) for x in income])
            elif k == "household_member_no":
                colvals.append([None if x < 0 else int(x) for x in member])
            else:
                colvals.append([x if x != "" else None for x in vi[k]])
        for i, r in enumerate(zip(*colvals), 1):
            rows.append([i, *r])
        rows.append([TOTAL_ROW_LABEL] + [None] * (len(CANONICAL_COLUMNS) - 1) + [int(c["amount"].sum()) + total_delta])
    write_xlsx(path, rows)


# ----------------------------------------------------------------------------------------------
# truth accumulation


class ActiveTruth:
    """Per-participant month bitmasks (covered, removed) for the months of the range, from written receipts."""

    def __init__(self, m0: int, m1: int):
        self.m0, self.m1 = m0, m1
        self.nw = (m1 - m0) // 64 + 1
        self.cov: dict[tuple[str, int], np.ndarray] = {}
        self.rem: dict[tuple[str, int], np.ndarray] = {}

    def _arr(self, store, key, size):
        a = store.get(key)
        if a is None or a.shape[1] < size:
            new = np.zeros((self.nw, max(size, 1024, 0 if a is None else a.shape[1] * 2)), np.uint64)
            if a is not None:
                new[:, : a.shape[1]] = a
            store[key] = a = new
        return a

    def add(self, unit: str, scheme: int, seq: np.ndarray, ps: np.ndarray, months: np.ndarray):
        if not len(seq):
            return
        size = int(seq.max()) + 1
        pos = months > 0
        for sel, store, length in ((pos, self.cov, months), (~pos, self.rem, -months)):
            if not sel.any():
                continue
            arr = self._arr(store, (unit, scheme), size)
            s = seq[sel].astype(np.int64)
            a = np.maximum(ps[sel].astype(np.int64), self.m0)
            b = np.minimum(ps[sel].astype(np.int64) + length[sel] - 1, self.m1)
            for w in range(self.nw):
                lo = np.maximum(a, self.m0 + 64 * w)
                hi = np.minimum(b, self.m0 + 64 * w + 63)
                ok = hi >= lo
                if not ok.any():
                    continue
                width = (hi - lo + 1)[ok].astype(np.uint64)
                off = (lo - self.m0 - 64 * w)[ok].astype(np.uint64)
                full = width >= _U64(64)
                mask = np.where(full, ~_U64(0), (_U64(1) << np.where(full, _U64(0), width)) - _U64(1)) << off
                np.bitwise_or.at(arr[w], s[ok], mask)

    def counts(self) -> dict[tuple[str, int, int], int]:
        """(unit, scheme, month) -> distinct active participants."""
        out = {}
        for key, cov in self.cov.items():
            rem = self.rem.get(key)
            for w in range(self.nw):
                act = cov[w].copy()
                if rem is not None:
                    r = np.zeros_like(act)
                    k = min(len(r), rem.shape[1])
                    r[:k] = rem[w][:k]
                    act &= ~r
                for b in range(64):
                    m = self.m0 + 64 * w + b
                    if m > self.m1:
                        break
                    n = int(np.count_nonzero((act >> _U64(b)) & _U64(1)))
                    if n:
                        out[(key[0], key[1], m)] = n
        return out


# ----------------------------------------------------------------------------------------------
# the generator


@dataclass
class GenerateSummary:
    out_dir: str
    start: str
    end: str
    seed: int
    scale: float
    faults: bool
    provinces_old: list[str]
    provinces_new: list[str]
    files: int = 0
    receipts: int = 0
    amount_vnd: int = 0
    state_subsidy_vnd: int = 0
    new_receipts: int = 0
    receipts_by_scheme: dict = field(default_factory=dict)
    simulated_days: int = 0
    wall_seconds: float = 0.0
    receipts_per_second: float = 0.0
    warmup_seconds: float = 0.0
    write_seconds: float = 0.0
    write_receipts_per_second: float = 0.0
    bytes_written: int = 0
    faults_injected: int = 0


def _shares(geo: Geography, seed: int) -> dict[tuple[str, int], float]:
    """Each old province's share of the national stock: denominator x a stable per-province propensity."""
    w = {}
    for c, p in geo.old.items():
        r = np.random.default_rng([seed & 0xFFFFFFFF, int(c), 777])
        w[(c, TN)] = p.lf * float(np.exp(np.clip(r.normal(0, 0.35), -0.7, 0.7)))  # 2% to 8% of the labour force
        w[(c, HGD)] = p.pop * float(np.exp(r.normal(0, 0.30)))
    tot = {s: sum(v for (c, ss), v in w.items() if ss == s) for s in (TN, HGD)}
    return {k: v / tot[k[1]] for k, v in w.items()}


def _select(geo: Geography, provinces: list[str] | None, start: date, end: date):
    old_all = set(geo.old)
    new_all = set(geo.new_names)
    pre = start < MERGER
    post = end >= MERGER
    if provinces is None:
        old_sel = set(old_all) if pre else set()
        new_sel = set(new_all) if post else set()
    else:
        req = {f"{int(p):02d}" for p in provinces}
        bad = req - old_all - new_all
        if bad:
            raise ValueError(f"unknown province codes: {sorted(bad)}")
        old_sel = {c for c in req if c in old_all} if pre else set()
        new_sel = ({c for c in req if c in new_all} | {geo.old[c].successor for c in req if c in old_all}) \
            if post else set()
    units = set(old_sel) | {c for c, p in geo.old.items() if p.successor in new_sel}
    return sorted(old_sel), sorted(new_sel), sorted(units)


# Provincial calibration of mandatory social insurance. A province's mandatory coverage (participants
# per person of its working-age labour force) is the national coverage of the month times a stable
# ratio. A province with a published SI coverage target (targets.csv, deadline up to 2025: Hải Dương,
# Hà Nội, Bà Rịa - Vũng Tàu) gets the ratio that puts its SI coverage (mandatory + voluntary, at the
# national voluntary rate) at TARGET_REACHED of the target on the deadline: a synthetic assumption, the
# sources speak of these targets as still to be reached. Every other province gets its region's factor
# (REGION_FACTOR: the shape of the regional gap, industrial South-East and Red River Delta far above the
# mountains, the Central Highlands and the Mekong Delta; a synthetic assumption, not published figures)
# times a stable log-normal draw; those are scaled together so that the national total is MANDATORY,
# within MANDATORY_RATIO_BOUNDS (about 12% to 80% SI coverage in 2024).
TARGET_REACHED = 0.85
LAST_TARGET_DEADLINE = date(2025, 12, 31)
MANDATORY_RATIO_BOUNDS = (0.3, 2.0)
REGIONS = {  # GSO socio-economic regions of the 63 old provinces
    "red_river_delta": "01 22 26 27 30 31 33 34 35 36 37",
    "northern_midlands_and_mountains": "02 04 06 08 10 11 12 14 15 17 19 20 24 25",
    "north_central_and_central_coast": "38 40 42 44 45 46 48 49 51 52 54 56 58 60",
    "central_highlands": "62 64 66 67 68",
    "south_east": "70 72 74 75 77 79",
    "mekong_delta": "80 82 83 84 86 87 89 91 92 93 94 95 96",
}
REGION_OF = {code: region for region, codes in REGIONS.items() for code in codes.split()}
REGION_FACTOR = {"south_east": 1.6, "red_river_delta": 1.0, "north_central_and_central_coast": 0.75,
                 "northern_midlands_and_mountains": 0.55, "mekong_delta": 0.55, "central_highlands": 0.45}


def province_si_targets(ref: Path | None = None) -> dict[str, list[tuple[date, float]]]:
    """Provincial SI coverage targets with a deadline up to LAST_TARGET_DEADLINE: code -> [(deadline, rate)]."""
    out: dict[str, list[tuple[date, float]]] = defaultdict(list)
    for r in _read_csv((ref or reference_dir()) / "targets.csv"):
        deadline = date.fromisoformat(r["deadline"])
        if r["metric"] == "si_coverage_rate" and r["scope"].isdigit() and deadline <= LAST_TARGET_DEADLINE:
            out[r["scope"]].append((deadline, float(r["target_value"])))
    return dict(out)


def mandatory_ratios(geo: Geography, seed: int, ref: Path | None = None) -> dict[str, float]:
    """Each old province's mandatory coverage relative to the national one (working-age-weighted mean 1)."""
    wa = {c: p.wa_lf for c, p in geo.old.items()}
    total_wa = sum(wa.values())
    anchored = {}
    for code, targets in province_si_targets(ref).items():
        if code in geo.old:
            ratios = []
            for deadline, rate in targets:
                m = _mi(deadline)
                ratios.append((TARGET_REACHED * rate - _interp(TN_TARGET, m) / total_wa)
                              / (_interp(MANDATORY, m) / total_wa))
            anchored[code] = sum(ratios) / len(ratios)
    lo, hi = MANDATORY_RATIO_BOUNDS
    drawn = {c: REGION_FACTOR[REGION_OF[c]]
             * float(np.exp(np.random.default_rng([seed & 0xFFFFFFFF, int(c), 555]).normal(0, 0.25)))
             for c in geo.old if c not in anchored}
    room = total_wa - sum(wa[c] * r for c, r in anchored.items())
    for _ in range(20):  # scale to the room left by the anchored provinces, keeping within the bounds
        k = room / sum(wa[c] * r for c, r in drawn.items())
        drawn = {c: min(hi, max(lo, r * k)) for c, r in drawn.items()}
    return {**anchored, **drawn}


def _mandatory_etc(geo: Geography, seed: int, unit: str, m: int, scale: float,
                   ratios: dict[str, float]) -> tuple[float, float, float]:
    r = np.random.default_rng([seed & 0xFFFFFFFF, int(unit), 555])
    r.normal(0, 0.25)  # the mandatory ratio's draw (mandatory_ratios)
    prop_h = float(np.exp(r.normal(0, 0.03)))
    total_wa = sum(p.wa_lf for p in geo.old.values())
    p = geo.old[unit]
    noise = 1 + 0.004 * np.random.default_rng([seed & 0xFFFFFFFF, int(unit), m, 556]).standard_normal()
    mand = _interp(MANDATORY, m) * p.wa_lf * ratios[unit] / total_wa * noise
    ui = mand * 0.88
    years = (m - _mi(date(2020, 7, 1))) / 12
    pop = p.pop * (1.009 ** years)
    hi = pop * min(0.985, _interp(HI_RATE, m) * prop_h) * noise
    return mand * scale, ui * scale, hi * scale


def simulate_stock(month: date, seed: int = 0, scale: float = 0.02, schemes=(TN,)) -> dict[str, int]:
    """National stock of active participants in ``month`` from the simulation alone (no files), divided by scale."""
    geo = load_geography()
    shares = _shares(geo, seed)
    out = {}
    for s in schemes:
        tot = 0
        for c, p in geo.old.items():
            pop = Population(p, s, seed, scale, shares[(c, s)])
            while pop.month <= _mi(month):
                pop.step()
            tot += pop.stock(_mi(month))
        out[SCHEME_CODE[s]] = int(round(tot / scale))
    return out


def generate(out_dir: Path, start: date, end: date, provinces: list[str] | None = None, seed: int = 0,
             scale: float = 1.0, faults: bool | dict[str, float] = False,
             progress: Callable[[str], None] | None = None) -> GenerateSummary:
    """Write daily reports, monthly summaries and ground truth for ``start``..``end`` (inclusive).

    ``provinces``: 2-digit codes, old and/or new; an old code also selects its successor's reports from
    2025-07-01 (where its participants are reported then). A code is written only on days it is valid.
    ``faults``: False, True (default rates ``FAULT_RATES``) or a dict fault kind -> probability per file.

    Truth files (``_truth/``):
      files.csv   province_code, report_date, org_code, path (effective file, relative to out_dir), receipts,
                  amount_vnd, state_subsidy_vnd, new_receipts (what a correct warehouse loads from the file),
                  dialect, fault, receipts_sent
      active.csv  province_code, month (YYYY-MM-01), scheme, active_participants (from loadable receipts only)
      new_by_district.csv  province_code, district_code, month (of collected_on), scheme, new_participants
      faults.csv  province_code, report_date, org_code, path, fault, detail, expected
      summary.json parameters, totals, timings
    """
    t0 = time.perf_counter()
    out = Path(out_dir)
    if end < start:
        raise ValueError("end before start")
    if start < EPOCH:
        raise ValueError(f"start must be on or after {EPOCH}")
    say = progress or (lambda _msg: None)
    ref = reference_dir()
    geo = load_geography(ref)
    params = load_parameters(ref)
    old_sel, new_sel, units = _select(geo, provinces, start, end)
    shares = _shares(geo, seed)
    ratios = mandatory_ratios(geo, seed, ref)
    summary = GenerateSummary(str(out), start.isoformat(), end.isoformat(), seed, scale, faults, old_sel, new_sel)
    truth_dir = out / "_truth"
    truth_dir.mkdir(parents=True, exist_ok=True)
    m_start, m_end = _mi(start), _mi(end)
    active = ActiveTruth(m_start, m_end)
    new_counter: Counter = Counter()
    by_scheme: Counter = Counter()
    faults_rows: list[list[str]] = []
    injector = (FaultInjector(seed, faults if isinstance(faults, dict) else None) if faults else None)

    pops = {(u, s): Population(geo.old[u], s, seed, scale, shares[(u, s)]) for u in units for s in (TN, HGD)}
    fh = (truth_dir / "files.csv").open("w", encoding="utf-8", newline="")
    fw = csv.writer(fh, lineterminator="\n")
    fw.writerow(["province_code", "report_date", "org_code", "path", "receipts", "amount_vnd", "state_subsidy_vnd",
                 "new_receipts", "dialect", "fault", "receipts_sent"])
    summaries_rows = []

    t_write = None
    for m in range(EPOCH_M, m_end + 1):
        evs = {key: pop.step() for key, pop in pops.items()}
        if m < m_start:
            continue
        if t_write is None:
            t_write = time.perf_counter()
            summary.warmup_seconds = round(t_write - t0, 3)
            say(f"warm-up {EPOCH:%Y-%m}..{_mdate(m - 1):%Y-%m} done in {summary.warmup_seconds:.1f}s "
                f"({len(units)} old provinces simulated)")
        d0 = _mdate(m)
        ndays = (_mdate(m + 1) - d0).days
        month_receipts = 0
        # summaries of this month (office figures: simulated true stock)
        agg: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
        for u in units:
            code = u if m < MERGER_M else geo.old[u].successor
            if code not in (old_sel if m < MERGER_M else new_sel):
                continue
            mand, ui, hi = _mandatory_etc(geo, seed, u, m, scale, ratios)
            vol = pops[(u, TN)].stock(m)
            hgd = pops[(u, HGD)].stock(m)
            a = agg[code]
            a[0] += mand; a[1] += vol; a[2] += ui; a[3] += max(hi, hgd * 1.05)
        for code in sorted(agg):
            a = agg[code]
            summaries_rows.append((f"{d0:%Y-%m}", code, [int(round(a[0])), int(a[1]), int(round(a[2])),
                                                         int(round(a[3]))]))
        # per-day files
        for di in range(ndays):
            day = d0 + timedelta(days=di)
            if day < start or day > end:
                continue
            summary.simulated_days += 1
            sel_codes = old_sel if day < MERGER else new_sel
            # gather receipts of the day across units
            parts = []
            for (u, s), ev in evs.items():
                lo, hi_ = np.searchsorted(ev["day"], [di, di + 1])
                if hi_ > lo:
                    code = u if day < MERGER else geo.old[u].successor
                    if code in sel_codes:
                        parts.append((u, s, code, {k: v[lo:hi_] for k, v in ev.items()}))
            code_orgs = {c: orgs_of(c, day) for c in sel_codes}
            files_today = _build_day(parts, day, geo, params, seed, code_orgs, sel_codes)
            for (code, org), rc in files_today.items():
                dialect = dialect_of(code, org)
                ext = "xlsx" if dialect == "d" else "csv"
                rel = f"{code}/{day.isoformat()}/{org}.{ext}"
                path = out / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                fault = None
                receipts_sent = rc.n
                if injector is not None:
                    written, rel, frows, fault = injector.write(rc, code, org, day, dialect, rel, path, out, geo)
                    faults_rows.extend(frows)
                    if written is None:
                        continue
                else:
                    _format_file(rc, code, org, day, dialect, geo, path)
                    written = rc
                # arrival time as mtime: 07:00 (UTC+7) the next day, later for a late report
                late_days = int(frows[0][5].split("(")[1].split()[0]) if fault == "late" else 0
                arrival = day + timedelta(days=1 + late_days)
                ts = (arrival - date(1970, 1, 1)).days * 86400
                for pth in {path, out / rel}:
                    if pth.exists():
                        os.utime(pth, (ts, ts))
                n = written.n
                c = written.cols
                amt = int(c["amount"].sum()) if n else 0
                sub = int(c["state_subsidy"].sum()) if n else 0
                nnew = int(np.count_nonzero(c["kind"] == KIND_NEW)) if n else 0
                fw.writerow([code, day.isoformat(), org, rel, n, amt, sub, nnew, dialect, fault or "", receipts_sent])
                summary.files += 1
                summary.receipts += n
                summary.amount_vnd += amt
                summary.state_subsidy_vnd += sub
                summary.new_receipts += nnew
                month_receipts += n
                if n:
                    for s in (TN, HGD):
                        ms = c["scheme"] == s
                        by_scheme[SCHEME_CODE[s]] += int(ms.sum())
                        for u in np.unique(c["unit"][ms]):
                            mu = ms & (c["unit"] == u)
                            active.add(str(u), s, c["seq"][mu], c["ps"][mu], c["months_paid"][mu])
                    isnew = c["kind"] == KIND_NEW
                    if isnew.any():
                        keys = zip(c["district_code"][isnew], [x[:7] for x in c["collected_on"][isnew]],
                                   c["scheme"][isnew])
                        for dc, mon, s in keys:
                            new_counter[(code, dc, mon + "-01", SCHEME_CODE[s])] += 1
        el = time.perf_counter() - t_write
        say(f"{d0:%Y-%m}: days {summary.simulated_days}, receipts {summary.receipts:,} "
            f"(+{month_receipts:,}), files {summary.files:,}, {summary.receipts / max(el, 1e-9):,.0f} receipts/s")
    fh.close()

    # summaries
    for mon, code, vals in summaries_rows:
        p = out / "summaries" / mon / f"{code}.csv"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("province_code,month,mandatory_si_participants,voluntary_si_participants,"
                     "unemployment_insurance_participants,health_insurance_participants\n"
                     f"{code},{mon}," + ",".join(map(str, vals)) + "\n", encoding="utf-8")
    # active truth
    rows = defaultdict(int)
    for (u, s, m), n in active.counts().items():
        code = u if m < MERGER_M else geo.old[u].successor
        if code in (old_sel if m < MERGER_M else new_sel):
            rows[(code, m, SCHEME_CODE[s])] += n
    with (truth_dir / "active.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["province_code", "month", "scheme", "active_participants"])
        for (code, m, s), n in sorted(rows.items(), key=lambda kv: (kv[0][1], kv[0][0], kv[0][2])):
            w.writerow([code, _mdate(m).isoformat(), s, n])
    with (truth_dir / "new_by_district.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["province_code", "district_code", "month", "scheme", "new_participants"])
        for k in sorted(new_counter):
            w.writerow([*k, new_counter[k]])
    with (truth_dir / "faults.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["province_code", "report_date", "org_code", "path", "fault", "detail", "expected"])
        for r in faults_rows:
            w.writerow(r)
    summary.faults_injected = len(faults_rows)
    summary.receipts_by_scheme = dict(by_scheme)
    summary.wall_seconds = round(time.perf_counter() - t0, 3)
    summary.receipts_per_second = round(summary.receipts / max(summary.wall_seconds, 1e-9), 1)
    summary.write_seconds = round(summary.wall_seconds - summary.warmup_seconds, 3)
    summary.write_receipts_per_second = round(summary.receipts / max(summary.write_seconds, 1e-9), 1)
    summary.bytes_written = sum(f.stat().st_size for f in out.rglob("*") if f.is_file() and "_truth" not in f.parts)
    doc = {"parameters": {"start": start.isoformat(), "end": end.isoformat(), "provinces": provinces, "seed": seed,
                          "scale": scale, "faults": faults},
           "summary": asdict(summary), "dialects": DIALECT_DOC,
           "rules": {"active": "covered months (period_start..+months_paid-1) minus refunded months, from written "
                               "receipts only, counted in the province code valid in the month",
                     "amount_rounding": "round half up to whole VND (products are whole with the published rates)"}}
    (truth_dir / "summary.json").write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
    return summary


def _build_day(parts, day: date, geo: Geography, params: Parameters, seed: int,
               code_orgs: dict[str, list[str]], sel_codes) -> dict[tuple[str, str], Receipts]:
    """The day's receipts of every unit, split into files (province code, org) with canonical values."""
    files: dict[tuple[str, str], Receipts] = {}
    empty_keys = [(c, o) for c in sel_codes for o in code_orgs[c]]
    if parts:
        unit = np.concatenate([np.full(len(ev["seq"]), u, dtype=object) for u, s, c, ev in parts])
        scheme = np.concatenate([np.full(len(ev["seq"]), s, np.int8) for u, s, c, ev in parts])
        fcode = np.concatenate([np.full(len(ev["seq"]), c, dtype=object) for u, s, c, ev in parts])
        pid = np.concatenate([participant_code(u, s, ev["seq"]) for u, s, c, ev in parts])
        cat = {k: np.concatenate([ev[k] for _u, _s, _c, ev in parts]) for k in parts[0][3]}
        at = _attrs(pid, scheme, seed)
        n = len(pid)
        # geography: district / commune / collection point (from the hash)
        dist = np.empty(n, dtype=object)
        comm = np.empty(n, dtype=object)
        point_d = np.empty(n, dtype=object)
        for u in np.unique(unit):
            mu = unit == u
            p = geo.old[u]
            di = at["dsel"][mu] % len(p.districts)
            dcodes = np.array(p.districts, dtype=object)[di]
            cs = [p.communes[i][j % len(p.communes[i])] for i, j in zip(di, at["csel"][mu])]
            comm[mu] = cs
            point_d[mu] = dcodes
            dist[mu] = dcodes if day < MERGER else ""
        # organisation of each receipt within its file province
        org = np.empty(n, dtype=object)
        for c in np.unique(fcode):
            mc = fcode == c
            orgs = code_orgs[c]
            cum = np.cumsum([ORG_SHARE[o] for o in orgs])
            cum = cum / cum[-1]
            oi = np.searchsorted(cum, at["org_u"][mc], side="right").clip(0, len(orgs) - 1)
            org[mc] = np.array(orgs, dtype=object)[oi]
        # dates and amounts
        lag = cat["lag"].astype(np.int64)
        months = cat["months"].astype(np.int64)
        kind = cat["kind"]
        coll = [day - timedelta(days=int(x)) for x in lag]
        coll_s = np.array([d.isoformat() for d in coll], dtype=object)
        ps_s = np.array([f"{x // 12:04d}-{x % 12 + 1:02d}" for x in cat["ps"]], dtype=object)
        group = cat["group"].astype(np.int64).copy()
        income = np.full(n, -1, np.int64)
        member = np.where(scheme == HGD, cat["member"].astype(np.int64), -1)
        subsidy = np.zeros(n, np.int64)
        amount = np.zeros(n, np.int64)
        for lg in np.unique(lag):
            ml = lag == lg
            cd = day - timedelta(days=int(lg))
            pov = params.get("rural_poverty_line", cd)
            rate = params.get("tn_contribution_rate", cd)
            base = params.get("base_salary", cd)
            hrate = params.get("hgd_rate_first_member", cd)
            if cd < MERGER:   # no ethnic-minority share before Decree 159/2025
                group[ml & (group == 3)] = 0
            tn = ml & (scheme == TN)
            inc = pov + cat["extra"][tn].astype(np.int64)
            income[tn] = inc
            shares = np.array([params.tn_share(g, cd) for g in GROUP_CODE])
            sub = np.floor(shares[group[tn]] * rate * pov * months[tn] + 0.5).astype(np.int64)
            sub = np.where(months[tn] > 0, sub, 0)
            subsidy[tn] = sub
            amount[tn] = np.where(months[tn] > 0, np.floor(rate * inc * months[tn] + 0.5).astype(np.int64) - sub,
                                  -np.floor(rate * inc * -months[tn] + 0.5).astype(np.int64))
            hg = ml & (scheme == HGD)
            factors = np.array([0, 1.0, params.get("hgd_member_factor_2", cd), params.get("hgd_member_factor_3", cd),
                                params.get("hgd_member_factor_4", cd), params.get("hgd_member_factor_5_plus", cd)])
            mh = months[hg]
            val = np.floor(hrate * base * np.abs(mh) * factors[member[hg].clip(1, 5)] + 0.5).astype(np.int64)
            amount[hg] = np.sign(mh) * val
        # file grouping
        key = np.array([f"{c}|{o}" for c, o in zip(fcode, org)], dtype=object)
        prefix = np.array([ORG_PREFIX[o] for o in org], dtype=object)
        point = prefix + "-" + point_d + "-" + np.array([f"{k:02d}" for k in at["point"]], dtype=object)
        pid_s = np.array([f"{x:010d}" for x in pid], dtype=object)
        order = np.argsort(key, kind="stable")
        keys_sorted = key[order]
        uniq, starts = np.unique(keys_sorted, return_index=True)
        bounds = list(starts) + [len(order)]
        for i, k in enumerate(uniq):
            idx = order[bounds[i]:bounds[i + 1]]
            c, o = k.split("|")
            nn = len(idx)
            rno = [f"{ORG_PREFIX[o]}{c}-{day:%y%m%d}-{j:05d}" for j in range(1, nn + 1)]
            files[(c, o)] = Receipts({
                "receipt_no": np.array(rno, dtype=object), "collected_on": coll_s[idx],
                "collection_point": point[idx], "district_code": dist[idx], "commune_code": comm[idx],
                "participant_code": pid_s[idx], "full_name": at["name"][idx], "birth_year": at["birth"][idx],
                "female": at["female"][idx], "scheme": scheme[idx], "kind": kind[idx],
                "period_start": ps_s[idx], "months_paid": months[idx], "declared_income": income[idx],
                "household_member_no": member[idx], "group": group[idx], "state_subsidy": subsidy[idx],
                "amount": amount[idx], "unit": unit[idx], "seq": cat["seq"][idx], "ps": cat["ps"][idx],
            }, nn)
    result = {}
    for k in sorted(empty_keys):
        result[k] = files.get(k) or _empty_receipts()
    return result


def _empty_receipts() -> Receipts:
    obj = np.zeros(0, dtype=object)
    i64 = np.zeros(0, np.int64)
    cols = {k: obj for k in ("receipt_no", "collected_on", "collection_point", "district_code", "commune_code",
                             "participant_code", "full_name", "period_start", "unit")}
    cols.update({k: i64 for k in ("birth_year", "months_paid", "declared_income", "household_member_no",
                                  "group", "state_subsidy", "amount", "seq", "ps")})
    cols["female"] = np.zeros(0, bool)
    cols["scheme"] = np.zeros(0, np.int8)
    cols["kind"] = np.zeros(0, np.int8)
    return Receipts(cols, 0)


# fault kinds and their probability per file (cumulative draw, at most one fault per file)
FAULT_RATES = {
    "missing": 0.004, "late": 0.010, "corrected_v2": 0.005, "duplicate_file": 0.003, "wrong_encoding": 0.003,
    "wrong_province": 0.003, "malformed_rows": 0.006, "control_total_mismatch": 0.004, "schema_drift": 0.005,
}
FAULT_EXPECTED = {
    "missing": "not_received",
    "late": "received_late",
    "corrected_v2": "v1_superseded_by_v2",
    "duplicate_file": "v2_identical_to_v1_no_double_count",
    "wrong_encoding": "file_rejected",
    "wrong_province": "file_rejected",
    "malformed_rows": "rows_quarantined",
    "control_total_mismatch": "control_total_check_fails_rows_loaded",
    "schema_drift": "extra_column_kept_raw_rows_loaded",
}


def _subset(rc: Receipts, keep: np.ndarray) -> Receipts:
    return Receipts({k: v[keep] for k, v in rc.cols.items()}, int(len(keep)))


class FaultInjector:
    """Writes a report with at most one fault, drawn from ``(seed, province, org, day)``.

    Returns the receipts a correct warehouse should load from it (the truth), the path of the effective
    file, and rows for ``_truth/faults.csv``."""

    def __init__(self, seed: int, rates: dict[str, float] | None = None):
        self.seed = seed
        self.rates = dict(FAULT_RATES if rates is None else rates)

    def draw(self, code: str, org: str, day: date, dialect: str, n: int) -> tuple[str | None, np.random.Generator]:
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, int(code), _crc(org) % 100_000, day.toordinal(), 4242])
        u = rng.random()
        acc = 0.0
        for kind, p in self.rates.items():
            acc += p
            if u < acc:
                if kind in ("wrong_encoding", "wrong_province", "malformed_rows") and n == 0:
                    return None, rng
                if kind == "control_total_mismatch" and (dialect not in ("b", "d") or n == 0):
                    return None, rng
                if kind in ("schema_drift", "wrong_encoding") and dialect == "d":
                    return None, rng
                return kind, rng
        return None, rng

    def write(self, rc: Receipts, code: str, org: str, day: date, dialect: str, rel: str, path: Path, out: Path,
              geo: Geography):
        kind, rng = self.draw(code, org, day, dialect, rc.n)
        rows: list[list] = []

        def rec(detail: str, p: str = rel):
            rows.append([code, day.isoformat(), org, p, kind, detail, FAULT_EXPECTED[kind]])

        if kind is None:
            _format_file(rc, code, org, day, dialect, geo, path)
            return rc, rel, rows, None
        ext = path.suffix
        v2_rel = f"{code}/{day.isoformat()}/{org}.v2{ext}"
        if kind == "missing":
            rec(f"{rc.n} receipts not sent")
            return None, rel, rows, kind
        if kind == "late":
            days = int(rng.integers(2, 8))
            _format_file(rc, code, org, day, dialect, geo, path)
            rec(f"arrived {(day + timedelta(days=1 + days)).isoformat()} ({days} days late)")
            return rc, rel, rows, kind
        if kind in ("corrected_v2", "duplicate_file"):
            first = rc
            detail = "v2 identical to v1"
            if kind == "corrected_v2":
                cols = {k: v.copy() for k, v in rc.cols.items()}
                if rc.n:
                    i = int(rng.integers(0, rc.n))
                    cols["amount"][i] += 10_000
                    detail = f"v1 row {i + 1} amount +10000 (statutory mismatch); v2 corrects it"
                else:
                    detail = "v1 header only, v2 header only"
                first = Receipts(cols, rc.n)
            _format_file(first, code, org, day, dialect, geo, path)
            _format_file(rc, code, org, day, dialect, geo, out / v2_rel)
            rec(detail, v2_rel)
            return rc, v2_rel, rows, kind
        if kind == "wrong_encoding":
            _format_file(rc, code, org, day, dialect, geo, path)
            raw = path.read_bytes()
            text = raw.decode("cp1258") if dialect == "c" else raw.decode("utf-8-sig")
            path.write_bytes(text.encode("utf-16"))
            rec(f"UTF-16 instead of the dialect's encoding; {rc.n} receipts unreadable")
            return _subset(rc, np.zeros(0, np.int64)), rel, rows, kind
        if kind == "wrong_province":
            others = sorted(set(geo.new_names if day >= MERGER else geo.old_names) - {code})
            other = others[int(rng.integers(0, len(others)))]
            _format_file(rc, code, org, day, dialect, geo, path, cell_code=other)
            rec(f"province_code cells say {other}; {rc.n} receipts rejected")
            return _subset(rc, np.zeros(0, np.int64)), rel, rows, kind
        if kind == "malformed_rows":
            k = min(rc.n, int(rng.integers(1, 3)))
            bad = np.sort(rng.choice(rc.n, size=k, replace=False))
            cols = {kk: v.copy() for kk, v in rc.cols.items()}
            for i in bad:
                cols["collected_on"][i] = f"{day.year}-02-30"
            _format_file(Receipts(cols, rc.n), code, org, day, dialect, geo, path)
            keep = np.setdiff1d(np.arange(rc.n), bad)
            rec("bad collected_on (30 February) in receipts " + " ".join(rc.cols["receipt_no"][bad]))
            return _subset(rc, keep), rel, rows, kind
        if kind == "control_total_mismatch":
            delta = int(rng.integers(1, 50)) * 1000
            _format_file(rc, code, org, day, dialect, geo, path, total_delta=delta)
            rec(f"control total {int(rc.cols['amount'].sum()) + delta} vs sum of rows {int(rc.cols['amount'].sum())}")
            return rc, rel, rows, kind
        if kind == "schema_drift":
            name = {"a": "ghi_chu", "c": "GHI CHU"}.get(dialect, "Ghi chú")
            _format_file(rc, code, org, day, dialect, geo, path, extra_col=name)
            rec(f"extra column {name!r}")
            return rc, rel, rows, kind
        raise AssertionError(kind)
