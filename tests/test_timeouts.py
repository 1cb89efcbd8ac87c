"""Every public call that takes ``timeout=`` takes it the same way (timeouts.deadline_of).

Infinity waits for ever, as None does; a number past threading.TIMEOUT_MAX
(1e308, 10**400...) is a ValueError naming ``timeout`` before any system
call, so nothing is read, written or received; NaN and negative numbers are
ValueErrors, a bool or a string a TypeError, all naming ``timeout``.

Each case is one call, on a TUN device with an address (packets sent to its
peer are the device's to read; packets written to it reach a local socket),
on loopback UDP sockets, or on a Unix socket pair. "Something to take" is
made ready before the call, or (for the waits) a moment after it starts; a
watchdog ends any wait that would otherwise last for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from helpers.ip import TUN_ADDR, TUN_PEER, configure_v4, ip, ip_json
from helpers.packets import ipv4_udp
from helpers.processes import open_fds

import tuntap_cffi as tuntap
from tuntap_cffi import DevKind

pytestmark = pytest.mark.privileged

PORT = 40_000
PAYLOAD = b"timeout-test"
SOON = 0.3  # the thing to take arrives this long after a waiting call starts
WATCHDOG = 10.0  # a wait still going after this long is ended (and the test fails)


@dataclass
class Env:
    """A configured TUN, a UDP socket on its address, and loopback and Unix socket pairs."""

    iface: tuntap.Interface
    on_tun: socket.socket  # bound to TUN_ADDR:PORT: gets what is written to the TUN
    udp_a: socket.socket  # loopback, connected to udp_b
    udp_b: socket.socket
    unix_ours: socket.socket
    unix_theirs: socket.socket

    def rx_packets(self) -> int:
        """Packets the kernel took from the TUN (what was written to it)."""
        (link,) = ip_json("-s", "link", "show", "dev", self.iface.name)
        return int(link["stats64"]["rx"]["packets"])

    def send_to_tun(self) -> None:
        """A datagram the kernel routes out of the TUN: the device's to read."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(PAYLOAD, (TUN_PEER, PORT))

    def tun_has_packet(self) -> bool:
        try:
            return PAYLOAD in bytes(self.iface.read_packet(timeout=2).body)
        except TimeoutError:
            return False


@pytest.fixture
def env() -> Iterator[Env]:
    with contextlib.ExitStack() as stack:
        iface = stack.enter_context(tuntap.open("tto%d", DevKind.TUN))
        configure_v4(iface.name)
        on_tun = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        on_tun.bind((TUN_ADDR, PORT))
        udp_a = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        udp_b = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        udp_a.bind(("127.0.0.1", 0))
        udp_b.bind(("127.0.0.1", 0))
        udp_a.connect(udp_b.getsockname())
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        stack.enter_context(ours)
        stack.enter_context(theirs)
        yield Env(iface, on_tun, udp_a, udp_b, ours, theirs)


def packet_for_kernel() -> bytes:
    """What a write to the TUN hands the kernel: a datagram for ``on_tun``."""
    return ipv4_udp(TUN_PEER, TUN_ADDR, PORT + 1, PORT, PAYLOAD)


def arrived(sock: socket.socket, wait: float) -> bytes | None:
    """The next datagram on ``sock`` within ``wait`` seconds, else None (sock unchanged)."""
    if not select.select([sock], [], [], wait)[0]:
        return None
    return sock.recv(65536)


def received_interface(env: Env) -> bool:
    """Whether an interface is waiting on ``unix_theirs`` (taken and closed if so)."""
    if not select.select([env.unix_theirs], [], [], 1)[0]:
        return False
    tuntap.receive_interface(env.unix_theirs, timeout=0).close()
    return True


def _next_event(env: Env, timeout: Any) -> tuntap.LinkEvent:
    with env.iface.link.events(timeout=timeout) as events:
        return next(events)


def _async_next_event(env: Env, timeout: Any) -> tuntap.LinkEvent:
    async def main() -> tuntap.LinkEvent:
        async with tuntap.AsyncInterface(env.iface).events(timeout=timeout) as events:
            return await events.__anext__()

    return asyncio.run(main())


