"""The audit log's hash chain, as pure logic: how a record is encoded and linked, and how a
chain is checked.

Each account's records form a chain in the order the log received them: record n stores
`prev_hash`, the hash of record n-1 (GENESIS for the first), and `hash` = SHA-256 of
prev_hash followed by the record's canonical encoding, which includes its position. So any
change to a stored record, a record taken out or put in, or two swapped, breaks the chain
at that record; and the chain's head (the last position and hash, kept apart) shows records
cut off its end."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

GENESIS = bytes(32)
# Part of every encoding, so a later format cannot be mistaken for this one.
FORMAT = "fitmesh.audit.v1"


@dataclass(frozen=True, slots=True)
class Link:
    """What a record's hash covers: everything it holds but the hashes themselves."""

    user_id: str  # the chain: an account's id, or NIL for the chain of erasures
    seq: int
    record_id: str
    at_us: int
    actor_id: str
    action: str
    resource: str
    result: int
    request_id: str


@dataclass(frozen=True, slots=True)
class Chained:
    link: Link
    prev_hash: bytes
    hash: bytes


@dataclass(frozen=True, slots=True)
class Head:
    """Where a chain ends: its last position (0 when empty) and that record's hash."""

    seq: int = 0
    hash: bytes = GENESIS


@dataclass(frozen=True, slots=True)
class Broken:
    """The first record that breaks a chain, and how."""

    seq: int
    problem: str


def canonical(link: Link) -> bytes:
    """One byte string per record, the same wherever it is computed: a JSON array in a fixed
    order, without spaces, in UTF-8."""
    values = [
        FORMAT,
        link.user_id,
        link.seq,
        link.record_id,
        link.at_us,
        link.actor_id,
        link.action,
        link.resource,
        link.result,
        link.request_id,
    ]
    return json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode()


def digest(prev_hash: bytes, link: Link) -> bytes:
    return hashlib.sha256(prev_hash + canonical(link)).digest()


def append(head: Head, link: Link) -> tuple[Chained, Head]:
    """`link` (its seq aside) added after `head`: the record as stored, and the new head."""
    placed = dataclasses.replace(link, seq=head.seq + 1)
    hashed = digest(head.hash, placed)
    return Chained(placed, head.hash, hashed), Head(placed.seq, hashed)


class Verification:
    """Walks one chain from its first record, in order, and keeps the first break."""

    def __init__(self) -> None:
        self.checked = 0
        self.broken: Broken | None = None
        self._last = Head()

    def feed(self, record: Chained) -> bool:
        """Check the next record; False once the chain is broken (later ones prove nothing)."""
        if self.broken is not None:
            return False
        self.checked += 1
        expected = self._last.seq + 1
        if record.link.seq != expected:
            self.broken = Broken(expected, "record missing")
        elif record.prev_hash != self._last.hash:
            self.broken = Broken(expected, "does not follow the record before it")
        elif digest(record.prev_hash, record.link) != record.hash:
            self.broken = Broken(expected, "its contents do not match its hash")
        else:
            self._last = Head(record.link.seq, record.hash)
        return self.broken is None

    def finish(self, head: Head) -> Broken | None:
        """The first break, the chain's recorded head included: records cut off the end,
        or added past it, break it too."""
        last = self._last
        if self.broken is not None or head == last:
            return self.broken
        if head.seq > last.seq:
            self.broken = Broken(last.seq + 1, "record missing")
        elif head.seq < last.seq:
            self.broken = Broken(head.seq + 1, "past the chain's recorded head")
        else:
            self.broken = Broken(last.seq, "does not match the chain's recorded head")
        return self.broken
