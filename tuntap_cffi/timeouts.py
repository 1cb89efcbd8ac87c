"""Timeouts of the calls that wait: validated once into a monotonic deadline,
and waited for in C in bounded slices (so that Ctrl-C and ``close()`` are
seen between them).

Every public call that takes ``timeout=`` validates it with :func:`deadline_of`.
"""

from __future__ import annotations

import errno
import math
import threading
import time
from typing import Optional

from . import _lowlevel

__all__ = ["MAX_TIMEOUT", "RETRYABLE", "Timeout", "deadline_of", "next_slice", "slice_ms"]

Timeout = Optional[float]

# The longest finite timeout: Python's own for its blocking calls (about 292 years).
MAX_TIMEOUT = threading.TIMEOUT_MAX
_SLICE = _lowlevel.WAIT_SLICE_MS
# What a C call answers when it only ran out of its wait slice: try again.
RETRYABLE = (-errno.EAGAIN, -errno.EINTR)


def _shown(timeout: float) -> str:
    text = repr(timeout)
    return text if len(text) <= 24 else f"{text[:12]}...({len(text)} digits)"


def deadline_of(timeout: Timeout) -> float | None:
    """Validate a timeout and turn it into a monotonic deadline (None: no deadline).

    None and ``float("inf")`` wait for ever; a number of seconds from 0 to
    :data:`MAX_TIMEOUT` is a deadline. Refused before any system call:
    a bool or a non-number (TypeError), NaN, a negative number or one past
    MAX_TIMEOUT (ValueError), each naming ``timeout``.
    """
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be None or a number of seconds, not {timeout!r}")
    # Compared, never converted: an int too large for a float is refused as too long.
    if timeout != timeout or timeout < 0:
        raise ValueError(f"timeout must be None or >= 0, not {timeout!r}")
    if timeout == math.inf:
        return None
    if timeout > MAX_TIMEOUT:
        raise ValueError(
            f"timeout {_shown(timeout)} is too long: at most {MAX_TIMEOUT:.0f} s; "
            "None or float('inf') waits for ever"
        )
    return time.monotonic() + timeout


def slice_ms(deadline: float | None) -> int:
    """How long the next wait in C may last, in ms: at most one slice, 0 once past."""
    if deadline is None:
        return _SLICE
    remaining = deadline - time.monotonic()
    return 0 if remaining <= 0 else min(_SLICE, math.ceil(remaining * 1000))


def next_slice(deadline: float | None) -> int | None:
    """The wait slice for the next try of a call whose last slice ran out
    (``RETRYABLE``), or None once ``deadline`` has passed: the one deadline
    check of every wait loop (queues, UDP sockets, link events)."""
    wait = slice_ms(deadline)
    return None if wait == 0 and deadline is not None else wait
