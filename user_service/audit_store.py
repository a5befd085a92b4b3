"""PostgreSQL access for the audit log: batches appended to their accounts' hash chains,
pages, verification, and erasure. The chain itself is pure logic (user_service.audit_chain);
this module keeps it consistent under concurrency.

Appending a batch is one transaction: the accounts' rows are locked against deletion (an
account erased meanwhile gets none of its late records), their chain heads are locked in
order (two consumers never interleave one chain, and never deadlock), records already
stored are dropped (a redelivered entry), the rest are chained and written with one COPY,
and the heads move on."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from servicekit.audit import AuditRecord
from user_service.audit_chain import Broken, Chained, Head, Link, Verification, append
from user_service.store import Conn, Row, Store

# The chain of erasures: one record per erased account, under an id no account has.
ERASURES = uuid.UUID(int=0)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MICROSECOND = dt.timedelta(microseconds=1)
COLUMNS = (
    "user_id, seq, record_id, at, actor_id, action, resource, result, request_id, prev_hash, hash"
)
VERIFY_CHUNK = 1000


def instant(at_us: int) -> dt.datetime:
    return EPOCH + at_us * MICROSECOND


def microseconds(at: dt.datetime) -> int:
    return (at - EPOCH) // MICROSECOND


def chained(row: Row) -> Chained:
    """A stored record as its chain sees it."""
    link = Link(
        user_id=str(row["user_id"]),
        seq=row["seq"],
        record_id=row["record_id"],
        at_us=microseconds(row["at"]),
        actor_id=str(row["actor_id"] or ""),
        action=row["action"],
        resource=row["resource"],
        result=row["result"],
        request_id=row["request_id"],
    )
    return Chained(link, bytes(row["prev_hash"]), bytes(row["hash"]))


def _link(record: AuditRecord) -> Link:
    return Link(
        user_id=str(uuid.UUID(record.user_id)),
        seq=0,
        record_id=record.record_id,
        at_us=record.at_us,
        actor_id=str(uuid.UUID(record.actor_id)),
        action=record.action,
        resource=record.resource,
        result=record.result,
        request_id=record.request_id,
    )


@dataclass(frozen=True)
class Appended:
    stored: int
    repeated: int  # stored before: a redelivery
    orphaned: int  # of accounts that do not exist (erased, or never were)


@dataclass(frozen=True)
class Verdict:
    checked: int
    head: Head
    broken: Broken | None
    broken_row: Row | None


class AuditStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def append(self, records: Sequence[AuditRecord]) -> Appended:
        """Chain and store a batch, in order; a record whose id is stored already is not
        stored again."""
        unique = list({r.record_id: r for r in records}.values())
        async with self.store.transaction() as conn:
            accounts = await _lock_accounts(conn, {uuid.UUID(r.user_id) for r in unique})
            owned = [r for r in unique if uuid.UUID(r.user_id) in accounts]
            heads = await _lock_heads(conn, {uuid.UUID(r.user_id) for r in owned})
            stored = await _stored(conn, [r.record_id for r in owned])
            rows: list[Chained] = []
            moved: dict[uuid.UUID, Head] = {}
            for record in owned:
                if record.record_id in stored:
                    continue
                owner = uuid.UUID(record.user_id)
                row, moved[owner] = append(moved.get(owner, heads[owner]), _link(record))
                rows.append(row)
            await _insert(conn, rows)
            await _save_heads(conn, moved)
        return Appended(len(rows), len(owned) - len(rows), len(unique) - len(owned))

    async def page(self, user_id: uuid.UUID, limit: int, before: int | None) -> list[Row]:
        """Up to `limit` + 1 records, newest first, before position `before` (when given)."""
        async with self.store.transaction() as conn:
            cur = await conn.execute(
                f"SELECT {COLUMNS} FROM audit_log WHERE user_id = %s AND seq < %s "  # noqa: S608
                "ORDER BY seq DESC LIMIT %s",
                (user_id, before or 2**63 - 1, limit + 1),
            )
            return await cur.fetchall()

    async def verify(self, user_id: uuid.UUID) -> Verdict:
        """Walk the chain from its first record, in one snapshot: appends go on meanwhile."""
        check = Verification()
        async with self.store.transaction() as conn:
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            breaking = await _walk(conn, user_id, check)
            head = await _head(conn, user_id)
        broken = check.finish(head)
        # The record that broke it, unless the break is a record the chain lacks.
        shown = breaking if broken and breaking and breaking["seq"] == broken.seq else None
        return Verdict(check.checked, head, broken, shown)


async def erase(conn: Conn, user_id: uuid.UUID, request_id: str, at: dt.datetime) -> int:
    """Erase an account's audit records, in the caller's transaction, and leave in the chain
    of erasures one record that names no one: action erase, no actor, and as resource the
    erased chain's last hash (which identifies nobody, yet matches a copy of the chain should
    one turn up). Call it in the transaction that deletes the account, before deleting the
    account's row: the row is locked first, so no late record of the account is chained
    after it. Returns how many records were erased."""
    await conn.execute("SELECT 1 FROM users WHERE user_id = %s FOR UPDATE", (user_id,))
    heads = await _lock_heads(conn, {ERASURES, user_id})
    # The one path allowed past the append-only trigger, for this transaction only.
    await conn.execute("SELECT set_config('fitmesh.audit_erase', 'on', true)")
    cur = await conn.execute("DELETE FROM audit_log WHERE user_id = %s", (user_id,))
    erased = cur.rowcount
    await conn.execute("SELECT set_config('fitmesh.audit_erase', '', true)")
    await conn.execute("DELETE FROM audit_chains WHERE user_id = %s", (user_id,))
    record = Link(
        user_id=str(ERASURES),
        seq=0,
        record_id=f"erase.{uuid.uuid4().hex}",
        at_us=microseconds(at),
        actor_id="",
        action="erase",
        resource=f"audit_chain:{heads[user_id].hash.hex()}",
        result=200,
        request_id=request_id,
    )
    row, head = append(heads[ERASURES], record)
    await _insert(conn, [row])
    await _save_heads(conn, {ERASURES: head})
    return erased


async def _lock_accounts(conn: Conn, user_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """The accounts that exist, locked against deletion until the transaction ends."""
    cur = await conn.execute(
        "SELECT user_id FROM users WHERE user_id = ANY(%s) ORDER BY user_id FOR KEY SHARE",
        (sorted(user_ids),),
    )
    return {row["user_id"] for row in await cur.fetchall()}


async def _lock_heads(conn: Conn, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Head]:
    """The chains' heads, made when missing, locked in id order (no two writers deadlock)."""
    ids = sorted(user_ids)
    if not ids:
        return {}
    await conn.execute(
        "INSERT INTO audit_chains (user_id) SELECT u FROM unnest(%s::uuid[]) AS u ORDER BY u "
        "ON CONFLICT DO NOTHING",
        (ids,),
    )
    cur = await conn.execute(
        "SELECT user_id, seq, hash FROM audit_chains WHERE user_id = ANY(%s) "
        "ORDER BY user_id FOR UPDATE",
        (ids,),
    )
    return {r["user_id"]: Head(r["seq"], bytes(r["hash"])) for r in await cur.fetchall()}


