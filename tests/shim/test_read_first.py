"""A read reads before it polls, and polls first only once the queue keeps running dry.

Observed through the wake-up eventfd: a call that polls first finds it fired
and says -ECANCELED even with a packet ready; a call that reads first takes the
packet. The queue is a pipe (a TAP queue: any bytes are a frame)."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator

import pytest

from tuntap_cffi import _lowlevel
from tuntap_cffi._native import ffi, lib

FRAME = bytes(range(60))


@pytest.fixture
def pipe_queue() -> Iterator[tuple[object, object, int, int]]:
    r, w = os.pipe()
    wake = _lowlevel.new_wake_fd("test")
    os.set_blocking(r, False)
    queue = _lowlevel.new_queue(r, wake, _lowlevel.KIND_TAP, 0, 1600).c
    batch, buf, results = _lowlevel.new_batch(4, 100, _lowlevel.KIND_TAP)
    try:
        yield queue, batch, w, wake
    finally:
        del buf, results
        for fd in (r, w, wake):
            os.close(fd)


def test_a_call_after_a_batch_that_emptied_the_queue_reads_first(
    pipe_queue: tuple[object, object, int, int],
) -> None:
    queue, batch, w, wake = pipe_queue
    os.write(w, FRAME)
    assert lib.tt_queue_read(queue, batch, 0, 50) == 1  # then EAGAIN ended the batch
    os.write(w, FRAME)
    _lowlevel.wake(wake, "test")  # a poll would see it before the packet
    assert lib.tt_queue_read(queue, batch, 0, 50) == 1
    buf = ffi.new("char[]", 100)
    os.write(w, FRAME)
    assert lib.tt_queue_recv(queue, buf, 100, 50) >= 0


def test_a_queue_that_keeps_running_dry_is_polled_first_and_probed_now_and_then(
    pipe_queue: tuple[object, object, int, int],
) -> None:
    queue, batch, w, wake = pipe_queue
    for _ in range(2):  # two calls in a row find nothing at their first read
        assert lib.tt_queue_read(queue, batch, 0, 0) == -errno.EAGAIN
    _lowlevel.wake(wake, "test")
    os.write(w, FRAME)
    outcomes = [lib.tt_queue_read(queue, batch, 0, 50) for _ in range(lib.TT_DRY_PROBE)]
    # Waiting first, each finds the eventfd fired; one in TT_DRY_PROBE reads first,
    # takes the packet, and from then on the queue is read first again.
    assert outcomes.count(1) == 1 and outcomes.count(-errno.ECANCELED) == lib.TT_DRY_PROBE - 1
    os.write(w, FRAME)
    assert lib.tt_queue_read(queue, batch, 0, 50) == 1
