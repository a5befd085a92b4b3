"""Run a grpc.aio server the one way every fitmesh service runs: health, reflection (when
GRPC_REFLECTION is on), interceptors (a service token on every call but health checks),
metrics endpoint, dependency probes and graceful shutdown on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import start_http_server

from servicekit import servicetokens, tracing
from servicekit.heap import freeze_startup_objects
from servicekit.interceptors import ObservabilityInterceptor
from servicekit.keys import MissingKeyError
from servicekit.logs import configure_logging
from servicekit.settings import ServiceSettings

log = structlog.get_logger("server")

SERVING = health_pb2.HealthCheckResponse.SERVING
# A health service name that stays SERVING while the process runs, whatever its
# dependencies say: for liveness probes, which should restart a stuck process, not one
# whose database is away.
LIVENESS = "fitmesh.liveness"
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class Probe(Protocol):
    """Answers whether a dependency (a database) can be used right now."""

    async def __call__(self) -> bool: ...


class Lifecycle(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


@dataclass
class Service:
    """What a service hands to `serve`: its servicers and what it depends on."""

    name: str
    full_names: Sequence[str]
    register: Callable[[grpc.aio.Server], None]
    probes: Sequence[Probe] = ()
    lifecycles: Sequence[Lifecycle] = field(default_factory=list)


class RunningServer:
    """A started server; `stop` drains it the same way SIGTERM does. Made without
    SERVICE_VERIFY_KEY (outside development) it raises MissingKeyError."""

    def __init__(self, service: Service, settings: ServiceSettings) -> None:
        self.service = service
        self.settings = settings
        self.health = health.aio.HealthServicer()
        verifier = servicetokens.Verifier.from_setting(
            service.name, settings.service_verify_key, settings.environment
        )
        open_services = servicetokens.OPEN_SERVICES
        if settings.grpc_reflection:
            open_services |= servicetokens.REFLECTION_SERVICES
        self.server = grpc.aio.server(
            interceptors=[
                *tracing.server_interceptors(),
                ObservabilityInterceptor(),
                servicetokens.ServerInterceptor(verifier, open_services),
            ],
            options=[("grpc.max_receive_message_length", settings.grpc_max_message_bytes)],
        )
        self.port = 0
        self._serving = False
        self._probe_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        service, settings = self.service, self.settings
        # Resources open first, on this loop, so servicers are built with them ready.
        for lifecycle in service.lifecycles:
            await lifecycle.start()
        service.register(self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        if settings.grpc_reflection:
            names = (*service.full_names, health.SERVICE_NAME, reflection.SERVICE_NAME)
            reflection.enable_server_reflection(names, self.server)
        self.port = self.server.add_insecure_port(f"{settings.grpc_host}:{settings.grpc_port}")
        if self.port == 0:
            raise RuntimeError(f"cannot bind {settings.grpc_host}:{settings.grpc_port}")
        await self._set_all(NOT_SERVING)
        await self.health.set(LIVENESS, SERVING)
        await self.server.start()
        await self._probe()
        self._probe_task = asyncio.create_task(self._probe_forever())
        log.info("started", port=self.port, metrics_port=settings.metrics_port)

    async def stop(self) -> None:
        log.info("draining", drain_seconds=self.settings.shutdown_drain_seconds)
        if self._probe_task:
            self._probe_task.cancel()
        await self.health.enter_graceful_shutdown()
        await asyncio.sleep(self.settings.shutdown_drain_seconds)
        await self.server.stop(self.settings.shutdown_grace_seconds)
        for lifecycle in reversed(self.service.lifecycles):
            await lifecycle.stop()
        log.info("stopped")

    async def _set_all(self, status: int) -> None:
        for name in ("", *self.service.full_names):
            await self.health.set(name, status)

    async def _probe(self) -> None:
        results = await asyncio.gather(*(self._check(probe) for probe in self.service.probes))
        serving = all(results)
        if serving != self._serving:
            log.info("health_changed", serving=serving)
        self._serving = serving
        await self._set_all(SERVING if serving else NOT_SERVING)

    async def _check(self, probe: Probe) -> bool:
        try:
            async with asyncio.timeout(self.settings.health_probe_seconds):
                return await probe()
        except Exception:  # a probe that fails or hangs means "not healthy", never a crash
            return False

    async def _probe_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.health_probe_seconds)
            await self._probe()


async def serve(service: Service, settings: ServiceSettings) -> None:
    """Run until SIGTERM or SIGINT, then drain and return."""
    configure_logging(service.name, settings.log_level)
    tracing.configure(service.name, settings.otel_exporter_otlp_endpoint)
    running = RunningServer(service, settings)  # first: a missing key stops it here
    if settings.metrics_port:
        start_http_server(settings.metrics_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await running.start()
    freeze_startup_objects()
    await stop.wait()
    await running.stop()
    tracing.shutdown()


def exit_missing_key(name: str, exc: MissingKeyError) -> SystemExit:
    """What a process does without a key: log it, and stop with a message naming it."""
    structlog.get_logger(name).error("missing_key", variable=exc.variable)
    return SystemExit(f"{name} cannot start: {exc}")


def run(service: Service, settings: ServiceSettings) -> None:
    try:
        asyncio.run(serve(service, settings))
    except MissingKeyError as exc:
        raise exit_missing_key(service.name, exc) from None
