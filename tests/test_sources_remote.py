"""Sources over S3 and SFTP: a generated source root served by servers the tests start on loopback.

* S3: moto's server (ThreadedMotoServer), the root uploaded under a prefix of a bucket; the pipeline
  reaches it as ``s3://bucket/prefix`` through ``BHXH_S3_ENDPOINT_URL``, with credentials from the
  AWS environment variables.
* SFTP: a read-only paramiko server over the generated folder (tests/sftp_server.py), reached as
  ``sftp://user@127.0.0.1:port/`` with a password (``BHXH_SFTP_PASSWORD``) or a key
  (``BHXH_SFTP_KEY_FILE``), its host key listed in ``BHXH_SFTP_KNOWN_HOSTS``.

Every credential and key is made up for the run; nothing is in the repository.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import date
from pathlib import Path

import boto3
import paramiko
import psycopg
import pytest
from moto.server import ThreadedMotoServer

from bhxh import landing, pipeline
from bhxh.generate import generate
from bhxh.sources import Source, SourceAccessDenied

from .sftp_server import SftpServer

DAY = date(2024, 5, 15)
PROVINCE = "01"
BUCKET, PREFIX = "bhxh-reports", "daily/v1"
SFTP_USER = "bhxh"


@pytest.fixture(scope="module")
def source_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("remote") / "source"
    generate(root, DAY, DAY, provinces=[PROVINCE], seed=5, scale=0.02)
    return root


def _report_files(source_root: Path) -> list[Path]:
    return sorted((source_root / PROVINCE / DAY.isoformat()).iterdir())


@pytest.fixture(scope="module")
def s3_server(source_root):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    credentials = {"AWS_ACCESS_KEY_ID": "test-" + secrets.token_hex(8), "AWS_SECRET_ACCESS_KEY": secrets.token_hex(20),
                   "AWS_DEFAULT_REGION": "us-east-1", "BHXH_S3_ENDPOINT_URL": f"http://{host}:{port}"}
    client = boto3.client("s3", endpoint_url=credentials["BHXH_S3_ENDPOINT_URL"],
                          aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    for path in sorted(source_root.rglob("*")):
        if path.is_file() and "_truth" not in path.relative_to(source_root).parts:
            client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{path.relative_to(source_root).as_posix()}",
                              Body=path.read_bytes())
    yield credentials
    server.stop()


@pytest.fixture(scope="module")
def sftp_server(source_root, tmp_path_factory):
    keys = tmp_path_factory.mktemp("sftp-keys")
    client_key = paramiko.RSAKey.generate(2048)
    client_key.write_private_key_file(str(keys / "id_rsa"))
    server = SftpServer(source_root, SFTP_USER, password=secrets.token_urlsafe(16), public_key=client_key).start()
    (keys / "known_hosts").write_text(server.known_hosts_line(), encoding="utf-8")
    server.key_file, server.known_hosts = keys / "id_rsa", keys / "known_hosts"
    yield server
    server.stop()


@pytest.fixture(params=["s3", "sftp-password", "sftp-key"])
def remote(request, monkeypatch) -> str:
    """The URL of the served root, with the environment that reaches it (and nothing else)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_PROFILE",
                 "BHXH_S3_ENDPOINT_URL", "BHXH_SFTP_PASSWORD", "BHXH_SFTP_KEY_FILE", "BHXH_SFTP_KNOWN_HOSTS"):
        monkeypatch.delenv(name, raising=False)
    if request.param == "s3":
        for name, value in request.getfixturevalue("s3_server").items():
            monkeypatch.setenv(name, value)
        return f"s3://{BUCKET}/{PREFIX}"
    server = request.getfixturevalue("sftp_server")
    monkeypatch.setenv("BHXH_SFTP_KNOWN_HOSTS", str(server.known_hosts))
    if request.param == "sftp-password":
        monkeypatch.setenv("BHXH_SFTP_PASSWORD", server.auth.password)
    else:
        monkeypatch.setenv("BHXH_SFTP_KEY_FILE", str(server.key_file))
    # no agent and no ~/.ssh keys: the configured credential is the only way in
    monkeypatch.setenv("SSH_AUTH_SOCK", "")
    return f"sftp://{SFTP_USER}@127.0.0.1:{server.port}/"


