"""`python -m devstack run`: the whole suite on this machine, without Docker.

PostgreSQL, Redis and a MongoDB wire-protocol server (FerretDB) start in throwaway
directories unless DATABASE_URL, REDIS_URL or MONGODB_URL name servers to use; migrations
run once; then honcho runs two replicas of every gRPC service and two gateways
(http://localhost:8000 and :8001). Ctrl-C stops everything, servers included."""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator

import psycopg
from honcho.manager import Manager

from devstack.servers import Server, start_mongo, start_postgres, start_redis

SERVICES = (  # name, module, first gRPC port, first metrics port
    ("user", "user_service", 50051, 9101),
    ("activity", "activity_service", 50052, 9102),
    ("scoring", "scoring_service", 50053, 9103),
)
REPLICA_STEP = 10  # the second replica listens 10 ports above the first
GATEWAY_PORTS = (8000, 8001)


@contextlib.contextmanager
def server(variable: str, start: Callable[[], Server]) -> Iterator[str]:
    """The URL in `variable` when it is set, else a throwaway server's."""
    if given := os.environ.get(variable):
        yield given
        return
    started = start()
    print(f"devstack: {started.name} on {started.url}", flush=True)
    try:
        yield started.url
    finally:
        started.close()


def suite_database(url: str) -> str:
    """A `fitmesh` database on a throwaway server (its default one stays clean)."""
    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = 'fitmesh'").fetchone() is None:
            conn.execute("CREATE DATABASE fitmesh")
    return url.rsplit("/", 1)[0] + "/fitmesh"


def processes(offset: int) -> list[tuple[str, str, dict[str, str]]]:
    found = []
    for name, module, grpc_port, metrics_port in SERVICES:
        for replica in (0, 1):
            shift = offset + replica * REPLICA_STEP
            found.append(
                (
                    f"{name}{replica + 1}",
                    module,
                    {
                        "GRPC_PORT": str(grpc_port + shift),
                        "METRICS_PORT": str(metrics_port + shift),
                    },
                )
            )
    for number, port in enumerate(GATEWAY_PORTS, start=1):
        found.append((f"gateway{number}", "gateway", {"HTTP_PORT": str(port + offset)}))
    return found


def addresses(offset: int) -> dict[str, str]:
    return {
        f"{module.split('_')[0].upper()}_SERVICE_ADDRS": ",".join(
            f"127.0.0.1:{port + offset + r * REPLICA_STEP}" for r in (0, 1)
        )
        for _, module, port, _ in SERVICES
    }


def run(offset: int) -> int:
    with (
        server("DATABASE_URL", start_postgres) as postgres_url,
        server("REDIS_URL", start_redis) as redis_url,
        server("MONGODB_URL", start_mongo) as mongo_url,
    ):
        database_url = (
            postgres_url if "DATABASE_URL" in os.environ else suite_database(postgres_url)
        )
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "MONGODB_URL": mongo_url,
            "PYTHONUNBUFFERED": "1",
            **addresses(offset),
        }
        subprocess.run([sys.executable, "-m", "user_service", "migrate"], env=env, check=True)
        manager = Manager()
        for name, module, extra in processes(offset):
            manager.add_process(name, f"{sys.executable} -m {module}", env={**env, **extra})
        manager.loop()
        return manager.returncode or 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("run", help="run the whole suite until Ctrl-C")
    start.add_argument(
        "--offset", type=int, default=0, help="add this to every port (to run beside another suite)"
    )
    args = parser.parse_args(argv)
    return run(args.offset)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
