"""The user service as a real process on real PostgreSQL, Redis and the scoring service."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path

import grpc
import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf.field_mask_pb2 import FieldMask

from devstack import services
from fitmesh.scoring.v1 import scoring_pb2 as spb
from fitmesh.user.v1 import user_pb2 as pb
from fitmesh.user.v1 import user_pb2_grpc
from servicekit.errors import IdempotencyKeyReused
from servicekit.keys import public_from_private
from servicekit.status import field_violations, reason
from tests.helpers import PASSWORD, register, unique

Stub = user_pb2_grpc.UserServiceStub
TOMORROW = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)).isoformat()


async def rpc_error(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def test_register_returns_the_account_without_the_password(user_stub: Stub) -> None:
    name = unique()
    reply = await user_stub.Register(
        pb.RegisterRequest(
            username=name,
            email=f"{name}@Example.COM",
            password=PASSWORD,
            profile=pb.Profile(display_name="Ada", weight_kg=61.5),
        ),
        timeout=10,
    )
    assert reply.user.username == name
    assert reply.user.email == f"{name}@example.com"  # the domain is normalized
    assert reply.user.profile.weight_kg == 61.5
    assert uuid.UUID(reply.user.user_id)
    assert PASSWORD not in str(reply)


@pytest.mark.parametrize("field", ["email", "username"])
async def test_duplicates_in_another_case_are_refused(user_stub: Stub, field: str) -> None:
    name = unique("dup")
    first = pb.RegisterRequest(username=name, email=f"{name}@example.com", password=PASSWORD)
    await user_stub.Register(first, timeout=10)
    other = unique("other")
    second = pb.RegisterRequest(
        username=name.upper() if field == "username" else other,
        email=f"{name.upper()}@EXAMPLE.com" if field == "email" else f"{other}@example.com",
        password=PASSWORD,
    )
    error = await rpc_error(user_stub.Register(second, timeout=10))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert [v.field for v in field_violations(error)] == [field]


async def test_register_validates_every_field(user_stub: Stub) -> None:
    error = await rpc_error(
        user_stub.Register(
            pb.RegisterRequest(
                username="x!",
                email="not-an-email",
                password="short",
                profile=pb.Profile(weight_kg=2, birth_date="2999-01-01", max_heart_rate=90),
            ),
            timeout=10,
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in field_violations(error)} == {
        "username",
        "email",
        "password",
        "profile.weight_kg",
        "profile.birth_date",
        "profile.max_heart_rate",
    }


async def test_wrong_password_and_unknown_email_answer_alike(user_stub: Stub) -> None:
    user = await register(user_stub)
    wrong_password = await rpc_error(
        user_stub.Authenticate(
            pb.AuthenticateRequest(email=user.email, password="nope" * 3), timeout=10
        )
    )
    unknown_email = await rpc_error(
        user_stub.Authenticate(
            pb.AuthenticateRequest(email=f"{unique()}@example.com", password=PASSWORD), timeout=10
        )
    )
    assert wrong_password.code() == unknown_email.code() == grpc.StatusCode.UNAUTHENTICATED
    assert wrong_password.details() == unknown_email.details()


async def test_token_verifies_with_the_public_key_alone_and_expires(
    user_stub: Stub, dev_keys_dir: str
) -> None:
    user = await register(user_stub)
    reply = await user_stub.Authenticate(
        pb.AuthenticateRequest(email=user.email.upper(), password=PASSWORD), timeout=10
    )
    assert (reply.user_id, reply.token_type, reply.expires_in) == (user.user_id, "bearer", 900)
    public = public_from_private((Path(dev_keys_dir) / "jwt-ed25519.pem").read_bytes())
    claims = jwt.decode(reply.access_token, public, algorithms=["EdDSA"], issuer="fitmesh")
    assert claims["sub"] == user.user_id
    assert claims["exp"] - claims["iat"] == 900
    assert len(claims["jti"]) == 32
    # Checked as if 901 s had passed: a negative leeway moves the clock forward.
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(
            reply.access_token,
            public,
            algorithms=["EdDSA"],
            leeway=-901,
            options={"verify_iat": False},
        )
    stranger = public_from_private(_other_private_pem())
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(reply.access_token, stranger, algorithms=["EdDSA"])


def _other_private_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


async def test_profile_update_and_birth_date_encrypted_at_rest(
    user_stub: Stub, user_service_env: dict[str, str]
) -> None:
    user = await register(user_stub, weight_kg=70.0, resting_heart_rate=58)
    reply = await user_stub.UpdateProfile(
        pb.UpdateProfileRequest(
            user_id=user.user_id,
            profile=pb.Profile(birth_date="1990-04-01", sex=pb.SEX_FEMALE, max_heart_rate=185),
            update_mask=FieldMask(paths=["birth_date", "sex", "max_heart_rate", "weight_kg"]),
        ),
        timeout=10,
    )
    profile = reply.user.profile
    assert (profile.birth_date, profile.max_heart_rate) == ("1990-04-01", 185)
    assert profile.sex == pb.SEX_FEMALE
    assert not profile.HasField("weight_kg")  # named in the mask, left unset: cleared
    assert profile.resting_heart_rate == 58  # not named: kept
    with psycopg.connect(user_service_env["DATABASE_URL"]) as conn:
        row = conn.execute(
            "SELECT birth_date_enc FROM users WHERE user_id = %s", (user.user_id,)
        ).fetchone()
    assert row is not None
    assert b"1990" not in bytes(row[0])
    again = await user_stub.GetUser(pb.GetUserRequest(user_id=user.user_id), timeout=10)
    assert again.user.profile.birth_date == "1990-04-01"


async def test_profile_update_checks_fields_against_the_stored_profile(user_stub: Stub) -> None:
    user = await register(user_stub, resting_heart_rate=70)
    error = await rpc_error(
        user_stub.UpdateProfile(
            pb.UpdateProfileRequest(
                user_id=user.user_id,
                profile=pb.Profile(max_heart_rate=101, height_cm=20),
                update_mask=FieldMask(paths=["max_heart_rate", "height_cm", "password"]),
            ),
            timeout=10,
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in field_violations(error)} == {"update_mask", "profile.height_cm"}
    error = await rpc_error(
        user_stub.UpdateProfile(
            pb.UpdateProfileRequest(
                user_id=user.user_id,
                profile=pb.Profile(max_heart_rate=101, resting_heart_rate=110),
                update_mask=FieldMask(paths=["max_heart_rate", "resting_heart_rate"]),
            ),
            timeout=10,
        )
    )
    assert {v.field for v in field_violations(error)} == {"profile.max_heart_rate"}


async def test_unknown_and_malformed_ids(user_stub: Stub) -> None:
    missing = await rpc_error(user_stub.GetUser(pb.GetUserRequest(user_id=str(uuid.uuid4()))))
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    malformed = await rpc_error(user_stub.GetUser(pb.GetUserRequest(user_id="'; DROP TABLE users")))
    assert malformed.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_goal_lifecycle(user_stub: Stub) -> None:
    user = await register(user_stub)
    created = (
        await user_stub.CreateGoal(
            pb.CreateGoalRequest(
                user_id=user.user_id,
                goal_type=spb.GOAL_TYPE_DISTANCE_KM,
                target_value=42.2,
                target_date=TOMORROW,
            ),
            timeout=10,
        )
    ).goal
    assert (created.status, created.current_progress) == (spb.GOAL_STATUS_ACTIVE, 0)
    fetched = await user_stub.GetGoal(
        pb.GetGoalRequest(user_id=user.user_id, goal_id=created.goal_id), timeout=10
    )
    assert fetched.goal == created
    updated = await user_stub.UpdateGoal(
        pb.UpdateGoalRequest(
            user_id=user.user_id,
            goal_id=created.goal_id,
            target_value=21.1,
            update_mask=FieldMask(paths=["target_value"]),
        ),
        timeout=10,
    )
    assert (updated.goal.target_value, updated.goal.target_date) == (21.1, TOMORROW)
    other = await register(user_stub)
    hidden = await rpc_error(
        user_stub.GetGoal(pb.GetGoalRequest(user_id=other.user_id, goal_id=created.goal_id))
    )
    assert hidden.code() == grpc.StatusCode.NOT_FOUND  # another user's goal is not theirs to see
    await user_stub.DeleteGoal(
        pb.DeleteGoalRequest(user_id=user.user_id, goal_id=created.goal_id), timeout=10
    )
    gone = await rpc_error(
        user_stub.GetGoal(pb.GetGoalRequest(user_id=user.user_id, goal_id=created.goal_id))
    )
    assert gone.code() == grpc.StatusCode.NOT_FOUND


async def test_goal_validation(user_stub: Stub) -> None:
    user = await register(user_stub)
    yesterday = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    error = await rpc_error(
        user_stub.CreateGoal(
            pb.CreateGoalRequest(user_id=user.user_id, target_value=-1, target_date=yesterday)
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in field_violations(error)} == {
        "goal_type",
        "target_value",
        "target_date",
    }


async def test_goals_page_through_every_goal_once(user_stub: Stub) -> None:
    user = await register(user_stub)
    made = set()
    for target in range(1, 8):
        reply = await user_stub.CreateGoal(
            pb.CreateGoalRequest(
                user_id=user.user_id,
                goal_type=spb.GOAL_TYPE_WORKOUTS_COUNT,
                target_value=target,
                target_date=TOMORROW,
            ),
            timeout=10,
        )
        made.add(reply.goal.goal_id)
    seen: list[str] = []
    token = ""
    while True:
        page = await user_stub.ListGoals(
            pb.ListGoalsRequest(user_id=user.user_id, page_size=3, page_token=token), timeout=10
        )
        assert len(page.goals) <= 3
        seen += [g.goal_id for g in page.goals]
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == len(made) == 7
    assert set(seen) == made
    bad = await rpc_error(
        user_stub.ListGoals(pb.ListGoalsRequest(user_id=user.user_id, page_token="garbage!"))
    )
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_password_never_reaches_the_logs(user_service: services.ServiceProcess) -> None:
    assert PASSWORD not in user_service.log()


async def test_nul_characters_are_refused_not_crashed_on(user_stub: Stub) -> None:
    login = await rpc_error(
        user_stub.Authenticate(pb.AuthenticateRequest(email="a\x00@example.com", password="x" * 10))
    )
    assert login.code() == grpc.StatusCode.UNAUTHENTICATED
    name = unique()
    register_ = await rpc_error(
        user_stub.Register(
            pb.RegisterRequest(
                username=name,
                email=f"{name}@example.com",
                password="pass\x00word!!",
                profile=pb.Profile(display_name="A\x00B"),
            )
        )
    )
    assert register_.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in field_violations(register_)} == {"password", "profile.display_name"}


async def test_a_repeated_registration_token_gives_the_first_account(user_stub: Stub) -> None:
    name, token = unique(), uuid.uuid4().hex
    request = pb.RegisterRequest(
        username=name,
        email=f"{name}@example.com",
        password=PASSWORD,
        profile=pb.Profile(weight_kg=70),
        request_id=token,
        request_fingerprint="first",
    )
    replies = await asyncio.gather(*(user_stub.Register(request, timeout=10) for _ in range(3)))
    assert len({r.user.user_id for r in replies}) == 1
    assert (await user_stub.Register(request, timeout=10)).user == replies[0].user

    other = pb.RegisterRequest()
    other.CopyFrom(request)
    other.request_fingerprint = "second"
    other.username = unique()
    error = await rpc_error(user_stub.Register(other, timeout=10))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(error) == IdempotencyKeyReused.reason
    # Without the token it is a new registration, and the email is taken.
    other.request_id = ""
    error = await rpc_error(user_stub.Register(other, timeout=10))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert [v.field for v in field_violations(error)] == ["email"]