@dataclass
class Case:
    """One public call with a timeout.

    call: makes the call with the timeout given. provide: makes what it takes
    ready (a packet, a datagram, a message, an event). done: checks, after a
    call that returned, that it did its work. untouched: checks, after a call
    that was refused, that nothing was taken or sent (what ``provide`` made is
    still there). stop: ends a wait that lasts too long (the watchdog).
    """

    call: Callable[[Env, Any], Any]
    provide: Callable[[Env], None]
    done: Callable[[Env, Any], bool]
    untouched: Callable[[Env], bool]
    stop: Callable[[Env], None]
    waits: bool = True  # False: a write, which waits only while the device is full


def _close_iface(env: Env) -> None:
    env.iface.close()


def _read_batch(env: Env, timeout: Any) -> tuntap.PacketBatch | None:
    batch = tuntap.PacketBatch(8)
    return batch if env.iface.read_batch(batch, timeout=timeout) else None


def _udp_recv(env: Env, timeout: Any) -> tuntap.PacketBatch | None:
    batch = tuntap.PacketBatch(8)
    return batch if tuntap.udp_recv_batch(env.udp_b, batch, timeout=timeout) else None


def _nothing_on_tun(env: Env) -> bool:
    return arrived(env.on_tun, 0.2) is None


def _ready_on_tun(env: Env) -> bool:
    return env.tun_has_packet()


CASES = {
    "read_packet": Case(
        lambda env, t: env.iface.read_packet(timeout=t),
        Env.send_to_tun,
        lambda env, got: PAYLOAD in bytes(got.body),
        _ready_on_tun,
        _close_iface,
    ),
    "read_batch": Case(
        _read_batch,
        Env.send_to_tun,
        lambda env, batch: batch is not None and PAYLOAD in bytes(batch[0]),
        _ready_on_tun,
        _close_iface,
    ),
    "read_packets": Case(
        lambda env, t: env.iface.read_packets(8, timeout=t),
        Env.send_to_tun,
        lambda env, got: len(got) == 1 and PAYLOAD in bytes(got[0].body),
        _ready_on_tun,
        _close_iface,
    ),
    "write_packet": Case(
        lambda env, t: env.iface.write_packet(packet_for_kernel(), timeout=t),
        lambda env: None,
        lambda env, _: arrived(env.on_tun, 2) == PAYLOAD,
        _nothing_on_tun,
        _close_iface,
        waits=False,
    ),
    "write_batch": Case(
        lambda env, t: env.iface.write_batch([packet_for_kernel()], timeout=t),
        lambda env: None,
        lambda env, count: count == 1 and arrived(env.on_tun, 2) == PAYLOAD,
        _nothing_on_tun,
        _close_iface,
        waits=False,
    ),
    "events": Case(
        _next_event,
        lambda env: ip("link", "set", env.iface.name, "mtu", "1400"),
        lambda env, event: event.kind is tuntap.EventKind.MTU and event.mtu == 1400,
        lambda env: True,  # made before the reader: only the fds can tell (checked)
        _close_iface,
    ),
    "aio events": Case(
        _async_next_event,
        lambda env: ip("link", "set", env.iface.name, "mtu", "1400"),
        lambda env, event: event.kind is tuntap.EventKind.MTU and event.mtu == 1400,
        lambda env: True,
        _close_iface,
    ),
    "udp_recv_batch": Case(
        _udp_recv,
        lambda env: env.udp_a.send(PAYLOAD),
        lambda env, batch: batch is not None and bytes(batch[0]) == PAYLOAD,
        lambda env: arrived(env.udp_b, 1) == PAYLOAD,
        lambda env: env.udp_b.close(),
    ),
    "udp_send_batch": Case(
        lambda env, t: tuntap.udp_send_batch(env.udp_a, [PAYLOAD], timeout=t),
        lambda env: None,
        lambda env, count: count == 1 and arrived(env.udp_b, 2) == PAYLOAD,
        lambda env: arrived(env.udp_b, 0.2) is None,
        lambda env: env.udp_a.close(),
        waits=False,
    ),
    "receive_interface": Case(
        lambda env, t: tuntap.receive_interface(env.unix_theirs, timeout=t),
        lambda env: tuntap.send_interface(env.unix_ours, env.iface),
        lambda env, got: got.name == env.iface.name and got.close() is None,
        received_interface,
        lambda env: env.unix_theirs.shutdown(socket.SHUT_RDWR),
    ),
}
# Events made before the reader opens are not its: make them once it waits.
PROVIDED_LATER = {"events", "aio events"}


