"""The audit log's hash chain as pure logic: its encoding, its links, and every kind of
tampering found at the record where it happened."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import uuid

import pytest

from user_service.audit_chain import (
    GENESIS,
    Chained,
    Head,
    Link,
    Verification,
    append,
    canonical,
    digest,
)

USER = str(uuid.uuid4())


def link(n: int, **changes: object) -> Link:
    values: dict[str, object] = {
        "user_id": USER,
        "seq": 0,
        "record_id": f"batch-{n}.0",
        "at_us": 1_767_225_600_000_000 + n,
        "actor_id": USER,
        "action": "read",
        "resource": f"workout:w{n}",
        "result": 200,
        "request_id": f"req-{n}",
    }
    return Link(**{**values, **changes})  # type: ignore[arg-type]


def chain(length: int) -> tuple[list[Chained], Head]:
    head = Head()
    rows = []
    for n in range(length):
        row, head = append(head, link(n))
        rows.append(row)
    return rows, head


def check(rows: list[Chained], head: Head) -> tuple[int, str] | None:
    verification = Verification()
    for row in rows:
        if not verification.feed(row):
            break
    broken = verification.finish(head)
    return (broken.seq, broken.problem) if broken else None


def test_the_encoding_is_a_fixed_json_array_and_the_hash_covers_the_previous_one() -> None:
    record = link(1, seq=7, resource="metrics:heart_rate", request_id="ré")
    expected = (
        f'["fitmesh.audit.v1","{USER}",7,"batch-1.0",1767225600000001,"{USER}",'
        '"read","metrics:heart_rate",200,"ré"]'
    ).encode()
    assert canonical(record) == expected
    previous = hashlib.sha256(b"before").digest()
    assert digest(previous, record) == hashlib.sha256(previous + expected).digest()


def test_a_chain_links_each_record_to_the_one_before_and_verifies() -> None:
    rows, head = chain(5)
    assert [r.link.seq for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == GENESIS
    assert all(later.prev_hash == earlier.hash for earlier, later in itertools.pairwise(rows))
    assert head == Head(5, rows[-1].hash)
    assert check(rows, head) is None
    assert check([], Head()) is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("user_id", str(uuid.uuid4())),
        ("record_id", "other.0"),
        ("at_us", 1),
        ("actor_id", str(uuid.uuid4())),
        ("action", "update"),
        ("resource", "profile"),
        ("result", 403),
        ("request_id", "forged"),
    ],
)
def test_a_changed_field_breaks_the_chain_at_that_record(field: str, value: object) -> None:
    rows, head = chain(5)
    changed = dataclasses.replace(rows[2].link, **{field: value})  # type: ignore[arg-type]
    rows[2] = dataclasses.replace(rows[2], link=changed)
    assert check(rows, head) == (3, "its contents do not match its hash")


def test_a_record_rehashed_after_a_change_breaks_the_chain_at_the_next_one() -> None:
    rows, head = chain(5)
    changed = dataclasses.replace(rows[1].link, resource="profile")
    rows[1] = Chained(changed, rows[1].prev_hash, digest(rows[1].prev_hash, changed))
    assert check(rows, head) == (3, "does not follow the record before it")


def test_a_record_taken_out_is_missing_at_its_position() -> None:
    rows, head = chain(5)
    del rows[1]
    assert check(rows, head) == (2, "record missing")


def test_records_cut_off_the_end_are_missing_against_the_head() -> None:
    rows, head = chain(5)
    assert check(rows[:3], head) == (4, "record missing")
    assert check([], head) == (1, "record missing")


def test_swapped_records_break_the_chain_where_the_first_moved() -> None:
    rows, head = chain(5)
    rows[1], rows[2] = rows[2], rows[1]
    assert check(rows, head) == (2, "record missing")
    # Renumbered to look in order, they no longer follow each other.
    renumbered = [
        dataclasses.replace(r, link=dataclasses.replace(r.link, seq=i + 1))
        for i, r in enumerate(rows)
    ]
    assert check(renumbered, head) == (2, "does not follow the record before it")


def test_a_head_that_disagrees_with_the_last_record_is_found() -> None:
    rows, _ = chain(3)
    assert check(rows, Head(3, hashlib.sha256(b"x").digest())) == (
        3,
        "does not match the chain's recorded head",
    )
    assert check(rows, Head(2, rows[1].hash)) == (3, "past the chain's recorded head")


def test_only_the_first_break_counts() -> None:
    rows, head = chain(6)
    rows[4] = dataclasses.replace(rows[4], link=dataclasses.replace(rows[4].link, result=500))
    rows[1] = dataclasses.replace(rows[1], link=dataclasses.replace(rows[1].link, result=500))
    verification = Verification()
    fed = [verification.feed(r) for r in rows]
    assert fed == [True, False, False, False, False, False]
    assert verification.checked == 2
    assert check(rows, head) == (2, "its contents do not match its hash")
