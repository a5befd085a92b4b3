"""What a service keeps of an idempotency token, without a network: when a repeat counts as
the same request, and how the gateway names a key for a service that sees every scope."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from gateway.idempotency import Attempt
from servicekit import status
from servicekit.errors import FailedPrecondition, IdempotencyKeyReused


@pytest.mark.parametrize(("stored", "given"), [("a", "a"), (None, "a"), ("a", ""), (None, "")])
def test_a_repeat_without_another_fingerprint_is_the_same_request(
    stored: str | None, given: str
) -> None:
    IdempotencyKeyReused.check(stored, given)


def reasons(sent: grpc.Status) -> list[str]:
    """The ErrorInfo reasons a status carries to the caller."""
    found: list[str] = []
    for key, raw in sent.trailing_metadata:
        if key == "grpc-status-details-bin":
            for detail in status_pb2.Status.FromString(raw).details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    assert info.domain == status.DOMAIN
                    found.append(info.reason)
    return found


def test_a_repeat_with_another_fingerprint_is_refused_with_its_reason() -> None:
    with pytest.raises(IdempotencyKeyReused) as caught:
        IdempotencyKeyReused.check("a", "b")
    sent = status.to_status(caught.value)
    assert sent.code == grpc.StatusCode.FAILED_PRECONDITION
    assert reasons(sent) == ["IDEMPOTENCY_KEY_REUSED"]


def test_other_refusals_of_the_code_carry_no_reason() -> None:
    busy = FailedPrecondition("workout w is already active; end it first")
    assert reasons(status.to_status(busy)) == []


def test_a_scoped_key_is_one_per_scope_and_none_without_a_key() -> None:
    here, there = Attempt("k", "register:10.0.0.1", "f"), Attempt("k", "register:10.0.0.2", "f")
    assert here.scoped_key != there.scoped_key
    assert here.scoped_key == Attempt("k", "register:10.0.0.1", "g").scoped_key
    assert Attempt("", "register:10.0.0.1", "").scoped_key == ""
    assert Attempt("", "s", "").request_id != Attempt("", "s", "").request_id
    assert Attempt("k", "s", "f").request_id == "k"
