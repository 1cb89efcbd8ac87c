"""The packet calls' fast paths do inline what ``Lifetime.enter``/``leave`` do
(one user counted while the C call runs, InterfaceClosedError once closed, the
fds released by the last one out): checked call by call against the methods'
own behaviour, so an edit of one copy cannot drift from the others. The bytes
calls ``read`` and ``write`` are counted by their C call instead, in the
queue's gate: the release waits for it to be empty."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from helpers.ip import TUN_ADDR, TUN_PEER, configure_v4
from helpers.packets import ipv4_udp

import tuntap_cffi as tuntap
from tuntap_cffi import DevKind, InterfaceClosedError, PacketBatch, _lowlevel
from tuntap_cffi.lifetime import Lifetime

pytestmark = pytest.mark.privileged

PACKET = ipv4_udp(TUN_ADDR, TUN_PEER, 5000, 5001, b"inline")
Call = Callable[[tuntap.Interface], object]
# Each fast path: no timeout, no buffer, a batch as the last read left it.
FAST_PATHS: dict[str, Call] = {
    "read_packet": lambda iface: iface.read_packet(),
    "read_batch": lambda iface: iface.read_batch(BATCHES[id(iface)]),
    "write_packet": lambda iface: iface.write_packet(PACKET),
    "write_batch": lambda iface: iface.write_batch(BATCHES[id(iface)]),
    "read": lambda iface: iface.read(),
    "write": lambda iface: iface.write(PACKET),
}
BATCHES: dict[int, PacketBatch] = {}  # by id(): reading .name counts a user too
# Counted in C by the queue's gate (tt_queue_shut/tt_queue_drain), not in Python.
GATED = ("read", "write")


def feed() -> None:
    """A datagram the kernel routes into the TUN, for a read to find."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"inline", (TUN_PEER, 5001))


def opened() -> tuntap.Interface:
    iface = tuntap.open("inl%d", DevKind.TUN)
    configure_v4(iface.name)
    batch = BATCHES[id(iface)] = PacketBatch(4)
    feed()
    assert iface.read_batch(batch, timeout=5) >= 1  # sized for this device
    return iface


def fd_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def expected(lifetime: Lifetime, operation: str, closed: bool) -> tuple[bool, bool, list[str]]:
    """What enter() then leave() leave behind: (raised, released, users)."""
    try:
        lifetime.enter(operation)
    except InterfaceClosedError:
        return True, lifetime.released, list(lifetime.users)
    lifetime.leave()
    return False, lifetime.released, list(lifetime.users)


@pytest.mark.parametrize("name", sorted(FAST_PATHS))
def test_an_open_interface_counts_no_user_after_the_call(name: str) -> None:
    with opened() as iface:
        if name.startswith("read"):
            feed()  # something to read at once
        FAST_PATHS[name](iface)
        lifetime = iface._lifetime
        assert expected(Lifetime("model", lambda: None), name, False) == (False, False, [])
        assert lifetime.users == [] and not lifetime.released
        assert (iface._q.inside, iface._q.shut) == (0, 0)


@pytest.mark.parametrize("name", sorted(FAST_PATHS))
def test_a_closed_interface_refuses_and_leaves_nothing_counted(name: str) -> None:
    iface = opened()
    fd = iface.fileno()
    iface.close()
    model = Lifetime("model", lambda: None)
    model.close()
    with pytest.raises(InterfaceClosedError, match=name.split("_")[0]):
        FAST_PATHS[name](iface)
    assert expected(model, name, True) == (True, True, [])
    assert (iface._lifetime.users, iface._lifetime.released) == ([], True)
    assert (iface._q.inside, iface._q.shut) == (0, 1)
    assert not fd_open(fd) or os.readlink(f"/proc/self/fd/{fd}") != "/dev/net/tun"


@pytest.mark.parametrize("name", ["read_packet", "read_batch"])
def test_the_call_inside_at_close_is_the_last_one_out_and_releases(name: str) -> None:
    iface = opened()
    fd = iface.fileno()
    lifetime = iface._lifetime
    outcome: list[BaseException] = []
    # Who was inside when the fds were released: close() must leave that to the
    # call inside (the reader may leave before or after close() returns).
    inside_at_release: list[list[str]] = []
    release = lifetime._release

    def recorded_release() -> None:
        inside_at_release.append(list(lifetime.users))
        release()

    lifetime._release = recorded_release

    def call() -> None:
        try:
            FAST_PATHS[name](iface)
        except BaseException as exc:
            outcome.append(exc)

    reader = threading.Thread(target=call)
    reader.start()
    deadline = time.monotonic() + 5
    while not lifetime.users and time.monotonic() < deadline:
        time.sleep(0.005)
    assert lifetime.users == [name]  # inside, waiting in C
    iface.close()
    reader.join(5)
    assert inside_at_release == [[]]  # released once, by the last one out
    assert not reader.is_alive()
    assert [type(exc) for exc in outcome] == [InterfaceClosedError]
    assert (lifetime.users, lifetime.released) == ([], True)
    assert not fd_open(fd) or os.readlink(f"/proc/self/fd/{fd}") != "/dev/net/tun"


@pytest.mark.parametrize("name", GATED)
def test_the_release_waits_for_the_call_inside_the_gate(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A write to a device never waits: a pair end's does, once its peer's
    # buffer is full (the peer, unread, stays open until the end of the test).
    iface, peer = tuntap.pair(DevKind.TUN) if name == "write" else (opened(), None)
    fd = iface.fileno()
    what = os.readlink(f"/proc/self/fd/{fd}")
    q = iface._q
    # The release's steps, with how many calls were inside the gate when it
    # reached the fds (the first fd it closes is the epoll fd).
    steps: list[tuple[str, int]] = []
    drain_gates, close_epoll = _lowlevel.drain_gates, _lowlevel.close_epoll

    def drain(held: list[Any], name: str) -> None:
        drain_gates(held, name)
        steps.append(("drained", q.inside))

    def close_first_fd(held: list[Any], name: str) -> None:
        steps.append(("fds closed", q.inside))
        close_epoll(held, name)

    monkeypatch.setattr(_lowlevel, "drain_gates", drain)
    monkeypatch.setattr(_lowlevel, "close_epoll", close_first_fd)
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            for _ in range(100_000):  # writes fill the peer's buffer, then one waits
                FAST_PATHS[name](iface)
        except BaseException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 5
    while q.inside == 0 and time.monotonic() < deadline:
        time.sleep(0.002)
    assert q.inside == 1 and iface._lifetime.users == []  # inside C, counted there only
    iface.close()
    caller.join(5)
    assert not caller.is_alive()
    assert steps == [("drained", 0), ("fds closed", 0)]  # the release waited for it to leave
    assert [type(exc) for exc in outcome] == [InterfaceClosedError]
    assert (q.inside, q.shut, iface._lifetime.released) == (0, 1, True)
    assert not fd_open(fd) or os.readlink(f"/proc/self/fd/{fd}") != what
    if peer is not None:
        peer.close()
