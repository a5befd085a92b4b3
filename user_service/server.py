"""gRPC glue of the user service: validate, call the store, shape the answer."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import grpc
import redis.asyncio as aioredis

from fitmesh.scoring.v1 import scoring_pb2 as spb
from fitmesh.scoring.v1 import scoring_pb2_grpc
from fitmesh.user.v1 import (
    account_pb2,
    account_pb2_grpc,
    audit_pb2,
    audit_pb2_grpc,
    sessions_pb2,
    sessions_pb2_grpc,
    user_pb2_grpc,
    webhooks_pb2,
    webhooks_pb2_grpc,
)
from fitmesh.user.v1 import user_pb2 as pb
from servicekit import channels, pagination, servicetokens
from servicekit.errors import (
    AlreadyExists,
    IdempotencyKeyReused,
    NotFound,
    Unauthenticated,
    Violations,
)
from servicekit.protoenum import enum_name
from servicekit.protofields import optional
from servicekit.server import Service
from user_service import rules
from user_service.account import Account
from user_service.account_server import AccountServicer
from user_service.audit_consumer import AuditConsumer
from user_service.audit_server import AuditServicer
from user_service.audit_store import AuditStore
from user_service.events import GoalProgressConsumer
from user_service.rules import parse_id
from user_service.security import Cipher, Passwords, Tokens
from user_service.session_server import SessionServicer, token_pair
from user_service.sessions import Sessions
from user_service.settings import UserSettings
from user_service.store import Store
from user_service.views import goal_proto, notification_proto, user_proto
from user_service.webhooks import Webhooks

Context = grpc.aio.ServicerContext[Any, Any]
MAX_TOKEN = 128


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def profile_from(v: Violations, message: pb.Profile, prefix: str = "profile.") -> rules.Profile:
    def get(name: str) -> Any:
        return optional(message, name)

    birth = get("birth_date")
    sex = get("sex")
    sex_name = enum_name(pb.Sex, sex) if sex is not None else None
    if sex is not None and sex_name is None:
        v.add(f"{prefix}sex", "unknown value")
    return rules.Profile(
        display_name=get("display_name"),
        weight_kg=get("weight_kg"),
        height_cm=get("height_cm"),
        birth_date=rules.parse_date(v, f"{prefix}birth_date", birth) if birth is not None else None,
        sex=sex_name,
        resting_heart_rate=get("resting_heart_rate"),
        max_heart_rate=get("max_heart_rate"),
    )


class UserServicer(user_pb2_grpc.UserServiceServicer):
    def __init__(
        self,
        store: Store,
        tokens: Tokens,
        cipher: Cipher,
        sessions: Sessions,
        passwords: Passwords,
    ) -> None:
        self.store, self.tokens, self.cipher = store, tokens, cipher
        self.sessions, self.passwords = sessions, passwords

    def _columns(self, profile: rules.Profile, names: tuple[str, ...]) -> dict[str, Any]:
        columns: dict[str, Any] = {}
        for name in names:
            value = getattr(profile, name)
            if name == "birth_date":
                columns["birth_date_enc"] = value and self.cipher.encrypt(value.isoformat())
            else:
                columns[name] = value.strip() if name == "display_name" and value else value
        return columns

    async def Register(self, request: pb.RegisterRequest, context: Context) -> pb.RegisterResponse:
        v = Violations()
        rules.check_username(v, request.username)
        email = rules.normalize_email(v, request.email)
        rules.check_password(v, request.password)
        profile = profile_from(v, request.profile)
        rules.check_profile(v, profile, today())
        for name in ("request_id", "request_fingerprint"):
            if len(getattr(request, name)) > MAX_TOKEN:
                v.add(name, f"at most {MAX_TOKEN} characters")
        v.raise_if_any()
        if first := await self._registered(request):
            return first
        given = tuple(n for n in rules.PROFILE_FIELDS if getattr(profile, n) is not None)
        token: dict[str, Any] = {}
        if request.request_id:
            token = {
                "idempotency_key": request.request_id,
                "request_fingerprint": request.request_fingerprint or None,
            }
        try:
            row = await self.store.create_user(
                {
                    "user_id": uuid.uuid4(),
                    "username": request.username,
                    "email": email,
                    "password_hash": await self.passwords.hash(request.password),
                    **self._columns(profile, given),
                    **token,
                }
            )
        except AlreadyExists:
            # A concurrent repeat of the same request may have won: its account is the answer.
            if first := await self._registered(request):
                return first
            raise
        return pb.RegisterResponse(user=user_proto(row, self.cipher))

    async def _registered(self, request: pb.RegisterRequest) -> pb.RegisterResponse | None:
        """The account an earlier registration with this request's token made, when it is a
        repeat of that request; None when the token is new."""
        if not request.request_id:
            return None
        first = await self.store.user_of_request(request.request_id)
        if first is None:
            return None
        IdempotencyKeyReused.check(first["request_fingerprint"], request.request_fingerprint)
        return pb.RegisterResponse(user=user_proto(first, self.cipher))

    async def Authenticate(
        self, request: pb.AuthenticateRequest, context: Context
    ) -> pb.AuthenticateResponse:
        email = request.email.strip()
        found = await self.store.credentials(email) if email and not rules.has_nul(email) else None
        stored = found["password_hash"] if found else None
        if not await self.passwords.verify(stored, request.password) or found is None:
            raise Unauthenticated("invalid email or password")
        issued = await self.sessions.begin(found["user_id"], request.user_agent)
        return token_pair(self.tokens, self.sessions, issued)

    async def _user(self, user_id: uuid.UUID) -> dict[str, Any]:
        row = await self.store.get_user(user_id)
        if row is None:
            raise NotFound("no such user")
        return row

    async def GetUser(self, request: pb.GetUserRequest, context: Context) -> pb.GetUserResponse:
        v = Violations()
        user_id = parse_id(v, "user_id", request.user_id)
        v.raise_if_any()
        return pb.GetUserResponse(user=user_proto(await self._user(user_id), self.cipher))

    async def UpdateProfile(
        self, request: pb.UpdateProfileRequest, context: Context
    ) -> pb.UpdateProfileResponse:
        v = Violations()
        user_id = parse_id(v, "user_id", request.user_id)
        paths = tuple(dict.fromkeys(request.update_mask.paths))
        for path in paths:
            if path not in rules.PROFILE_FIELDS:
                v.add("update_mask", f"unknown profile field {path!r}")
        if not paths:
            v.add("update_mask", "name at least one profile field")
        given = profile_from(v, request.profile)
        changes = rules.Profile(
            **{n: getattr(given, n) for n in paths if n in rules.PROFILE_FIELDS}
        )
        rules.check_profile(v, changes, today())
        v.raise_if_any()
        # Checks that span fields (resting below max) use the stored values too.
        current = profile_from(v, user_proto(await self._user(user_id), self.cipher).profile)
        merged = rules.Profile(
            **{n: getattr(changes if n in paths else current, n) for n in rules.PROFILE_FIELDS}
        )
        rules.check_profile(v, merged, today())
        v.raise_if_any()
        row = await self.store.update_profile(user_id, self._columns(merged, paths))
        if row is None:
            raise NotFound("no such user")
        return pb.UpdateProfileResponse(user=user_proto(row, self.cipher))

    async def CreateGoal(
        self, request: pb.CreateGoalRequest, context: Context
    ) -> pb.CreateGoalResponse:
        v = Violations()
        user_id = parse_id(v, "user_id", request.user_id)
        goal_type = enum_name(spb.GoalType, request.goal_type)
        if goal_type is None:
            v.add("goal_type", f"must be one of {', '.join(rules.GOAL_TYPES)}")
        rules.check_goal_target(v, request.target_value, goal_type)
        target_date = rules.parse_date(v, "target_date", request.target_date)
        rules.check_goal_date(v, target_date, today())
        v.raise_if_any()
        await self._user(user_id)
        row = await self.store.create_goal(
            {
                "goal_id": uuid.uuid4(),
                "user_id": user_id,
                "goal_type": goal_type,
                "target_value": request.target_value,
                "target_date": target_date,
            }
        )
        return pb.CreateGoalResponse(goal=goal_proto(row))

    async def ListGoals(
        self, request: pb.ListGoalsRequest, context: Context
    ) -> pb.ListGoalsResponse:
        user_id, limit, after = _page_request(request)
        page = await self.store.list_goals(user_id, limit, after)
        return pb.ListGoalsResponse(
            goals=[goal_proto(r) for r in page.rows],
            next_page_token=_next_token(page, "created_at", "goal_id"),
        )

    async def _goal_ids(self, user_id: str, goal_id: str) -> tuple[uuid.UUID, uuid.UUID]:
        v = Violations()
        ids = parse_id(v, "user_id", user_id), parse_id(v, "goal_id", goal_id)
        v.raise_if_any()
        return ids

    async def GetGoal(self, request: pb.GetGoalRequest, context: Context) -> pb.GetGoalResponse:
        row = await self.store.get_goal(*await self._goal_ids(request.user_id, request.goal_id))
        if row is None:
            raise NotFound("no such goal")
        return pb.GetGoalResponse(goal=goal_proto(row))

    async def UpdateGoal(
        self, request: pb.UpdateGoalRequest, context: Context
    ) -> pb.UpdateGoalResponse:
        user_id, goal_id = await self._goal_ids(request.user_id, request.goal_id)
        v = Violations()
        paths = set(request.update_mask.paths)
        if not paths or not paths <= {"target_value", "target_date"}:
            v.add("update_mask", "name target_value and/or target_date")
        changes: dict[str, Any] = {}
        if "target_value" in paths:
            rules.check_goal_target(v, request.target_value, None)  # its type's: below
            changes["target_value"] = request.target_value
        if "target_date" in paths:
            changes["target_date"] = rules.parse_date(v, "target_date", request.target_date)
            rules.check_goal_date(v, changes["target_date"], today())
        v.raise_if_any()
        current = await self.store.get_goal(user_id, goal_id)
        if current is None:
            raise NotFound("no such goal")
        if "target_value" in changes:
            rules.check_goal_target(v, changes["target_value"], current["goal_type"])
        if changes.get("target_value", float("inf")) <= current["current_progress"]:
            v.add(
                "target_value",
                f"must be above the progress so far ({current['current_progress']:g})",
            )
        v.raise_if_any()
        if current["status"] == "expired" and "target_date" in changes:
            changes["status"] = "active"  # a later date gives an expired goal another chance
        row = await self.store.update_goal(user_id, goal_id, changes)
        if row is None:
            raise NotFound("no such goal")
        return pb.UpdateGoalResponse(goal=goal_proto(row))

    async def DeleteGoal(
        self, request: pb.DeleteGoalRequest, context: Context
    ) -> pb.DeleteGoalResponse:
        if not await self.store.delete_goal(
            *await self._goal_ids(request.user_id, request.goal_id)
        ):
            raise NotFound("no such goal")
        return pb.DeleteGoalResponse()

    async def ListNotifications(
        self, request: pb.ListNotificationsRequest, context: Context
    ) -> pb.ListNotificationsResponse:
        user_id, limit, after = _page_request(request)
        page = await self.store.list_notifications(user_id, limit, after)
        return pb.ListNotificationsResponse(
            notifications=[notification_proto(r) for r in page.rows],
            next_page_token=_next_token(page, "created_at", "notification_id"),
        )


def _page_request(request: Any) -> tuple[uuid.UUID, int, tuple[dt.datetime, str] | None]:
    v = Violations()
    user_id = parse_id(v, "user_id", request.user_id)
    v.raise_if_any()
    after = pagination.decode(request.page_token)
    if after is not None:
        parse_id(v, "page_token", after[1])
        v.raise_if_any()
    return user_id, pagination.page_size(request.page_size), after


def _next_token(page: Any, at: str, key: str) -> str:
    if not page.more:
        return ""
    last = page.rows[-1]
    return pagination.encode(last[at], str(last[key]))


class Resources:
    """What the service opens at start and closes at stop. gRPC channels belong to the
    event loop they are made on, so they are made in `start`, on the serving loop."""

    def __init__(self, settings: UserSettings) -> None:
        self.settings = settings
        self.store = Store(settings.database_url, settings.database_pool_size)
        self.audit = AuditStore(self.store)
        self.redis = aioredis.from_url(settings.redis_url, decode_responses=True)
        # Made with the service, so a missing SERVICE_SIGNING_KEY stops it before it serves.
        self.caller = servicetokens.Minter.from_setting(
            servicetokens.USER_SERVICE, settings.service_signing_key, settings.environment
        )
        self.sessions = Sessions(
            self.store,
            self.redis,
            dt.timedelta(days=settings.refresh_token_ttl_days),
            settings.access_token_ttl_seconds,
        )
        self._channel: grpc.aio.Channel | None = None
        self._consumer: GoalProgressConsumer | None = None
        self._audit_consumer = AuditConsumer(self.audit, self.redis, settings)

    async def start(self) -> None:
        await self.store.start()
        self._channel = channels.scoring_channel(self.settings.scoring_service_addrs, self.caller)
        scoring = scoring_pb2_grpc.ScoringServiceStub(self._channel)
        self._consumer = GoalProgressConsumer(self.store, self.redis, scoring, self.settings)
        await self._consumer.start()
        await self.sessions.start()
        await self._audit_consumer.start()

    async def stop(self) -> None:
        await self._audit_consumer.stop()
        await self.sessions.stop()
        if self._consumer:
            await self._consumer.stop()
        if self._channel:
            await self._channel.close()
        await self.redis.aclose()
        await self.store.stop()


def build(settings: UserSettings) -> Service:
    tokens = Tokens(
        settings.jwt_private_key,
        settings.jwt_issuer,
        settings.access_token_ttl_seconds,
        environment=settings.environment,
    )
    cipher = Cipher(settings.encryption_keys, environment=settings.environment)
    resources = Resources(settings)
    passwords = Passwords()
    servicer = UserServicer(resources.store, tokens, cipher, resources.sessions, passwords)
    sessions = SessionServicer(resources.store, resources.sessions, tokens, passwords)
    account = AccountServicer(
        Account(resources.store, resources.sessions, resources.redis, passwords, cipher)
    )
    webhooks = Webhooks(resources.store, resources.redis, cipher, settings)

    def register(server: grpc.aio.Server) -> None:
        user_pb2_grpc.add_UserServiceServicer_to_server(servicer, server)
        sessions_pb2_grpc.add_SessionServiceServicer_to_server(sessions, server)
        account_pb2_grpc.add_AccountServiceServicer_to_server(account, server)
        # The audit log, a service of its own on the same server (and database).
        audit_pb2_grpc.add_AuditServiceServicer_to_server(AuditServicer(resources.audit), server)
        webhooks_pb2_grpc.add_WebhookServiceServicer_to_server(webhooks.servicer, server)

    return Service(
        name="user_service",
        full_names=[
            pb.DESCRIPTOR.services_by_name["UserService"].full_name,
            sessions_pb2.DESCRIPTOR.services_by_name["SessionService"].full_name,
            account_pb2.DESCRIPTOR.services_by_name["AccountService"].full_name,
            audit_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name,
            webhooks_pb2.DESCRIPTOR.services_by_name["WebhookService"].full_name,
        ],
        register=register,
        probes=[resources.store.ping],
        lifecycles=[resources, webhooks],
    )
