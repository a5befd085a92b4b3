"""The load tools, run as processes: oha (HTTP), ghz (gRPC), redis-benchmark, pgbench.

Each runner returns a `Load`: how many requests, how many failed, the rate achieved and
latency percentiles in milliseconds."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from devstack.servers import TOOLS, ServerError
from servicekit import keys, servicetokens

PROTOS = Path(__file__).resolve().parent.parent / "protos"


def service_token(audience: str) -> str:
    """A development service token for `audience`, from a caller it accepts: the services
    refuse calls without one. Good for five minutes, longer than any one load run."""
    caller = sorted(servicetokens.CALLERS[audience])[0]
    return servicetokens.Minter(caller, keys.service_signing_key("", keys.DEVELOPMENT)).token(
        audience
    )


def tool(name: str) -> str:
    found = shutil.which(name, path=str(TOOLS)) or shutil.which(name)
    if found is None:
        raise ServerError(f"{name} not found; run `bash scripts/setup.sh bench`")
    return found


@dataclass
class Load:
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    statuses: dict[str, int] = field(default_factory=dict)
    # Every answered request's latency, when the tool reports them one by one (oha does).
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        found = asdict(self)
        del found["latencies_ms"]
        return found


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ratio(part: float | None, whole: float | None, digits: int = 3) -> float | None:
    """`part / whole`, or None when either is unknown or the whole is nothing."""
    if part is None or not whole:
        return None
    return round(part / whole, digits)


def _latencies(db: Path) -> list[float]:
    """oha's record of each request: from when it was due (with latency correction) or
    sent, to its answer."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT end - COALESCE(start_latency_correction, start) FROM oha")
        return [float(seconds) * 1000 for (seconds,) in rows]


async def _run(cmd: list[str]) -> str:
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {err.decode()[-2000:]}")
    return out.decode()


def _oha_args(
    url: str, seconds: float, *, rate: float | None, connections: int, headers: dict[str, str]
) -> list[str]:
    args = [tool("oha"), "--no-tui", "--output-format", "json", "-z", f"{seconds}s"]
    # Requests still in flight at the deadline are waited for, not counted as failures.
    args += ["-c", str(connections), "--wait-ongoing-requests-after-deadline"]
    args += ["--worker-threads", "1"]
    if rate is not None:
        # Open loop: requests are due at a fixed rate, and a request that waited for a free
        # connection counts its wait (no coordinated omission).
        args += ["-q", str(rate), "--latency-correction"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    return [*args, url]


async def oha(
    url: str,
    seconds: float,
    *,
    rate: float | None = None,
    connections: int = 16,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    body: str | None = None,
) -> Load:
    args = _oha_args(url, seconds, rate=rate, connections=connections, headers=headers or {})
    if method != "GET":
        args[1:1] = ["-m", method]
    if body is not None:
        args[1:1] = ["-d", body, "-T", "application/json"]
    with tempfile.TemporaryDirectory(prefix="fitmesh-oha-") as tmp:
        db = Path(tmp) / "requests.db"
        report = json.loads(await _run([*args[:-1], "--db-url", str(db), args[-1]]))
        latencies = _latencies(db) if db.exists() else []
    statuses = {str(k): int(v) for k, v in report.get("statusCodeDistribution", {}).items()}
    failed = sum(v for k, v in statuses.items() if not k.startswith("2"))
    failed += sum(int(v) for v in report.get("errorDistribution", {}).values())
    summary, percentiles = report["summary"], report["latencyPercentiles"]
    total = sum(statuses.values()) + sum(int(v) for v in report["errorDistribution"].values())
    return Load(
        requests=total,
        errors=failed,
        rps=float(summary["requestsPerSec"]),
        p50_ms=float(percentiles["p50"] or 0) * 1000,
        p90_ms=float(percentiles["p90"] or 0) * 1000,
        p95_ms=float(percentiles["p95"] or 0) * 1000,
        p99_ms=float(percentiles["p99"] or 0) * 1000,
        statuses=statuses,
        latencies_ms=latencies,
    )


async def ghz(
    address: str,
    call: str,
    data: dict[str, Any],
    seconds: float,
    *,
    rate: float | None = None,
    concurrency: int = 16,
    count: int | None = None,
) -> Load:
    """`seconds` of load, or `count` calls when given (for calls too slow to time-box)."""
    package = call.rsplit(".", 2)[0]  # fitmesh.activity.v1
    proto = package.replace(".", "/") + "/" + package.split(".")[1] + ".proto"
    args = [tool("ghz"), "--insecure", "--format", "json", "--call", call]
    args += ["--import-paths", str(PROTOS), "--proto", proto]
    args += ["-d", json.dumps(data), "-c", str(concurrency), "--timeout", "120s"]
    service = package.split(".")[1]  # user, activity, scoring; health is activity's process
    audience = "activity_service" if service == "health" else f"{service}_service"
    args += ["--metadata", json.dumps({"authorization": f"Bearer {service_token(audience)}"})]
    # When the time is up, calls still under way finish and count: by default ghz closes
    # their connections and reports each as UNAVAILABLE (bojand/ghz#121), an error no
    # server returned (1-2 in ~3,000 statistics calls at concurrency 2).
    args += ["-n", str(count)] if count else ["-z", f"{seconds}s", "--duration-stop", "wait"]
    args += ["--connections", str(min(concurrency, 4))]
    if rate is not None:
        args += ["--rps", str(int(rate))]
    report = json.loads(await _run([*args, address]))
    by_percent = {int(d["percentage"]): d["latency"] / 1e6 for d in report["latencyDistribution"]}
    statuses = {str(k): int(v) for k, v in report.get("statusCodeDistribution", {}).items()}
    return Load(
        requests=int(report["count"]),
        errors=sum(v for k, v in statuses.items() if k != "OK"),
        rps=float(report["rps"]),
        p50_ms=by_percent[50],
        p90_ms=by_percent[90],
        p95_ms=by_percent[95],
        p99_ms=by_percent[99],
        statuses=statuses,
    )


async def redis_get_rps(host: str, port: int) -> float:
    """redis-benchmark's GET rate: 50 clients, no pipelining."""
    args = ["-h", host, "-p", str(port), "-t", "get", "-n", "200000", "-c", "50", "--csv"]
    out = await _run([tool("redis-benchmark"), *args])
    for line in out.splitlines():
        cells = [c.strip('"') for c in line.split(",")]
        if cells[0] == "GET":
            return float(cells[1])
    raise RuntimeError(f"no GET line in redis-benchmark output: {out!r}")


async def pgbench_select_tps(url: str, seconds: int) -> float:
    """pgbench's built-in read-only script (one indexed SELECT per transaction)."""
    binary = tool("pgbench")
    await _run([binary, "-i", "-q", "-s", "10", url])
    out = await _run([binary, "-S", "-c", "8", "-j", "2", "-T", str(seconds), url])
    found = re.search(r"tps = ([\d.]+)", out)
    if found is None:
        raise RuntimeError(f"no tps in pgbench output: {out!r}")
    return float(found.group(1))
