"""The coverage dashboard in a real browser: generated reports -> the project's DAGs -> marts ->
`bhxh dashboard` -> headless Chromium (Debian's package) driven over the DevTools protocol.

Checked: no console errors, no failed requests; every chart has drawn marks; every figure shown
(elements with data-source / data-column / data-where / data-value) equals its mart row, queried
here independently, and its vi-VN text reads back as that value; sections whose mart is absent say
so; the print stylesheet hides navigation. Screenshots and a PDF go to .bhxh/screenshots/.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from bhxh import cli
from bhxh.generate import generate
from bhxh.runner import run_range

from .conftest import scratch_database

START, END = date(2024, 4, 29), date(2024, 5, 2)
PROVINCES = ["30", "31", "01"]  # 30 and 01 have their own targets, 31 is ranked against the national one
SCREENSHOTS = Path(__file__).resolve().parents[1] / ".bhxh" / "screenshots"
CHROMIUM = "/usr/bin/chromium"

pytestmark = pytest.mark.e2e


# -- set-up: data through the pipeline, the browser --------------------------------------------------

@pytest.fixture(scope="module")
def marts_url(tmp_path_factory, warehouse_url):
    source = tmp_path_factory.mktemp("dash") / "source"
    generate(source, START, END, provinces=PROVINCES, seed=5, scale=0.02)
    with scratch_database(warehouse_url, "bhxh_test_dashboard") as url:
        messages: list[str] = []
        assert run_range(str(source), START, END, progress=messages.append) == 0, "\n".join(messages)
        yield url


def _ensure_chromium() -> str:
    if not os.path.exists(CHROMIUM):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env)
    return CHROMIUM


class Browser:
    """Headless Chromium and one flat DevTools session per page (websockets, sync client)."""

    def __init__(self):
        from websockets.sync.client import connect

        self.profile = tempfile.mkdtemp(prefix="bhxh-chromium-")
        self.proc = subprocess.Popen(
            [_ensure_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
             "--hide-scrollbars", f"--user-data-dir={self.profile}", "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline, url = time.monotonic() + 60, None
        while url is None and time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                raise RuntimeError("chromium exited before DevTools was ready")
            match = re.search(r"DevTools listening on (ws://\S+)", line)
            url = match.group(1) if match else None
        assert url, "chromium did not announce its DevTools endpoint"
        self._connection = connect(url, max_size=None, open_timeout=30)
        self.ws = self._connection.__enter__()
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, session: str | None = None, **params):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        while True:
            reply = json.loads(self.ws.recv(timeout=60))
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, session: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        for event in self.events:
            if event.get("method") == method and event.get("sessionId") == session:
                return event
        while time.monotonic() < deadline:
            event = json.loads(self.ws.recv(timeout=max(deadline - time.monotonic(), 0.1)))
            self.events.append(event)
            if event.get("method") == method and event.get("sessionId") == session:
                return event
        raise TimeoutError(method)

    def open(self, url: str, width: int = 1280) -> "Page":
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session)
        self.send("Emulation.setDeviceMetricsOverride", session, width=width, height=900, deviceScaleFactor=1,
                  mobile=False)
        self.send("Page.navigate", session, url=url)
        self.wait_for("Page.loadEventFired", session)
        return Page(self, session)

    def close(self):
        try:
            self._connection.__exit__(None, None, None)
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    def __init__(self, browser: Browser, session: str):
        self.browser, self.session = browser, session

    def eval(self, expression: str):
        result = self.browser.send("Runtime.evaluate", self.session, expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions, failed requests and HTTP errors seen on this page."""
        out = []
        for e in self.browser.events:
            if e.get("sessionId") != self.session:
                continue
            method, p = e.get("method"), e.get("params", {})
            if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(f"console.{p['type']}: {p.get('args')}")
            elif method == "Runtime.exceptionThrown":
                out.append(f"exception: {p['exceptionDetails'].get('text')}")
            elif method == "Log.entryAdded" and p["entry"].get("level") == "error":
                out.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
            elif method == "Network.loadingFailed":
                out.append(f"request failed: {p.get('errorText')} {p.get('type')}")
            elif method == "Network.responseReceived" and p["response"].get("status", 200) >= 400:
                out.append(f"HTTP {p['response']['status']}: {p['response']['url']}")
        return out

    def screenshot(self, path: Path):
        data = self.browser.send("Page.captureScreenshot", self.session, format="png", captureBeyondViewport=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data["data"]))

    def pdf(self, path: Path):
        data = self.browser.send("Page.printToPDF", self.session, printBackground=True, preferCSSPageSize=True)
        path.write_bytes(base64.b64decode(data["data"]))


