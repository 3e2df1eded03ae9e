"""A real promptreg server per test (the binary from ``PROMPTREG_BIN``), on SQLite by default
or PostgreSQL when ``PROMPTREG_TEST_BACKEND=postgres`` (each server in a fresh schema of
``PROMPTREG_TEST_PG_URL``, selected with ``options=-csearch_path=...``)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "sdk" / "fixtures"
HEARTBEAT_MS = 300


def _bin() -> str:
    path = os.environ.get("PROMPTREG_BIN") or str(ROOT / "target" / "debug" / "promptreg")
    if not Path(path).exists():
        pytest.fail(f"no promptreg binary at {path}: build it or set PROMPTREG_BIN")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One promptreg server process; can be killed and started again on the same port and data."""

    def __init__(self, tmp: Path, database_url: str | None, extra: list[str]) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = f"pysdk-admin-{uuid.uuid4().hex}"
        self.tmp = tmp
        self.database_url = database_url
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=10
        )

    def start(self) -> None:
        args = [_bin(), "serve", "--listen", f"127.0.0.1:{self.port}",
                "--data-dir", str(self.tmp / "data"), *self.extra]
        if self.database_url:
            args += ["--database-url", self.database_url]
        env = {**os.environ, "PROMPTREG_ADMIN_TOKEN": self.token}
        self.log = open(self.tmp / "server.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(args, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {(self.tmp / 'server.log').read_text()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("server did not become ready")

    def kill(self) -> None:
        """SIGKILL: the server is gone without a goodbye (no shutdown frame)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.log.close()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    # --- API helpers (admin token) -----------------------------------------------------------

    def call(self, method: str, path: str, body: Any = None, ok: int = 0) -> Any:
        r = self.http.request(method, path, json=body)
        if r.status_code >= 400 or (ok and r.status_code != ok):
            raise AssertionError(f"{method} {path} -> {r.status_code}: {r.text}")
        return r.json() if r.content else None

    def publish(self, name: str, template: str, **content: Any) -> int:
        body = {"type": "text", "template": template, **content}
        return int(self.call("POST", f"/v1/prompts/{quote(name, safe='')}/versions", body)["version"])

    def deploy(self, name: str, version: int, env: str = "production") -> Any:
        return self.call("PUT", f"/v1/environments/{env}/prompts/{quote(name, safe='')}", {"version": version})

    def rollback(self, name: str, env: str = "production") -> Any:
        return self.call("POST", f"/v1/environments/{env}/prompts/{quote(name, safe='')}/rollback", {})

    def canary(self, name: str, candidate: int, weight: int, env: str = "production") -> Any:
        strategy = {"canary": {"steps": [{"set_weight": weight}, {"pause": {}}]}}
        return self.call("POST", f"/v1/environments/{env}/prompts/{quote(name, safe='')}/rollouts",
                         {"candidate": candidate, "strategy": strategy})

    def paused_rollout(self, name: str, env: str = "production") -> Any:
        """Waits until the pointer's rollout reached its pause step (its weight is set)."""
        path = f"/v1/environments/{env}/prompts/{quote(name, safe='')}/rollouts/current"
        deadline = time.monotonic() + 10
        while True:
            r = self.call("GET", path)
            if r["status"] == "paused" or time.monotonic() > deadline:
                return r
            time.sleep(0.02)

    def resolve(self, name: str, subject: str | None = None, env: str = "production") -> Any:
        params = {"env": env, **({"subject": subject} if subject else {})}
        r = self.http.get(f"/v1/resolve/{quote(name, safe='')}", params=params)
        assert r.status_code == 200, r.text
        return r.json()

    def snapshot(self, env: str = "production") -> Any:
        return self.call("GET", f"/v1/environments/{env}/snapshot")


def _serve_flags() -> list[str]:
    help_text = subprocess.run([_bin(), "serve", "--help"], capture_output=True, text=True).stdout
    flags = []
    if "--watch-heartbeat" in help_text:
        flags += ["--watch-heartbeat", f"{HEARTBEAT_MS}ms"]
    return flags


@pytest.fixture(scope="session")
def serve_flags() -> list[str]:
    return _serve_flags()


@pytest.fixture(scope="session")
def backend() -> str:
    b = os.environ.get("PROMPTREG_TEST_BACKEND", "sqlite")
    if b == "postgres" and not os.environ.get("PROMPTREG_TEST_PG_URL"):
        pytest.fail("PROMPTREG_TEST_BACKEND=postgres needs PROMPTREG_TEST_PG_URL")
    return b


def _psql(url: str, sql: str) -> None:
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql], check=True,
                   capture_output=True)


@pytest.fixture
def make_server(backend: str, serve_flags: list[str]) -> Iterator[Any]:
    """``make_server(*extra_flags)`` starts a server; all are stopped (and their schemas dropped)
    after the test."""
    made: list[tuple[Server, str | None]] = []
    temp_dirs: list[str] = []

    def make(*extra: str) -> Server:
        tmp = tempfile.mkdtemp(prefix="promptreg-pysdk-")
        temp_dirs.append(tmp)
        url = schema = None
        if backend == "postgres":
            base = os.environ["PROMPTREG_TEST_PG_URL"]
            schema = f"pysdk_{uuid.uuid4().hex}"
            _psql(base, f'CREATE SCHEMA "{schema}"')
            sep = "&" if "?" in base else "?"
            url = f"{base}{sep}options=-csearch_path%3D{schema}"
        s = Server(Path(tmp), url, [*serve_flags, *extra])
        made.append((s, schema))
        s.start()
        return s

    yield make
    for s, schema in made:
        s.stop()
        if schema:
            try:
                _psql(os.environ["PROMPTREG_TEST_PG_URL"], f'DROP SCHEMA "{schema}" CASCADE')
            except subprocess.CalledProcessError:
                pass
    for tmp in temp_dirs:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def server(make_server: Any) -> Server:
    return make_server()  # type: ignore[no-any-return]


def wait_for(check: Any, timeout: float = 5.0, interval: float = 0.001) -> float:
    """Polls ``check()`` until true; returns the seconds it took (fails after ``timeout``)."""
    start = time.monotonic()
    while True:
        if check():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)