async def _stored(conn: Conn, record_ids: list[str]) -> set[str]:
    if not record_ids:
        return set()
    cur = await conn.execute(
        "SELECT record_id FROM audit_log WHERE record_id = ANY(%s)", (record_ids,)
    )
    return {row["record_id"] for row in await cur.fetchall()}


async def _insert(conn: Conn, rows: list[Chained]) -> None:
    """Every row in one COPY: one statement per batch, whatever its size."""
    if not rows:
        return
    async with conn.cursor() as cur, cur.copy(f"COPY audit_log ({COLUMNS}) FROM STDIN") as copy:
        for row in rows:
            link = row.link
            await copy.write_row(
                (
                    link.user_id,
                    link.seq,
                    link.record_id,
                    instant(link.at_us),
                    link.actor_id or None,
                    link.action,
                    link.resource,
                    link.result,
                    link.request_id,
                    row.prev_hash,
                    row.hash,
                )
            )


async def _save_heads(conn: Conn, heads: dict[uuid.UUID, Head]) -> None:
    if not heads:
        return
    ids = sorted(heads)
    await conn.execute(
        "UPDATE audit_chains AS c SET seq = h.seq, hash = h.hash "
        "FROM unnest(%s::uuid[], %s::bigint[], %s::bytea[]) AS h (user_id, seq, hash) "
        "WHERE c.user_id = h.user_id",
        (ids, [heads[i].seq for i in ids], [heads[i].hash for i in ids]),
    )


async def _walk(conn: Conn, user_id: uuid.UUID, check: Verification) -> Row | None:
    """Feed the chain to `check` in chunks, in order, until it ends (None) or breaks (the
    row that broke it)."""
    after = 0
    while True:
        cur = await conn.execute(
            f"SELECT {COLUMNS} FROM audit_log WHERE user_id = %s AND seq > %s "  # noqa: S608
            "ORDER BY seq LIMIT %s",
            (user_id, after, VERIFY_CHUNK),
        )
        rows = await cur.fetchall()
        for row in rows:
            if not check.feed(chained(row)):
                return row
        if len(rows) < VERIFY_CHUNK:
            return None
        after = rows[-1]["seq"]


async def _head(conn: Conn, user_id: uuid.UUID) -> Head:
    cur = await conn.execute("SELECT seq, hash FROM audit_chains WHERE user_id = %s", (user_id,))
    row = await cur.fetchone()
    return Head(row["seq"], bytes(row["hash"])) if row else Head()
