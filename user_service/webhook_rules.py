"""Webhook rules: what a subscription may be, which addresses it may reach, how a delivery
is signed and when a failed one is tried again. Pure: values in, values or violations out."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import enum
import hashlib
import hmac
import ipaddress
import random
import secrets
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from servicekit.errors import Violations

# The webhook events: the workout stream's own types, a day's metric total (its stream's
# metric.day_total) and goal alerts.
WORKOUT_COMPLETED = "workout.completed"
WORKOUT_UPDATED = "workout.updated"
WORKOUT_DELETED = "workout.deleted"
IMPORT_FINISHED = "import.finished"
METRIC_RECORDED = "metric.recorded"
GOAL_ACHIEVED = "goal.achieved"
EVENT_TYPES = (
    WORKOUT_COMPLETED,
    WORKOUT_UPDATED,
    WORKOUT_DELETED,
    IMPORT_FINISHED,
    METRIC_RECORDED,
    GOAL_ACHIEVED,
)
# What a one-off callback may be made for: the end of a piece of work answered with 202.
CALLBACK_EVENTS = (IMPORT_FINISHED,)
MAX_URL = 2048
MAX_VERIFY_TOKEN = 128
SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES = 24  # Standard Webhooks' (and Svix's) size: 192 bits, 32 base64 characters
DEFAULT_PORTS = {"https": 443, "http": 80}
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def check_url(v: Violations, url: str, allow_http: bool, field: str = "url") -> None:
    """A URL events may be POSTed to: https (http only where allowed), a host name, no
    credentials (they would travel in every request and sit in logs), no fragment."""
    if not url or len(url) > MAX_URL:
        v.add(field, f"must be 1-{MAX_URL} characters")
        return
    if not url.isascii() or any(c.isspace() or ord(c) < 32 for c in url):
        v.add(field, "must be ASCII without spaces (write an international host in punycode)")
        return
    parts = urllib.parse.urlsplit(url)
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        v.add(field, f"must start with {' or '.join(s + '://' for s in schemes)}")
    elif not parts.hostname:
        v.add(field, "must name a host")
    elif parts.username is not None or parts.password is not None:
        v.add(field, "must not carry a user name or password")
    elif parts.fragment:
        v.add(field, "must not have a #fragment")
    else:
        try:
            parts.port  # noqa: B018 - reading it validates it
        except ValueError:
            v.add(field, "has a port that is not a number from 0 to 65535")


def host_and_port(url: str) -> tuple[str, int]:
    """The host (without brackets) and port a checked URL connects to."""
    parts = urllib.parse.urlsplit(url)
    return parts.hostname or "", parts.port or DEFAULT_PORTS[parts.scheme]


def destination(url: str) -> str:
    """What limits and breakers are kept per: the receiver's host and port."""
    host, port = host_and_port(url)
    return f"{host}:{port}"


def check_events(v: Violations, events: Sequence[str]) -> list[str]:
    """The event types asked for, each once, in a stable order."""
    if not events:
        v.add("events", f"name at least one of {', '.join(EVENT_TYPES)}")
    for event in events:
        if event not in EVENT_TYPES:
            v.add("events", f"unknown event type {event[:64]!r}; known: {', '.join(EVENT_TYPES)}")
    return sorted(set(events) & set(EVENT_TYPES))


def check_verify_token(v: Violations, token: str) -> None:
    if len(token) > MAX_VERIFY_TOKEN or not token.isprintable():
        v.add("verify_token", f"must be at most {MAX_VERIFY_TOKEN} printable characters")


# Signing (https://www.standardwebhooks.com)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature header: HMAC-SHA256 with the secret's bytes over
    `{id}.{timestamp}.{body}`, as `v1,<base64>`."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


# Outcomes and retries


class Verdict(enum.Enum):
    DELIVERED = "delivered"
    FAILED = "failed"  # for good: retrying cannot change the answer
    RETRY = "retry"


def verdict(status_code: int | None) -> Verdict:
    """What an answer means; None is no answer (a network error or a timeout). Redirects
    are not followed (they could lead anywhere), so they are a receiver's mistake, like a
    4xx; 408 and 429 ask to come back later."""
    if status_code is None or status_code >= 500 or status_code in (408, 429):
        return Verdict.RETRY
    if 200 <= status_code < 300:
        return Verdict.DELIVERED
    return Verdict.FAILED


def is_receiver_fault(status_code: int | None) -> bool:
    """What counts against a destination's breaker: it is down, not merely refusing."""
    return status_code is None or status_code >= 500 or status_code == 408


def retry_after_seconds(value: str | None, now: dt.datetime) -> float | None:
    """A Retry-After header (seconds, or an HTTP date) as seconds from now; None when
    absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now).total_seconds())


def backoff_ceiling(attempt: int, base: float, cap: float) -> float:
    """The longest wait after the attempt-th failed attempt (1-based): base, 2 base, 4 base...
    up to cap."""
    return float(min(cap, base * 2 ** min(attempt - 1, 62)))


def backoff(
    attempt: int, base: float, cap: float, draw: Callable[[float, float], float] = random.uniform
) -> float:
    """Full jitter: anywhere between no wait and the ceiling, so receivers that came back
    are not met by every sender at once."""
    return draw(0.0, backoff_ceiling(attempt, base, cap))


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float
    cap_seconds: float
    retry_after_cap_seconds: float
    max_attempts: int
    horizon_seconds: float

    def next_attempt(
        self,
        attempts: int,
        started: dt.datetime,
        now: dt.datetime,
        retry_after: float | None,
        draw: Callable[[float, float], float] = random.uniform,
    ) -> dt.datetime | None:
        """When to try again after `attempts` failed attempts of a round that began at
        `started`; None when the round is over (the delivery is dead). A receiver's
        Retry-After is honoured, up to a cap."""
        if attempts >= self.max_attempts:
            return None
        if retry_after is not None:
            wait = min(retry_after, self.retry_after_cap_seconds)
        else:
            wait = backoff(attempts, self.base_seconds, self.cap_seconds, draw)
        due = now + dt.timedelta(seconds=wait)
        if due > started + dt.timedelta(seconds=self.horizon_seconds):
            return None
        return due


# Addresses (SSRF)


def networks(setting: str) -> tuple[IpNetwork, ...]:
    """CIDRs from a comma-separated setting; ValueError names a bad one."""
    return tuple(ipaddress.ip_network(p.strip()) for p in setting.split(",") if p.strip())


def category(ip: IpAddress) -> str | None:
    """Why an address is not on the public internet, or None when it is."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return category(ip.ipv4_mapped)
    for name in ("loopback", "link_local", "multicast", "unspecified", "reserved"):
        if getattr(ip, f"is_{name}"):
            return name.replace("_", "-")
    if ip.is_private or not ip.is_global:
        return "private"
    return None


@dataclass(frozen=True)
class AddressRule:
    """Receivers must be on the public internet, unless their address is in an allowed
    network (a development machine allows loopback; a closed deployment its own ranges)."""

    allowed: tuple[IpNetwork, ...] = ()

    def refusal(self, ip: IpAddress) -> str | None:
        """Why a receiver at `ip` may not be called, or None when it may."""
        kind = category(ip)
        if kind is None or any(ip.version == n.version and ip in n for n in self.allowed):
            return None
        return f"{ip} is a {kind} address"
