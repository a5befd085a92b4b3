"""Access tokens are verified with the public key alone; a user reaches only their own data."""

from __future__ import annotations

import time
from typing import Annotated

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from servicekit import keys

VERIFIED_TOKENS = 10_000
bearer = HTTPBearer(auto_error=False, description="An access token from POST /users/login.")


class Verifier:
    def __init__(self, public_key_setting: str, issuer: str) -> None:
        pem = (
            keys.read_pem(public_key_setting)
            if public_key_setting
            else keys.public_from_private(keys.dev_private_key())
        )
        # Parsed once: PyJWT would parse a PEM again on every verification.
        key = load_pem_public_key(pem)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the token public key must be an Ed25519 key")
        self.public_key = key
        self._verified: dict[str, tuple[str, float]] = {}  # token -> (subject, expiry)
        self.issuer = issuer

    def subject(self, token: str) -> str:
        """The user id a token speaks for; raises jwt.InvalidTokenError when it speaks for none.
        A token seen before is known until it expires: clients send the same one for
        minutes, and a signature check costs more than the rest of a cached read."""
        known = self._verified.get(token)
        if known is not None and known[1] > time.time():
            return known[0]
        claims = jwt.decode(
            token,
            self.public_key,
            algorithms=["EdDSA"],
            issuer=self.issuer,
            options={"require": ["sub", "exp", "iat", "jti"]},
        )
        if len(self._verified) >= VERIFIED_TOKENS:
            del self._verified[next(iter(self._verified))]  # the oldest entry
        subject = str(claims["sub"])
        self._verified[token] = (subject, float(claims["exp"]))
        return subject


def verified_subject(request: Request, token: str) -> str:
    """The token's user, verified once per request (the rate limiter and the route both ask)."""
    memo = getattr(request.state, "token_check", None)
    if memo is None or memo[0] != token:
        verifier: Verifier = request.app.state.verifier
        try:
            memo = (token, verifier.subject(token))
        except jwt.InvalidTokenError as exc:
            memo = (token, exc)
        request.state.token_check = memo
    if isinstance(memo[1], jwt.InvalidTokenError):
        raise memo[1]
    return str(memo[1])


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        401, detail, headers={"WWW-Authenticate": 'Bearer realm="fitmesh", error="invalid_token"'}
    )


async def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    if credentials is None:
        raise HTTPException(
            401,
            "an access token is required",
            headers={"WWW-Authenticate": 'Bearer realm="fitmesh"'},
        )
    try:
        user_id = verified_subject(request, credentials.credentials)
    except jwt.ExpiredSignatureError as exc:
        raise unauthorized("the access token has expired") from exc
    except jwt.InvalidTokenError as exc:
        raise unauthorized("the access token is not valid") from exc
    request.state.user_id = user_id
    return user_id


CurrentUser = Annotated[str, Depends(current_user)]


def owner(user_id: str, caller: str) -> None:
    if user_id != caller:
        raise HTTPException(403, "you can only reach your own data")
