"""Outside ENVIRONMENT=development no process falls back to development keys: a missing key
is an error that names its variable. In development the shared development keys are used."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from gateway.auth import Verifier
from gateway.settings import GatewaySettings
from servicekit import keys, servicetokens
from servicekit.server import RunningServer, Service
from servicekit.settings import ServiceSettings
from user_service.security import Cipher, Tokens
from user_service.settings import UserSettings

KEY_VARIABLES = (
    "ENVIRONMENT",
    "JWT_PRIVATE_KEY",
    "JWT_PUBLIC_KEY",
    "ENCRYPTION_KEYS",
    "SERVICE_SIGNING_KEY",
    "SERVICE_VERIFY_KEY",
)


@pytest.fixture(autouse=True)
def no_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for variable in KEY_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("FITMESH_DEV_KEYS_DIR", str(tmp_path))
    return tmp_path


def test_the_environment_is_production_unless_set() -> None:
    assert UserSettings().environment == "production"
    gateway = GatewaySettings(
        jwt_public_key="/etc/fitmesh/jwt.pub", service_signing_key="/etc/fitmesh/service.pem"
    )
    assert gateway.environment == "production"
    assert ServiceSettings().environment == "production"


@pytest.mark.parametrize("environment", ["production", "staging", "dev", ""])
def test_each_key_loader_refuses_a_missing_key_outside_development(environment: str) -> None:
    with pytest.raises(keys.MissingKeyError, match=r"^JWT_PRIVATE_KEY is not set"):
        keys.signing_key("", environment)
    with pytest.raises(keys.MissingKeyError, match=r"^JWT_PUBLIC_KEY is not set"):
        keys.verifying_key("", environment)
    with pytest.raises(keys.MissingKeyError, match=r"^ENCRYPTION_KEYS is not set"):
        keys.fernet_keys(" , ", environment)
    with pytest.raises(keys.MissingKeyError, match=r"^SERVICE_SIGNING_KEY is not set"):
        keys.service_signing_key("", environment)
    with pytest.raises(keys.MissingKeyError, match=r"^SERVICE_VERIFY_KEY is not set"):
        keys.service_verifying_key("", environment)


def test_the_refusal_says_how_to_fix_it() -> None:
    with pytest.raises(keys.MissingKeyError) as refused:
        keys.signing_key("", "production")
    assert refused.value.variable == "JWT_PRIVATE_KEY"
    assert "ENVIRONMENT=development" in str(refused.value)


def test_the_user_service_refuses_to_sign_or_encrypt_without_its_keys(no_keys: Path) -> None:
    with pytest.raises(keys.MissingKeyError, match="JWT_PRIVATE_KEY"):
        Tokens("", "fitmesh", 900, environment="production")
    with pytest.raises(keys.MissingKeyError, match="ENCRYPTION_KEYS"):
        Cipher("", environment="production")
    assert list(no_keys.iterdir()) == []  # and made no development key on the way


def test_the_gateway_refuses_to_start_without_its_public_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValidationError, match="JWT_PUBLIC_KEY is not set"):
        GatewaySettings()
    monkeypatch.setenv("ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="JWT_PUBLIC_KEY is not set"):
        GatewaySettings()
    with pytest.raises(keys.MissingKeyError, match="JWT_PUBLIC_KEY"):
        Verifier("", "fitmesh")  # the verifier itself never picks a key


def test_the_gateway_refuses_to_start_without_its_service_signing_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JWT_PUBLIC_KEY", "/etc/fitmesh/jwt.pub")
    with pytest.raises(ValidationError, match="SERVICE_SIGNING_KEY is not set"):
        GatewaySettings()


def test_a_service_refuses_to_serve_or_call_without_its_service_keys(no_keys: Path) -> None:
    settings = ServiceSettings()
    service = Service(name="scoring_service", full_names=[], register=lambda _: None)
    with pytest.raises(keys.MissingKeyError, match="SERVICE_VERIFY_KEY"):
        RunningServer(service, settings)
    with pytest.raises(keys.MissingKeyError, match="SERVICE_SIGNING_KEY"):
        servicetokens.Minter.from_setting("activity_service", "", settings.environment)
    assert list(no_keys.iterdir()) == []


def test_keys_that_are_given_are_used_outside_development(
    monkeypatch: pytest.MonkeyPatch, no_keys: Path
) -> None:
    private = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    monkeypatch.setenv("JWT_PUBLIC_KEY", keys.public_from_private(private).decode())
    monkeypatch.setenv("SERVICE_SIGNING_KEY", private.decode())
    settings = GatewaySettings()
    assert settings.environment == "production"
    tokens = Tokens(private.decode(), "fitmesh", 900, environment=settings.environment)
    assert Verifier(settings.jwt_public_key, "fitmesh").subject(tokens.issue("u1", "s1")) == "u1"
    cipher = Cipher(
        f"{Fernet.generate_key().decode()},{Fernet.generate_key().decode()}",
        environment="production",
    )
    assert cipher.decrypt(cipher.encrypt("1990-01-01")) == "1990-01-01"
    assert list(no_keys.iterdir()) == []


def test_development_uses_the_shared_development_keys(
    monkeypatch: pytest.MonkeyPatch, no_keys: Path
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "development")
    settings = GatewaySettings()
    tokens = Tokens("", "fitmesh", 900, environment=UserSettings().environment)
    assert Verifier(settings.jwt_public_key, "fitmesh").subject(tokens.issue("u2", "s2")) == "u2"
    cipher = Cipher("", environment="development")
    assert cipher.decrypt(cipher.encrypt("secret")) == "secret"
    assert sorted(p.name for p in no_keys.iterdir()) == [
        "fernet.key",
        "jwt-ed25519.pem",
        "service-ed25519.pem",  # made by GatewaySettings: the gateway signs service tokens
    ]
    minter = servicetokens.Minter.from_setting("gateway", "", "development")
    verifier = servicetokens.Verifier.from_setting("user_service", "", "development")
    assert verifier.caller(f"Bearer {minter.token('user_service')}") == "gateway"
