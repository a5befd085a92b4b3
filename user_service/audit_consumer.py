"""The audit stream's consumer: each step takes the gateway's batches (servicekit.audit) of
one read, stores every record they hold in one transaction (user_service.audit_store), then
acknowledges and deletes them: the stream is a queue with one reader, the group of the user
service (its consumer group, suffixed `.audit`), so Redis keeps no copy of anyone's log."""

from __future__ import annotations

import redis.asyncio as aioredis
import structlog

from servicekit.audit import AUDIT_STREAM, AuditRecord, records_of
from servicekit.consumer import StreamConsumer, consumer_name
from servicekit.events import MalformedEvent
from user_service.audit_store import AuditStore
from user_service.settings import UserSettings

log = structlog.get_logger("audit")
# Entries (batches of up to AUDIT_BATCH_RECORDS at the gateway) per read and transaction.
BATCH = 16


def audit_group(settings: UserSettings) -> str:
    return f"{settings.consumer_group}.audit"


class AuditConsumer(StreamConsumer):
    def __init__(self, store: AuditStore, redis: aioredis.Redis, settings: UserSettings) -> None:
        super().__init__(
            redis,
            (AUDIT_STREAM,),
            audit_group(settings),
            consumer_name(settings.consumer_name),
            settings.consumer_claim_idle_ms,
            settings.consumer_block_ms,
            BATCH,
        )
        self.store = store

    async def step(self) -> None:
        records: list[AuditRecord] = []
        taken: list[str] = []
        for stream, entry_id, fields in await self.entries():
            try:
                records += records_of(fields)
            except MalformedEvent as exc:
                await self.dead_letter(stream, entry_id, fields, str(exc))
                continue
            taken.append(entry_id)
        if not taken:
            return
        appended = await self.store.append(records)
        pipe = self.redis.pipeline(transaction=False)
        pipe.xack(AUDIT_STREAM, self.group, *taken)
        pipe.xdel(AUDIT_STREAM, *taken)
        await pipe.execute()
        (log.info if appended.repeated or appended.orphaned else log.debug)(
            "audit_appended",
            entries=len(taken),
            stored=appended.stored,
            repeated=appended.repeated,
            orphaned=appended.orphaned,
        )
