"""Session-wide real servers: PostgreSQL, Redis, a MongoDB wire-protocol server and
fitmesh's own services, each started once and shared; tests keep to their own data."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import httpx
import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from devstack import services
from devstack.servers import Server, running, start_mongo, start_postgres, start_redis
from fitmesh.activity.v1 import activity_pb2_grpc
from fitmesh.scoring.v1 import scoring_pb2_grpc
from fitmesh.user.v1 import user_pb2_grpc
from tests.clock import Clock, settled_clock

if TYPE_CHECKING:
    from tests.webhook_stack import Receiver
    from tests.webhook_stack import Stack as WebhookStack

# One development key directory for the whole run, set before anything starts: every service
# process inherits it, and the tests mint the service tokens they call with from it.
os.environ["FITMESH_DEV_KEYS_DIR"] = tempfile.mkdtemp(prefix="fitmesh-test-keys-")


@pytest.fixture(scope="session")
def postgres() -> Iterator[Server]:
    with running(start_postgres) as server:
        yield server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Server]:
    with running(start_redis) as server:
        yield server


@pytest.fixture
def own_redis() -> Iterator[Server]:
    """A Redis of the test's own, to kill or to watch without disturbing the others."""
    with running(start_redis) as server:
        yield server


@pytest_asyncio.fixture
async def redis(redis_server: Server) -> AsyncIterator[aioredis.Redis]:
    """A client of the shared Redis, for tests that read streams or keys themselves."""
    client = aioredis.from_url(redis_server.url, decode_responses=True)
    yield client
    await client.aclose()


@pytest_asyncio.fixture
async def clock() -> Clock:
    """Now, for a test that reasons about days or weeks (see tests/clock.py)."""
    return await settled_clock()


@pytest.fixture(scope="session")
def mongo(postgres: Server) -> Iterator[Server]:
    # FerretDB on PostgreSQL, as the bench runs it: the session's database gathers every
    # test's documents, and on SQLite FerretDB reads a whole collection for any query not
    # by `_id`, so late tests would wait on early ones' data. `make run` keeps SQLite, and
    # the README's tour (test_run_command.py) goes through it.
    with running(lambda: start_mongo(fresh_database(postgres))) as server:
        yield server


@pytest_asyncio.fixture(scope="session")
async def scoring_service() -> AsyncIterator[services.ServiceProcess]:
    # With reflection on, as `make run` has it: grpcurl lists its services.
    service = await services.start("scoring_service", {"GRPC_REFLECTION": "true"})
    yield service
    service.stop()


@pytest_asyncio.fixture(scope="session")
async def scoring_stub(
    scoring_service: services.ServiceProcess,
) -> AsyncIterator[scoring_pb2_grpc.ScoringServiceStub]:
    async with scoring_service.channel() as channel:
        yield scoring_pb2_grpc.ScoringServiceStub(channel)


def fresh_database(server: Server) -> str:
    """A new, empty database on the server, so a test's data is its own."""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def dev_keys_dir() -> str:
    return os.environ["FITMESH_DEV_KEYS_DIR"]


@pytest.fixture(scope="session")
def user_service_env(
    postgres: Server,
    redis_server: Server,
    scoring_service: services.ServiceProcess,
    dev_keys_dir: str,
) -> dict[str, str]:
    return {
        "DATABASE_URL": fresh_database(postgres),
        "REDIS_URL": redis_server.url,
        "SCORING_SERVICE_ADDRS": scoring_service.address,
        "ENVIRONMENT": "development",
        "FITMESH_DEV_KEYS_DIR": dev_keys_dir,
        "CONSUMER_CLAIM_IDLE_MS": "1000",
        "CONSUMER_BLOCK_MS": "200",
        "HEALTH_PROBE_SECONDS": "0.5",
    }


@pytest_asyncio.fixture(scope="session")
async def user_service(
    user_service_env: dict[str, str],
) -> AsyncIterator[services.ServiceProcess]:
    service = await services.start("user_service", user_service_env)
    yield service
    service.stop()


@pytest_asyncio.fixture(scope="session")
async def user_stub(
    user_service: services.ServiceProcess,
) -> AsyncIterator[user_pb2_grpc.UserServiceStub]:
    async with user_service.channel() as channel:
        yield user_pb2_grpc.UserServiceStub(channel)


@pytest.fixture(scope="session")
def activity_service_env(
    mongo: Server, redis_server: Server, scoring_service: services.ServiceProcess
) -> dict[str, str]:
    import uuid

    return {
        "MONGODB_URL": mongo.url,
        "MONGODB_DATABASE": f"t_{uuid.uuid4().hex[:12]}",
        "REDIS_URL": redis_server.url,
        "SCORING_SERVICE_ADDRS": scoring_service.address,
        # Every activity process of the session polls FerretDB this often: once a second
        # keeps recovery prompt for the tests without the polling crowding the database.
        "RECOVERY_INTERVAL_SECONDS": "1",
        "HEALTH_PROBE_SECONDS": "0.5",
    }


