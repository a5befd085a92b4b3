"""Sign-in sessions: refresh, logout, password change and the list of where one is signed in.

A login starts a session (POST /users/login). Its access token lives minutes; its refresh
token is good for one exchange, and a spent one presented again signs the session out,
since two holders share it. A signed-out session's access tokens are refused at once by
every gateway, and its WebSockets are closed (servicekit.revocations)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from gateway import bodies, responses
from gateway.audit import audited
from gateway.deps import Authenticated, AuthRoute, Svc, client_ip
from gateway.errors import ApiError

router = APIRouter(tags=["sessions"])


@router.post("/users/refresh", response_model=responses.LoginResponse, dependencies=[AuthRoute])
async def refresh(body: bodies.RefreshRequest, svc: Svc) -> responses.LoginResponse:
    """A new access token and refresh token for a refresh token, which is then spent. Do not
    retry a refresh whose answer was lost: a second use of a token signs the session out
    (401 either way), and the user signs in again."""
    return await svc.clients.users.sessions.refresh(body.refresh_token)


@router.post("/users/logout", status_code=204, dependencies=[AuthRoute])
async def logout(body: bodies.RefreshRequest, svc: Svc) -> Response:
    """Signs out the session of a refresh token. Answers 204 whatever the token, so a
    repeat is harmless and nothing is learnt about tokens one does not hold."""
    await svc.clients.users.sessions.logout(body.refresh_token)
    return Response(status_code=204)


@router.put("/users/{user_id}/password", response_model=responses.PasswordChanged)
@audited("update", "password")
async def change_password(
    user_id: str,
    body: bodies.PasswordChange,
    caller: Authenticated,
    request: Request,
    svc: Svc,
) -> responses.PasswordChanged:
    """Changes the password (the current one is asked again) and signs out every other
    session; this one stays. A wrong current password is 403, and counts towards the same
    lockout as failed logins."""
    caller.owns(user_id)
    account, ip = f"user:{user_id}", client_ip(request)
    await svc.lockout.check(account, ip)
    try:
        return await svc.clients.users.sessions.change_password(
            user_id, body.current_password, body.new_password, caller.session_id
        )
    except ApiError as error:
        if error.status == 403:
            await svc.lockout.failed(account, ip)
        raise


@router.get("/users/{user_id}/sessions", response_model=responses.SignInSessions)
@audited("read", "sessions")
async def list_sessions(user_id: str, caller: Authenticated, svc: Svc) -> responses.SignInSessions:
    """Where the account is signed in, newest first; `current` marks the caller's."""
    caller.owns(user_id)
    return await svc.clients.users.sessions.list(user_id, caller.session_id)


@router.delete("/users/{user_id}/sessions/{session_id}", status_code=204)
@audited("delete", "session:{session_id}")
async def revoke_session(
    user_id: str, session_id: str, caller: Authenticated, svc: Svc
) -> Response:
    """Signs one session out (a lost phone, say); its tokens stop working at once."""
    caller.owns(user_id)
    await svc.clients.users.sessions.revoke(user_id, session_id)
    return Response(status_code=204)
