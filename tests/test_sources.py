"""Sources over HTTP: a generated source root served from a local server that fails on purpose.

The server answers 500s, stalls past the client's timeout and cuts bodies short on chosen
requests; collection must retry through all of it, land every file byte for byte, and give up
with a clear message when a file never comes.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import time
from datetime import date
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest

from bhxh import pipeline
from bhxh.generate import generate
from bhxh.sources import Source, SourceAccessDenied, SourceError

DAY = date(2024, 5, 15)
PROVINCE = "01"
STALL_SECONDS = 2.0


class FaultyHandler(SimpleHTTPRequestHandler):
    """Serves a folder; ``server.faults[path]`` is a queue of faults for the next requests of path."""

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        key = self.path.rstrip("/")
        queue = self.server.faults.get(key)
        fault = queue.pop(0) if queue else None
        self.server.hits.append((key, fault))
        if fault == "500":
            self.send_error(500, "injected failure")
        elif fault in ("401", "403"):
            self.send_error(int(fault), "denied")
        elif fault == "stall":
            time.sleep(STALL_SECONDS)
            self.send_error(503, "too late")
        elif fault == "truncate":
            body = (Path(self.directory) / key.lstrip("/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
        else:
            super().do_GET()


@pytest.fixture(scope="module")
def source_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("http") / "source"
    generate(root, DAY, DAY, provinces=[PROVINCE], seed=5, scale=0.02)
    return root


@pytest.fixture
def server(source_root):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(FaultyHandler, directory=str(source_root)))
    httpd.faults, httpd.hits = {}, []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def quick_timeouts(monkeypatch):
    monkeypatch.setenv("BHXH_HTTP_TIMEOUT", "1")


def _url(server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def _report_files(source_root: Path) -> list[Path]:
    return sorted((source_root / PROVINCE / DAY.isoformat()).iterdir())


def test_collect_retries_through_500s_stalls_and_truncated_bodies(fresh_db, server, source_root):
    files = _report_files(source_root)
    assert files, "the generator wrote no report for the day"
    folder = f"/{PROVINCE}/{DAY.isoformat()}"
    server.faults[folder] = ["500", "stall"]  # the listing fails twice
    for path in files:
        server.faults[f"{folder}/{path.name}"] = ["truncate", "500"]

    summary = pipeline.collect(_url(server), PROVINCE, DAY)

    assert (summary.fetched, summary.unchanged) == (len(files), 0)
    injected = [hit for hit in server.hits if hit[1]]
    assert len(injected) == 2 + 2 * len(files), "every injected fault was met and retried past"
    with psycopg.connect(fresh_db) as conn:
        landed = dict(conn.execute("select source_path, sha256 from raw.report_files").fetchall())
    assert landed == {f"{PROVINCE}/{DAY.isoformat()}/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest()
                      for p in files}


def test_fetching_the_same_content_again_changes_nothing(fresh_db, server, source_root):
    first = pipeline.collect(_url(server), PROVINCE, DAY)
    again = pipeline.collect(_url(server), PROVINCE, DAY)
    assert (again.fetched, again.unchanged) == (0, first.fetched)
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("select count(*) from raw.report_files").fetchone()[0] == first.fetched


def test_a_file_that_never_comes_fails_with_a_clear_message(server, source_root, monkeypatch):
    monkeypatch.setenv("BHXH_FETCH_ATTEMPTS", "3")
    path = _report_files(source_root)[0]
    key = f"/{PROVINCE}/{DAY.isoformat()}/{path.name}"
    server.faults[key] = ["500"] * 10
    source = Source(_url(server))
    started = time.monotonic()
    with pytest.raises(SourceError, match=rf"{path.name}: failed after 3 attempts"):
        source.fetch(f"{PROVINCE}/{DAY.isoformat()}/{path.name}")
    assert [fault for hit, fault in server.hits if hit == key] == ["500"] * 3
    assert time.monotonic() - started >= 0.5 + 1.0, "backoff waits between attempts"


@pytest.mark.parametrize("status", ["401", "403"])
def test_a_refused_request_is_not_retried(server, source_root, monkeypatch, status):
    monkeypatch.setenv("BHXH_FETCH_ATTEMPTS", "3")
    path = _report_files(source_root)[0]
    key = f"/{PROVINCE}/{DAY.isoformat()}/{path.name}"
    server.faults[key] = [status] * 3
    with pytest.raises(SourceAccessDenied, match=rf"{path.name}: access denied, not retried: {status}"):
        Source(_url(server)).fetch(f"{PROVINCE}/{DAY.isoformat()}/{path.name}")
    assert [fault for hit, fault in server.hits if hit == key] == [status]  # one request: a retry cannot help


def test_a_missing_day_is_not_an_error(server):
    refs, strays = Source(_url(server)).list_reports(PROVINCE, date(2024, 5, 16))
    assert (refs, strays) == ([], [])
