"""AsyncInterface.events(): link events awaited, on asyncio's own loop and on uvloop."""

from __future__ import annotations

import asyncio
import errno
import math
import threading
import time
from typing import Any

import pytest
from helpers.ip import disable_ipv6, ip, ip_link
from helpers.processes import open_fds

from tuntap_cffi import AsyncInterface, DevKind, EventKind

pytestmark = pytest.mark.privileged


def open_quiet(persist: bool = False) -> AsyncInterface:
    aif = AsyncInterface.open("evaio%d", DevKind.TUN, persist=persist)
    disable_ipv6(aif.name)
    return aif


def test_changes_are_awaited_in_order(run: Any) -> None:
    async def main() -> None:
        async with open_quiet() as aif:
            loop = asyncio.get_running_loop()
            kinds = []
            async with aif.events(timeout=1) as events:
                loop.call_later(0.05, aif.set_mtu, 1400)
                loop.call_later(0.1, aif.up)
                loop.call_later(0.15, ip, "link", "delete", aif.name)
                async for event in events:
                    kinds.append(event.kind)
                    if event.kind is EventKind.MTU:
                        assert event.mtu == 1400 == ip_link(aif.name)["mtu"]
            # Deleting a device that is up takes it down first.
            up = [EventKind.UP, EventKind.CARRIER_UP]
            down = [EventKind.DOWN, EventKind.CARRIER_DOWN]
            assert kinds == [EventKind.MTU, *up, *down, EventKind.DELETED]

    run(main())


def test_close_ends_a_waiting_iteration(run: Any) -> None:
    async def main() -> None:
        before = open_fds()
        # Persistent: the close deletes no device, so no RTM_DELLINK can wake the wait.
        aif = open_quiet(persist=True)
        try:
            events = aif.events()
            asyncio.get_running_loop().call_later(0.1, aif.close)
            start = time.monotonic()
            assert [event async for event in events] == []
            assert time.monotonic() - start < 0.3
            assert events.events.closed and open_fds() == before
        finally:
            ip("link", "delete", aif.name)

    run(main())


def test_close_from_another_thread_ends_it(run: Any) -> None:
    async def main() -> None:
        async with open_quiet() as aif:
            events = aif.events()
            threading.Timer(0.1, events.close).start()
            start = time.monotonic()
            assert [event async for event in events] == []
            assert time.monotonic() - start < 0.3

    run(main())


def test_a_timeout_raises_and_the_iteration_goes_on(run: Any) -> None:
    async def main() -> None:
        async with open_quiet() as aif, aif.events(timeout=0.1) as events:
            start = time.monotonic()
            with pytest.raises(TimeoutError, match=f"events on {aif.name}: timed out") as info:
                await events.__anext__()
            assert 0.09 < time.monotonic() - start < 0.5 and info.value.errno == errno.ETIMEDOUT
            aif.set_mtu(1300)
            assert (await events.__anext__()).kind is EventKind.MTU

    run(main())


def test_a_cancelled_wait_loses_no_event(run: Any) -> None:
    async def main() -> None:
        async with open_quiet() as aif, aif.events(timeout=1) as events:
            waiting = asyncio.ensure_future(events.__anext__())
            await asyncio.sleep(0.05)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            aif.set_mtu(1288)
            await asyncio.sleep(0.05)  # the notification is in the socket, unread
            event = await events.__anext__()
            assert event.kind is EventKind.MTU and event.mtu == 1288

    run(main())


@pytest.mark.parametrize("bad", [-1, math.nan, "1", True])
def test_bad_timeouts_are_refused_before_any_call(bad: Any) -> None:
    aif = open_quiet()
    try:
        before = open_fds()
        with pytest.raises((TypeError, ValueError), match="timeout must be None"):
            aif.events(timeout=bad)
        assert open_fds() == before
    finally:
        aif.close()


def test_events_of_a_closed_interface_are_refused() -> None:
    aif = open_quiet()
    aif.close()
    with pytest.raises(ValueError, match="events on closed interface"):
        aif.events()
