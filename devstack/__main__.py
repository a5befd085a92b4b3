"""`python -m devstack run`: the whole suite on this machine, without Docker.

PostgreSQL, Redis and a MongoDB wire-protocol server (FerretDB) run in throwaway
directories unless DATABASE_URL, REDIS_URL or MONGODB_URL name servers to use; migrations
run once; two replicas of every gRPC service and two gateways (http://localhost:8000 and
:8001) follow. supervisord runs them all and restarts whatever dies. Ctrl-C or SIGTERM stops
everything, servers included."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Callable

import psycopg

from devstack.servers import Server, prepare_mongo, prepare_postgres, prepare_redis
from devstack.supervision import Program, Supervisor

SERVICES = (  # name, module, first gRPC port, first metrics port
    ("user", "user_service", 50051, 9101),
    ("activity", "activity_service", 50052, 9102),
    ("scoring", "scoring_service", 50053, 9103),
)
REPLICA_STEP = 10  # the second replica listens 10 ports above the first
GATEWAY_PORTS = (8000, 8001)
THROWAWAY: tuple[tuple[str, Callable[[], Server]], ...] = (  # unless the variable names one
    ("DATABASE_URL", prepare_postgres),
    ("REDIS_URL", prepare_redis),
    ("MONGODB_URL", prepare_mongo),
)


def suite_database(url: str) -> str:
    """A `fitmesh` database on a throwaway server (its default one stays clean)."""
    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = 'fitmesh'").fetchone() is None:
            conn.execute("CREATE DATABASE fitmesh")
    return suite_database_url(url)


def suite_database_url(url: str) -> str:
    return url.rsplit("/", 1)[0] + "/fitmesh"


def ports(offset: int) -> list[int]:
    """Every port the suite listens on when moved by `offset`."""
    return [
        int(port)
        for _, _, env in processes(offset)
        for name, port in env.items()
        if name.endswith("_PORT")
    ]


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
                        # Only the gateways and the services themselves call a service:
                        # on a laptop its port is not for the network.
                        "GRPC_HOST": "127.0.0.1",
                        # For grpcurl (the README's example); off unless turned on.
                        "GRPC_REFLECTION": "true",
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
    with contextlib.ExitStack() as cleanup:
        urls: dict[str, str] = {}
        servers: dict[str, Server] = {}
        for variable, prepare in THROWAWAY:
            if given := os.environ.get(variable):
                urls[variable] = given
                continue
            server = prepare()
            cleanup.callback(server.close)
            urls[variable] = server.url
            if server.command:  # else a server named by a TEST_*_URL
                servers[variable] = server
        if "DATABASE_URL" not in os.environ:
            urls["DATABASE_URL"] = suite_database_url(urls["DATABASE_URL"])
        env = {
            # Keys left unset are made once and shared; anywhere else they are required.
            "ENVIRONMENT": "development",
            # A webhook receiver on this machine (README "Webhooks").
            "WEBHOOK_ALLOW_HTTP": "true",
            "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128",
            **os.environ,
            **urls,
            "PYTHONUNBUFFERED": "1",
            **addresses(offset),
        }
        supervisor = Supervisor(
            [
                Program(
                    s.name,
                    s.command,
                    log=s.log,
                    stop_signal=signal.Signals(s.stop_signal).name.removeprefix("SIG"),
                )
                for s in servers.values()
            ],
            [
                Program(name, [sys.executable, "-m", module], extra)
                for name, module, extra in processes(offset)
            ],
            env,
        )
        cleanup.callback(supervisor.close)
        supervisor.start()
        for server in servers.values():
            server.wait_ready()
            print(f"devstack: {server.name} on {server.url}", flush=True)
        if "DATABASE_URL" in servers:
            suite_database(servers["DATABASE_URL"].url)
        subprocess.run([sys.executable, "-m", "user_service", "migrate"], env=env, check=True)
        supervisor.start_suite()
        print(f"devstack: uv run supervisorctl -c {supervisor.conf} status", flush=True)
        return supervisor.wait()


def appending_stdout() -> None:
    """supervisord's processes write to the terminal through /dev/stdout, each on a file
    description of its own: when stdout is a file, they must all append, or each writes at
    its own offset over the others' lines."""
    with contextlib.suppress(OSError):
        if stat.S_ISREG(os.fstat(1).st_mode):
            fcntl.fcntl(1, fcntl.F_SETFL, fcntl.fcntl(1, fcntl.F_GETFL) | os.O_APPEND)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("run", help="run the whole suite until Ctrl-C")
    start.add_argument(
        "--offset", type=int, default=0, help="add this to every port (to run beside another suite)"
    )
    args = parser.parse_args(argv)
    appending_stdout()
    # SIGTERM stops the suite as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return run(args.offset)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
