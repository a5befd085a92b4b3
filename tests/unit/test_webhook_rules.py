"""Webhook rules as pure logic: URLs, addresses, signatures, outcomes and the retry schedule."""

from __future__ import annotations

import datetime as dt
import ipaddress
import random

import pytest

from servicekit.errors import InvalidArgument, Violations
from user_service import webhook_rules as rules
from user_service.webhook_http import AddressRefused, GuardedBackend
from user_service.webhook_rules import AddressRule, RetryPolicy, Verdict

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def url_problems(url: str, allow_http: bool = False) -> list[str]:
    v = Violations()
    rules.check_url(v, url, allow_http)
    try:
        v.raise_if_any()
    except InvalidArgument as exc:
        return [f"{p.field}: {p.description}" for p in exc.violations]
    return []


def test_signature_matches_the_standard_webhooks_test_vector() -> None:
    # The specification's published example (github.com/standard-webhooks).
    signed = rules.signature(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert signed == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_new_secrets_are_random_standard_webhooks_secrets() -> None:
    first, second = rules.new_secret(), rules.new_secret()
    assert first != second
    assert first.startswith("whsec_")
    assert len(first) == len("whsec_") + 32
    # A secret signs: its key part decodes.
    assert rules.signature(first, "id", 1, b"{}").startswith("v1,")


@pytest.mark.parametrize(
    ("url", "allow_http", "problem"),
    [
        ("https://hooks.example.com/fitmesh?x=1", False, None),
        ("https://hooks.example.com:8443/a", False, None),
        ("http://hooks.example.com/a", True, None),
        ("http://hooks.example.com/a", False, "must start with https://"),
        ("ftp://hooks.example.com/a", True, "must start with https:// or http://"),
        ("https://user:pw@hooks.example.com/a", False, "must not carry a user name"),
        ("https:///path-only", False, "must name a host"),
        ("https://hooks.example.com/a#part", False, "must not have a #fragment"),
        ("https://hooks.example.com:99999/a", False, "has a port that is not a number"),
        ("https://hooks.example.com/a b", False, "must be ASCII without spaces"),
        ("https://bücher.example/a", False, "punycode"),
        ("https://" + "a" * 2100 + ".example.com/", False, "must be 1-2048 characters"),
        ("", False, "must be 1-2048 characters"),
    ],
)
def test_urls(url: str, allow_http: bool, problem: str | None) -> None:
    found = url_problems(url, allow_http)
    if problem is None:
        assert found == []
    else:
        assert len(found) == 1
        assert found[0].startswith("url: ")
        assert problem in found[0]


def test_destination_is_host_and_port_with_the_scheme_default() -> None:
    assert rules.destination("https://Hooks.Example.com/a") == "hooks.example.com:443"
    assert rules.destination("http://127.0.0.1:8080/x") == "127.0.0.1:8080"
    assert rules.destination("https://[::1]:9000/x") == "::1:9000"


def test_events_are_checked_and_each_kept_once() -> None:
    v = Violations()
    kept = rules.check_events(v, ["goal.achieved", "workout.completed", "goal.achieved"])
    v.raise_if_any()
    assert kept == ["goal.achieved", "workout.completed"]
    for wrong in (["workout.exploded"], []):
        v = Violations()
        assert rules.check_events(v, wrong) == []
        with pytest.raises(InvalidArgument) as caught:
            v.raise_if_any()
        assert caught.value.violations[0].field == "events"


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.4", "private"),
        ("100.64.0.1", "private"),  # carrier-grade NAT
        ("127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("::ffff:127.0.0.1", "loopback"),  # an IPv4 address in IPv6 clothing
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_addresses_off_the_public_internet_are_refused(address: str, kind: str | None) -> None:
    ip = ipaddress.ip_address(address)
    refusal = AddressRule().refusal(ip)
    if kind is None:
        assert refusal is None
    else:
        assert refusal == f"{ip} is a {kind} address"


def test_allowed_networks_admit_only_themselves() -> None:
    rule = AddressRule(rules.networks("127.0.0.0/8, ::1/128"))
    assert rule.refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert rule.refusal(ipaddress.ip_address("::1")) is None
    assert rule.refusal(ipaddress.ip_address("10.0.0.1")) == "10.0.0.1 is a private address"
    with pytest.raises(ValueError, match="does not appear"):
        rules.networks("10.0.0/33x")


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.DELIVERED),
        (204, Verdict.DELIVERED),
        (301, Verdict.FAILED),
        (400, Verdict.FAILED),
        (404, Verdict.FAILED),
        (410, Verdict.FAILED),
        (408, Verdict.RETRY),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (503, Verdict.RETRY),
        (None, Verdict.RETRY),
    ],
)
def test_what_an_answer_means(status: int | None, verdict: Verdict) -> None:
    assert rules.verdict(status) is verdict


