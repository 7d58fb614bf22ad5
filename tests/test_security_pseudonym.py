"""The pseudonym key: where it comes from, the guard against mixing keys, and key rotation.

Expected pseudonyms are computed here with hmac directly, from the participant codes of the sample
day read by hand (first receipt: 3021004512, Nguyễn Văn Hùng).
"""

from __future__ import annotations

import hashlib
import hmac
import shutil
from datetime import date
from pathlib import Path

import psycopg
import pytest

from bhxh import pipeline
from bhxh.cli import main as cli_main
from bhxh.pseudonym import PseudonymKeyMismatch, load_key, pseudonymise
from bhxh.settings import get_settings

from .conftest import SHARED

SAMPLES = SHARED / "samples" / "source"
DAY = date(2024, 5, 15)
CODE_LINE_5 = "3021004512"


def _hmac(key: str, value: str) -> str:
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


# RFC 4231 HMAC-SHA-256 test cases 1, 2 and 6 (6: a key longer than the block, hashed first)
@pytest.mark.parametrize("key, text, expected", [
    (b"\x0b" * 20, "Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", "what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (b"\xaa" * 131, "Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
])
def test_pseudonyms_are_hmac_sha256(key, text, expected):
    import pandas as pd

    values = pd.Series([text, None, text], dtype=object)
    assert pseudonymise(values, key).tolist() == [expected, None, expected]


def test_environment_key_comes_first_then_the_airflow_variable(monkeypatch, tmp_path):
    import airflow.sdk  # noqa: F401  (as in an Airflow worker)

    monkeypatch.setenv("BHXH_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_VAR_BHXH_PSEUDONYM_KEY", "from-an-airflow-variable")
    monkeypatch.setenv("BHXH_PSEUDONYM_KEY", "from-the-environment")
    assert load_key() == b"from-the-environment"
    monkeypatch.delenv("BHXH_PSEUDONYM_KEY")
    assert load_key() == b"from-an-airflow-variable"
    assert not (tmp_path / "secrets").exists()  # no key file was made
    monkeypatch.delenv("AIRFLOW_VAR_BHXH_PSEUDONYM_KEY")
    file_key = load_key()
    path = tmp_path / "secrets" / "pseudonym.key"
    assert file_key == path.read_bytes().strip() and len(file_key) == 64
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700


@pytest.mark.skipif(not SAMPLES.exists(), reason="shared/samples not beside the checkout")
def test_another_key_is_refused_and_rotation_re_pseudonymises(fresh_db, tmp_path, monkeypatch, capsys):
    source = tmp_path / "source"
    shutil.copytree(SAMPLES / "30", source / "30")
    old_key, new_key = get_settings().pseudonym_key_env, "the-new-key-after-rotation"
    pipeline.collect(str(source), "30", DAY)
    pipeline.process_landed(DAY, DAY)

    def receipts_of(key: str) -> int:
        with psycopg.connect(fresh_db) as conn:
            return conn.execute("select count(*) from raw.receipts where participant_key = %s",
                                (_hmac(key, CODE_LINE_5),)).fetchone()[0]

    assert (receipts_of(old_key), receipts_of(new_key)) == (1, 0)

    monkeypatch.setenv("BHXH_PSEUDONYM_KEY", new_key)
    v1 = (source / "30" / DAY.isoformat() / "VNPOST.csv").read_bytes()
    (source / "30" / DAY.isoformat() / "VNPOST.v2.csv").write_bytes(v1.replace("BÁO CÁO".encode(), b"V2", 1))
    pipeline.collect(str(source), "30", DAY)  # a new file version arrives while the key is wrong
    with pytest.raises(PseudonymKeyMismatch):
        pipeline.process_landed(DAY, DAY)
    with psycopg.connect(fresh_db) as conn:  # nothing was loaded with the wrong key
        assert conn.execute("select count(*) from raw.receipts").fetchone() == (9,)

    assert cli_main(["access", "rotate-key"]) == 2  # needs --yes
    assert cli_main(["access", "rotate-key", "--yes"]) == 0
    assert (receipts_of(old_key), receipts_of(new_key)) == (0, 1)  # the current v2 file, re-read
    with psycopg.connect(fresh_db) as conn:
        rows = conn.execute("""select r.participant_key from raw.receipts r
                               join raw.report_files f using (file_id) where f.status = 'loaded'""").fetchall()
        statuses = conn.execute("select version, status from raw.report_files order by version").fetchall()
        dump = " ".join(str(r) for r in conn.execute("select * from raw.receipts").fetchall())
    assert len(rows) == 9 and statuses == [(1, "superseded"), (2, "loaded")]
    assert _hmac(old_key, CODE_LINE_5) not in dump
    assert "2024-05-15..2024-05-15" in capsys.readouterr().out
