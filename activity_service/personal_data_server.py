"""gRPC glue of fitmesh.activity.v1.PersonalDataService: a user's data out, or erased."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from activity_service.checks import check_id
from activity_service.personal_data import PersonalData
from fitmesh.activity.v1 import personal_data_pb2 as pb
from fitmesh.activity.v1 import personal_data_pb2_grpc
from servicekit.errors import Violations

Context = grpc.aio.ServicerContext[Any, Any]


class PersonalDataServicer(personal_data_pb2_grpc.PersonalDataServiceServicer):
    def __init__(self, data: PersonalData) -> None:
        self.data = data

    async def ExportData(
        self, request: pb.ExportDataRequest, context: Context
    ) -> AsyncIterator[pb.ExportDataResponse]:
        _check(request.user_id)
        async for record in self.data.export(request.user_id):
            yield record

    async def EraseData(
        self, request: pb.EraseDataRequest, context: Context
    ) -> pb.EraseDataResponse:
        _check(request.user_id)
        return pb.EraseDataResponse(deleted=await self.data.erase(request.user_id))


def _check(user_id: str) -> None:
    v = Violations()
    check_id(v, "user_id", user_id)
    v.raise_if_any()
