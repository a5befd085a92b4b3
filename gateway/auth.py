"""Access tokens are verified with the public key alone; a user reaches only their own data."""

from __future__ import annotations

import time

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from servicekit import keys

VERIFIED_TOKENS = 10_000


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
        self._verified: dict[str, tuple[str, float]] = {}  # token -> (subject, expiry)
        self.issuer = issuer

    def subject(self, token: str) -> str:
        """The user id a token speaks for; raises jwt.InvalidTokenError when it speaks for none."""
        return self.verify(token)[0]

    def verify(self, token: str) -> tuple[str, float]:
        """The user id a token speaks for and when it expires; raises jwt.InvalidTokenError
        when it speaks for none. A token seen before is known until it expires: clients send
        the same one for minutes, and a signature check costs more than a cached read."""
        known = self._verified.get(token)
        if known is not None and known[1] > time.time():
            return known
        claims = jwt.decode(
            token,
            self.public_key,
            algorithms=["EdDSA"],
            issuer=self.issuer,
            options={"require": ["sub", "exp", "iat", "jti"]},
        )
        if len(self._verified) >= VERIFIED_TOKENS:
            del self._verified[next(iter(self._verified))]  # the oldest entry
        verified = (str(claims["sub"]), float(claims["exp"]))
        self._verified[token] = verified
        return verified