@pytest.fixture(scope="module")
def browser():
    b = Browser()
    yield b
    b.close()


def _dashboard(out: Path, *extra: str) -> Path:
    assert cli.main(["dashboard", "--out", str(out), *extra]) == 0
    return out


@pytest.fixture(scope="module")
def site(marts_url, tmp_path_factory):
    return _dashboard(tmp_path_factory.mktemp("site"))


# -- what the DOM says, and what the marts say -------------------------------------------------------

READ_DOM = r"""(() => {
  const charts = [...document.querySelectorAll('[data-chart]')].map(s => ({
    id: s.getAttribute('data-chart'), marks: s.querySelectorAll('svg .mark').length,
    noData: [...s.querySelectorAll('.no-data')].map(n => n.getAttribute('data-table') || n.textContent.trim())}));
  const figures = [...document.querySelectorAll('.fig')].map(f => ({
    source: f.getAttribute('data-source'), column: f.getAttribute('data-column'),
    where: f.getAttribute('data-where'), value: f.getAttribute('data-value'), text: f.textContent.trim(),
    formula: f.getAttribute('data-formula'), row: (f.closest('tr[data-province]') || {}).dataset?.province}));
  const ranking = [...document.querySelectorAll('#ranking tr[data-province]')].map(r => r.dataset.province);
  const csv = [...document.querySelectorAll('a.csv')].map(a => a.getAttribute('href'));
  const national = [...document.querySelectorAll('#national-si svg circle.mark')].map(c => [c.dataset.month, c.dataset.value]);
  return {charts, figures, ranking, csv, national, title: document.title, lang: document.documentElement.lang,
          external: [...document.querySelectorAll('script[src], link[rel=stylesheet], img[src^=http]')].length};
})()"""


def _parse_vi(text: str) -> Decimal | None:
    """'1.650.000' -> 1650000; '45,2%' -> 0.452; '−8,3 điểm %' -> -0.083; '–' -> None."""
    if text.strip() == "–":
        return None
    percent = "%" in text
    number = text.replace("điểm", "").replace("%", "").replace("−", "-").replace(".", "").replace(",", ".").strip()
    value = Decimal(number)
    return value / 100 if percent else value


def _mart_value(url: str, source: str, column: str, where: str):
    assert re.fullmatch(r"marts\.fct_[a-z_]+", source) and re.fullmatch(r"[a-z_]+", column), (source, column)
    clauses, params = [], []
    for part in where.split(";"):
        key, _, value = part.partition("=")
        assert re.fullmatch(r"[a-z_]+", key), key
        if value == "":
            clauses.append(f"{key} is null")
        else:
            clauses.append(f"{key}::text = %s")
            params.append(value)
    with psycopg.connect(url) as conn:
        rows = conn.execute(f"select {column} from {source} where {' and '.join(clauses)}", params).fetchall()
    assert len(rows) == 1, (source, column, where, rows)
    return rows[0][0]


def _check_figures(url: str, figures: list[dict]) -> int:
    checked = 0
    for f in figures:
        if f["formula"]:
            continue  # computed by the dashboard: checked in test_ranking_against_marts
        expected = _mart_value(url, f["source"], f["column"], f["where"])
        shown = _parse_vi(f["text"])
        if expected is None:
            assert f["value"] == "" and shown is None, f
            continue
        assert Decimal(f["value"]) == Decimal(str(expected)), (f, expected)
        tolerance = Decimal("0") if isinstance(expected, int) else Decimal("0.0005") if "," in f["text"] else Decimal("0.005")
        assert abs(shown - Decimal(str(expected))) <= tolerance, (f, expected)
        checked += 1
    return checked


def _rows(url: str, sql: str, params=()):
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


# -- the tests ---------------------------------------------------------------------------------------

