"""The audit service, as the routes see it: an account's audit records and the check of
their hash chain. It is served by the user service's replicas, so it shares their channel
and breaker."""

from __future__ import annotations

from fitmesh.user.v1 import audit_pb2 as pb
from fitmesh.user.v1 import audit_pb2_grpc
from gateway import audit_responses as out
from gateway.clients.backend import Backend

SERVICE = "fitmesh.user.v1.AuditService"
IDEMPOTENT = ("ListAudit", "VerifyAudit")


class Audit:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.stub = audit_pb2_grpc.AuditServiceStub(backend.channel)

    async def records(self, user_id: str, limit: int, cursor: str | None) -> out.AuditPage:
        reply = await self.backend.call(
            self.stub.ListAudit,
            pb.ListAuditRequest(user_id=user_id, page_size=limit, page_token=cursor or ""),
        )
        return out.AuditPage(
            items=[out.AuditRecord.from_proto(r) for r in reply.records],
            next_cursor=reply.next_page_token or None,
        )

    async def verify(self, user_id: str) -> out.AuditVerification:
        reply = await self.backend.call(
            self.stub.VerifyAudit, pb.VerifyAuditRequest(user_id=user_id)
        )
        return out.AuditVerification.from_proto(reply)
