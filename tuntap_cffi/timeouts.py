"""Timeouts of the calls that wait: validated once into a monotonic deadline,
and waited for in C in bounded slices (so that Ctrl-C and ``close()`` are
seen between them)."""

from __future__ import annotations

import errno
import math
import time
from typing import Optional

from . import _lowlevel

__all__ = ["RETRYABLE", "Timeout", "deadline_of", "slice_ms"]

Timeout = Optional[float]

_SLICE = _lowlevel.WAIT_SLICE_MS
# What a C call answers when it only ran out of its wait slice: try again.
RETRYABLE = (-errno.EAGAIN, -errno.EINTR)


def deadline_of(timeout: Timeout) -> float | None:
    """Validate a timeout (None or seconds >= 0) and turn it into a monotonic deadline."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be None or a number of seconds, not {timeout!r}")
    if math.isnan(timeout) or timeout < 0:
        raise ValueError(f"timeout must be None or >= 0, not {timeout!r}")
    return time.monotonic() + timeout


def slice_ms(deadline: float | None) -> int:
    """How long the next wait in C may last, in ms: at most one slice, 0 once past."""
    if deadline is None:
        return _SLICE
    remaining = deadline - time.monotonic()
    return 0 if remaining <= 0 else min(_SLICE, math.ceil(remaining * 1000))
