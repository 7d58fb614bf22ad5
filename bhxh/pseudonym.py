"""Keyed pseudonyms for participant codes (Decree 13/2023/NĐ-CP): HMAC-SHA256, key never in the repo.

The key comes from, in this order:

1. ``BHXH_PSEUDONYM_KEY`` (hex or text);
2. inside Airflow (the task SDK already imported by the worker), the Airflow Variable
   ``bhxh_pseudonym_key``, which a secrets backend (Vault, AWS/GCP secret managers) or
   ``AIRFLOW_VAR_BHXH_PSEUDONYM_KEY`` can provide;
3. ``$BHXH_HOME/secrets/pseudonym.key`` (mode 0600), created once with a random key.

The warehouse remembers the fingerprint of the key it was loaded with (``raw.pseudonym_key``, an
HMAC of a constant that reveals nothing of the key): a run with another key stops instead of
mixing pseudonyms. ``forget_pseudonyms`` is the first step of a key rotation (see the README).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sys
from functools import lru_cache

import numpy as np
import pandas as pd

from bhxh.settings import Settings, get_settings


AIRFLOW_VARIABLE = "bhxh_pseudonym_key"
_FINGERPRINT_LABEL = b"bhxh pseudonym key fingerprint v1"


class PseudonymKeyMismatch(RuntimeError):
    """The key differs from the one the warehouse's pseudonyms were made with."""


def load_key(settings: Settings | None = None) -> bytes:
    settings = settings or get_settings()
    if settings.pseudonym_key_env:
        return settings.pseudonym_key_env.encode()
    if "airflow.sdk" in sys.modules:  # running in Airflow: never import it just for this
        from airflow.sdk import Variable

        value = Variable.get(AIRFLOW_VARIABLE, default=None)
        if value:
            return str(value).strip().encode()
    path = settings.pseudonym_key_file
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.parent.chmod(0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


@lru_cache(maxsize=4)
def _hasher(key: bytes):
    template = hmac.new(key, digestmod=hashlib.sha256)

    def digest(value: str) -> str:
        h = template.copy()
        h.update(value.encode())
        return h.hexdigest()

    return digest


def pseudonymise(values: pd.Series, key: bytes) -> pd.Series:
    """HMAC-SHA256 (hex) of each non-null value; nulls stay null. Duplicates are hashed once."""
    digest = _hasher(key)
    codes, uniques = pd.factorize(values.to_numpy(dtype=object), sort=False)  # nulls -> -1
    digests = np.empty(len(uniques) + 1, dtype=object)
    digests[:-1] = [digest(str(u)) for u in uniques]
    digests[-1] = None
    return pd.Series(digests[codes], index=values.index, dtype=object, name=values.name)


def fingerprint(key: bytes) -> str:
    return hmac.new(key, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:16]


def check_key(conn, key: bytes) -> None:
    """Remember the key's fingerprint on first use; refuse a different key afterwards."""
    mine = fingerprint(key)
    conn.execute("insert into raw.pseudonym_key (fingerprint) values (%s) on conflict do nothing", (mine,))
    stored = conn.execute("select fingerprint from raw.pseudonym_key").fetchone()[0]
    if stored != mine:
        raise PseudonymKeyMismatch(
            f"the pseudonym key (fingerprint {mine}) is not the one this warehouse was loaded with "
            f"(fingerprint {stored}): set the right key, or rotate (bhxh access rotate-key)")


def forget_pseudonyms(conn) -> tuple:
    """Rotation, step one: drop every row made with the old key and put the current version of every
    report (highest version) back to 'landed', so that ``process_landed`` re-reads it from the
    landing store with the current key; earlier versions stay in the manifest as 'superseded',
    without rows. Files refused unread stay as they are. Returns the (first, last) report dates to
    re-process. Run as the warehouse owner, with the DAGs paused; the caller commits."""
    conn.execute("""create temp table rotation on commit drop as
                    select file_id, first_value(file_id) over (
                               partition by province_code, report_date, org_code
                               order by version desc, file_id desc) as latest
                    from raw.report_files where sha256 !~ '^refused:'""")
    span = conn.execute("select min(report_date), max(report_date) from raw.report_files "
                        "where file_id in (select latest from rotation)").fetchone()
    conn.execute("delete from raw.quarantine where file_id in (select file_id from rotation)")
    conn.execute("delete from raw.receipts")
    conn.execute("""update raw.report_files f set status = 'superseded', superseded_by = r.latest
                    from rotation r where f.file_id = r.file_id and r.file_id <> r.latest""")
    conn.execute("""update raw.report_files f set status = 'landed', superseded_by = null, rows_received = null,
                        rows_loaded = null, rows_quarantined = null, control_total = null, extra_columns = null,
                        reason = null
                    from rotation r where f.file_id = r.latest""")
    conn.execute("delete from raw.pseudonym_key")
    return span
