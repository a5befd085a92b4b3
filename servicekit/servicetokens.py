"""Service tokens: the credential every internal gRPC call carries, and its check.

A caller sends `authorization: Bearer <token>`, an EdDSA JWT signed with SERVICE_SIGNING_KEY
whose `sub` is the calling service and `aud` the called one, good for five minutes. The
caller mints one per audience and reuses it until a minute before it expires, so signing is
not on the call path. A service verifies signature, audience and expiry with
SERVICE_VERIFY_KEY, then that the caller is one `CALLERS` lets in: a missing or bad token is
UNAUTHENTICATED, a good token from a service that may not call this one PERMISSION_DENIED.

grpc.health.v1 stays open (kubelet and grpc_health_probe carry no token), and so does
reflection where GRPC_REFLECTION turns it on: it only describes the public protos.

`python -m servicekit.servicetokens AUDIENCE [--caller NAME]` prints a token, for grpcurl."""

from __future__ import annotations

import argparse
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

import grpc
import jwt
import structlog
from cryptography.hazmat.primitives import serialization

from servicekit import keys

log = structlog.get_logger("servicetokens")

GATEWAY = "gateway"
USER_SERVICE = "user_service"
ACTIVITY_SERVICE = "activity_service"
SCORING_SERVICE = "scoring_service"

# Who may call whom: the same graph deploy/'s NetworkPolicies draw (tests/test_deploy.py
# holds them to it). The gateway asks scoring only for its grpc.health.v1 status (open).
CALLERS: Mapping[str, frozenset[str]] = {
    USER_SERVICE: frozenset({GATEWAY}),
    ACTIVITY_SERVICE: frozenset({GATEWAY}),
    SCORING_SERVICE: frozenset({ACTIVITY_SERVICE, USER_SERVICE}),
}
OPEN_SERVICES = frozenset({"grpc.health.v1.Health"})
REFLECTION_SERVICES = frozenset(
    {"grpc.reflection.v1alpha.ServerReflection", "grpc.reflection.v1.ServerReflection"}
)

TTL_SECONDS = 300
# Re-minted this long before expiry, so no token expires while a call is in flight.
RENEW_SECONDS = 60
# Longer-lived tokens are refused: whoever holds one gets a short window, whatever it says.
MAX_TTL_SECONDS = 600
# Clock skew allowed between pods.
LEEWAY_SECONDS = 5
# Verified tokens are remembered (each caller reuses one for minutes) so a call costs a
# dictionary lookup, not a signature check; only tokens that verified are kept.
VERIFIED_CACHE_SIZE = 1024
METADATA_KEY = "authorization"
ALGORITHM = "EdDSA"

Clock = Callable[[], float]


class Minter:
    """The caller's side: a token per audience, cached until shortly before it expires."""

    def __init__(
        self,
        caller: str,
        private_pem: bytes,
        ttl_seconds: int = TTL_SECONDS,
        clock: Clock = time.time,
    ) -> None:
        self.caller = caller
        self._key = serialization.load_pem_private_key(private_pem, password=None)
        self._ttl = ttl_seconds
        self._clock = clock
        self._tokens: dict[str, tuple[str, float]] = {}

    @classmethod
    def from_setting(cls, caller: str, setting: str, environment: str) -> Minter:
        """With SERVICE_SIGNING_KEY's value; a MissingKeyError names it when it is unset."""
        return cls(caller, keys.service_signing_key(setting, environment))

    def token(self, audience: str) -> str:
        now = self._clock()
        cached = self._tokens.get(audience)
        if cached and cached[1] - now > RENEW_SECONDS:
            return cached[0]
        expires = int(now) + self._ttl
        claims = {
            "sub": self.caller,
            "aud": audience,
            "iat": int(now),
            "exp": expires,
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM)  # type: ignore[arg-type]
        self._tokens[audience] = (token, expires)
        return token

    def interceptors(self, audience: str) -> list[grpc.aio.ClientInterceptor]:
        """Client interceptors that put a token for `audience` on every call of a channel."""
        return [
            _UnaryUnary(self, audience),
            _UnaryStream(self, audience),
            _StreamUnary(self, audience),
            _StreamStream(self, audience),
        ]


class _Bearer:
    def __init__(self, minter: Minter, audience: str) -> None:
        self._minter, self._audience = minter, audience

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        # A copy: a caller's Metadata object may be reused for other calls.
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        metadata[METADATA_KEY] = f"Bearer {self._minter.token(self._audience)}"
        return details._replace(metadata=metadata)  # type: ignore[attr-defined, no-any-return]


