"""Access tokens are verified with the public key alone; a user reaches only their own data."""

from __future__ import annotations

import time
from typing import NamedTuple

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from servicekit import keys

VERIFIED_TOKENS = 10_000


class Verified(NamedTuple):
    user_id: str
    expires_at: float
    session_id: str


class Verifier:
    def __init__(self, public_key_setting: str, issuer: str) -> None:
        # No fallback here: GatewaySettings gives the development key where one is allowed.
        if not public_key_setting:
            raise keys.MissingKeyError("JWT_PUBLIC_KEY")
        pem = keys.read_pem(public_key_setting)
        # Parsed once: PyJWT would parse a PEM again on every verification.
        key = load_pem_public_key(pem)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the token public key must be an Ed25519 key")
        self.public_key = key
        self._verified: dict[str, Verified] = {}
        self.issuer = issuer

    def subject(self, token: str) -> str:
        """The user id a token speaks for; raises jwt.InvalidTokenError when it speaks for none."""
        return self.verify(token).user_id

    def verify(self, token: str) -> Verified:
        """Whom a token speaks for, in which session, until when; raises
        jwt.InvalidTokenError when it speaks for none. A token seen before is known until it
        expires: clients send the same one for minutes, and a signature check costs more
        than a cached read. (Revocation is the caller's check: it can happen any time.)"""
        known = self._verified.get(token)
        if known is not None and known.expires_at > time.time():
            return known
        claims = jwt.decode(
            token,
            self.public_key,
            algorithms=["EdDSA"],
            issuer=self.issuer,
            options={"require": ["sub", "sid", "exp", "iat", "jti"]},
        )
        if len(self._verified) >= VERIFIED_TOKENS:
            del self._verified[next(iter(self._verified))]  # the oldest entry
        verified = Verified(str(claims["sub"]), float(claims["exp"]), str(claims["sid"]))
        self._verified[token] = verified
        return verified
