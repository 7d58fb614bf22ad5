"""Keyed pseudonyms for participant codes (Decree 13/2023/NĐ-CP): HMAC-SHA256, key never in the repo.

The key comes from ``BHXH_PSEUDONYM_KEY`` (hex or text); otherwise a random key is created once in
``$BHXH_HOME/secrets/pseudonym.key`` with mode 0600.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from functools import lru_cache

import pandas as pd

from bhxh.settings import Settings, get_settings


def load_key(settings: Settings | None = None) -> bytes:
    settings = settings or get_settings()
    if settings.pseudonym_key_env:
        return settings.pseudonym_key_env.encode()
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
    present = values.dropna().astype(str)
    uniques = present.unique()
    mapping = dict(zip(uniques, (digest(v) for v in uniques)))
    return values.map(mapping, na_action="ignore").astype(object).where(values.notna(), None)
