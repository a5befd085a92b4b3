"""The local supervisor of `python -m devstack run`: supervisord runs the throwaway servers
and every process of the suite, logs each exit and start, and restarts what dies — at once
when it had been running, then after 1, 2, 3… seconds while it keeps dying within its first
seconds, until it has failed that way STARTRETRIES times in a row."""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path
from typing import Any

from supervisor.xmlrpc import SupervisorTransport

from devstack.servers import ServerError

STARTRETRIES = 10
# A process that exits sooner than this after a start failed to start: it is retried with
# the growing delay. One that ran longer crashed and is started again at once.
STARTSECS = 3
STOPWAITSECS = 20  # past the services' drain and grace periods, then SIGKILL
USERNAME = "devstack"


@dataclass(frozen=True)
class Program:
    name: str
    command: list[str]
    # On top of the supervisor's own environment; plain values (ports): supervisord's parser
    # of this list is not a shell's.
    env: dict[str, str] = field(default_factory=dict)
    log: Path | None = None  # None: the terminal
    stop_signal: str = "TERM"


def _value(text: str) -> str:
    # supervisord expands %(name)s in its values, some of them twice: no escape holds.
    if "%" in text:
        raise ServerError(f"supervisord cannot be given a '%' in {text!r}")
    return text


def _program(program: Program, autostart: bool) -> str:
    lines = [
        f"[program:{program.name}]",
        f"command={_value(shlex.join(program.command))}",
        f"autostart={str(autostart).lower()}",
        "autorestart=true",
        f"startsecs={STARTSECS}",
        f"startretries={STARTRETRIES}",
        f"stopsignal={program.stop_signal}",
        f"stopwaitsecs={STOPWAITSECS}",
        "killasgroup=true",
        "redirect_stderr=true",
        f"stdout_logfile={_value(str(program.log or '/dev/stdout'))}",
        "stdout_logfile_maxbytes=0",
    ]
    if program.env:
        pairs = ",".join(f'{k}="{_value(v)}"' for k, v in program.env.items())
        lines.append(f"environment={pairs}")
    return "\n".join(lines)


def config(rundir: Path, password: str, servers: list[Program], suite: list[Program]) -> str:
    """supervisord's configuration: the group `servers` starts with it, the group `suite`
    when asked (after migrations). Groups stop one after the other, the suite first, and
    every process of a group at once. The control socket asks for a password (written here,
    in a directory only its owner reads)."""
    socket = rundir / "supervisor.sock"
    login = f"username={USERNAME}\npassword={password}"
    sections = [
        "\n".join(
            [
                "[supervisord]",
                "nodaemon=true",  # its log goes to the terminal as well as to the file
                f"logfile={_value(str(rundir / 'supervisord.log'))}",
                "logfile_maxbytes=0",
                f"pidfile={_value(str(rundir / 'supervisord.pid'))}",
                f"childlogdir={_value(str(rundir))}",
                *(["user=root"] if os.geteuid() == 0 else []),
            ]
        ),
        f"[unix_http_server]\nfile={_value(str(socket))}\nchmod=0700\n{login}",
        "[rpcinterface:supervisor]\n"
        "supervisor.rpcinterface_factory=supervisor.rpcinterface:make_main_rpcinterface",
        f"[supervisorctl]\nserverurl=unix://{_value(str(socket))}\n{login}",
    ]
    for group, programs, priority in (("servers", servers, 10), ("suite", suite, 100)):
        if programs:
            names = ",".join(p.name for p in programs)
            sections.append(f"[group:{group}]\nprograms={names}\npriority={priority}")
            sections.extend(_program(p, autostart=group == "servers") for p in programs)
    return "\n\n".join(sections) + "\n"


class Supervisor:
    """supervisord in the foreground, as a child of this process, in a run directory of its
    own (configuration, control socket, its log) that `close` removes."""

    def __init__(self, servers: list[Program], suite: list[Program], env: dict[str, str]):
        self.rundir = Path(tempfile.mkdtemp(prefix="fitmesh-run-"))
        self.conf = self.rundir / "supervisord.conf"
        self.log = self.rundir / "supervisord.log"
        self.password = secrets.token_urlsafe(16)
        self.conf.write_text(config(self.rundir, self.password, servers, suite))
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def rpc(self) -> Any:
        """supervisord's XML-RPC interface, on a new connection (one that failed is spent)."""
        return xmlrpc.client.ServerProxy(
            "http://localhost",
            transport=SupervisorTransport(
                USERNAME, self.password, f"unix://{self.rundir / 'supervisor.sock'}"
            ),
        )

    def start(self, timeout: float = 15) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "supervisor.supervisord", "--configuration", str(self.conf)],
            env=self.env,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise ServerError(f"supervisord exited with {self.proc.returncode}")
            with contextlib.suppress(OSError, HTTPException, xmlrpc.client.Error):
                if self.rpc.supervisor.getState()["statename"] == "RUNNING":
                    return
            if time.monotonic() > deadline:
                raise ServerError(f"supervisord did not answer within {timeout:g}s")
            time.sleep(0.05)

    def start_suite(self) -> None:
        self.rpc.supervisor.startProcessGroup("suite", False)

    def wait(self) -> int:
        """Until supervisord exits (Ctrl-C and SIGTERM stop it with everything it runs)."""
        assert self.proc is not None
        try:
            return self.proc.wait()
        except KeyboardInterrupt:
            return self.stop()

    def stop(self) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(STOPWAITSECS * 2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return 0 if self.proc.returncode in (0, -signal.SIGTERM) else self.proc.returncode

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.rundir, ignore_errors=True)