def test_only_a_receiver_that_is_down_counts_against_its_breaker() -> None:
    assert rules.is_receiver_fault(None)
    assert rules.is_receiver_fault(503)
    assert not rules.is_receiver_fault(429)  # alive, asking for less
    assert not rules.is_receiver_fault(410)
    assert not rules.is_receiver_fault(200)


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert rules.retry_after_seconds("120", NOW) == 120
    assert rules.retry_after_seconds("Sun, 01 Mar 2026 12:00:30 GMT", NOW) == 30
    assert rules.retry_after_seconds("Sun, 01 Mar 2026 11:00:00 GMT", NOW) == 0  # past
    assert rules.retry_after_seconds("soon", NOW) is None
    assert rules.retry_after_seconds(None, NOW) is None


def test_backoff_ceiling_doubles_up_to_the_cap() -> None:
    assert [rules.backoff_ceiling(n, 10, 100) for n in range(1, 7)] == [10, 20, 40, 80, 100, 100]
    assert rules.backoff_ceiling(10_000, 1, 3600) == 3600  # no overflow far out


def test_backoff_is_full_jitter_within_its_ceiling() -> None:
    draws = random.Random(7)
    for attempt in range(1, 12):
        ceiling = rules.backoff_ceiling(attempt, 0.5, 60)
        waits = [rules.backoff(attempt, 0.5, 60, draws.uniform) for _ in range(400)]
        assert all(0 <= w <= ceiling for w in waits)
        # Spread over the whole range, not bunched at either end.
        assert min(waits) < ceiling * 0.1
        assert max(waits) > ceiling * 0.9


POLICY = RetryPolicy(
    base_seconds=10,
    cap_seconds=600,
    retry_after_cap_seconds=300,
    max_attempts=5,
    horizon_seconds=3600,
)


def test_next_attempt_follows_the_backoff() -> None:
    ceiling = rules.backoff_ceiling(3, 10, 600)
    due = POLICY.next_attempt(3, NOW, NOW, None, draw=lambda low, high: high)
    assert due == NOW + dt.timedelta(seconds=ceiling)


def test_retry_after_is_honoured_up_to_its_cap() -> None:
    assert POLICY.next_attempt(1, NOW, NOW, 45) == NOW + dt.timedelta(seconds=45)
    assert POLICY.next_attempt(1, NOW, NOW, 9999) == NOW + dt.timedelta(seconds=300)


def test_a_delivery_dies_after_its_attempts_or_past_its_horizon() -> None:
    assert POLICY.next_attempt(5, NOW, NOW, None) is None
    late = NOW + dt.timedelta(seconds=3590)
    assert POLICY.next_attempt(2, NOW, late, 60) is None
    assert POLICY.next_attempt(2, NOW, late, 5) == late + dt.timedelta(seconds=5)


async def test_a_host_name_is_refused_when_any_address_it_resolves_to_is() -> None:
    # "localhost" resolves through the system's resolver, as any receiver's name does.
    with pytest.raises(AddressRefused, match=r"localhost resolves to .* a loopback address"):
        await GuardedBackend(AddressRule()).resolve("localhost", 80, 5)
    loopback = AddressRule(rules.networks("127.0.0.0/8,::1/128"))
    found = await GuardedBackend(loopback).resolve("localhost", 80, 5)
    assert ipaddress.ip_address("127.0.0.1") in found
    with pytest.raises(AddressRefused, match=r"10\.1\.1\.1 is a private address"):
        await GuardedBackend(loopback).resolve("10.1.1.1", 80, 5)  # a literal, not looked up
