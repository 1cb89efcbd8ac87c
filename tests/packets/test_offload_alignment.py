"""A segmenting read never starts a super-packet in a batch that cannot hold all its
segments (an empty batch takes as many as fit): the segments of one super-packet then
go on together, as one UDP_SEGMENT message or one coalesced write, instead of being
cut in two by the batch's end. ``Interface.pending`` says a read left one in the
queue (the device's fd shows only what the kernel still holds)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from helpers.ip import disable_ipv6, ip
from helpers.packets import GSO_TCPV4, super_packet, vnet_header
from helpers.skips import skip_or_fail

import tuntap_cffi as tuntap
from tuntap_cffi import Offload, PacketBatch, _lowlevel
from tuntap_cffi._native import ffi, lib

pytestmark = pytest.mark.privileged

UDP_SEGMENT = 103  # linux/udp.h
NET, PEER = "192.0.2.193/27", "192.0.2.200"


def message(segments: int, fill: int) -> bytes:
    payload = b"".join(bytes([fill + k]) * 1000 for k in range(segments))
    packet, hlen = super_packet(False, False, payload)
    return vnet_header(GSO_TCPV4, hlen, 1000, 20, 16) + packet


def test_a_super_packet_waits_for_a_batch_with_room_for_all_its_segments() -> None:
    r, w = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    r.setblocking(False)
    with r, w:
        queue = _lowlevel.new_queue(r.fileno(), -1, _lowlevel.KIND_TUN, _lowlevel.TUN_F_CSUM, 1600)
        batch, _buf, _results = _lowlevel.new_batch(4, 2048, _lowlevel.KIND_TUN)
        for fill in (0x10, 0x20, 0x30):
            w.send(message(3, fill))
        w.send(message(6, 0x40))  # more segments than the batch has slots
        counts = []
        for _ in range(6):
            got = lib.tt_queue_read(queue.c, batch, 0, 0)
            counts.append(got)
            fills = [ffi.buffer(batch.buf + k * 2048 + 40, 1)[0][0] for k in range(max(got, 0))]
            if got == 3:
                assert fills == [fills[0], fills[0] + 1, fills[0] + 2]
        assert counts == [3, 3, 3, 4, 2, -11]  # -EAGAIN at the end
        assert queue.c.rx_len == 0


@pytest.fixture
def off() -> Iterator[tuntap.Interface]:
    with tuntap.open("tal%d", offload=True) as iface:
        disable_ipv6(iface.name)
        ip("addr", "add", NET, "dev", iface.name)
        ip("link", "set", iface.name, "up")
        yield iface


def test_pending_says_what_the_fd_no_longer_does(off: tuntap.Interface) -> None:
    if Offload.USO4 not in off.offload:
        skip_or_fail("the kernel took no UDP segmentation offload (USO4: Linux 6.2+)")
    assert not off.pending
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((NET.split("/")[0], 0))
        sock.setsockopt(socket.SOL_UDP, UDP_SEGMENT, 500)
        sock.sendto(bytes(3000), (PEER, 9000))  # one super-packet of 6 datagrams
    batch = PacketBatch(1)
    deadline = time.monotonic() + 5
    while not off.pending and time.monotonic() < deadline:  # its first segment
        off.read_batch(batch, timeout=1)
    assert off.pending
    big = PacketBatch(64)
    sizes = []
    while off.pending:
        assert off.read_batch(big, timeout=0) > 0
        sizes += [len(p) for p in big]
    assert not off.pending
    assert sizes == [528] * 5  # the rest of the six: 20 IPv4 + 8 UDP + 500 bytes each
