"""The embedded server as `bhxh warehouse start` creates it in a new BHXH_HOME."""

from __future__ import annotations

import psycopg

from bhxh import warehouse
from bhxh.settings import Settings


def test_a_new_embedded_server_has_no_data_checksums_and_starts_once(tmp_path, monkeypatch):
    monkeypatch.delenv("BHXH_PG_PORT", raising=False)
    settings = Settings(home=tmp_path / "home", warehouse_url_override=None, database="bhxh_new")
    try:
        url = warehouse.start(settings)
        assert warehouse.start(settings) == url  # a second start finds it running
        with psycopg.connect(url) as conn:
            # PostgreSQL 18's initdb turns checksums on unless told; the first read of fresh rows
            # would then write every page to the WAL again (benchmarks/RESULTS.md)
            assert conn.execute("show data_checksums").fetchone() == ("off",)
            assert conn.execute("select current_database()").fetchone() == ("bhxh_new",)
    finally:
        stopped = warehouse.stop(settings)
    assert stopped and not warehouse.is_running(settings)
