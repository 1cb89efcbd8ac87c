"""A call blocked in another thread, and the close that must wake it; whether a
thread waits in a poll of an fd."""

from __future__ import annotations

import platform
import threading
import time
from collections.abc import Callable
from typing import NamedTuple


class Woken(NamedTuple):
    raised: list[BaseException]  # what the call raised (empty: it returned)
    seconds: float  # from the close until the thread ended (or gave up waiting)
    alive: bool  # still running 5 s after the close
    inside: bool  # blocked() said so before the close


def close_while_blocked(
    call: Callable[[], object],
    close: Callable[[], None],
    *,
    blocked: Callable[[], bool] = lambda: True,
    settle: float = 0.2,
) -> Woken:
    """Run ``call`` in a thread, wait until ``blocked()`` says it is inside (at most
    5 s) and ``settle`` seconds more (so it waits in C), then ``close()``; the thread
    is joined for at most 5 s."""
    raised: list[BaseException] = []
    started = threading.Event()

    def run() -> None:
        started.set()
        try:
            call()
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    started.wait(5)
    deadline = time.monotonic() + 5
    inside = blocked()
    while not inside and time.monotonic() < deadline:
        time.sleep(0.005)
        inside = blocked()
    time.sleep(settle)
    start = time.monotonic()
    close()
    thread.join(5)
    return Woken(raised, time.monotonic() - start, thread.is_alive(), inside)


# The poll-family system calls (poll, select, pselect6, ppoll, epoll_wait,
# epoll_pwait, epoll_pwait2) by number: the library's waits use one of them.
_POLLS = {"x86_64": {7, 23, 232, 270, 271, 281, 441}, "aarch64": {22, 72, 73, 441}}


def waiting_in_poll(native_id: int) -> bool:
    """Whether thread ``native_id`` of this process sits in a poll-family system
    call (/proc/self/task/<id>/syscall): inside a wait in C, not in Python."""
    polls = _POLLS.get(platform.machine())
    if polls is None:
        raise AssertionError(f"no system call numbers for {platform.machine()} here")
    try:
        with open(f"/proc/self/task/{native_id}/syscall") as f:
            number = f.read().split(maxsplit=1)[:1]
    except OSError:
        return False
    return bool(number) and number[0].isdigit() and int(number[0]) in polls