def test_collect_lands_every_file_byte_for_byte(fresh_db, remote, source_root):
    files = _report_files(source_root)
    assert files, "the generator wrote no report for the day"

    summary = pipeline.collect(remote, PROVINCE, DAY)

    assert (summary.fetched, summary.unchanged) == (len(files), 0)
    with psycopg.connect(fresh_db) as conn:
        landed = dict(conn.execute("select source_path, sha256 from raw.report_files").fetchall())
    expected = {f"{PROVINCE}/{DAY.isoformat()}/{p.name}": p for p in files}
    assert landed == {path: hashlib.sha256(p.read_bytes()).hexdigest() for path, p in expected.items()}
    for path, p in expected.items():
        assert landing.fetch(landed[path]) == p.read_bytes()


def test_fetching_the_same_content_again_changes_nothing(fresh_db, remote, source_root):
    first = pipeline.collect(remote, PROVINCE, DAY)
    again = pipeline.collect(remote, PROVINCE, DAY)
    assert first.fetched == len(_report_files(source_root))
    assert (again.fetched, again.unchanged) == (0, first.fetched)
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("select count(*) from raw.report_files").fetchone()[0] == first.fetched


def test_listing_and_modification_times(remote, source_root):
    source = Source(remote)
    refs, strays = source.list_reports(PROVINCE, DAY)
    assert [r.path for r in refs] == [f"{PROVINCE}/{DAY.isoformat()}/{p.name}" for p in _report_files(source_root)]
    assert strays == []
    assert all(source.modified_at(r) is not None for r in refs)
    assert source.serves(PROVINCE) and not source.serves("02")
    assert source.list_reports(PROVINCE, date(2024, 5, 16)) == ([], [])


def test_a_dropped_sftp_session_is_opened_again(fresh_db, sftp_server, source_root, monkeypatch):
    monkeypatch.setenv("BHXH_SFTP_KNOWN_HOSTS", str(sftp_server.known_hosts))
    monkeypatch.setenv("BHXH_SFTP_PASSWORD", sftp_server.auth.password)
    url = f"sftp://{SFTP_USER}@127.0.0.1:{sftp_server.port}/"
    assert Source(url).list_reports(PROVINCE, DAY)[0], "the session works"
    sessions = len(sftp_server._transports)
    sftp_server.drop_sessions()
    summary = pipeline.collect(url, PROVINCE, DAY)  # the same (cached) session first fails, then reconnects
    assert summary.fetched == len(_report_files(source_root))
    assert len(sftp_server._transports) == sessions + 1


def test_an_sftp_server_with_an_unknown_host_key_is_refused_without_retrying(sftp_server, tmp_path, monkeypatch,
                                                                             caplog):
    monkeypatch.setenv("BHXH_FETCH_ATTEMPTS", "3")
    monkeypatch.setenv("BHXH_SFTP_PASSWORD", sftp_server.auth.password)
    other = paramiko.RSAKey.generate(1024)
    (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:{sftp_server.port} ssh-rsa {other.get_base64()}\n")
    monkeypatch.setenv("BHXH_SFTP_KNOWN_HOSTS", str(tmp_path / "known_hosts"))
    with pytest.raises(SourceAccessDenied, match="host key"):
        Source(f"sftp://{SFTP_USER}@127.0.0.1:{sftp_server.port}/")
    monkeypatch.setenv("BHXH_SFTP_KNOWN_HOSTS", str(tmp_path / "absent"))
    with pytest.raises(SourceAccessDenied, match="access denied, not retried: .*is not in"):
        Source(f"sftp://{SFTP_USER}@127.0.0.1:{sftp_server.port}/")
    assert "retrying" not in caplog.text  # permanent: a second attempt could not succeed


def test_a_wrong_sftp_password_fails_at_once_with_a_clear_message(sftp_server, monkeypatch, caplog):
    monkeypatch.setenv("BHXH_FETCH_ATTEMPTS", "3")
    monkeypatch.setenv("BHXH_SFTP_KNOWN_HOSTS", str(sftp_server.known_hosts))
    monkeypatch.setenv("BHXH_SFTP_PASSWORD", "not-" + sftp_server.auth.password)
    monkeypatch.delenv("BHXH_SFTP_KEY_FILE", raising=False)
    monkeypatch.setenv("SSH_AUTH_SOCK", "")
    with pytest.raises(SourceAccessDenied, match="access denied, not retried: Authentication failed"):
        Source(f"sftp://{SFTP_USER}@127.0.0.1:{sftp_server.port}/")
    assert "retrying" not in caplog.text
    assert issubclass(SourceAccessDenied, OSError)  # bhxh.tasks fails such a task without a retry
