"""Sign-in sessions, as the routes see them: refresh, logout, password change, the list."""

from __future__ import annotations

from fitmesh.user.v1 import sessions_pb2 as spb
from fitmesh.user.v1 import sessions_pb2_grpc
from gateway import responses
from gateway.clients.backend import Backend
from servicekit.protofields import to_datetime

SERVICE = "fitmesh.user.v1.SessionService"
# Refresh is not among them: a repeat of one that went through would be reuse, and reuse
# signs the session out. Logout of a revoked session answers as the first one did.
IDEMPOTENT = ("Logout", "ListSessions")


class Sessions:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.stub = sessions_pb2_grpc.SessionServiceStub(backend.channel)

    async def refresh(self, refresh_token: str) -> responses.LoginResponse:
        reply = await self.backend.call(
            self.stub.Refresh, spb.RefreshRequest(refresh_token=refresh_token)
        )
        return responses.LoginResponse.from_proto(reply.tokens)

    async def logout(self, refresh_token: str) -> None:
        await self.backend.call(self.stub.Logout, spb.LogoutRequest(refresh_token=refresh_token))

    async def change_password(
        self, user_id: str, current: str, new: str, keep_session: str
    ) -> responses.PasswordChanged:
        reply = await self.backend.call(
            self.stub.ChangePassword,
            spb.ChangePasswordRequest(
                user_id=user_id,
                current_password=current,
                new_password=new,
                session_id=keep_session,
            ),
        )
        return responses.PasswordChanged(signed_out=reply.revoked)

    async def list(self, user_id: str, current: str) -> responses.SignInSessions:
        reply = await self.backend.call(
            self.stub.ListSessions, spb.ListSessionsRequest(user_id=user_id)
        )
        return responses.SignInSessions(
            sessions=[
                responses.SignInSession(
                    session_id=s.session_id,
                    user_agent=s.user_agent,
                    created_at=to_datetime(s.created_at),
                    last_used_at=to_datetime(s.last_used_at),
                    expires_at=to_datetime(s.expires_at),
                    current=s.session_id == current,
                )
                for s in reply.sessions
            ]
        )

    async def revoke(self, user_id: str, session_id: str) -> None:
        await self.backend.call(
            self.stub.RevokeSession,
            spb.RevokeSessionRequest(user_id=user_id, session_id=session_id),
        )
