"""Response bodies of the audit routes: an account's audit records and the check of their
hash chain (the proto's bytes as hex)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from fitmesh.user.v1 import audit_pb2 as pb
from servicekit.protoenum import enum_name
from servicekit.protofields import to_datetime

Action = Literal["read", "create", "update", "delete", "export", "erase"]


class AuditRecord(BaseModel):
    seq: int = Field(description="Position in the account's hash chain, from 1.")
    at: dt.datetime = Field(description="When the gateway answered the request.")
    actor_id: str = Field(description="The user whose token made the request.")
    action: Action
    resource: str = Field(
        description='What it was done to: "profile", "workout:<id>", "metrics:heart_rate"…'
    )
    result: int = Field(description="The HTTP status of the answer.")
    request_id: str = Field(description="The request's X-Request-ID.")
    prev_hash: str = Field(description="Hex SHA-256 of the record before (zeros for the first).")
    hash: str = Field(description="Hex SHA-256 of prev_hash and this record's canonical form.")

    @classmethod
    def from_proto(cls, r: pb.AuditRecord) -> AuditRecord:
        return cls(
            seq=r.seq,
            at=to_datetime(r.at),
            actor_id=r.actor_id,
            action=enum_name(pb.AuditAction, r.action),
            resource=r.resource,
            result=r.result,
            request_id=r.request_id,
            prev_hash=r.prev_hash.hex(),
            hash=r.hash.hex(),
        )


class AuditPage(BaseModel):
    items: list[AuditRecord] = Field(description="Newest first.")
    next_cursor: str | None


class BrokenRecord(BaseModel):
    seq: int = Field(description="Position of the first record that breaks the chain.")
    problem: str = Field(description="How it breaks it.")
    record: AuditRecord | None = Field(description="That record as stored; null when missing.")


class AuditVerification(BaseModel):
    intact: bool = Field(description="Whether every record holds and follows the one before.")
    records_checked: int
    head_hash: str | None = Field(description="Hex hash of the chain's last record.")
    first_broken: BrokenRecord | None

    @classmethod
    def from_proto(cls, reply: pb.VerifyAuditResponse) -> AuditVerification:
        broken = None
        if not reply.intact:
            record = reply.broken_record if reply.HasField("broken_record") else None
            broken = BrokenRecord(
                seq=reply.broken_seq,
                problem=reply.problem,
                record=AuditRecord.from_proto(record) if record else None,
            )
        return cls(
            intact=reply.intact,
            records_checked=reply.records_checked,
            head_hash=reply.head_hash.hex() or None,
            first_broken=broken,
        )
