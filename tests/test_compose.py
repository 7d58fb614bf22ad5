"""docker-compose.yml held against the code (no Docker engine needed): the services of Airflow 3's
official CeleryExecutor stack, pinned images, the environment every module reads, and the URLs."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from bhxh.dbt_config import WAREHOUSE_CONN_ID
from bhxh.settings import Settings

from .conftest import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
AIRFLOW_SERVICES = ["airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                    "airflow-worker", "airflow-init"]
LONG_RUNNING = ["airflow-db", "warehouse-db", "redis", "airflow-apiserver", "airflow-scheduler",
                "airflow-dag-processor", "airflow-triggerer", "airflow-worker"]
# Read by the code but not for the containers to set, each for a stated reason.
NOT_FOR_COMPOSE = {
    "BHXH_PG_PORT": "port of the embedded PostgreSQL; compose uses BHXH_WAREHOUSE_URL instead",
    "AIRFLOW_HOME": "set by the apache/airflow image (/opt/airflow)",
}


def _dotenv_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip() or f"<{name.strip()}>"
    return values


ENV_FILE = _dotenv_example()
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?([-?])((?:[^{}]|\{[^}]*\})*))?\}")


def interpolate(value: str) -> str:
    """Compose's ${NAME}, ${NAME:-default}, ${NAME:?error} against the values of .env.example."""
    def one(match):
        name, op, arg = match.groups()
        if name in ENV_FILE:
            return ENV_FILE[name]
        if op == "-":
            return interpolate(arg)
        raise AssertionError(f"${{{name}}} is neither in .env.example nor given a default")

    return _VAR.sub(one, str(value)).replace("$$", "$")


