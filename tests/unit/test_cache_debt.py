"""A replica's debt of a cache generation: a bump settles the failures counted before it was
sent, never one that came while it was on its way."""

from __future__ import annotations

from gateway.cache import Debt


def test_a_bump_settles_only_the_failures_before_it() -> None:
    debt = Debt()
    assert debt.owed == 0
    debt.owe()
    sent = debt.owed  # a bump goes out
    debt.owe()  # a forget fails while it is on its way
    debt.settle(sent)
    assert debt.owed, "the later failure is still owed"
    debt.settle(debt.owed)
    assert debt.owed == 0


def test_a_late_reply_never_settles_a_newer_debt() -> None:
    debt = Debt()
    debt.owe()
    early = debt.owed
    debt.settle(early)  # one bump landed
    debt.owe()  # a new failure
    debt.settle(early)  # another bump, sent before it, lands late
    assert debt.owed