def run_waiting(env: Env, case: Case, timeout: Any) -> Any:
    """Call with ``timeout``; provide what it takes SOON after it starts (a watchdog
    stops the wait after WATCHDOG seconds); returns what the call returned."""
    provider = threading.Timer(SOON, case.provide, (env,))
    watchdog = threading.Timer(WATCHDOG, case.stop, (env,))
    # This clock starts before the provider's: a busy machine may hold this thread
    # back between the two, and the call would seem to return too soon.
    start = time.monotonic()
    provider.start()
    watchdog.start()
    try:
        got = case.call(env, timeout)
    finally:
        provider.cancel()
        watchdog.cancel()
        provider.join()
    assert time.monotonic() - start >= SOON * 0.9, "returned before anything was there"
    return got


@pytest.mark.parametrize("name", CASES)
def test_infinity_waits_for_ever_as_none_does(env: Env, name: str) -> None:
    case = CASES[name]
    if case.waits:
        got = run_waiting(env, case, math.inf)
    else:
        case.provide(env)
        got = case.call(env, math.inf)
    assert case.done(env, got)


@pytest.mark.parametrize("name", [name for name, case in CASES.items() if case.waits])
def test_a_long_timeout_in_range_is_a_timeout(env: Env, name: str) -> None:
    """threading.TIMEOUT_MAX itself is taken (about 292 years)."""
    case = CASES[name]
    got = run_waiting(env, case, threading.TIMEOUT_MAX)
    assert case.done(env, got)


BAD = [
    (1e308, ValueError, "timeout .*too long"),
    (10**400, ValueError, "timeout .*too long"),
    (threading.TIMEOUT_MAX * 2, ValueError, "timeout .*too long"),
    (math.nan, ValueError, "timeout must be"),
    (-1, ValueError, "timeout must be"),
    (-0.5, ValueError, "timeout must be"),
    (-math.inf, ValueError, "timeout must be"),
    (True, TypeError, "timeout must be"),
    ("1", TypeError, "timeout must be"),
]


@pytest.mark.parametrize(("timeout", "error", "message"), BAD)
@pytest.mark.parametrize("name", CASES)
def test_a_bad_timeout_is_refused_before_anything_happens(
    env: Env, name: str, timeout: Any, error: type[Exception], message: str
) -> None:
    case = CASES[name]
    if name not in PROVIDED_LATER:
        case.provide(env)
        time.sleep(0.05)  # let the kernel route the datagram to the device
    before = open_fds()
    rx = env.rx_packets()
    watchdog = threading.Timer(3, case.stop, (env,))  # a timeout taken would wait
    watchdog.start()
    try:
        with pytest.raises(error, match=message):
            case.call(env, timeout)
    finally:
        watchdog.cancel()
    assert open_fds() == before, "an fd was left open"
    assert env.rx_packets() == rx, "a packet was written to the device"
    assert case.untouched(env), "something was taken or sent"


def test_the_limit_and_its_message() -> None:
    from tuntap_cffi import timeouts

    assert timeouts.deadline_of(math.inf) is None
    assert timeouts.deadline_of(None) is None
    deadline = timeouts.deadline_of(threading.TIMEOUT_MAX)
    assert deadline is not None and deadline > time.monotonic()
    with pytest.raises(ValueError, match=r"timeout .*too long.*float\('inf'\)") as info:
        timeouts.deadline_of(10**400)
    assert len(str(info.value)) < 300  # not 400 digits
