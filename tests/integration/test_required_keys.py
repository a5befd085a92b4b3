"""A process started without its keys, and without ENVIRONMENT=development, exits at once
with an error naming the missing variable: it neither waits for its database nor serves
with a development key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devstack.servers import free_port
from servicekit import keys

ROOT = Path(__file__).resolve().parent.parent.parent
KEYS = (
    "ENVIRONMENT",
    "JWT_PRIVATE_KEY",
    "JWT_PUBLIC_KEY",
    "ENCRYPTION_KEYS",
    "SERVICE_SIGNING_KEY",
    "SERVICE_VERIFY_KEY",
)


def start(module: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in KEYS}
    return subprocess.run(
        [sys.executable, "-m", module],
        cwd=ROOT,
        env={
            **base,
            "FITMESH_DEV_KEYS_DIR": str(tmp_path),
            # Nothing listens there: a process that got past its keys would wait and retry.
            "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/fitmesh",
            "GRPC_HOST": "127.0.0.1",
            "GRPC_PORT": str(free_port()),
            "METRICS_PORT": "0",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(free_port()),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=20,
    )


@pytest.mark.parametrize("environment", [None, "production", "staging"])
def test_the_user_service_refuses_to_start_without_its_signing_key(
    tmp_path: Path, environment: str | None
) -> None:
    ran = start("user_service", tmp_path, **({"ENVIRONMENT": environment} if environment else {}))
    assert ran.returncode != 0
    assert "JWT_PRIVATE_KEY is not set" in ran.stderr
    assert '"variable": "JWT_PRIVATE_KEY"' in ran.stdout  # the JSON log line says it too
    assert list(tmp_path.iterdir()) == []  # no development key was made


def test_the_user_service_refuses_to_start_without_its_encryption_keys(tmp_path: Path) -> None:
    private = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    ran = start("user_service", tmp_path, JWT_PRIVATE_KEY=private.decode())
    assert ran.returncode != 0
    assert "ENCRYPTION_KEYS is not set" in ran.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_gateway_refuses_to_start_without_its_public_key(tmp_path: Path) -> None:
    ran = start("gateway", tmp_path)
    assert ran.returncode != 0
    assert "JWT_PUBLIC_KEY is not set" in ran.stderr
    assert list(tmp_path.iterdir()) == []


def private_pem() -> str:
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


def test_the_user_service_refuses_to_start_without_its_service_keys(tmp_path: Path) -> None:
    user_keys = {
        "JWT_PRIVATE_KEY": private_pem(),
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    }
    ran = start("user_service", tmp_path, **user_keys)
    assert ran.returncode != 0
    assert "SERVICE_SIGNING_KEY is not set" in ran.stderr
    ran = start("user_service", tmp_path, **user_keys, SERVICE_SIGNING_KEY=private_pem())
    assert ran.returncode != 0
    assert "SERVICE_VERIFY_KEY is not set" in ran.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("module", "variable"),
    [("scoring_service", "SERVICE_VERIFY_KEY"), ("activity_service", "SERVICE_SIGNING_KEY")],
)
def test_a_service_refuses_to_start_without_its_service_key(
    tmp_path: Path, module: str, variable: str
) -> None:
    ran = start(module, tmp_path)
    assert ran.returncode != 0
    assert f"{variable} is not set" in ran.stderr
    assert f'"variable": "{variable}"' in ran.stdout
    assert list(tmp_path.iterdir()) == []


def test_the_gateway_refuses_to_start_without_its_service_signing_key(tmp_path: Path) -> None:
    public = keys.public_from_private(private_pem().encode()).decode()
    ran = start("gateway", tmp_path, JWT_PUBLIC_KEY=public)
    assert ran.returncode != 0
    assert "SERVICE_SIGNING_KEY is not set" in ran.stderr
    assert list(tmp_path.iterdir()) == []
