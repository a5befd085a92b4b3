"""Passwords (Argon2id), access tokens (EdDSA JWTs, each naming its session)
and encryption at rest (MultiFernet)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from servicekit import keys


class Passwords:
    """Hashing runs in a worker thread: Argon2 is deliberately slow and would stall the loop."""

    def __init__(self) -> None:
        self._hasher = PasswordHasher()  # Argon2id with the library's current defaults
        # Checked for unknown emails, so a wrong email costs as long as a wrong password.
        self._decoy = self._hasher.hash(uuid.uuid4().hex)

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(stored_hash or self._decoy, password)
            except (VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(check) and stored_hash is not None


class Tokens:
    def __init__(
        self, private_key_setting: str, issuer: str, ttl_seconds: int, *, environment: str
    ) -> None:
        pem = keys.signing_key(private_key_setting, environment)
        self._key = pem
        self.public_key_pem = keys.public_from_private(pem)
        self.issuer = issuer
        self.ttl_seconds = ttl_seconds

    def issue(self, user_id: str, session_id: str, now: dt.datetime | None = None) -> str:
        now = now or dt.datetime.now(dt.UTC)
        claims = {
            "sub": user_id,
            "sid": session_id,
            "iss": self.issuer,
            "iat": now,
            "exp": now + dt.timedelta(seconds=self.ttl_seconds),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm="EdDSA")


class Cipher:
    """Encrypts with the first key, decrypts with any: add a key in front to rotate."""

    def __init__(self, keys_setting: str, *, environment: str) -> None:
        self._fernet = MultiFernet([Fernet(k) for k in keys.fernet_keys(keys_setting, environment)])

    def encrypt(self, text: str) -> bytes:
        return self._fernet.encrypt(text.encode())

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(token).decode()
        except InvalidToken as exc:
            raise ValueError("cannot decrypt with any configured key") from exc
