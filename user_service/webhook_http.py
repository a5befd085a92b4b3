"""HTTP to receivers: the subscription challenge and the POST of a delivery, over one
httpx client whose every connection is checked against the address rule.

The check is made where the connection is made: the host is resolved (getaddrinfo, in a
thread), every address it resolves to must pass the rule, and the socket is opened to one of
those very addresses. Checking a URL first and letting the client resolve it again would
leave a gap a DNS answer that changes in between (rebinding) walks through. TLS still
verifies the certificate against the host name. No proxy from the environment (it would
connect for us), no redirects followed, and no more of an answer read than a small cap."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import secrets
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import httpcore
import httpx

from servicekit.errors import FailedPrecondition, FieldViolation, InvalidArgument
from user_service.webhook_rules import AddressRule, IpAddress, host_and_port

USER_AGENT = "fitmesh-webhooks/1"
MAX_ANSWER = 4096  # bytes of an answer read: enough for a challenge, and an error's start


class AddressRefused(Exception):
    """The receiver's host resolves to an address the rule refuses."""


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the rule allows."""

    def __init__(self, rule: AddressRule) -> None:
        self.rule = rule
        self.inner = httpcore.AnyIOBackend()

    async def resolve(self, host: str, port: int, timeout: float | None) -> list[IpAddress]:
        try:
            addresses = [ipaddress.ip_address(host)]  # a literal needs no resolver
        except ValueError:
            addresses = await self._lookup(host, port, timeout)
        # Every address must pass: which one a connection uses is not ours to promise.
        for address in addresses:
            if refusal := self.rule.refusal(address):
                raise AddressRefused(f"{host} resolves to {refusal}, which is not allowed")
        return addresses

    async def _lookup(self, host: str, port: int, timeout: float | None) -> list[IpAddress]:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}") from exc
        return list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in found))

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        failure: Exception = httpcore.ConnectError(f"no address for {host}")
        for address in await self.resolve(host, port, timeout):
            try:
                return await self.inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool with the guarded backend. httpx has no
    parameter for a network backend and httpcore's pool does, so the pool httpx made is
    replaced by one made the same way with it."""

    def __init__(self, rule: AddressRule, limits: httpx.Limits) -> None:
        super().__init__(trust_env=False, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(rule),
        )


def client(rule: AddressRule, connect_timeout: float, timeout: float) -> httpx.AsyncClient:
    # httpx logs each request at INFO with its URL, whose query may hold a verify token;
    # the sender logs one line of its own per attempt.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return httpx.AsyncClient(
        transport=GuardedTransport(rule, httpx.Limits(max_connections=None)),
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        follow_redirects=False,
        trust_env=False,
        headers={"user-agent": USER_AGENT},
    )


@dataclass(frozen=True)
class Answer:
    """What one request came to: the status (None without an answer), its time, the error
    that stopped it, the Retry-After it carried, and whether the address was refused."""

    status: int | None
    latency_ms: int
    error: str = ""
    retry_after: str | None = None
    refused: bool = False
    body: bytes = b""


def _error(exc: Exception) -> str:
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect: {exc}"[:200]
    return f"{type(exc).__name__}: {exc}"[:200]


async def request(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    timeout: float,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> Answer:
    """One request, bounded as a whole by `timeout`; only the start of the answer is read."""
    started = time.perf_counter()

    def elapsed() -> int:
        return round((time.perf_counter() - started) * 1000)

    try:
        async with (
            asyncio.timeout(timeout),
            http.stream(method, url, content=body, headers=headers) as response,
        ):
            head = bytearray()
            async for chunk in response.aiter_raw():
                head += chunk
                if len(head) >= MAX_ANSWER:
                    break
            status = response.status_code
            retry_after = response.headers.get("retry-after")
    except AddressRefused as exc:
        return Answer(None, elapsed(), str(exc), refused=True)
    except (httpx.HTTPError, httpcore.ConnectError, TimeoutError, OSError) as exc:
        return Answer(None, elapsed(), _error(exc))
    error = "" if 200 <= status < 300 else f"HTTP {status}"
    return Answer(status, elapsed(), error, retry_after, body=bytes(head[:MAX_ANSWER]))


async def check_address(rule: AddressRule, url: str, timeout: float, field: str) -> None:
    """Refuse now, naming `field`, a checked URL whose host resolves to an address the rule
    refuses or to none (each attempt checks again where it connects: the answer may change)."""
    host, port = host_and_port(url)
    try:
        await GuardedBackend(rule).resolve(host, port, timeout)
    except (AddressRefused, httpcore.ConnectError) as exc:
        raise InvalidArgument([FieldViolation(field, str(exc))], f"{field}: {exc}") from None


async def challenge(http: httpx.AsyncClient, url: str, verify_token: str, timeout: float) -> None:
    """Strava's subscription check: GET the URL with hub.mode=subscribe, a random
    hub.challenge and the client's hub.verify_token; the receiver must echo the challenge
    as {"hub.challenge": ...} within `timeout`. A refused address is a bad URL; any other
    failure is the receiver's, named in the error."""
    token = secrets.token_urlsafe(24)
    params = {"hub.mode": "subscribe", "hub.challenge": token, "hub.verify_token": verify_token}
    # Added to the URL's own query (httpx's `params` would replace it).
    answer = await request(http, "GET", str(httpx.URL(url).copy_merge_params(params)), timeout)
    if answer.refused:
        raise InvalidArgument([FieldViolation("url", answer.error)])
    if answer.status is None:
        raise FailedPrecondition(f"{url} did not answer the challenge: {answer.error}")
    if not 200 <= answer.status < 300:
        raise FailedPrecondition(f"{url} answered the challenge with HTTP {answer.status}")
    try:
        echoed = json.loads(answer.body).get("hub.challenge")
    except (ValueError, AttributeError):
        echoed = None
    if echoed != token:
        raise FailedPrecondition(
            f'{url} did not echo the challenge: answer {{"hub.challenge": "<the hub.challenge '
            f'parameter>"}} as JSON'
        )
