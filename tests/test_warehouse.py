"""The embedded server as `bhxh warehouse start` creates it in a new BHXH_HOME."""

from __future__ import annotations

import socket

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
        port = int((tmp_path / "home" / "warehouse.port").read_text())
        # below the ports handed to outgoing connections (Linux's and macOS's ranges start at 32768)
        assert 1024 < port < 32768
    finally:
        stopped = warehouse.stop(settings)
    assert stopped and not warehouse.is_running(settings)


def test_a_port_held_by_a_connection_is_not_free():
    """A listening socket's port, and an outgoing connection's local port, are both taken: PostgreSQL's
    bind would fail on either (a fresh clone's test server once did: 'Address already in use')."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        listening = server.getsockname()[1]
        assert not warehouse.port_free(listening)
        with socket.create_connection(("127.0.0.1", listening)) as client:
            assert not warehouse.port_free(client.getsockname()[1])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        unused = probe.getsockname()[1]
    assert warehouse.port_free(unused)
