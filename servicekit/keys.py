"""Key material from configuration: a PEM given inline or as a path, Fernet keys as text.
A key left unset is an error, except with ENVIRONMENT=development: there development
Ed25519 pairs and a Fernet key are made once in FITMESH_DEV_KEYS_DIR and shared by every
local process (user_service signs access tokens with one pair, the gateway verifies with
its public half; every caller signs service tokens with the other, every service verifies
them with its public half)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

DEVELOPMENT = "development"
PRODUCTION = "production"
JWT_KEY_FILE = "jwt-ed25519.pem"
SERVICE_KEY_FILE = "service-ed25519.pem"


class MissingKeyError(ValueError):
    """A key that only ENVIRONMENT=development may leave unset."""

    def __init__(self, variable: str) -> None:
        self.variable = variable
        super().__init__(
            f"{variable} is not set: set it to the key (see the README's Settings), or set "
            f"ENVIRONMENT={DEVELOPMENT} to use development keys from FITMESH_DEV_KEYS_DIR"
        )


def signing_key(setting: str, environment: str) -> bytes:
    """JWT_PRIVATE_KEY: the Ed25519 private key (PEM) that signs access tokens."""
    if setting:
        return read_pem(setting)
    if environment == DEVELOPMENT:
        return dev_private_key()
    raise MissingKeyError("JWT_PRIVATE_KEY")


def verifying_key(setting: str, environment: str) -> bytes:
    """JWT_PUBLIC_KEY: the Ed25519 public key (PEM) that verifies access tokens."""
    if setting:
        return read_pem(setting)
    if environment == DEVELOPMENT:
        return public_from_private(dev_private_key())
    raise MissingKeyError("JWT_PUBLIC_KEY")


def service_signing_key(setting: str, environment: str) -> bytes:
    """SERVICE_SIGNING_KEY: the Ed25519 private key (PEM) that signs service tokens."""
    if setting:
        return read_pem(setting)
    if environment == DEVELOPMENT:
        return dev_private_key(SERVICE_KEY_FILE)
    raise MissingKeyError("SERVICE_SIGNING_KEY")


def service_verifying_key(setting: str, environment: str) -> bytes:
    """SERVICE_VERIFY_KEY: the Ed25519 public key (PEM) that verifies service tokens."""
    if setting:
        return read_pem(setting)
    if environment == DEVELOPMENT:
        return public_from_private(dev_private_key(SERVICE_KEY_FILE))
    raise MissingKeyError("SERVICE_VERIFY_KEY")


def fernet_keys(setting: str, environment: str) -> list[bytes]:
    """ENCRYPTION_KEYS: Fernet keys, comma-separated, newest first."""
    given = [k.strip().encode() for k in setting.split(",") if k.strip()]
    if given:
        return given
    if environment == DEVELOPMENT:
        return [dev_fernet_key()]
    raise MissingKeyError("ENCRYPTION_KEYS")


def dev_keys_dir() -> Path:
    default = Path.home() / ".cache" / "fitmesh" / "dev-keys"
    return Path(os.environ.get("FITMESH_DEV_KEYS_DIR", default))


def read_pem(value: str) -> bytes:
    """Inline PEM text, or the path of a file that holds it."""
    if "-----BEGIN" in value:
        return value.encode()
    return Path(value).expanduser().read_bytes()


def _create_once(path: Path, content: bytes) -> bytes:
    """Write content to path unless another process already did; return what is there."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        os.link(tmp, path)  # atomic, and fails when the file exists: first writer wins
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    return path.read_bytes()


def dev_private_key(name: str = JWT_KEY_FILE) -> bytes:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return _create_once(dev_keys_dir() / name, pem)


def public_from_private(private_pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(private_pem, password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def dev_fernet_key() -> bytes:
    from cryptography.fernet import Fernet

    return _create_once(dev_keys_dir() / "fernet.key", Fernet.generate_key())