def env_of(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment") or {}
    return {k: interpolate(v) for k, v in env.items()}


def variables_read_by_code() -> set[str]:
    pattern = re.compile(r"""(?:os\.environ(?:\.get)?\(|os\.environ\[|_path\()\s*["']([A-Z][A-Z0-9_]+)["']""")
    names = set()
    for path in (ROOT / "bhxh").rglob("*.py"):
        names |= set(pattern.findall(path.read_text(encoding="utf-8")))
    return names


def test_the_official_services_are_there():
    for name in AIRFLOW_SERVICES + ["redis", "airflow-db", "warehouse-db"]:
        assert name in SERVICES, name
    assert SERVICES["airflow-apiserver"]["command"] == "api-server"
    assert SERVICES["airflow-worker"]["command"] == "celery worker"
    for name in LONG_RUNNING:
        assert "healthcheck" in SERVICES[name], f"{name} has no healthcheck"
    init = SERVICES["airflow-init"]
    assert env_of("airflow-init")["_AIRFLOW_DB_MIGRATE"] == "true"
    for name in AIRFLOW_SERVICES[:-1]:
        assert SERVICES[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    assert "/entrypoint airflow version" in init["command"][-1] and "bhxh warehouse start" in init["command"][-1]


def test_workers_scale_out():
    worker = SERVICES["airflow-worker"]
    assert "container_name" not in worker and "ports" not in worker, "--scale airflow-worker=N needs neither"
    env = env_of("airflow-worker")
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert urlsplit(env["AIRFLOW__CELERY__BROKER_URL"]).hostname == "redis"
    assert urlsplit(env["AIRFLOW__CELERY__RESULT_BACKEND"]).hostname == "airflow-db"


def test_images_are_pinned():
    for name, service in SERVICES.items():
        image = service.get("image")
        assert image, f"{name} has no image"
        assert ":" in image and not image.endswith(":latest"), f"{name}: {image} is not pinned"
    dockerfile = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM\s+(\S+)", dockerfile, re.M).group(1)
    airflow = importlib.metadata.version("apache-airflow")
    assert base == f"apache/airflow:{airflow}-python3.11", "the image's Airflow must be the locked one"


def test_dags_and_package_are_in_the_image_and_mounted():
    dockerfile = (ROOT / "Dockerfile").read_text()
    for folder in ("bhxh", "dags", "dbt_project", "expectations"):
        assert f"COPY --chown=airflow:root {folder} /opt/bhxh/{folder}" in dockerfile
    assert "-r /opt/bhxh/requirements.lock" in dockerfile and "-e /opt/bhxh" in dockerfile
    # the package's top-level modules (pyproject py-modules: Airflow's local settings) beside it
    modules = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["py-modules"]
    copied = re.search(r"^COPY --chown=airflow:root pyproject.toml (.*) /opt/bhxh/$", dockerfile, re.M)
    assert copied and sorted(copied.group(1).split()) == sorted(f"{m}.py" for m in modules)
    assert "dbt parse" in dockerfile, "Cosmos renders the marts DAG from the manifest built into the image"
    for name in AIRFLOW_SERVICES:
        env = env_of(name)
        mounts = {v.split(":")[1]: v.split(":")[0] for v in SERVICES[name]["volumes"]}
        # an editable install at /opt/bhxh puts settings.dags_dir at /opt/bhxh/dags
        assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/bhxh/dags" == "/opt/bhxh/" + Settings().dags_dir.name
        assert mounts["/opt/bhxh/dags"] == "./dags"
        assert mounts[env["BHXH_HOME"]] == "bhxh-state", "landing store shared by every worker"


def test_every_variable_the_code_reads_is_set():
    read = variables_read_by_code()
    assert {"BHXH_HOME", "BHXH_WAREHOUSE_URL", "BHXH_PSEUDONYM_KEY", "BHXH_ALERT_WEBHOOK_URL"} <= read  # the grep works
    for name in AIRFLOW_SERVICES:
        env = env_of(name)
        missing = sorted(v for v in read - set(NOT_FOR_COMPOSE) if v not in env)
        assert not missing, f"{name} does not set {missing}"


def test_secrets_come_from_dotenv():
    common = SERVICES["airflow-scheduler"]["environment"]
    for key, var in [("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW_FERNET_KEY"),
                     ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW_JWT_SECRET"),
                     ("BHXH_PSEUDONYM_KEY", "BHXH_PSEUDONYM_KEY")]:
        assert common[key] == f"${{{var}:?set in .env}}", f"{key} must come from .env and be required"
        assert var in ENV_FILE
    # one value for every component: the same anchor everywhere
    for name in AIRFLOW_SERVICES:
        assert env_of(name)["AIRFLOW__API_AUTH__JWT_SECRET"] == "<AIRFLOW_JWT_SECRET>"
    ignored = (ROOT / ".gitignore").read_text().split()
    assert ".env" in ignored and (ROOT / ".env.example").exists()


def symbolic_env(service: str) -> dict[str, str]:
    """The service's environment with every ${VAR} written as <VAR>: which secret reaches where."""
    env = SERVICES[service].get("environment") or {}
    return {k: _VAR.sub(lambda m: f"<{m.group(1)}>", str(v)) for k, v in env.items()}


def init_logins() -> dict[str, tuple[str, str]]:
    """login -> (group, variable holding its password), from airflow-init's create-login commands."""
    found = re.findall(r"bhxh access create-login (\S+) --group (\S+) --password-env (\S+)",
                       SERVICES["airflow-init"]["command"][-1])
    return {login: (group, var) for login, group, var in found}


OWNER_PASSWORD = "<WAREHOUSE_DB_PASSWORD>"
SERVICE_ROLES = {"BHXH_LOADER_URL": "bhxh_loader", "BHXH_TRANSFORMER_URL": "bhxh_transformer",
                 f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}": "bhxh_transformer",
                 "BHXH_WAREHOUSE_URL": "bhxh_loader"}  # what needs no role of its own connects as the loader


def test_warehouse_urls_point_at_the_warehouse_database():
    wh = env_of("warehouse-db")
    database = Settings.__dataclass_fields__["database"].default_factory()
    for name in AIRFLOW_SERVICES:
        env = env_of(name)
        for variable in SERVICE_ROLES:
            url = urlsplit(env[variable])
            assert (url.scheme, url.hostname, url.port) == ("postgresql", "warehouse-db", 5432), (name, variable)
            assert url.path.lstrip("/") == wh["POSTGRES_DB"] == env["BHXH_DATABASE"] == database
        meta = urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
        assert meta.hostname == "airflow-db" != "warehouse-db", "Airflow's metadata lives in its own PostgreSQL"
        assert meta.password == env_of("airflow-db")["POSTGRES_PASSWORD"]


def test_init_sets_up_the_warehouse_as_its_owner_and_creates_the_logins():
    from bhxh.access import GROUPS, _check_role_name

    env, wh = symbolic_env("airflow-init"), symbolic_env("warehouse-db")
    owner = urlsplit(env["BHXH_WAREHOUSE_URL"])
    assert (owner.username, owner.password) == (wh["POSTGRES_USER"], wh["POSTGRES_PASSWORD"]) == ("postgres",
                                                                                                OWNER_PASSWORD)
    command = SERVICES["airflow-init"]["command"][-1]
    assert command.index("bhxh warehouse start") < command.index("bhxh access create-login")  # roles first
    logins = init_logins()
    assert sorted(group for group, _ in logins.values()) == ["bhxh_bi", "bhxh_loader", "bhxh_transformer"]
    for login, (group, variable) in logins.items():
        _check_role_name(login)  # the command would refuse it otherwise
        assert group in GROUPS
        assert variable in ENV_FILE, f"{variable} is not declared in .env.example"
        assert env[variable] == f"<{variable}>", f"airflow-init does not receive {variable}"
    assert len({v for _, v in logins.values()} | {"WAREHOUSE_DB_PASSWORD"}) == 4, "one password per login"


def test_every_service_connects_as_its_narrow_login():
    logins = init_logins()
    for name in AIRFLOW_SERVICES[:-1] + ["airflow-cli", "flower"]:
        env = symbolic_env(name)
        for variable, group in SERVICE_ROLES.items():
            url = urlsplit(env[variable])
            assert url.username in logins, f"{name}.{variable}: {url.username} is not created by airflow-init"
            assert logins[url.username] == (group, url.password.strip("<>")), (name, variable, url.username)
    bi = symbolic_env("metabase-init")
    assert logins[bi["BI_USER"]] == ("bhxh_bi", bi["BI_PASSWORD"].strip("<>"))


def test_the_owner_password_reaches_only_the_init_service():
    reached = sorted(name for name in SERVICES
                     if any(OWNER_PASSWORD in value for value in symbolic_env(name).values()))
    assert reached == ["airflow-init", "warehouse-db"]
    assert "WAREHOUSE_DB_PASSWORD" not in yaml.safe_dump(COMPOSE["x-airflow-common"])


@pytest.mark.parametrize("profile", ["bi"])
def test_bi_reads_marts_as_the_read_only_role(profile):
    bi = [n for n, s in SERVICES.items() if profile in (s.get("profiles") or [])]
    assert "metabase" in bi
    env = env_of("metabase-init")
    assert (init_logins()[env["BI_USER"]][0], env["BI_HOST"], env["BI_SCHEMA"]) == ("bhxh_bi", "warehouse-db", "marts")
    assert env["BI_PASSWORD"] == ENV_FILE["BHXH_BI_PASSWORD"]
    assert all(profile not in (SERVICES[n].get("profiles") or []) for n in LONG_RUNNING)


def test_compose_matches_the_airflow_environment_of_the_code():
    """What ``bhxh.airflow_env`` sets locally, compose sets for the containers (same names)."""
    from bhxh import airflow_env

    local = set(airflow_env.airflow_environ())
    env = env_of("airflow-scheduler")
    expected = {k for k in local if k.startswith(("AIRFLOW__CORE__DAGS", "AIRFLOW__CORE__DEFAULT_TIMEZONE",
                                                  "AIRFLOW__DATABASE", "AIRFLOW_CONN_", "BHXH_HOME",
                                                  "BHXH_REFERENCE_DIR", "AIRFLOW__COSMOS"))}
    assert expected and expected <= set(env), sorted(expected - set(env))
    assert Path(env["BHXH_REFERENCE_DIR"]).relative_to("/opt/bhxh") == \
        Settings().reference_dir.relative_to(Settings().project_root)
