"""The service kit drains: in-flight calls finish during shutdown, new ones are refused
afterwards, and health says NOT_SERVING from the moment draining starts."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devstack import services
from fitmesh.scoring.v1 import scoring_pb2 as pb
from fitmesh.scoring.v1 import scoring_pb2_grpc
from scoring_service.server import ScoringServicer
from servicekit.server import RunningServer, Service
from servicekit.settings import ServiceSettings


class SlowScoring(ScoringServicer):
    def __init__(self) -> None:
        self.entered = asyncio.Event()

    async def ScoreWorkout(self, request: pb.ScoreWorkoutRequest, context: Any) -> Any:  # noqa: N802
        self.entered.set()
        await asyncio.sleep(1.0)
        return await super().ScoreWorkout(request, context)


class Flag:
    """A dependency probe the test can flip."""

    def __init__(self) -> None:
        self.up = True

    async def __call__(self) -> bool:
        return self.up


async def test_in_flight_call_finishes_during_shutdown() -> None:
    slow = SlowScoring()
    service = Service(
        name="scoring_service",
        full_names=["fitmesh.scoring.v1.ScoringService"],
        register=lambda server: scoring_pb2_grpc.add_ScoringServiceServicer_to_server(slow, server),
    )
    settings = ServiceSettings(
        environment="development",  # the development service keys (conftest)
        grpc_host="127.0.0.1",
        grpc_port=0,
        shutdown_drain_seconds=0.3,
        shutdown_grace_seconds=5,
    )
    running = RunningServer(service, settings)
    await running.start()
    address = f"127.0.0.1:{running.port}"
    async with services.channel(address, "scoring_service") as channel:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        call = asyncio.ensure_future(
            stub.ScoreWorkout(
                pb.ScoreWorkoutRequest(workout_type=pb.WORKOUT_TYPE_RUNNING, duration_seconds=600),
                timeout=10,
            )
        )
        await slow.entered.wait()
        stopping = asyncio.create_task(running.stop())
        await asyncio.sleep(0.1)
        status = await health.Check(health_pb2.HealthCheckRequest(), timeout=2)
        assert status.status == health_pb2.HealthCheckResponse.NOT_SERVING
        reply = await call
        assert reply.score.intensity_minutes == 20
        await stopping
    async with services.channel(address, "scoring_service") as channel:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ScoreWorkout(pb.ScoreWorkoutRequest(), timeout=1)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_health_follows_dependency_probes() -> None:
    flag = Flag()
    service = Service(
        name="scoring_service",
        full_names=["fitmesh.scoring.v1.ScoringService"],
        register=lambda server: scoring_pb2_grpc.add_ScoringServiceServicer_to_server(
            ScoringServicer(), server
        ),
        probes=[flag],
    )
    settings = ServiceSettings(
        environment="development",
        grpc_host="127.0.0.1",
        grpc_port=0,
        health_probe_seconds=0.1,
        shutdown_drain_seconds=0,
    )
    running = RunningServer(service, settings)
    await running.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)

            async def status() -> int:
                reply = await health.Check(
                    health_pb2.HealthCheckRequest(service="fitmesh.scoring.v1.ScoringService"),
                    timeout=2,
                )
                return int(reply.status)

            assert await status() == health_pb2.HealthCheckResponse.SERVING
            flag.up = False
            await asyncio.sleep(0.4)
            assert await status() == health_pb2.HealthCheckResponse.NOT_SERVING
            flag.up = True
            await asyncio.sleep(0.4)
            assert await status() == health_pb2.HealthCheckResponse.SERVING
    finally:
        await running.stop()
