"""A user's data across the services, as the routes see it: exported whole, or erased.
The user service keeps the account; the activity process keeps everything else. Both are
reached over the channels (and breakers) of their backends."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fitmesh.activity.v1 import personal_data_pb2 as dpb
from fitmesh.activity.v1 import personal_data_pb2_grpc
from fitmesh.user.v1 import account_pb2 as apb
from fitmesh.user.v1 import account_pb2_grpc
from gateway.clients.backend import Backend

ACCOUNT_SERVICE = "fitmesh.user.v1.AccountService"
ACCOUNT_IDEMPOTENT = ("ExportAccount", "BeginErasure")
DATA_SERVICE = "fitmesh.activity.v1.PersonalDataService"
DATA_IDEMPOTENT = ("ExportData", "EraseData")


class PersonalData:
    def __init__(self, users: Backend, activity: Backend, export_seconds: float) -> None:
        self.users, self.activity = users, activity
        self.accounts = account_pb2_grpc.AccountServiceStub(users.channel)
        self.data = personal_data_pb2_grpc.PersonalDataServiceStub(activity.channel)
        self.export_seconds = export_seconds

    async def export(self, user_id: str) -> AsyncIterator[tuple[str, dict[str, object]]]:
        """Every record of the user: the account's, then the rest."""
        account = self.users.stream(
            self.accounts.ExportAccount,
            apb.ExportAccountRequest(user_id=user_id),
            self.export_seconds,
        )
        async for record in account:
            yield record.kind, json.loads(record.json)
        data = self.activity.stream(
            self.data.ExportData, dpb.ExportDataRequest(user_id=user_id), self.export_seconds
        )
        async for item in data:
            yield item.kind, json.loads(item.json)

    async def erase(self, user_id: str, password: str, session_id: str) -> None:
        """Erase the account and all its data; every step is safe to repeat, so a failed
        erasure is finished by asking again."""
        await self.users.call(
            self.accounts.BeginErasure,
            apb.BeginErasureRequest(user_id=user_id, password=password, session_id=session_id),
        )
        # The two bulk steps walk every store of the user: they get the export's deadline.
        await self.activity.call(
            self.data.EraseData,
            dpb.EraseDataRequest(user_id=user_id),
            timeout=self.export_seconds,
        )
        await self.users.call(
            self.accounts.FinishErasure,
            apb.FinishErasureRequest(user_id=user_id),
            timeout=self.export_seconds,
        )
