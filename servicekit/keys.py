"""Key material from configuration: a PEM given inline or as a path. Where none is given,
a development Ed25519 pair is made once in FITMESH_DEV_KEYS_DIR and shared by every local
process (user_service signs with it, the gateway verifies with its public half)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


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


def dev_private_key() -> bytes:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return _create_once(dev_keys_dir() / "jwt-ed25519.pem", pem)


def public_from_private(private_pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(private_pem, password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def dev_fernet_key() -> bytes:
    from cryptography.fernet import Fernet

    return _create_once(dev_keys_dir() / "fernet.key", Fernet.generate_key())
