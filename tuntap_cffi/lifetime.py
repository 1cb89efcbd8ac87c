"""``Lifetime``: a usage count that lets ``close()`` wake every waiter and the last one out release.

Every call that uses an interface's fds enters the lifetime first and leaves
it when done. ``close()`` marks it closed and fires the wake-up callback (an
interface's eventfd, which every wait in C also polls), and the fds are
released by whoever is the last one out: ``close()`` itself when nothing is
in progress, else the last call to leave. So a reader blocked in another
thread returns at once, and no call can ever touch an fd number that was
closed and re-used by something else.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Callable

from .errors import InterfaceClosedError

__all__ = ["Lifetime", "chain", "close_each"]


class Lifetime:
    """The usage count of one interface (or one stand-alone :class:`~tuntap_cffi.Link`).

    Args:
        name: the interface's name, for :class:`InterfaceClosedError`.
        release: closes what the users share (fds, sockets); run exactly once.
        wake: wakes every call waiting in C (run once, by ``close()``).
    """

    # The usage count is a list because append and pop are atomic: a call
    # registers before it looks at ``closing``, and close() sets ``closing``
    # before it looks at the users, so one of the two always sees the other
    # without a lock on the per-packet path (a lock there cost more than the
    # read). The packet calls' common case does what enter() and leave() do
    # inline, which saves two method calls (about 100 ns a packet on CPython):
    # ``users.append(op)``, then if ``closing``: ``leave()`` and raise;
    # ``users.pop()``, then if ``closing``: ``left()``.

    def __init__(
        self,
        name: str,
        release: Callable[[], None],
        wake: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self._release = release
        self._wake = wake
        self._lock = threading.RLock()
        self.users: list[str] = []  # one entry per call using the fds
        self.closing = False
        self._released = False
        self._on_close: dict[int, Callable[[], None]] = {}
        self._next_token = 0

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called (the fds may still be in use)."""
        return self.closing

    @property
    def released(self) -> bool:
        """True once the release callback has run."""
        return self._released

    def enter(self, operation: str) -> None:
        """Count one more user; raises InterfaceClosedError (naming ``operation``) once closed."""
        self.users.append(operation)
        if self.closing:
            self.leave()
            raise InterfaceClosedError(self.name, operation)

    def leave(self) -> None:
        """Count one user less; the last one out after close() releases."""
        self.users.pop()
        if self.closing:
            self.left()

    def left(self) -> None:
        """After a user left a closed lifetime: release if it was the last one."""
        if not self.users:
            self._release_once()

    def check_open(self, operation: str) -> None:
        """Raise InterfaceClosedError (naming ``operation``) once closed; counts no user."""
        if self.closing:
            raise InterfaceClosedError(self.name, operation)

    def close(self) -> None:
        """Mark closed and wake every waiter; release now when nobody is inside.

        Closing twice is harmless.
        """
        with self._lock:
            if self.closing:
                return
            self.closing = True
            if self._wake is not None:
                self._wake()
            busy = bool(self.users)
            callbacks = list(self._on_close.values())
            self._on_close.clear()
        for callback in callbacks:
            callback()
        if not busy:
            self._release_once()

    def on_close(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Also run ``callback`` when this lifetime closes (at once when it is closed).

        For a waiter with fds of its own (a link-event reader), which the
        close of what it watches must wake too. Returns the function that
        cancels the callback (harmless once it ran).
        """
        with self._lock:
            if not self.closing:
                token = self._next_token
                self._next_token += 1
                self._on_close[token] = callback
                return lambda: self._cancel(token)
        callback()
        return lambda: None

    def _cancel(self, token: int) -> None:
        with self._lock:
            self._on_close.pop(token, None)

    def _release_once(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        self._release()


def chain(error: BaseException, later: BaseException) -> None:
    """Keep ``later`` with ``error``: at the end of its chain of ``__context__``.

    So the traceback of ``error`` shows every failure (no ExceptionGroup
    before Python 3.11). A link from ``later`` back to ``error`` (set when it
    was raised while ``error`` was being handled) is dropped: no cycle.
    """
    node: BaseException | None = later
    visited: set[int] = set()
    while node is not None and id(node) not in visited:
        visited.add(id(node))
        if node.__context__ is error:
            node.__context__ = None
            break
        node = node.__context__
    seen = {id(error)}
    tail = error
    while tail.__context__ is not None and id(tail.__context__) not in seen:
        tail = tail.__context__
        seen.add(id(tail))
    if id(later) not in seen:
        tail.__context__ = later


def close_each(closes: Iterable[Callable[[], None]]) -> None:
    """Run every close, even after one failed (the rest would leak), then raise
    the first failure, with the later ones chained to it (:func:`chain`)."""
    first: BaseException | None = None
    for close in closes:
        try:
            close()
        except BaseException as exc:
            if first is None:
                first = exc
            else:
                chain(first, exc)
    if first is not None:
        raise first