class _UnaryUnary(_Bearer, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(
        self, continuation: Any, client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._details(client_call_details), request)


class _UnaryStream(_Bearer, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(
        self, continuation: Any, client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(self._details(client_call_details), request)


class _StreamUnary(_Bearer, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(
        self,
        continuation: Any,
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return await continuation(self._details(client_call_details), request_iterator)


class _StreamStream(_Bearer, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(
        self,
        continuation: Any,
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return await continuation(self._details(client_call_details), request_iterator)


class Refused(Exception):
    """A call without a credential this service accepts. `detail` goes to the caller,
    `reason` to the log; neither holds token material."""

    def __init__(
        self, code: grpc.StatusCode, reason: str, detail: str, caller: str | None = None
    ) -> None:
        super().__init__(detail)
        self.code, self.reason, self.detail, self.caller = code, reason, detail, caller


def _unauthenticated(reason: str, detail: str) -> Refused:
    return Refused(grpc.StatusCode.UNAUTHENTICATED, reason, f"service token {detail}")


class Verifier:
    """The called service's side: who is calling, or Refused."""

    def __init__(
        self,
        service: str,
        public_pem: bytes,
        callers: Collection[str] | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.service = service
        self.callers = frozenset(CALLERS.get(service, ()) if callers is None else callers)
        self._key = serialization.load_pem_public_key(public_pem)
        self._clock = clock
        self._verified: dict[str, tuple[str, float]] = {}

    @classmethod
    def from_setting(cls, service: str, setting: str, environment: str) -> Verifier:
        """With SERVICE_VERIFY_KEY's value; a MissingKeyError names it when it is unset."""
        return cls(service, keys.service_verifying_key(setting, environment))

    def caller(self, authorization: str | None) -> str:
        """The calling service named by an `authorization` metadata value."""
        if not authorization:
            raise _unauthenticated(
                "missing", "missing: send `authorization: Bearer <service token>`"
            )
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthenticated("malformed", "malformed: expected `Bearer <service token>`")
        caller = self._verify(token.strip())
        if caller not in self.callers:
            raise Refused(
                grpc.StatusCode.PERMISSION_DENIED,
                "caller_not_allowed",
                f"{caller} may not call {self.service}",
                caller,
            )
        return caller

    def _verify(self, token: str) -> str:
        now = self._clock()
        known = self._verified.get(token)
        if known is not None:
            if now <= known[1] + LEEWAY_SECONDS:
                return known[0]
            del self._verified[token]
            raise _unauthenticated("expired", "expired")
        try:
            claims = jwt.decode(
                token,
                self._key,  # type: ignore[arg-type]
                algorithms=[ALGORITHM],
                audience=self.service,
                # Times are checked below, against this verifier's clock.
                options={
                    "require": ["sub", "aud", "iat", "exp"],
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
            caller, issued, expires = claims["sub"], float(claims["iat"]), float(claims["exp"])
        except jwt.InvalidAudienceError:
            raise _unauthenticated("wrong_audience", f"is not for {self.service}") from None
        except (jwt.InvalidTokenError, TypeError, ValueError):
            raise _unauthenticated("invalid", "invalid") from None
        if now > expires + LEEWAY_SECONDS:
            raise _unauthenticated("expired", "expired")
        too_long = expires - issued > MAX_TTL_SECONDS
        if not isinstance(caller, str) or too_long or issued > now + LEEWAY_SECONDS:
            raise _unauthenticated("invalid", "invalid")
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = (caller, expires)
        return caller


def _authorization(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key == METADATA_KEY:
            return value if isinstance(value, str) else None
    return None


class ServerInterceptor(grpc.aio.ServerInterceptor):
    """Refuses every call without an accepted service token, except to `open_services`.
    It sits inside the observability interceptor, so a refusal is logged with its request id
    and counted like any other status."""

    def __init__(self, verifier: Verifier, open_services: Collection[str] = OPEN_SERVICES):
        self.verifier = verifier
        self.open_services = frozenset(open_services)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.strip("/").rpartition("/")[0] in self.open_services:
            return handler
        try:
            self.verifier.caller(_authorization(handler_call_details.invocation_metadata))
        except Refused as refused:
            return _refusal(handler, method, refused)
        return handler


def _refusal(handler: Any, method: str, refused: Refused) -> Any:
    """A handler of the same kind that refuses without reading the request."""

    async def refuse(_: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        log.warning("call_refused", method=method, reason=refused.reason, caller=refused.caller)
        await context.abort(refused.code, refused.detail)

    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(refuse)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(refuse)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(refuse)
    return grpc.stream_stream_rpc_method_handler(refuse)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m servicekit.servicetokens",
        description="Print a service token, signed with SERVICE_SIGNING_KEY or, when that is "
        "unset, the development key in FITMESH_DEV_KEYS_DIR (what `make run` uses).",
    )
    parser.add_argument("audience", choices=sorted(CALLERS), help="the service to call")
    parser.add_argument("--caller", help="the calling service (default: one it accepts)")
    args = parser.parse_args(argv)
    caller = args.caller or sorted(CALLERS[args.audience])[0]
    minter = Minter.from_setting(
        caller, os.environ.get("SERVICE_SIGNING_KEY", ""), keys.DEVELOPMENT
    )
    print(minter.token(args.audience))


if __name__ == "__main__":
    main()