def test_main_page_in_browser(site, browser, marts_url):
    page = browser.open((site / "index.html").as_uri())
    dom = page.eval(READ_DOM)
    page.screenshot(SCREENSHOTS / "dashboard-index.png")
    print(f"\nscreenshot: {SCREENSHOTS / 'dashboard-index.png'}")
    assert page.problems() == []
    assert dom["lang"] == "vi" and dom["external"] == 0
    assert "Bao phủ bảo hiểm xã hội toàn quốc" in dom["title"]

    charts = {c["id"]: c for c in dom["charts"]}
    months = _rows(marts_url, """select month, si_coverage_rate from marts.fct_coverage_monthly_national
                                 where si_coverage_rate is not null order by month""")
    assert [m for m, _ in dom["national"]] == [m.isoformat() for m, _ in months]
    assert [Decimal(v) for _, v in dom["national"]] == [v for _, v in months]
    assert charts["national-si"]["marks"] >= len(months) >= 1
    assert charts["ranking"]["marks"] == len(PROVINCES)
    assert charts["plans"]["marks"] == _rows(marts_url, "select count(*) from marts.fct_plan_attainment")[0][0]
    for table, chart in (("fct_campaign_month", "campaign"), ("fct_report_completeness", "health")):
        present = _rows(marts_url, "select to_regclass(%s) is not null", (f"marts.{table}",))[0][0]
        if not present:  # the contract's section waits for its mart, and says so
            assert table in charts[chart]["noData"] and charts[chart]["marks"] == 0
        else:
            assert charts[chart]["marks"] > 0

    assert _check_figures(marts_url, dom["figures"]) >= 20
    for href in dom["csv"]:
        assert (site / href).is_file(), href

    page.browser.send("Emulation.setEmulatedMedia", page.session, media="print")
    assert page.eval("getComputedStyle(document.querySelector('nav')).display") == "none"
    page.pdf(SCREENSHOTS / "dashboard-index.pdf")


def test_ranking_against_marts(site, browser, marts_url):
    """Ranked by gap (largest first); provinces without their own target use the national 2025 one."""
    dom = browser.open((site / "index.html").as_uri()).eval(READ_DOM)
    month = _rows(marts_url, "select max(month) from marts.fct_coverage_monthly")[0][0]
    expected = {}
    for code in PROVINCES:
        own = _rows(marts_url, """select gap, participants_needed from marts.fct_target_attainment
                                  where scope = %s and metric = 'si_coverage_rate' and month = %s
                                  order by deadline limit 1""", (code, month))
        if own:
            expected[code] = own[0]
        else:
            expected[code] = _rows(marts_url, """
                select t.target_value - c.si_coverage_rate,
                       ceil(greatest(t.target_value - c.si_coverage_rate, 0) * c.labour_force)::bigint
                from marts.fct_coverage_monthly c join marts.fct_target_attainment t on t.month = c.month
                where c.province_code = %s and c.month = %s and t.target_id = 'RES28_SI_2025'""", (code, month))[0]
    assert dom["ranking"] == sorted(PROVINCES, key=lambda c: -expected[c][0])
    derived = [f for f in dom["figures"] if f.get("formula") and f.get("row")]
    assert {f["row"] for f in derived} == {c for c in PROVINCES if not _rows(
        marts_url, "select 1 from marts.fct_target_attainment where scope = %s and month = %s", (c, month))}
    for f in derived:
        gap, needed = expected[f["row"]]
        value = gap if f["formula"].startswith("target_value") else needed
        assert Decimal(f["value"]) == Decimal(str(value)), f
        assert abs(_parse_vi(f["text"]) - Decimal(str(value))) <= Decimal("0.0005"), f


def test_province_page_in_browser(marts_url, browser, tmp_path):
    out = _dashboard(tmp_path / "site-30", "--province", "30")
    assert sorted(p.name for p in out.glob("*.html")) == ["index.html", "province-30.html"]
    page = browser.open((out / "province-30.html").as_uri())
    dom = page.eval(READ_DOM)
    page.screenshot(SCREENSHOTS / "dashboard-province-30.png")
    print(f"\nscreenshot: {SCREENSHOTS / 'dashboard-province-30.png'}")
    assert page.problems() == []
    charts = {c["id"]: c for c in dom["charts"]}
    months = _rows(marts_url, """select count(*) from marts.fct_coverage_monthly
                                 where province_code = '30' and si_coverage_rate is not null""")[0][0]
    assert months >= 1 and charts["province-si"]["marks"] >= months
    hd = [f for f in dom["figures"] if "target_id=HD_SI_2025" in (f["where"] or "")]
    assert hd, "Hải Dương's 55% target is shown"
    assert _check_figures(marts_url, dom["figures"]) >= 8
    assert "Hải Dương" in page.eval("document.querySelector('h1').textContent")


