"""One typed client per backend service (see gateway.clients.backend for what each call
gets: breaker, deadline, error mapping)."""

from __future__ import annotations

from gateway.clients.activity import Activity
from gateway.clients.audit import Audit
from gateway.clients.backend import Backend
from gateway.clients.health import Health
from gateway.clients.imports import Imports
from gateway.clients.personal import PersonalData
from gateway.clients.users import Users
from gateway.settings import GatewaySettings
from servicekit import channels


class Clients:
    def __init__(self, settings: GatewaySettings) -> None:
        # The gateway never calls scoring itself (scoring does not accept its service
        # token); the breaker guards what reaches it through the activity service, and
        # readiness asks its grpc.health.v1, which is open.
        self.scoring = Backend(
            "scoring_service",
            settings.scoring_service_addrs,
            {channels.SCORING_SERVICE: channels.SCORING_METHODS},
            settings,
        )
        self.users = Users(settings)
        self.activity = Activity(settings, self.scoring)
        # Health data is served by the activity service's replicas: one channel, one breaker.
        self.health = Health(self.activity.backend, self.scoring)
        self.personal = PersonalData(
            self.users.backend, self.activity.backend, settings.export_deadline_seconds
        )
        self.imports = Imports(self.activity.backend)
        # So is the audit log by the user service's.
        self.audit = Audit(self.users.backend)

    def backends(self) -> list[Backend]:
        return [self.users.backend, self.activity.backend, self.scoring]

    async def close(self) -> None:
        for backend in self.backends():
            await backend.close()


__all__ = [
    "Activity",
    "Audit",
    "Backend",
    "Clients",
    "Health",
    "Imports",
    "PersonalData",
    "Users",
]
