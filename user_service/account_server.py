"""gRPC glue of fitmesh.user.v1.AccountService: an account out whole, or erased."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc

from fitmesh.user.v1 import account_pb2 as pb
from fitmesh.user.v1 import account_pb2_grpc
from servicekit.errors import Violations
from servicekit.interceptors import request_id_from
from user_service.account import Account
from user_service.rules import parse_id

Context = grpc.aio.ServicerContext[Any, Any]


def _user(text: str) -> uuid.UUID:
    v = Violations()
    user_id = parse_id(v, "user_id", text)
    v.raise_if_any()
    return user_id


class AccountServicer(account_pb2_grpc.AccountServiceServicer):
    def __init__(self, account: Account) -> None:
        self.account = account

    async def ExportAccount(
        self, request: pb.ExportAccountRequest, context: Context
    ) -> AsyncIterator[pb.ExportAccountResponse]:
        async for kind, text in self.account.export(_user(request.user_id)):
            yield pb.ExportAccountResponse(kind=kind, json=text)

    async def BeginErasure(
        self, request: pb.BeginErasureRequest, context: Context
    ) -> pb.BeginErasureResponse:
        v = Violations()
        user_id = parse_id(v, "user_id", request.user_id)
        keep = parse_id(v, "session_id", request.session_id) if request.session_id else None
        if not request.password:
            v.add("password", "is required")
        v.raise_if_any()
        await self.account.begin(user_id, request.password, keep)
        return pb.BeginErasureResponse()

    async def FinishErasure(
        self, request: pb.FinishErasureRequest, context: Context
    ) -> pb.FinishErasureResponse:
        request_id = request_id_from(context.invocation_metadata())  # type: ignore[arg-type]
        await self.account.finish(_user(request.user_id), request_id)
        return pb.FinishErasureResponse()
