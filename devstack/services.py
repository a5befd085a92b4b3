"""Start fitmesh's own services as real processes (`python -m <service>`) and wait until
their grpc.health.v1 says SERVING."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devstack.servers import ServerError, free_port
from servicekit import keys, servicetokens

ROOT = Path(__file__).resolve().parent.parent


async def health_status(address: str, service: str = "", timeout: float = 1.0) -> int:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        return int(reply.status)


async def wait_serving(address: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"service at {address} exited with {proc.returncode}")
        try:
            if await health_status(address) == health_pb2.HealthCheckResponse.SERVING:
                return
        except grpc.aio.AioRpcError:
            pass
        await asyncio.sleep(0.1)
    raise ServerError(f"service at {address} not SERVING within {timeout:g}s")


def channel(address: str, audience: str, caller: str | None = None) -> grpc.aio.Channel:
    """A channel to a throwaway service whose calls carry a development service token, from
    `caller` (by default one the service accepts), like the suite's own callers."""
    minter = servicetokens.Minter(
        caller or sorted(servicetokens.CALLERS[audience])[0],
        keys.service_signing_key("", keys.DEVELOPMENT),
    )
    return grpc.aio.insecure_channel(address, interceptors=minter.interceptors(audience))


@dataclass
class ServiceProcess:
    module: str
    address: str
    metrics_port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    def channel(self, caller: str | None = None) -> grpc.aio.Channel:
        """A channel whose calls carry a development service token for this service."""
        return channel(self.address, self.module, caller)

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, timeout: float = 20) -> int:
        self.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.proc.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _spawn(module: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
    log_path = Path(tempfile.mkstemp(prefix=f"fitmesh-{module}-", suffix=".log")[1])
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", module],
            cwd=ROOT,
            # Throwaway processes: keys left unset are development keys (FITMESH_DEV_KEYS_DIR).
            env={"ENVIRONMENT": "development", **os.environ, "PYTHONUNBUFFERED": "1", **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc, log_path


def launch(module: str, env: dict[str, str] | None = None) -> ServiceProcess:
    """Start `python -m module` on free ports; the caller waits with `wait_serving`."""
    env = env or {}
    grpc_port = int(env.get("GRPC_PORT") or free_port())
    metrics_port = int(env.get("METRICS_PORT") or free_port())
    proc, log_path = _spawn(
        module,
        {
            "GRPC_HOST": "127.0.0.1",
            "SHUTDOWN_DRAIN_SECONDS": "0.5",
            **env,
            "GRPC_PORT": str(grpc_port),
            "METRICS_PORT": str(metrics_port),
        },
    )
    return ServiceProcess(module, f"127.0.0.1:{grpc_port}", metrics_port, proc, log_path)


async def start(module: str, env: dict[str, str] | None = None) -> ServiceProcess:
    service = launch(module, env)
    try:
        await wait_serving(service.address, service.proc)
    except ServerError as exc:
        service.kill()
        raise ServerError(f"{exc}\n--- {module} log ---\n{service.log()}") from exc
    return service


@dataclass
class HttpProcess:
    module: str
    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def stop(self, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def launch_http(module: str, env: dict[str, str] | None = None) -> HttpProcess:
    env = env or {}
    port = int(env.get("HTTP_PORT") or free_port())
    proc, log_path = _spawn(module, {"HTTP_HOST": "127.0.0.1", **env, "HTTP_PORT": str(port)})
    return HttpProcess(module, f"http://127.0.0.1:{port}", proc, log_path)


async def start_http(
    module: str, env: dict[str, str] | None = None, timeout: float = 30
) -> HttpProcess:
    """Start an HTTP process (the gateway) on a free port and wait for GET /healthz."""
    import httpx

    service = launch_http(module, env)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with httpx.AsyncClient() as client:
        while loop.time() < deadline:
            if service.proc.poll() is not None:
                raise ServerError(
                    f"{module} exited with {service.proc.returncode}\n{service.log()}"
                )
            try:
                if (await client.get(f"{service.url}/healthz", timeout=1)).status_code == 200:
                    return service
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    service.stop()
    raise ServerError(f"{module} did not answer /healthz within {timeout:g}s\n{service.log()}")
