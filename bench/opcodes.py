"""Python bytecode instructions a request costs: the gateway app, in a process of its own
and against the suite's Redis and services, serving the cached profile and statistics
reads, and the bare app serving the same requests; counted with the interpreter's opcode
tracing. Unlike CPU time, the count is the same on any machine for the same code and
library versions: it moves only when the code does.

`python -m bench.opcodes <app> <path> <token>` is one count (the bench runs it with the
suite's settings in its environment); it prints a JSON object."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import uvloop

from bench import bare
from bench.rest import read_path
from bench.seed import Account
from bench.suite import Suite
from bench.tools import ratio
from gateway.app import create_app as gateway_app
from servicekit.logs import configure_logging

WARM_UP = 200  # connections, pools and first-use caches, before the count
COUNTED = 200
ROOT = str(Path(__file__).resolve().parent.parent) + os.sep
READS = ("profile", "statistics")
Scope = dict[str, Any]


def _scope(path: str, token: str) -> Scope:
    """A GET as uvicorn hands it to the app (oha's headers)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"user-agent", b"oha"),
            (b"accept", b"*/*"),
            (b"authorization", f"Bearer {token}".encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def _serve(app: Any, path: str, token: str, times: int) -> Counter[int]:
    """The app serves the read `times` times; the statuses it answered."""
    statuses: Counter[int] = Counter()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses[message["status"]] += 1

    for _ in range(times):
        await app(_scope(path, token), receive, send)
    return statuses


def _tracer(counts: Counter[str]) -> Callable[[FrameType, str, Any], Any]:
    """A trace function counting every instruction executed, by the package it is in."""

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "opcode":
            counts[_package(frame.f_code.co_filename)] += 1
        return local

    def call(frame: FrameType, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        return local

    return call


def _package(filename: str) -> str:
    """The top package of a file: an installed one, one of ours, or the standard library."""
    if "site-packages" in filename:
        return filename.split("site-packages" + os.sep, 1)[1].split(os.sep)[0]
    if filename.startswith(ROOT):
        return filename[len(ROOT) :].split(os.sep)[0]
    return "generated" if filename == "<string>" else "stdlib"


def _app(which: str) -> Any:
    """The app as its process would make it: the gateway logging as it does, to nowhere."""
    if which == "bare":
        return bare.create_app()
    configure_logging("gateway", "INFO", open(os.devnull, "w"))  # noqa: SIM115 (the process's)
    return gateway_app()


async def count(app: Any, path: str, token: str) -> dict[str, Any]:
    async with app.router.lifespan_context(app):
        await _serve(app, path, token, WARM_UP)
        counts: Counter[str] = Counter()
        sys.settrace(_tracer(counts))
        try:
            statuses = await _serve(app, path, token, COUNTED)
        finally:
            sys.settrace(None)
    return {
        "per_request": round(sum(counts.values()) / COUNTED),
        "by_package": {name: round(n / COUNTED) for name, n in counts.most_common(12)},
        "statuses": {str(k): v for k, v in statuses.items()},
    }


async def opcodes(suite: Suite, account: Account) -> dict[str, Any]:
    """Each read on the gateway app and on the bare app, and their ratios."""
    env = {**os.environ, **suite.gateway_env}
    token = account.headers["Authorization"].removeprefix("Bearer ")
    found: dict[str, Any] = {}
    for read in READS:
        path = read_path(read, account.user_id)
        sides = {side: await _counted(side, path, token, env) for side in ("gateway", "bare")}
        found[read] = {
            **sides,
            "ratio_to_bare": ratio(sides["gateway"]["per_request"], sides["bare"]["per_request"]),
        }
    return {
        "what": "Python bytecode instructions executed per request (opcode tracing), the app"
        " in a process of its own, uvloop, against the suite's Redis and services",
        "requests_counted": COUNTED,
        **found,
        "profile_ratio_to_bare": found["profile"]["ratio_to_bare"],
    }


async def _counted(side: str, path: str, token: str, env: dict[str, str]) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.opcodes",
        side,
        path,
        token,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"opcode count of {side} failed: {err.decode()[-2000:]}")
    found: dict[str, Any] = json.loads(out)
    return found


def main() -> None:
    which, path, token = sys.argv[1:4]
    print(json.dumps(uvloop.run(count(_app(which), path, token))))


if __name__ == "__main__":
    main()