CONTRACT_FIXTURES = """
create table marts.fct_campaign_month (province_code text, district_code text, year integer, scheme text,
    new_in_may bigint, new_in_april bigint, new_in_may_prior_year bigint, campaign_goal bigint,
    reached_campaign_goal boolean);
insert into marts.fct_campaign_month values
    ('30', null, 2024, 'TN', 871, 640, 512, null, null),
    ('30', '288', 2024, 'TN', 61, 40, 35, 50, true),
    ('30', '289', 2024, 'TN', 32, 20, 25, 50, false);
create table marts.fct_report_completeness (province_code text, org_code text, report_date date, expected boolean,
    received boolean, on_time boolean, days_late integer, rows_received integer, rows_loaded integer,
    rows_quarantined integer, status text);
insert into marts.fct_report_completeness values
    ('30', 'VNPOST', '2024-05-01', true, true, true, 0, 10, 10, 0, 'on_time'),
    ('30', 'VNPOST', '2024-05-02', true, true, false, 2, 10, 9, 1, 'late'),
    ('30', 'VNPOST', '2024-05-03', true, false, null, null, null, null, null, 'missing');
create table marts.fct_data_quality (run_id text, province_code text, report_date date, file text, check_name text,
    success boolean, unexpected_count bigint, sample_values jsonb, checked_at timestamptz);
insert into marts.fct_data_quality values
    ('r1', '30', '2024-05-02', '30/2024-05-02/VNPOST.csv', 'receipts.expect_column_values_to_not_be_null(amount)',
     false, 1, '["<null>"]', '2024-05-03 09:00+07'),
    ('r1', '30', '2024-05-02', '30/2024-05-02/VNPOST.csv', 'receipts.expect_table_row_count_to_be_between',
     true, 0, null, '2024-05-03 09:00+07');
"""


def test_contract_sections_light_up(marts_url, browser, tmp_path):
    """The sections waiting for fct_campaign_month, fct_report_completeness and fct_data_quality read
    the contract's columns: with hand-written rows in tables of that shape (until the real marts are
    merged; skipped once they exist) they draw without code changes."""
    with psycopg.connect(marts_url) as conn:
        present = conn.execute("""select count(*) from information_schema.tables where table_schema = 'marts'
            and table_name in ('fct_campaign_month', 'fct_report_completeness', 'fct_data_quality')""").fetchone()[0]
    if present:
        pytest.skip("the real marts exist: test_main_page_in_browser checks them")
    try:
        with psycopg.connect(marts_url, autocommit=True) as conn:
            conn.execute(CONTRACT_FIXTURES)
        out = _dashboard(tmp_path / "site-contract", "--province", "30")
        for name in ("index.html", "province-30.html"):
            page = browser.open((out / name).as_uri())
            dom = page.eval(READ_DOM)
            assert page.problems() == []
            charts = {c["id"]: c for c in dom["charts"]}
            assert charts["campaign"]["noData"] == [] and charts["campaign"]["marks"] == 3, charts["campaign"]
            assert charts["health"]["noData"] == [] and charts["health"]["marks"] == 6, charts["health"]
            shown = {(f["column"], f["where"]): f["text"] for f in dom["figures"] if f["source"] == "marts.fct_campaign_month"}
            assert shown[("new_in_may", "province_code=30;district_code=;year=2024;scheme=TN")] == "871"
            assert _check_figures(marts_url, dom["figures"]) >= 10
            text = page.eval("document.querySelector('#health').textContent")
            assert "expect_column_values_to_not_be_null(amount)" in text and "row_count" not in text
            assert "+231" in page.eval("document.querySelector('#campaign').textContent")  # 871 - 640
        page.screenshot(SCREENSHOTS / "dashboard-province-30-contract-sections.png")
    finally:
        with psycopg.connect(marts_url, autocommit=True) as conn:
            conn.execute("drop table if exists marts.fct_campaign_month, marts.fct_report_completeness, "
                         "marts.fct_data_quality")
