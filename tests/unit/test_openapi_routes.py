"""The routes clients rely on (issue #16, item 8) are in the gateway's OpenAPI document with
their methods, and login's answer documents the refresh token. The app is built without
starting it: its routes and schemas exist before its lifespan connects to anything."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.app import create_app
from gateway.settings import GatewaySettings

LIFECYCLE_ROUTES = [
    ("patch", "/api/v1/workouts/{session_id}"),
    ("delete", "/api/v1/workouts/{session_id}"),
    ("post", "/api/v1/users/refresh"),
    ("post", "/api/v1/users/logout"),
    ("put", "/api/v1/users/{user_id}/password"),
    ("get", "/api/v1/users/{user_id}/export"),
    ("delete", "/api/v1/users/{user_id}"),
    ("get", "/api/v1/users/{user_id}/audit"),
    ("get", "/api/v1/group-sessions/{session_id}/messages"),
    ("get", "/api/v1/group-sessions/{session_id}"),
    ("post", "/api/v1/workouts/imports"),
    ("get", "/api/v1/workouts/imports/{import_id}"),
]


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    settings = GatewaySettings(jwt_public_key=public.decode(), service_signing_key=private)
    return create_app(settings).openapi()


@pytest.mark.parametrize(("method", "path"), LIFECYCLE_ROUTES)
def test_each_lifecycle_route_is_documented_with_its_method(
    spec: dict[str, Any], method: str, path: str
) -> None:
    operation = spec["paths"].get(path, {}).get(method)
    assert operation is not None, f"{method.upper()} {path} is not in /openapi.json"
    # Described for a reader of /docs (the route's docstring), not only present.
    assert operation.get("description"), f"{method.upper()} {path} has no description"


def _schema(spec: dict[str, Any], ref: str) -> dict[str, Any]:
    name = ref.removeprefix("#/components/schemas/")
    schema: dict[str, Any] = spec["components"]["schemas"][name]
    return schema


def test_login_answers_a_refresh_token_beside_the_access_token(spec: dict[str, Any]) -> None:
    answer = spec["paths"]["/api/v1/users/login"]["post"]["responses"]["200"]
    schema = _schema(spec, answer["content"]["application/json"]["schema"]["$ref"])
    assert {"token", "refresh_token"} <= set(schema["properties"])
    assert {"token", "refresh_token"} <= set(schema.get("required", []))
