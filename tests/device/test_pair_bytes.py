"""The bytes path (``read``, ``readinto``, ``write``) on a pair end: what a device
would do, with the pair's rules (what the closed peer wrote is still read, then
``BrokenPipeError``; a close wakes a read inside and the last one out releases).
No root needed: these run on every interpreter."""

from __future__ import annotations

import os

import pytest
from helpers.ip import TUN_ADDR, TUN_PEER
from helpers.packets import ethernet, ipv4_udp
from helpers.threads import close_while_blocked

import tuntap_cffi as tuntap
from tuntap_cffi import DevKind, InterfaceClosedError, JumboPacketError, NotIPPacketError

PACKET = ipv4_udp(TUN_ADDR, TUN_PEER, 5000, 5001, b"bytes path")


def test_what_one_end_writes_the_other_reads_as_bytes() -> None:
    a, b = tuntap.pair()
    with a, b:
        assert a.write(PACKET) == len(PACKET)
        assert b.read() == PACKET
        assert a.write(memoryview(bytearray(PACKET))) == len(PACKET)
        buffer = bytearray(2048)
        assert b.readinto(buffer) == len(PACKET) and bytes(buffer[: len(PACKET)]) == PACKET
        assert a.write(PACKET, timeout=1) == len(PACKET)
        assert b.read(20, timeout=1) == PACKET[:20]  # cut, as a device cuts it
        assert b.read(0) == b""


def test_a_tap_end_takes_frames() -> None:
    a, b = tuntap.pair(DevKind.TAP)
    with a, b:
        frame = ethernet(b"\x02\x00\x5e\x00\x53\x01", b"\x02\x00\x5e\x00\x53\x02", 0x0800, PACKET)
        assert a.write(frame) == len(frame)
        assert b.read() == frame


def test_the_write_rules_refuse_before_the_peer_sees_anything() -> None:
    a, b = tuntap.pair(mtu=1500)
    with a, b:
        with pytest.raises(NotIPPacketError):
            a.write(b"\x01" * 20)
        with pytest.raises(JumboPacketError):
            a.write(b"\x45" + bytes(a.write_limit))
        with pytest.raises(TimeoutError):
            b.read(timeout=0.05)


def test_after_the_peer_closes_its_packets_are_read_then_broken_pipe() -> None:
    a, b = tuntap.pair()
    with b:
        a.write(PACKET)
        a.close()
        assert b.read(timeout=1) == PACKET
        with pytest.raises(BrokenPipeError):
            b.read(timeout=1)
        with pytest.raises(BrokenPipeError):
            b.readinto(bytearray(100), timeout=1)
        with pytest.raises(BrokenPipeError):
            b.write(PACKET)


def test_a_close_wakes_a_read_inside_and_the_last_one_out_releases() -> None:
    a, b = tuntap.pair()
    fd = b.fileno()
    lifetime = b._lifetime
    # read() is counted by its C call, in the queue's gate.
    woken = close_while_blocked(b.read, b.close, blocked=lambda: b._q.inside == 1)
    assert woken.inside and not woken.alive  # inside, waiting in C, at the close
    assert [type(exc) for exc in woken.raised] == [InterfaceClosedError]
    assert (lifetime.users, lifetime.released, b._q.inside) == ([], True, 0)
    with pytest.raises(OSError):
        os.fstat(fd)  # released (no other fd is opened meanwhile in this test)
    with pytest.raises(InterfaceClosedError):
        b.write(PACKET)
    a.close()


def test_the_epoll_fd_a_read_made_is_released_with_the_fds() -> None:
    a, b = tuntap.pair()
    with a:
        with pytest.raises(TimeoutError):
            b.read(timeout=0.06)  # a read that slept: the queue's epoll fd is made
        epfd = int(b._q.epfd)
        assert os.readlink(f"/proc/self/fd/{epfd}") == "anon_inode:[eventpoll]"
        b.close()
        with pytest.raises(OSError):
            os.fstat(epfd)
