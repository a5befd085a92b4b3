"""gRPC glue of sign-in sessions (fitmesh.user.v1.SessionService) and the token pair a
login or a refresh answers with."""

from __future__ import annotations

from typing import Any

import grpc

from fitmesh.user.v1 import sessions_pb2 as spb
from fitmesh.user.v1 import sessions_pb2_grpc
from fitmesh.user.v1 import user_pb2 as pb
from servicekit.errors import NotFound, PermissionDenied, Violations
from servicekit.protofields import timestamp
from user_service import rules
from user_service.rules import parse_id
from user_service.security import Passwords, Tokens
from user_service.sessions import Issued, Sessions, revoke_all
from user_service.store import Store

Context = grpc.aio.ServicerContext[Any, Any]


def token_pair(tokens: Tokens, sessions: Sessions, issued: Issued) -> pb.AuthenticateResponse:
    return pb.AuthenticateResponse(
        access_token=tokens.issue(str(issued.user_id), str(issued.session_id)),
        token_type="bearer",  # noqa: S106 - the OAuth token type, not a secret
        expires_in=tokens.ttl_seconds,
        user_id=str(issued.user_id),
        refresh_token=issued.refresh_token,
        refresh_expires_in=int(sessions.refresh_ttl.total_seconds()),
        session_id=str(issued.session_id),
    )


class SessionServicer(sessions_pb2_grpc.SessionServiceServicer):
    def __init__(
        self, store: Store, sessions: Sessions, tokens: Tokens, passwords: Passwords
    ) -> None:
        self.store, self.sessions, self.tokens, self.passwords = store, sessions, tokens, passwords

    async def Refresh(self, request: spb.RefreshRequest, context: Context) -> spb.RefreshResponse:
        issued = await self.sessions.rotate(request.refresh_token)
        return spb.RefreshResponse(tokens=token_pair(self.tokens, self.sessions, issued))

    async def Logout(self, request: spb.LogoutRequest, context: Context) -> spb.LogoutResponse:
        await self.sessions.logout(request.refresh_token)
        return spb.LogoutResponse()

    async def ChangePassword(
        self, request: spb.ChangePasswordRequest, context: Context
    ) -> spb.ChangePasswordResponse:
        v = Violations()
        user_id = parse_id(v, "user_id", request.user_id)
        keep = parse_id(v, "session_id", request.session_id) if request.session_id else None
        rules.check_password(v, request.new_password, "new_password")
        if request.new_password == request.current_password:
            v.add("new_password", "must differ from the current password")
        v.raise_if_any()
        stored = await self.store.password_hash(user_id)
        if stored is None:
            raise NotFound("no such user")
        if not await self.passwords.verify(stored, request.current_password):
            raise PermissionDenied("the current password is not right")
        new_hash = await self.passwords.hash(request.new_password)
        async with self.store.transaction() as conn:
            await conn.execute(
                "UPDATE users SET password_hash = %s, updated_at = now() WHERE user_id = %s",
                (new_hash, user_id),
            )
            revoked = await revoke_all(conn, user_id, keep, "password")
        await self.sessions.announce()
        return spb.ChangePasswordResponse(revoked=revoked)

    async def ListSessions(
        self, request: spb.ListSessionsRequest, context: Context
    ) -> spb.ListSessionsResponse:
        v = Violations()
        user_id = parse_id(v, "user_id", request.user_id)
        v.raise_if_any()
        return spb.ListSessionsResponse(
            sessions=[
                spb.Session(
                    session_id=str(row["session_id"]),
                    user_agent=row["user_agent"],
                    created_at=timestamp(row["created_at"]),
                    last_used_at=timestamp(row["last_used_at"]),
                    expires_at=timestamp(row["expires_at"]),
                )
                for row in await self.sessions.live(user_id)
            ]
        )

    async def RevokeSession(
        self, request: spb.RevokeSessionRequest, context: Context
    ) -> spb.RevokeSessionResponse:
        v = Violations()
        user_id = parse_id(v, "user_id", request.user_id)
        session_id = parse_id(v, "session_id", request.session_id)
        v.raise_if_any()
        await self.sessions.revoke(user_id, session_id)
        return spb.RevokeSessionResponse()
