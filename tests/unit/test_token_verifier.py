"""The gateway's token check remembers verified tokens, but never past their expiry."""

from __future__ import annotations

import datetime as dt
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.auth import Verifier


def _pems() -> tuple[bytes, str]:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public.decode()


def _token(private: bytes, seconds: float, subject: str = "u1") -> str:
    now = dt.datetime.now(dt.UTC)
    claims = {
        "sub": subject,
        "iss": "fitmesh",
        "iat": now,
        "exp": now + dt.timedelta(seconds=seconds),
        "jti": "j",
        "sid": "s1",
    }
    return jwt.encode(claims, private, algorithm="EdDSA")


def test_a_remembered_token_is_refused_once_it_expires() -> None:
    private, public = _pems()
    verifier = Verifier(public, "fitmesh")
    token = _token(private, 1.5)
    assert verifier.subject(token) == "u1"
    assert verifier.subject(token) == "u1"  # from memory
    time.sleep(1.6)
    with pytest.raises(jwt.ExpiredSignatureError):
        verifier.subject(token)


def test_a_forged_token_is_refused_even_for_a_remembered_subject() -> None:
    private, public = _pems()
    other, _ = _pems()
    verifier = Verifier(public, "fitmesh")
    assert verifier.subject(_token(private, 60)) == "u1"
    with pytest.raises(jwt.InvalidSignatureError):
        verifier.subject(_token(other, 60))


def test_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gateway.auth.VERIFIED_TOKENS", 3)
    private, public = _pems()
    verifier = Verifier(public, "fitmesh")
    tokens = [_token(private, 60, f"u{n}") for n in range(5)]
    assert [verifier.subject(t) for t in tokens] == [f"u{n}" for n in range(5)]
    assert len(verifier._verified) == 3
