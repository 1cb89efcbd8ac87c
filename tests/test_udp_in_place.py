"""udp_recv_batch leaves each datagram where recvmmsg put it (no copy into a slot),
and never starts a GRO'd message in a batch that cannot hold it whole: a tunnel
then writes each run of segments to its TUN as one super-packet.
``PacketBatch.staged`` says a receive holds a message back for the next one (the
socket's fd no longer shows it). Two UDP sockets on loopback, in the test's
namespace: a UDP_SEGMENT send arrives at a UDP_GRO socket as one message."""

from __future__ import annotations

import select
import socket

import pytest

import tuntap_cffi as tuntap
from tuntap_cffi import _lowlevel
from tuntap_cffi._native import ffi, lib

pytestmark = pytest.mark.privileged


def pair() -> tuple[socket.socket, socket.socket]:
    """Two UDP sockets on 127.0.0.1, a connected to b (b with room for every test)."""
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    a.bind(("127.0.0.1", 0))
    b.bind(("127.0.0.1", 0))
    a.connect(b.getsockname())
    return a, b


def receive(
    b: socket.socket, batch: tuntap.PacketBatch, calls: int
) -> tuple[list[int], list[bytes]]:
    counts, got = [], []
    for _ in range(calls):
        n = tuntap.udp_recv_batch(b, batch, timeout=1)
        counts.append(n)
        got += [bytes(batch[i]) for i in range(n)]
    return counts, got


def test_a_gro_message_waits_for_a_batch_that_holds_it_whole() -> None:
    a, b = pair()
    with a, b:
        batch = tuntap.PacketBatch(10)
        assert tuntap.udp_recv_batch(b, batch, timeout=0) == 0  # UDP_GRO on
        runs = [[bytes([r, k]) * 300 for k in range(6)] for r in range(3)]
        for run in runs:  # one UDP_SEGMENT message each
            assert tuntap.udp_send_batch(a, run) == 6
        counts, got = receive(b, batch, 4)
        assert counts == [6, 6, 6, 0], counts
        assert got == [d for run in runs for d in run]


def test_a_message_larger_than_an_empty_batch_is_split() -> None:
    a, b = pair()
    with a, b:
        batch = tuntap.PacketBatch(4)
        assert tuntap.udp_recv_batch(b, batch, timeout=0) == 0
        run = [bytes([k]) * 100 for k in range(10)]
        assert tuntap.udp_send_batch(a, run) == 10
        counts, got = receive(b, batch, 4)
        assert counts == [4, 4, 2, 0]
        assert got == run


def test_staged_says_what_the_fd_no_longer_does() -> None:
    a, b = pair()
    with a, b:
        batch = tuntap.PacketBatch(10)
        assert not batch.staged
        assert tuntap.udp_recv_batch(b, batch, timeout=0) == 0
        assert not batch.staged
        for r in range(2):
            assert tuntap.udp_send_batch(a, [bytes([r, k]) * 200 for k in range(6)]) == 6
        select.select([b], [], [], 1)
        assert tuntap.udp_recv_batch(b, batch, timeout=1) == 6
        assert batch.staged  # the second run, received and held
        assert select.select([b], [], [], 0)[0] == []
        assert tuntap.udp_recv_batch(b, batch, timeout=0) == 6
        assert not batch.staged


def test_the_datagrams_lie_in_the_stage_and_a_device_read_puts_them_back_in_slots() -> None:
    a, b = pair()
    with a, b:
        batch = tuntap.PacketBatch(8, slot_size=2048)
        assert tuntap.udp_recv_batch(b, batch, timeout=0) == 0
        sent = [bytes([k + 1]) * (50 + k) for k in range(5)]
        assert tuntap.udp_send_batch(a, sent) == 5
        got: list[bytes] = []
        for _ in range(5):
            got += [bytes(p) for p in batch] if tuntap.udp_recv_batch(b, batch, timeout=1) else []
            if len(got) == 5:
                break
        assert got == sent
        c = batch._c
        assert c is not None and c.in_place == 1
        stage = ffi.buffer(c.stage, c.stage_len)
        for index, datagram in enumerate(batch):
            at = c.where[index]
            assert stage[at : at + len(datagram)] == bytes(datagram)
        slots = bytes(ffi.buffer(c.buf, c.buf_len))
        assert all(d not in slots for d in sent)  # nothing was copied into the slots
        with tuntap.open("ttinp%d") as iface:
            assert iface.read_batch(batch, timeout=0) == 0
        assert c.in_place == 0 and c.origin == lib.TT_ORIGIN_DEVICE


def test_a_batch_without_where_still_copies() -> None:
    a, b = pair()
    with a, b:
        c, buf, results = _lowlevel.new_batch(4, 128, _lowlevel.KIND_TAP)
        rx = _lowlevel.new_udp_rx(c, 4)
        c.where = ffi.NULL
        addrs = ffi.new("struct tt_udp_addr[]", 4)
        assert lib.tt_udp_setup(b.fileno(), 1) >= 0
        assert tuntap.udp_send_batch(a, [b"x" * 40]) == 1
        assert lib.tt_udp_recv(b.fileno(), -1, c, addrs, rx.c, 1000) == 1
        assert c.in_place == 0 and bytes(ffi.buffer(buf, 40)) == b"x" * 40
        del results
