"""Bindings of ``csrc/cdef/wait.h``: the wake-up eventfd that every wait in C
polls beside its fd (tt_wait itself is called from C only)."""

from __future__ import annotations

from .._native import lib
from .common import check


def new_wake_fd(name: str) -> int:
    """Create the eventfd that wakes every waiter of an interface when it closes."""
    return check(lib.tt_eventfd(), "eventfd", name)


def wake(wakefd: int, name: str) -> None:
    """Fire the wake-up fd: every present and future wait returns -ECANCELED."""
    check(lib.tt_wake(wakefd), "wake", name)
