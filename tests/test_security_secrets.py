"""No secret in the repository: credentials come from the environment, .env (git-ignored) or Airflow
connections. The scanner is checked on planted secrets first, so that a silent scanner cannot pass.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

PATTERNS = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "password in a URL": re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s:/@'\"]+:(?P<value>[^\s@'\"/]+)@"),
    "Fernet key": re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}=(?![A-Za-z0-9_=-])"),
    "GitHub token": re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "JSON web token": re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\."),
    # NAME=value / name: value where the name says it is a secret (configuration files only)
    "secret setting": re.compile(
        r"(?im)^\s*[\"']?[A-Za-z0-9_.-]*(password|passwd|secret|token|fernet_key|pseudonym_key|api_key)"
        r"[A-Za-z0-9_]*[\"']?[ \t]*[:=][ \t]*(?P<value>[^\n]*?)[ \t]*$"),
}
CONFIG_FILE = re.compile(r"(^|/)(\.env[^/]*|Dockerfile|Makefile|[^/]+\.(ya?ml|toml|ini|cfg|conf|json|properties))$")
# values that are not secrets: empty, a placeholder, or a reference to where the secret really is
PLACEHOLDER = re.compile(r"""^["']?(|change-me|\$\{?[A-Za-z_].*|\{\{.*|\{.*\}|<[^>]*>|\*+|%\(.*\)s|env_var\(.*)["']?$""")
SECRET_FILE = re.compile(r"(^|/)(\.env|id_rsa[^/]*|id_ed25519[^/]*|[^/]+\.(pem|key|p12|pfx|password|secret))$")


def find_secrets(name: str, text: str) -> list[str]:
    found = []
    for kind, pattern in PATTERNS.items():
        if kind == "secret setting" and not CONFIG_FILE.search(name):
            continue
        for match in pattern.finditer(text):
            value = match.groupdict().get("value")
            if value is not None and PLACEHOLDER.match(value.strip()):
                continue
            line = text.count("\n", 0, match.start()) + 1
            found.append(f"{name}:{line}: {kind}")
    return found


# planted secrets are split in two, so that this file itself stays clean for the scan of tracked files
PLANTED = [
    ("a.py", "-----BEGIN OPENSSH " + "PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"),
    ("a.py", 'URL = "postgresql://bhxh_bi:S3cr3t' + '-Pa55@db.example:5432/bhxh"'),
    (".env.example", "AIRFLOW_FERNET_KEY=\n" + "x = 'ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg" + "='"),
    ("a.md", "token ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"),
    ("a.sh", "export AWS_ACCESS_KEY_ID=AKIA" + "IOSFODNN7EXAMPLE"),
    ("docker-compose.yml", "    POSTGRES_PASSWORD: hunter2hunter2"),
    (".env.example", "BHXH_PSEUDONYM_KEY=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
    ("profiles.yml", "      password: dbt-Password-1"),
]
HARMLESS = [
    ("docker-compose.yml", "    POSTGRES_PASSWORD: ${AIRFLOW_DB_PASSWORD}\n"
                           "    BHXH_WAREHOUSE_URL: postgresql://postgres:${WAREHOUSE_DB_PASSWORD}@warehouse-db:5432/bhxh\n"
                           "    AIRFLOW__CELERY__BROKER_URL: redis://:@redis:6379/0"),
    (".env.example", "AIRFLOW_DB_PASSWORD=change-me\nAIRFLOW_FERNET_KEY=\nBHXH_PSEUDONYM_KEY=\n"),
    ("profiles.yml", "      password: \"{{ env_var('BHXH_DBT_PASSWORD', '') }}\""),
    ("a.py", 'return f"postgresql://postgres:{embedded_password(settings)}@127.0.0.1:{self.port}/db"'),
]


@pytest.mark.parametrize("name,text", PLANTED)
def test_scanner_finds_planted_secrets(name, text):
    assert find_secrets(name, text), f"the scanner missed a secret in {name}: {text!r}"


@pytest.mark.parametrize("name,text", HARMLESS)
def test_scanner_ignores_references_to_secrets(name, text):
    assert find_secrets(name, text) == []


def _tracked() -> list[str]:
    result = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip("not a git checkout")
    return [n for n in result.stdout.split("\0") if n]


def test_no_secret_in_tracked_files():
    tracked = _tracked()
    assert "docker-compose.yml" in tracked and len(tracked) > 50
    found = [f"{name}: a secret file" for name in tracked if SECRET_FILE.search(name)]
    for name in tracked:
        path = ROOT / name
        if not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary
        found += find_secrets(name, data.decode("utf-8", errors="replace"))
    assert not found, "\n".join(found)


def test_env_file_is_ignored_by_git():
    for path in (".env", ".bhxh/secrets/pseudonym.key", ".bhxh/secrets/warehouse.password"):
        assert subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT).returncode == 0, path


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def _environments(compose: dict):
    for service, spec in compose["services"].items():
        env = spec.get("environment") or {}
        if isinstance(env, list):
            env = dict(item.split("=", 1) for item in env)
        yield service, spec, env


def test_compose_takes_every_credential_from_env_file():
    compose = _compose()
    declared = set(re.findall(r"(?m)^([A-Z_][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(encoding="utf-8")))
    secret_name = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY$")
    checked = 0
    for service, spec, env in _environments(compose):
        for name, value in env.items():
            if value is None:
                continue
            value = str(value)
            url = PATTERNS["password in a URL"].search(value)  # in any variable: URLs, result backends
            if secret_name.search(name):
                assert re.fullmatch(r"\$\{[A-Z_][A-Z0-9_]*(:?[-?]([^${}]*|\$\{[A-Z_][A-Z0-9_]*\}))?\}", value), f"{service}.{name} is not ${{VAR}}"
                checked += 1
            if url:
                assert url["value"].startswith("${"), f"{service}.{name}: password in the URL is not ${{VAR}}"
                checked += 1
            for var in re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", value):
                assert var in declared, f"{service}.{name} uses ${{{var}}}, which .env.example does not declare"
    assert checked >= 8  # the database passwords, the Fernet key, the JWT secret, the pseudonym key, the URLs
