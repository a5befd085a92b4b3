"""Session-wide real servers: PostgreSQL, Redis, a MongoDB wire-protocol server and
fitmesh's own services, each started once and shared; tests keep to their own data."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
import pytest_asyncio

from devstack import services
from devstack.servers import Server, running, start_mongo, start_postgres, start_redis
from fitmesh.scoring.v1 import scoring_pb2_grpc


@pytest.fixture(scope="session")
def postgres() -> Iterator[Server]:
    with running(start_postgres) as server:
        yield server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Server]:
    with running(start_redis) as server:
        yield server


@pytest.fixture(scope="session")
def mongo() -> Iterator[Server]:
    with running(start_mongo) as server:
        yield server


@pytest_asyncio.fixture(scope="session")
async def scoring_service() -> AsyncIterator[services.ServiceProcess]:
    service = await services.start("scoring_service")
    yield service
    service.stop()


@pytest_asyncio.fixture(scope="session")
async def scoring_stub(
    scoring_service: services.ServiceProcess,
) -> AsyncIterator[scoring_pb2_grpc.ScoringServiceStub]:
    async with grpc.aio.insecure_channel(scoring_service.address) as channel:
        yield scoring_pb2_grpc.ScoringServiceStub(channel)
