"""Airflow's components as local processes, against the embedded warehouse.

    python -m bhxh.stack [--port 8080] [--executor LocalExecutor|CeleryExecutor]   (``make airflow``)

starts the api-server, scheduler, dag-processor and triggerer (plus Redis and a Celery worker with
``--executor CeleryExecutor``) on 127.0.0.1, prints the UI address and the login, and stops them
all on Ctrl-C. Sized for a small machine: one api-server worker, one parsing process, four task
slots. The tests use ``Stack`` directly.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bhxh.settings import Settings, get_settings

USER = "admin"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


def free_port(preferred: int | None = None) -> int:
    from bhxh.warehouse import port_free

    if preferred and port_free(preferred):
        return preferred
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _secret(path: Path, make) -> str:
    """A value created once and kept 0600 in the Airflow home (JWT secret, the admin password)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def admin_password(settings: Settings | None = None) -> str:
    home = (settings or get_settings()).airflow_home
    passwords = home / "simple_auth_manager_passwords.json"
    if not passwords.exists():
        _secret(passwords, lambda: json.dumps({USER: secrets.token_urlsafe(12)}))
    return json.loads(passwords.read_text())[USER]


def stack_environ(port: int, executor: str = "LocalExecutor", settings: Settings | None = None) -> dict[str, str]:
    """The environment every component shares (Airflow reads its configuration from it)."""
    from bhxh import airflow_env

    settings = settings or get_settings()
    env = {**os.environ, **airflow_env.configure(settings)}
    home = settings.airflow_home
    admin_password(settings)
    env.update({
        "AIRFLOW__CORE__EXECUTOR": executor,
        "AIRFLOW__CORE__PARALLELISM": "4",              # 2 cores: four task slots in all
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "4",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        # every component must sign and check the execution API's tokens with the same secret
        "AIRFLOW__API_AUTH__JWT_SECRET": _secret(home / "jwt.secret", lambda: secrets.token_urlsafe(32)),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "simple_auth_manager_passwords.json"),
        # log servers on ports of their own: several checkouts may run a stack on one machine
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",  # task logs in the UI
    })
    return env


@dataclass
class Stack:
    port: int
    executor: str = "LocalExecutor"
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_dir(self) -> Path:
        return get_settings().airflow_home / "stack-logs"

    def start(self, components=COMPONENTS) -> "Stack":
        from bhxh.runner import prepare

        prepare()  # warehouse up, raw schema, Airflow's database migrated, dbt manifest
        self.env = stack_environ(self.port, self.executor)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if self.executor == "CeleryExecutor":
            redis_port = free_port()
            self.env["AIRFLOW__CELERY__BROKER_URL"] = f"redis://127.0.0.1:{redis_port}/0"
            self.env["AIRFLOW__CELERY__RESULT_BACKEND"] = "db+" + self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
            self.env["AIRFLOW__CELERY__WORKER_CONCURRENCY"] = "2"
            redis = shutil.which("redis-server")
            if not redis:
                raise RuntimeError("redis-server not found: apt-get install -y redis-server")
            self._spawn("redis", [redis, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no"])
            components = tuple(components) + ("celery worker",)
        airflow = str(Path(sys.executable).with_name("airflow"))
        for component in components:
            self._spawn(component, [airflow, *component.split()])
        return self

    def _spawn(self, name: str, cmd: list[str]) -> None:
        log = open(self.log_dir / f"{name.replace(' ', '-')}.log", "wb")  # fresh at each start
        self.processes[name] = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, start_new_session=True)

    def check_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.processes.items() if p.poll() is not None}
        if dead:
            raise RuntimeError(f"stopped: {dead}; logs in {self.log_dir}")

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/version", timeout=5):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the api-server did not answer on {self.url} in {timeout:.0f}s") from None
                time.sleep(1)

    def token(self) -> str:
        body = json.dumps({"username": USER, "password": admin_password()}).encode()
        request = urllib.request.Request(f"{self.url}/auth/token", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:  # slow when the machine is loaded
            return json.load(response)["access_token"]

    def api(self, path: str, method: str = "GET", body: dict | None = None, token: str | None = None) -> dict:
        request = urllib.request.Request(f"{self.url}/api/v2/{path.lstrip('/')}", method=method,
                                         data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Authorization": f"Bearer {token or self.token()}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else {}  # a DELETE answers 204, with no body

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM each process group (components fork workers), then SIGKILL what is left."""
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self.processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:  # the group, not only its leader: forked gunicorn/celery children too
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bhxh.stack", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8080, help="api-server port (the next free one if taken)")
    parser.add_argument("--executor", default="LocalExecutor", choices=["LocalExecutor", "CeleryExecutor"])
    args = parser.parse_args(argv)
    port = free_port(args.port)
    stack = Stack(port, args.executor)
    print(f"starting Airflow ({args.executor}) with the DAGs in {get_settings().dags_dir} ...", flush=True)
    # Ctrl-C and SIGTERM both stop the stack. Python leaves SIGINT ignored when it starts ignored, as it does
    # for a background job of a shell without job control (`make test &` in a script), so install it here.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    try:
        stack.start()
        stack.wait_ready()
        print(f"\nAirflow UI: {stack.url}\n  user: {USER}\n  password: {admin_password()}"
              f"\n  (kept in {get_settings().airflow_home / 'simple_auth_manager_passwords.json'})"
              f"\n  logs: {stack.log_dir}\nCtrl-C stops every component.", flush=True)
        while True:
            stack.check_alive()
            time.sleep(2)
    except KeyboardInterrupt:
        print("stopping Airflow ...", flush=True)
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
