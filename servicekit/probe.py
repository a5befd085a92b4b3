"""`python -m servicekit.probe HOST:PORT [SERVICE]`: exit 0 when the gRPC server there
reports SERVING on grpc.health.v1 (for container health checks), 1 otherwise."""

from __future__ import annotations

import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def serving(address: str, service: str = "", timeout: float = 2.0) -> bool:
    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        raise SystemExit("usage: python -m servicekit.probe HOST:PORT [SERVICE]")
    service = sys.argv[2] if len(sys.argv) == 3 else ""
    sys.exit(0 if serving(sys.argv[1], service) else 1)
