"""Service tokens, minted and verified without a network: who is calling, for which
service, until when, and whether that service lets them in."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from servicekit import keys, servicetokens
from servicekit.servicetokens import Minter, Refused, Verifier


def private_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


PRIVATE = private_pem()
PUBLIC = keys.public_from_private(PRIVATE)


def refusal(verifier: Verifier, authorization: str | None) -> Refused:
    with pytest.raises(Refused) as refused:
        verifier.caller(authorization)
    return refused.value


def test_a_token_names_its_caller_and_the_service_it_is_for() -> None:
    token = Minter("gateway", PRIVATE).token("user_service")
    claims = jwt.decode(token, PUBLIC, algorithms=["EdDSA"], audience="user_service")
    assert claims["sub"] == "gateway"
    assert claims["exp"] - claims["iat"] == servicetokens.TTL_SECONDS
    assert Verifier("user_service", PUBLIC).caller(f"Bearer {token}") == "gateway"


def test_a_token_is_reused_until_shortly_before_it_expires() -> None:
    clock = Clock()
    minter = Minter("gateway", PRIVATE, clock=clock)
    first = minter.token("user_service")
    assert minter.token("user_service") == first
    assert minter.token("activity_service") != first  # one per audience
    clock.now += servicetokens.TTL_SECONDS - servicetokens.RENEW_SECONDS - 1
    assert minter.token("user_service") == first
    clock.now += 2
    renewed = minter.token("user_service")
    assert renewed != first
    assert Verifier("user_service", PUBLIC, clock=clock).caller(f"Bearer {renewed}") == "gateway"


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("Basic Z2F0ZXdheQ==", "malformed"),
        ("Bearer ", "malformed"),
        ("Bearer not-a-token", "invalid"),
    ],
)
def test_no_usable_token_is_unauthenticated(authorization: str | None, reason: str) -> None:
    refused = refusal(Verifier("user_service", PUBLIC), authorization)
    assert refused.code == grpc.StatusCode.UNAUTHENTICATED
    assert refused.reason == reason


def test_a_token_for_another_service_is_unauthenticated() -> None:
    token = Minter("gateway", PRIVATE).token("activity_service")
    refused = refusal(Verifier("user_service", PUBLIC), f"Bearer {token}")
    assert refused.code == grpc.StatusCode.UNAUTHENTICATED
    assert refused.detail == "service token is not for user_service"


def test_a_token_signed_with_another_key_is_unauthenticated() -> None:
    token = Minter("gateway", private_pem()).token("user_service")
    refused = refusal(Verifier("user_service", PUBLIC), f"Bearer {token}")
    assert (refused.code, refused.reason) == (grpc.StatusCode.UNAUTHENTICATED, "invalid")


def test_an_expired_token_is_unauthenticated_even_once_verified() -> None:
    clock = Clock()
    token = Minter("gateway", PRIVATE, clock=clock).token("user_service")
    verifier = Verifier("user_service", PUBLIC, clock=clock)
    assert verifier.caller(f"Bearer {token}") == "gateway"  # now remembered as verified
    clock.now += servicetokens.TTL_SECONDS + servicetokens.LEEWAY_SECONDS + 1
    refused = refusal(verifier, f"Bearer {token}")
    assert (refused.code, refused.detail) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "service token expired",
    )
    stale = Minter("gateway", PRIVATE, clock=lambda: time.time() - 3600).token("user_service")
    assert refusal(Verifier("user_service", PUBLIC), f"Bearer {stale}").reason == "expired"


def test_a_token_that_lives_too_long_is_refused() -> None:
    token = Minter("gateway", PRIVATE, ttl_seconds=servicetokens.MAX_TTL_SECONDS + 60).token(
        "user_service"
    )
    assert refusal(Verifier("user_service", PUBLIC), f"Bearer {token}").reason == "invalid"


def test_a_caller_the_service_does_not_accept_is_permission_denied() -> None:
    token = Minter("gateway", PRIVATE).token("scoring_service")
    refused = refusal(Verifier("scoring_service", PUBLIC), f"Bearer {token}")
    assert refused.code == grpc.StatusCode.PERMISSION_DENIED
    assert refused.detail == "gateway may not call scoring_service"
    assert refused.caller == "gateway"
    for caller in ("activity_service", "user_service"):
        token = Minter(caller, PRIVATE).token("scoring_service")
        assert Verifier("scoring_service", PUBLIC).caller(f"Bearer {token}") == caller


def test_who_may_call_whom() -> None:
    expected = {
        "user_service": {"gateway"},
        "activity_service": {"gateway"},
        "scoring_service": {"activity_service", "user_service"},
    }
    assert dict(servicetokens.CALLERS) == expected
    assert Verifier("unknown", PUBLIC).callers == frozenset()  # a service nobody may call


def test_refusals_carry_no_token_material() -> None:
    token = Minter("gateway", PRIVATE).token("activity_service")
    for verifier in (Verifier("user_service", PUBLIC), Verifier("scoring_service", PUBLIC)):
        refused = refusal(verifier, f"Bearer {token}")
        assert token not in refused.detail
        assert token.split(".")[1] not in f"{refused.reason} {refused.detail} {refused.caller}"


def test_the_command_prints_a_development_token_for_a_caller_the_service_accepts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FITMESH_DEV_KEYS_DIR", str(tmp_path))
    monkeypatch.delenv("SERVICE_SIGNING_KEY", raising=False)
    servicetokens.main(["scoring_service"])
    token = capsys.readouterr().out.strip()
    verifier = Verifier.from_setting("scoring_service", "", keys.DEVELOPMENT)
    assert verifier.caller(f"Bearer {token}") == "activity_service"
