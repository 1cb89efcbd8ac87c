"""Link events on real devices: each change seen by the kernel comes as its event, in order.

Every change is made either through this library or from outside (``ip``, a
subprocess in the same namespace), and every event's state is checked
against ``ip -j``'s view of the device. The devices keep IPv6 off, so that
no link-local address or DAD adds events of its own.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import ipaddress
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from helpers.events import nothing_more, shrink_receive_buffer
from helpers.ip import disable_ipv6, ip, ip_addresses, ip_link
from helpers.processes import interrupt_after_ready, open_fds
from helpers.skips import skip_or_fail

import tuntap_cffi as tuntap
from tuntap_cffi import DevKind, EventKind, LinkEvent, LinkEvents

pytestmark = pytest.mark.privileged

WITHIN = 1.0  # every event arrives within this long of its change


@pytest.fixture
def iface() -> Iterator[tuntap.Interface]:
    with tuntap.open("evt%d", DevKind.TUN) as opened:
        disable_ipv6(opened.name)
        yield opened


def next_event(events: LinkEvents) -> tuple[LinkEvent, float]:
    """The next event and how long it took to come."""
    start = time.monotonic()
    event = next(events)
    return event, time.monotonic() - start


def expect(events: LinkEvents, *kinds: EventKind) -> list[LinkEvent]:
    """The next events, which must be of ``kinds`` in that order, each within WITHIN."""
    got = []
    for kind in kinds:
        event, took = next_event(events)
        assert event.kind is kind, f"{event} instead of {kind} (after {got})"
        assert took < WITHIN
        got.append(event)
    return got


def test_each_change_is_its_event_in_order(iface: tuntap.Interface) -> None:
    name = iface.name
    with iface.link.events(timeout=WITHIN) as events:
        iface.set_mtu(1400)
        (mtu,) = expect(events, EventKind.MTU)
        assert mtu.mtu == 1400 == ip_link(name)["mtu"]
        assert mtu.name == name and mtu.ifindex == iface.ifindex and mtu.address is None

        iface.up()
        up, carrier = expect(events, EventKind.UP, EventKind.CARRIER_UP)
        assert "UP" in ip_link(name)["flags"] and "LOWER_UP" in ip_link(name)["flags"]
        assert up.flags & tuntap._lowlevel.IFF_UP and carrier.flags & tuntap._lowlevel.IFF_LOWER_UP

        iface.add_address("192.0.2.1/24")
        (added,) = expect(events, EventKind.ADDRESS_ADDED)
        assert added.address == ipaddress.ip_interface("192.0.2.1/24")
        assert {str(added.address)} == ip_addresses(name)

        iface.del_address("192.0.2.1/24")
        (removed,) = expect(events, EventKind.ADDRESS_REMOVED)
        assert removed.address == added.address and ip_addresses(name) == set()

        iface.down()
        down, _ = expect(events, EventKind.DOWN, EventKind.CARRIER_DOWN)
        assert not down.flags & tuntap._lowlevel.IFF_UP and "UP" not in ip_link(name)["flags"]
        assert down.mtu == 1400  # every event carries the state as it is after it

        ip("link", "delete", name)
        (deleted,) = expect(events, EventKind.DELETED)
        assert deleted.name == name
        assert list(events) == [] and events.closed  # the iteration ends there


def test_changes_made_from_outside(iface: tuntap.Interface) -> None:
    name = iface.name
    with iface.link.events(timeout=WITHIN) as events:
        ip("link", "set", "dev", name, "mtu", "1300")
        ip("link", "set", "dev", name, "up")
        ip("addr", "add", "198.51.100.7/25", "dev", name)
        ip("link", "set", "dev", name, "name", "evtrenamed")
        ip("addr", "del", "198.51.100.7/25", "dev", "evtrenamed")
        mtu, _up, _carrier, added, renamed, removed = expect(
            events,
            EventKind.MTU,
            EventKind.UP,
            EventKind.CARRIER_UP,
            EventKind.ADDRESS_ADDED,
            EventKind.RENAMED,
            EventKind.ADDRESS_REMOVED,
        )
        assert mtu.mtu == 1300 and str(added.address) == "198.51.100.7/25"
        assert renamed.name == "evtrenamed" and removed.name == "evtrenamed"
        assert renamed.ifindex == ip_link("evtrenamed")["ifindex"]
        ip("link", "set", "dev", "evtrenamed", "name", name)
        expect(events, EventKind.RENAMED)


def test_a_reannounced_address_is_added_once(iface: tuntap.Interface) -> None:
    with iface.link.events(timeout=0.3) as events:
        iface.add_address("192.0.2.1/24")
        expect(events, EventKind.ADDRESS_ADDED)
        # A new lifetime is an RTM_NEWADDR of the same address: no second event.
        ip(
            "addr",
            "change",
            "192.0.2.1/24",
            "dev",
            iface.name,
            "valid_lft",
            "600",
            "preferred_lft",
            "300",
        )
        nothing_more(events)


def test_another_devices_events_are_not_delivered(iface: tuntap.Interface) -> None:
    with tuntap.open("evo%d", DevKind.TUN) as other:
        disable_ipv6(other.name)
        with iface.link.events(timeout=WITHIN) as events:
            other.set_mtu(1280)
            other.up()
            other.add_address("203.0.113.1/24")
            iface.set_mtu(1360)
            (event,) = expect(events, EventKind.MTU)
            assert event.ifindex == iface.ifindex != other.ifindex and event.mtu == 1360


def test_a_bridge_port_leaving_is_no_deletion() -> None:
    with tuntap.open("evtap%d", DevKind.TAP) as tap:
        disable_ipv6(tap.name)
        try:
            ip("link", "add", "evbr0", "type", "bridge")
        except AssertionError as exc:
            skip_or_fail(f"no bridges in this kernel: {exc}")
        try:
            with tap.link.events(timeout=WITHIN) as events:
                # The bridge announces its port with AF_BRIDGE RTM_NEWLINK, and its
                # leaving with AF_BRIDGE RTM_DELLINK: the device itself stays.
                ip("link", "set", "dev", tap.name, "master", "evbr0")
                ip("link", "set", "dev", tap.name, "nomaster")
                tap.set_mtu(1400)
                (event,) = expect(events, EventKind.MTU)
                assert event.mtu == 1400
        finally:
            ip("link", "delete", "evbr0")


def test_a_link_of_its_own_sees_the_same(iface: tuntap.Interface) -> None:
    with tuntap.Link(iface.name) as link, link.events(timeout=WITHIN) as events:
        iface.set_mtu(1420)
        (event,) = expect(events, EventKind.MTU)
        assert event.mtu == 1420


# -- ending: close, deletion, timeouts --------------------------------------------------


def close_while_waiting(events: LinkEvents, close: Any) -> tuple[list[LinkEvent], float]:
    """Iterate in another thread, close meanwhile: (what it got, how long the close took)."""
    got: list[LinkEvent] = []
    reader = threading.Thread(target=lambda: got.extend(events))
    reader.start()
    time.sleep(0.2)
    assert reader.is_alive()  # waiting
    start = time.monotonic()
    close()
    reader.join(5)
    took = time.monotonic() - start
    assert not reader.is_alive()
    return got, took


def test_closing_the_interface_wakes_a_waiting_iterator(iface: tuntap.Interface) -> None:
    got, took = close_while_waiting(iface.link.events(), iface.close)
    assert got == [] and took < 0.1


def test_closing_a_link_or_the_reader_wakes_it(iface: tuntap.Interface) -> None:
    link = tuntap.Link(iface.name)
    got, took = close_while_waiting(link.events(), link.close)
    assert got == [] and took < 0.1
    events = iface.link.events()
    got, took = close_while_waiting(events, events.close)
    assert got == [] and took < 0.1


def test_iterating_after_close_ends_at_once(iface: tuntap.Interface) -> None:
    events = iface.link.events(timeout=5)
    iface.set_mtu(1300)  # an event is waiting, but the iteration is over
    iface.close()
    start = time.monotonic()
    assert list(events) == [] and events.closed
    assert time.monotonic() - start < 0.1
    with pytest.raises(StopIteration):
        events.next_ready()


def test_events_not_taken_are_dropped_by_close(iface: tuntap.Interface) -> None:
    events = iface.link.events(timeout=1)
    iface.up()  # one RTM_NEWLINK, two events
    assert next(events).kind is EventKind.UP
    events.close()
    assert list(events) == []


def test_events_of_a_closed_link_are_refused(iface: tuntap.Interface) -> None:
    link = iface.link
    iface.close()
    before = open_fds()
    with pytest.raises(tuntap.InterfaceClosedError, match="events on closed interface"):
        link.events()
    assert open_fds() == before


def test_a_timeout_raises_and_the_iterator_goes_on(iface: tuntap.Interface) -> None:
    with iface.link.events(timeout=0.15) as events:
        start = time.monotonic()
        with pytest.raises(TimeoutError, match=f"events on {iface.name}: timed out") as info:
            next(events)
        assert 0.14 < time.monotonic() - start < 0.5 and info.value.errno == errno.ETIMEDOUT
        iface.set_mtu(1300)
        expect(events, EventKind.MTU)
        assert events.next_ready() is None  # nothing waits: no wait either


def test_fds_are_released_when_the_iteration_ends(iface: tuntap.Interface) -> None:
    assert iface.ifindex  # the link's own socket is open from here on
    before = open_fds()
    events = iface.link.events()
    assert len(open_fds()) == len(before) + 2  # the socket and its wake-up eventfd
    events.close()
    events.close()  # harmless
    assert open_fds() == before
    events = iface.link.events()
    ip("link", "delete", iface.name)
    assert [event.kind for event in events] == [EventKind.DELETED]
    assert open_fds() == before


def test_a_dropped_reader_releases_its_fds(iface: tuntap.Interface) -> None:
    assert iface.ifindex
    before = open_fds()
    iface.link.events()
    gc.collect()
    assert open_fds() == before


def test_the_wait_lets_other_threads_run(iface: tuntap.Interface) -> None:
    counted = 0
    stop = threading.Event()

    def count() -> None:
        nonlocal counted
        while not stop.is_set():
            counted += 1

    counter = threading.Thread(target=count)
    with iface.link.events(timeout=0.3) as events:
        counter.start()
        time.sleep(0.02)
        at_start = counted
        with pytest.raises(TimeoutError):
            next(events)
        during = counted - at_start
        stop.set()
        counter.join()
    assert during > 10_000  # the GIL was released during the wait


def test_ctrl_c_interrupts_a_waiting_iterator() -> None:
    code = """
        import tuntap_cffi as tuntap
        iface = tuntap.open("evintr%d", tuntap.DevKind.TUN)
        events = iface.link.events()
        print("ready", flush=True)
        try:
            next(events)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            raise SystemExit(3)
    """
    returncode, out, err, elapsed = interrupt_after_ready(code)
    assert returncode == 3, err
    assert "interrupted" in out and elapsed < 1.0


# -- overruns -----------------------------------------------------------------------------


def test_an_overrun_is_reported_then_the_state_read_afresh(iface: tuntap.Interface) -> None:
    name = iface.name
    with iface.link.events(timeout=0.3) as events:
        shrink_receive_buffer(events)
        for mtu in range(1300, 1350):
            iface.set_mtu(mtu)
        for last in (1, 2, 3):
            iface.add_address(f"192.0.2.{last}/24")
        overrun = next(events)
        assert overrun.kind is EventKind.OVERRUN
        rest = []
        with contextlib.suppress(TimeoutError):
            while True:
                rest.append(next(events))
        # What changed meanwhile, once each, as ip sees it now; nothing older after it.
        assert [event.kind for event in rest] == [EventKind.MTU] + [EventKind.ADDRESS_ADDED] * 3
        assert rest[0].mtu == 1349 == ip_link(name)["mtu"]
        assert {str(event.address) for event in rest[1:]} == ip_addresses(name)
        iface.set_mtu(1500)  # still usable
        (event,) = expect(events, EventKind.MTU)
        assert event.mtu == 1500


def test_a_device_deleted_during_an_overrun_is_deleted(iface: tuntap.Interface) -> None:
    with tuntap.open("evp%d", DevKind.TUN, persist=True) as device:
        name = device.name
    with tuntap.Link(name) as link, link.events(timeout=1) as events:
        shrink_receive_buffer(events)
        for mtu in range(1300, 1330):
            link.set_mtu(mtu)
        ip("link", "delete", name)
        assert [event.kind for event in events] == [EventKind.OVERRUN, EventKind.DELETED]


# -- another namespace ----------------------------------------------------------------------


def test_events_of_a_device_in_another_namespace(named_netns: str) -> None:
    before = open_fds()
    with tuntap.open("evns%d", DevKind.TUN, netns=named_netns) as iface:
        name = iface.name
        with iface.link.events(timeout=WITHIN) as events:
            ip("-n", named_netns, "link", "set", "dev", name, "mtu", "1333")
            (event,) = expect(events, EventKind.MTU)
            assert event.mtu == 1333
    assert open_fds() == before


# -- bad inputs ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [-1, -0.5, math.nan])
def test_bad_timeout_values_are_value_errors(iface: tuntap.Interface, bad: float) -> None:
    before = open_fds()
    with pytest.raises(ValueError, match="timeout must be None or >= 0"):
        iface.link.events(timeout=bad)
    assert open_fds() == before


@pytest.mark.parametrize("bad", ["1", True, [1], b"1"])
def test_bad_timeout_types_are_type_errors(iface: tuntap.Interface, bad: Any) -> None:
    before = open_fds()
    with pytest.raises(TypeError, match="timeout must be None or a number"):
        iface.link.events(timeout=bad)
    assert open_fds() == before


def test_events_of_a_device_deleted_meanwhile(iface: tuntap.Interface) -> None:
    link = tuntap.Link(iface.name)
    ip("link", "delete", iface.name)
    before = open_fds()
    with pytest.raises(OSError) as info:
        link.events()
    assert info.value.errno == errno.ENODEV and open_fds() == before
    link.close()
