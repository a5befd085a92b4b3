"""The suite under load: PostgreSQL, Redis and FerretDB on PostgreSQL (or the servers named
by TEST_DATABASE_URL, TEST_REDIS_URL, TEST_MONGODB_URL), two replicas of every gRPC
service, two gateways, the grpc-gateway peer pointed at the same service replicas, and as
many processes of the bare reference app (bench/bare.py) as there are gateways, on the
same Redis."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from bench.tools import tool
from devstack import services
from devstack.__main__ import suite_database
from devstack.servers import (
    Server,
    free_port,
    start_mongo,
    start_postgres,
    start_redis,
    wait_for_port,
)
from servicekit.keys import DEVELOPMENT

REPLICAS = 2
# All load comes from one address and a few users, so the per-address and per-user limits
# are raised; every request still pays for the check (a Redis round trip).
UNLIMITED = "1000000/minute"


@dataclass
class Suite:
    postgres: Server
    redis: Server
    mongo: Server
    database_url: str
    env: dict[str, str]
    user: list[services.ServiceProcess] = field(default_factory=list)
    activity: list[services.ServiceProcess] = field(default_factory=list)
    scoring: list[services.ServiceProcess] = field(default_factory=list)
    gateways: list[services.HttpProcess] = field(default_factory=list)
    bare: list[services.HttpProcess] = field(default_factory=list)
    # What the gateways run with: the suite's settings and every replica's address.
    gateway_env: dict[str, str] = field(default_factory=dict)
    peer_url: str = ""


def database(server_url: str, name: str) -> str:
    """A fresh database on the server (FerretDB keeps its collections there)."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return server_url.rsplit("/", 1)[0] + "/" + name


def _addrs(processes: list[services.ServiceProcess]) -> str:
    return ",".join(p.address for p in processes)


async def _replicas(module: str, env: dict[str, str]) -> list[services.ServiceProcess]:
    return [await services.start(module, env) for _ in range(REPLICAS)]


@contextlib.asynccontextmanager
async def running(log_level: str) -> AsyncIterator[Suite]:
    keys = tempfile.mkdtemp(prefix="fitmesh-bench-keys-")
    os.environ["FITMESH_DEV_KEYS_DIR"] = keys  # the bench issues tokens with the same key
    with contextlib.ExitStack() as stack:
        postgres = start_postgres()
        stack.callback(postgres.close)
        redis = start_redis()
        stack.callback(redis.close)
        mongo = start_mongo(database(postgres.url, "ferretdb"))
        stack.callback(mongo.close)
        database_url = suite_database(postgres.url)
        env = {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis.url,
            "MONGODB_URL": mongo.url,
            "FITMESH_DEV_KEYS_DIR": keys,
            "ENVIRONMENT": DEVELOPMENT,  # keys from FITMESH_DEV_KEYS_DIR
            "LOG_LEVEL": log_level,
            "RATE_LIMIT_IP": UNLIMITED,
            "RATE_LIMIT_USER": UNLIMITED,
            "RATE_LIMIT_AUTH": UNLIMITED,
            # The webhook receivers run in the bench, on loopback, over plain http.
            "WEBHOOK_ALLOW_HTTP": "true",
            "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        }
        migrate = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "user_service",
            "migrate",
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
        )
        if await migrate.wait() != 0:
            raise RuntimeError("migrations failed")
        suite = Suite(postgres, redis, mongo, database_url, env)
        try:
            suite.scoring = await _replicas("scoring_service", env)
            backends = {**env, "SCORING_SERVICE_ADDRS": _addrs(suite.scoring)}
            suite.user = await _replicas("user_service", backends)
            suite.activity = await _replicas("activity_service", backends)
            suite.gateway_env = {
                **backends,
                "USER_SERVICE_ADDRS": _addrs(suite.user),
                "ACTIVITY_SERVICE_ADDRS": _addrs(suite.activity),
            }
            for _ in range(REPLICAS):
                suite.gateways.append(await services.start_http("gateway", suite.gateway_env))
            bare_env = {"REDIS_URL": redis.url}
            for _ in suite.gateways:
                suite.bare.append(await services.start_http("bench.bare", bare_env))
            suite.peer_url = stack.enter_context(_peer(suite))
            yield suite
        finally:
            for http in [*suite.gateways, *suite.bare]:
                http.stop()
            for process in [*suite.user, *suite.activity, *suite.scoring]:
                process.stop()


@contextlib.contextmanager
def _peer(suite: Suite) -> Iterator[str]:
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="fitmesh-peer-", suffix=".log")[1])
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                tool("fitmesh-grpc-gateway"),
                f"-listen=127.0.0.1:{port}",
                f"-activity={_addrs(suite.activity)}",
                f"-user={_addrs(suite.user)}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, proc, "grpc-gateway peer")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
