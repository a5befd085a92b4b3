"""gRPC glue of fitmesh.user.v1.AuditService, served beside UserService: validate, read the
audit store, shape the answer. Records are written by the stream's consumer, not here."""

from __future__ import annotations

from typing import Any

import grpc

from fitmesh.user.v1 import audit_pb2 as pb
from fitmesh.user.v1 import audit_pb2_grpc
from servicekit import pagination
from servicekit.errors import FieldViolation, InvalidArgument, Violations
from servicekit.protoenum import enum_number
from servicekit.protofields import timestamp
from user_service.audit_store import AuditStore
from user_service.rules import parse_id
from user_service.store import Row

Context = grpc.aio.ServicerContext[Any, Any]


def record_proto(row: Row) -> pb.AuditRecord:
    return pb.AuditRecord(
        seq=row["seq"],
        record_id=row["record_id"],
        at=timestamp(row["at"]),
        actor_id=str(row["actor_id"] or ""),
        action=enum_number(pb.AuditAction, row["action"]) or 0,  # type: ignore[arg-type]
        resource=row["resource"],
        result=row["result"],
        request_id=row["request_id"],
        prev_hash=bytes(row["prev_hash"]),
        hash=bytes(row["hash"]),
    )


def _before(token: str) -> int | None:
    """The position a page token continues before (pages go from newest to oldest)."""
    after = pagination.decode(token)
    if after is None:
        return None
    position = after[1]
    if not position.isdigit() or int(position) < 1:
        raise InvalidArgument([FieldViolation("page_token", "is not a valid page token")])
    return int(position)


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    def __init__(self, store: AuditStore) -> None:
        self.store = store

    async def ListAudit(
        self, request: pb.ListAuditRequest, context: Context
    ) -> pb.ListAuditResponse:
        v = Violations()
        user_id = parse_id(v, "user_id", request.user_id)
        v.raise_if_any()
        limit = pagination.page_size(request.page_size)
        rows = await self.store.page(user_id, limit, _before(request.page_token))
        page, token = pagination.split(rows, limit, "at", "seq")
        return pb.ListAuditResponse(records=[record_proto(r) for r in page], next_page_token=token)

    async def VerifyAudit(
        self, request: pb.VerifyAuditRequest, context: Context
    ) -> pb.VerifyAuditResponse:
        v = Violations()
        user_id = parse_id(v, "user_id", request.user_id)
        v.raise_if_any()
        verdict = await self.store.verify(user_id)
        reply = pb.VerifyAuditResponse(
            intact=verdict.broken is None,
            records_checked=verdict.checked,
            head_hash=verdict.head.hash if verdict.head.seq else b"",
        )
        if verdict.broken is not None:
            reply.broken_seq = verdict.broken.seq
            reply.problem = verdict.broken.problem
        if verdict.broken_row is not None:
            reply.broken_record.CopyFrom(record_proto(verdict.broken_row))
        return reply
