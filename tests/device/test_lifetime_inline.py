"""The packet calls' fast paths do inline what ``Lifetime.enter``/``leave`` do
(one user counted while the C call runs, InterfaceClosedError once closed, the
fds released by the last one out): checked call by call against the methods'
own behaviour, so an edit of one copy cannot drift from the others."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable

import pytest
from helpers.ip import TUN_ADDR, TUN_PEER, configure_v4
from helpers.packets import ipv4_udp

import tuntap_cffi as tuntap
from tuntap_cffi import DevKind, InterfaceClosedError, PacketBatch
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
    assert not fd_open(fd) or os.readlink(f"/proc/self/fd/{fd}") != "/dev/net/tun"


@pytest.mark.parametrize("name", ["read_packet", "read_batch", "read"])
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
