"""Start real database servers as child processes, each in its own temporary directory.

A URL given in the environment (DATABASE_URL-style) is used instead of starting a server,
so the same tests run against servers someone already has (MongoDB 7, say). Each server is
prepared first (directory, port, command) and then started: here as a child process, or
under the local supervisor by `python -m devstack run`.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

TOOLS = Path(os.environ.get("FITMESH_TOOLS", Path.home() / ".cache" / "fitmesh")) / "bin"


class ServerError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(
    port: int, proc: subprocess.Popen[bytes] | None, name: str, timeout: float = 30
) -> None:
    """Until the port accepts connections; `proc`, when given, must not exit meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServerError(f"{name} exited with {proc.returncode} before accepting connections")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise ServerError(f"{name} did not accept connections on port {port} within {timeout:g}s")


def find_binary(name: str, *patterns: str) -> str:
    for candidate in (shutil.which(name), *(p for pat in patterns for p in sorted(glob.glob(pat)))):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise ServerError(f"{name} not found; run scripts/setup.sh")


@dataclass
class Server:
    """A database server; `url` is how clients reach it, `proc` its process when started
    here (not when given by URL, nor when a supervisor runs it)."""

    name: str
    url: str
    port: int
    proc: subprocess.Popen[bytes] | None = None
    workdir: Path | None = None
    # How to start it (already as the user it runs as) and where its output goes; empty for
    # a server given by URL.
    command: list[str] = field(default_factory=list, repr=False)
    log: Path | None = None
    # Accepting TCP is not always ready (PostgreSQL refuses logins while it recovers).
    ready: Callable[[], bool] = field(default=lambda: True, repr=False)
    # PostgreSQL's SIGTERM waits for every client to leave; SIGINT is its fast shutdown.
    stop_signal: int = signal.SIGTERM

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(self.stop_signal)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> None:
        """Start the server (again, after stop or kill: the same port and data)."""
        if not self.command or self.log is None:
            raise ServerError(f"{self.name} was given by URL and cannot be restarted")
        self.proc = _launch(self.command, self.log)
        self.wait_ready()

    def wait_ready(self, timeout: float = 30) -> None:
        """Until it accepts connections and is ready (started here or by a supervisor)."""
        wait_for_port(self.port, self.proc, self.name, timeout)
        deadline = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() > deadline:
                raise ServerError(f"{self.name} accepts connections but never became ready")
            time.sleep(0.05)

    def close(self) -> None:
        self.stop()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def as_user(cmd: list[str], user: str | None) -> list[str]:
    """Run cmd as another user. setpriv changes user and then execs, so the process we hold
    is the server itself (signals reach it); changing user in a forked child of this
    multi-threaded process instead (Popen's user=) can crash in glibc."""
    if user is None:
        return cmd
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--", *cmd]


def _launch(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        # Own process group: a Ctrl-C in the terminal reaches us, not the servers directly.
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def prepare_postgres() -> Server:
    """A new data directory and the command that serves it; nothing runs yet."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        return Server("postgres", url, 0)
    initdb = str(Path(find_binary("initdb", "/usr/lib/postgresql/*/bin/initdb")).resolve())
    postgres = str(Path(initdb).with_name("postgres"))
    workdir = Path(tempfile.mkdtemp(prefix="fitmesh-pg-"))
    data = workdir / "data"
    # initdb refuses to run as root; run the server as the postgres system user then.
    user = "postgres" if os.geteuid() == 0 else None
    if user:
        entry = pwd.getpwnam(user)
        os.chown(workdir, entry.pw_uid, entry.pw_gid)
    log = workdir / "server.log"
    init = [initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"]
    subprocess.run(as_user(init, user), check=True, capture_output=True, cwd=workdir)
    port = free_port()
    cmd = [
        postgres,
        "-D",
        str(data),
        "-p",
        str(port),
        "-k",
        str(workdir),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "max_connections=200",
        "-c",
        "fsync=off",
        "-c",
        "synchronous_commit=off",
        "-c",
        "full_page_writes=off",
    ]
    isready = [str(Path(initdb).with_name("pg_isready")), "-q", "-h", "127.0.0.1", "-p", str(port)]
    return Server(
        "postgres",
        f"postgresql://postgres@127.0.0.1:{port}/postgres",
        port,
        workdir=workdir,
        command=as_user(cmd, user),
        log=log,
        ready=lambda: subprocess.run(isready, check=False).returncode == 0,
        stop_signal=signal.SIGINT,
    )


def start_postgres() -> Server:
    return _started(prepare_postgres())


def prepare_redis() -> Server:
    if url := os.environ.get("TEST_REDIS_URL"):
        return Server("redis", url, 0)
    binary = find_binary("redis-server")
    workdir = Path(tempfile.mkdtemp(prefix="fitmesh-redis-"))
    port = free_port()
    cmd = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(workdir),
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "no",
    ]
    return Server(
        "redis",
        f"redis://127.0.0.1:{port}/0",
        port,
        workdir=workdir,
        command=cmd,
        log=workdir / "server.log",
    )


def start_redis() -> Server:
    return _started(prepare_redis())


def prepare_mongo(postgres_url: str | None = None) -> Server:
    """MongoDB when given by URL, else FerretDB (MongoDB wire protocol) on SQLite, or on
    PostgreSQL when given a database: there FerretDB filters in SQL instead of reading
    every document of a collection, which matters once collections are large."""
    if url := os.environ.get("TEST_MONGODB_URL"):
        return Server("mongodb", url, 0)
    binary = find_binary("ferretdb", str(TOOLS / "ferretdb"))
    workdir = Path(tempfile.mkdtemp(prefix="fitmesh-ferretdb-"))
    port = free_port()
    storage = (
        ["--handler=postgresql", f"--postgresql-url={postgres_url}"]
        if postgres_url
        else ["--handler=sqlite", f"--sqlite-url=file:{workdir}/"]
    )
    cmd = [
        binary,
        *storage,
        f"--state-dir={workdir}",
        f"--listen-addr=127.0.0.1:{port}",
        "--debug-addr=127.0.0.1:0",
        "--telemetry=disable",
        "--log-level=warn",
    ]
    return Server(
        "mongodb",
        f"mongodb://127.0.0.1:{port}/",
        port,
        workdir=workdir,
        command=cmd,
        log=workdir / "server.log",
    )


def start_mongo(postgres_url: str | None = None) -> Server:
    return _started(prepare_mongo(postgres_url))


def _started(server: Server) -> Server:
    if server.command:
        server.restart()
    return server


@contextlib.contextmanager
def running(start: Callable[[], Server]) -> Iterator[Server]:
    server = start()
    try:
        yield server
    finally:
        server.close()