@pytest_asyncio.fixture(scope="session")
async def activity_service(
    activity_service_env: dict[str, str],
) -> AsyncIterator[services.ServiceProcess]:
    service = await services.start("activity_service", activity_service_env)
    yield service
    service.stop()


@pytest_asyncio.fixture(scope="session")
async def activity_stub(
    activity_service: services.ServiceProcess,
) -> AsyncIterator[activity_pb2_grpc.ActivityServiceStub]:
    async with activity_service.channel() as channel:
        yield activity_pb2_grpc.ActivityServiceStub(channel)


@pytest_asyncio.fixture(scope="session")
async def second_scoring() -> AsyncIterator[services.ServiceProcess]:
    service = await services.start("scoring_service")
    yield service
    service.stop()


@pytest_asyncio.fixture(scope="session")
async def second_activity(
    activity_service_env: dict[str, str], second_scoring: services.ServiceProcess
) -> AsyncIterator[services.ServiceProcess]:
    service = await services.start("activity_service", activity_service_env)
    yield service
    service.stop()


@pytest.fixture(scope="session")
def gateway_env(
    redis_server: Server,
    dev_keys_dir: str,
    user_service: services.ServiceProcess,
    activity_service: services.ServiceProcess,
    second_activity: services.ServiceProcess,
    scoring_service: services.ServiceProcess,
    second_scoring: services.ServiceProcess,
) -> dict[str, str]:
    """A gateway over two replicas each of the activity and scoring services."""
    return {
        "USER_SERVICE_ADDRS": user_service.address,
        "ACTIVITY_SERVICE_ADDRS": f"{activity_service.address},{second_activity.address}",
        "SCORING_SERVICE_ADDRS": f"{scoring_service.address},{second_scoring.address}",
        "REDIS_URL": redis_server.url,
        "ENVIRONMENT": "development",
        "FITMESH_DEV_KEYS_DIR": dev_keys_dir,
        "RATE_LIMIT_IP": "100000/minute",
        "RATE_LIMIT_USER": "100000/minute",
        "RATE_LIMIT_AUTH": "100000/minute",
        # Many tests log in with a wrong password on purpose; the lockout's own test sets its
        # limits.
        "LOGIN_FAILURES_ACCOUNT": "100000/minute",
        "LOGIN_FAILURES_IP": "100000/minute",
    }


@pytest_asyncio.fixture(scope="session")
async def gateway(gateway_env: dict[str, str]) -> AsyncIterator[services.HttpProcess]:
    service = await services.start_http("gateway", gateway_env)
    yield service
    service.stop()


@pytest_asyncio.fixture(scope="session")
async def api(gateway: services.HttpProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{gateway.url}/api/v1", timeout=15) as client:
        yield client


@pytest_asyncio.fixture(scope="session")
async def second_gateway(gateway_env: dict[str, str]) -> AsyncIterator[services.HttpProcess]:
    """Another replica: live sessions must behave the same across replicas."""
    service = await services.start_http("gateway", gateway_env)
    yield service
    service.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on this machine, answering as each test tells it."""
    from tests import webhook_stack

    with webhook_stack.receiving() as r:
        yield r


@pytest_asyncio.fixture(scope="session")
async def webhook_single(
    postgres: Server, scoring_service: services.ServiceProcess
) -> AsyncIterator[WebhookStack]:
    """Webhooks' own Redis, database, a user_service replica and a gateway (for the API and
    deliveries; tests.webhook_stack)."""
    from tests import webhook_stack

    async with webhook_stack.stack(postgres, scoring_service, 1, webhook_stack.SINGLE) as built:
        yield built


@pytest_asyncio.fixture(scope="session")
async def webhook_imports(
    postgres: Server, mongo: Server, scoring_service: services.ServiceProcess
) -> AsyncIterator[WebhookStack]:
    """The single stack's settings with an activity service: imports and their callbacks."""
    from tests import webhook_stack

    async with webhook_stack.stack(
        postgres, scoring_service, 1, webhook_stack.SINGLE, mongo
    ) as built:
        yield built


@pytest_asyncio.fixture(scope="session")
async def webhook_pair(
    postgres: Server, scoring_service: services.ServiceProcess
) -> AsyncIterator[WebhookStack]:
    """The same with two replicas, for breakers shared and replicas killed."""
    from tests import webhook_stack

    async with webhook_stack.stack(postgres, scoring_service, 2, webhook_stack.PAIR) as built:
        yield built
