"""The landing store: every fetched file kept as fetched, addressed by its sha256.

BI users never reach it; it is the only place where names and participant codes exist in clear.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from bhxh.settings import Settings, get_settings


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def object_path(digest: str, settings: Settings | None = None) -> Path:
    if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
        raise ValueError(f"not a sha256 digest: {digest!r}")
    settings = settings or get_settings()
    return settings.landing_dir / "objects" / digest[:2] / digest


def store(data: bytes, settings: Settings | None = None) -> str:
    """Keep ``data`` in the landing store (once) and return its sha256."""
    digest = sha256(data)
    path = object_path(digest, settings)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}.{threading.get_ident()}")  # two writers never share one
        tmp.write_bytes(data)
        tmp.chmod(0o600)
        tmp.replace(path)
    return digest


def fetch(digest: str, settings: Settings | None = None) -> bytes:
    return object_path(digest, settings).read_bytes()
