"""The audit log of an account's personal data: its records, and the check of their chain."""

from __future__ import annotations

from fastapi import APIRouter

from gateway import audit_responses as out
from gateway.deps import Authenticated, Svc
from gateway.routes.users import Cursor, Limit

router = APIRouter(tags=["audit"])


# Not audited themselves: reading the log would add to it at every page.
@router.get("/users/{user_id}/audit", response_model=out.AuditPage)
async def audit_log(
    user_id: str, caller: Authenticated, svc: Svc, limit: Limit = 20, cursor: Cursor = None
) -> out.AuditPage:
    """Who read or wrote this account's personal data (profile, goals, workouts, metrics,
    meals, export, erasure): one record per request, with the action, the resource, the
    HTTP status and the request id, newest first. A record arrives within about a second of
    its request. Only the account's owner may read it."""
    caller.owns(user_id)
    return await svc.clients.audit.records(user_id, limit, cursor)


@router.get("/users/{user_id}/audit/verify", response_model=out.AuditVerification)
async def verify_audit(user_id: str, caller: Authenticated, svc: Svc) -> out.AuditVerification:
    """Recompute the account's hash chain from its first record: whether it holds, and if
    not, the first record that breaks it (changed, missing or out of place)."""
    caller.owns(user_id)
    return await svc.clients.audit.verify(user_id)
