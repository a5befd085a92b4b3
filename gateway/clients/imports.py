"""Workout imports, as the routes see them. Served by the activity service's replicas, so
they share its channel and breaker."""

from __future__ import annotations

from fitmesh.activity.v1 import imports_pb2 as ipb
from fitmesh.activity.v1 import imports_pb2_grpc
from fitmesh.scoring.v1 import scoring_pb2 as spb
from gateway.clients.activity import kind
from gateway.clients.backend import Backend
from gateway.import_responses import ImportResponse


class Imports:
    """The calls of IMPORT_SERVICE."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.stub = imports_pb2_grpc.ImportServiceStub(backend.channel)

    async def submit(
        self,
        user_id: str,
        filename: str,
        content: bytes,
        workout_type: str | None,
        athlete: spb.Athlete,
        callback_id: str = "",
    ) -> ImportResponse:
        request = ipb.ImportWorkoutRequest(
            user_id=user_id,
            filename=filename,
            content=content,
            workout_type=kind(workout_type or ""),
            athlete=athlete,
            callback_id=callback_id,
        )
        reply = await self.backend.call(self.stub.ImportWorkout, request)
        return ImportResponse.from_proto(reply.workout_import, reply.duplicate)

    async def get(self, user_id: str, import_id: str) -> ImportResponse:
        reply = await self.backend.call(
            self.stub.GetImport, ipb.GetImportRequest(user_id=user_id, import_id=import_id)
        )
        return ImportResponse.from_proto(reply.workout_import)
