"""Offload on every queue of a multi-queue device, and a device left offloaded.

Each queue of ``open_queues(..., offload=True)`` speaks virtio-net headers
both ways; a persistent device last used with offloads and attached again
without them gives its plain reader only packets that fit the MTU.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
import time

import dpkt
import pytest
from helpers.forward import collect, forward_path
from helpers.ip import disable_ipv6, ip
from helpers.packets import tcp_packet, ttl_free

import tuntap_cffi as tuntap
from tuntap_cffi import DevKind

pytestmark = pytest.mark.privileged

LOCAL, PEER = "203.0.113.1", "203.0.113.2"


def tcp4(sport: int, dport: int, seq: int, ack: int, flags: int) -> bytes:
    """A TCP/IPv4 segment from PEER to LOCAL, checksums by dpkt."""
    tcp = dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags, win=65535)
    if flags & 0x02:
        tcp.opts = b"\x02\x04\x05\xb4"  # MSS 1460
        tcp.off = 6
    packet = dpkt.ip.IP(
        src=socket.inet_aton(PEER), dst=socket.inet_aton(LOCAL), p=6, ttl=64, df=1, data=tcp
    )
    packet.len = 20 + len(bytes(tcp))
    return bytes(packet)


def largest_packet_of_a_tcp_burst(iface: tuntap.Interface) -> tuple[int, int]:
    """Open a TCP connection out of ``iface`` (answering as the peer) and let the
    kernel send a 60 kB burst: (largest packet read, TCP payload bytes seen)."""
    largest = payload = 0
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            sock.connect((PEER, 5001))
        port = sock.getsockname()[1]
        buf = bytearray(65536 + 100)
        syn = None
        deadline = time.monotonic() + 5
        while syn is None and time.monotonic() < deadline:
            segment = dpkt.ip.IP(bytes(iface.read_packet(buf, timeout=1).body)).data
            if isinstance(segment, dpkt.tcp.TCP) and segment.sport == port and segment.flags & 2:
                syn = segment
        assert syn is not None, "no SYN"
        iface.write_packet(tcp4(5001, port, 9000, syn.seq + 1, 0x12))
        _, writable, _ = select.select([], [sock], [], 5)
        assert writable and sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
        iface.write_packet(tcp4(5001, port, 9001, syn.seq + 1, 0x10))
        sock.send(os.urandom(60000))
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and payload < 9 * 1460:
            try:
                body = bytes(iface.read_packet(buf, timeout=0.2).body)
            except (TimeoutError, tuntap.TruncatedPacketError):
                continue
            largest = max(largest, len(body))
            segment = dpkt.ip.IP(body).data
            if isinstance(segment, dpkt.tcp.TCP) and segment.sport == port:
                payload += len(segment.data)
    return largest, payload


def test_a_device_left_offloaded_gives_a_plain_reader_no_super_packet() -> None:
    with tuntap.open("left%d", persist=True, offload=True) as first:
        name = first.name
        assert first.offload
    try:
        with tuntap.open(name) as plain:
            assert not plain.offload
            disable_ipv6(name)
            ip("addr", "add", f"{LOCAL}/25", "dev", name)
            ip("link", "set", name, "up", "mtu", "1500")
            largest, payload = largest_packet_of_a_tcp_burst(plain)
            plain.set_persist(False)
    finally:
        if os.path.exists(f"/sys/class/net/{name}"):
            ip("link", "delete", name)
    assert payload >= 9 * 1460
    assert largest <= 1500


def test_every_queue_of_an_offload_device_speaks_virtio_net_headers() -> None:
    queues = tuntap.open_queues("moq%d", count=3, offload=True)
    try:
        assert all(q.offload and q.offload == queues[0].offload for q in queues)
        assert all(q.multi_queue for q in queues)
        # A plain attach to it now would get headers it does not read.
        with pytest.raises(tuntap.DeviceMismatchError, match="vnet_hdr on"):
            tuntap.open_queues(queues[0].name, count=1)
    finally:
        for q in queues:
            q.close()
    plain = tuntap.open_queues("mpq%d", count=1)
    try:
        with pytest.raises(tuntap.DeviceMismatchError, match="vnet_hdr off"):
            tuntap.open_queues(plain[0].name, count=1, offload=True)
    finally:
        plain[0].close()


def test_every_queue_coalesces_writes_and_segments_reads() -> None:
    # Only the plain TUN of the forward path is used here: what the queues
    # write is forwarded out of it, so it shows what the kernel made of it.
    with forward_path() as (_, c):
        queues = tuntap.open_queues("mqo%d", count=3, offload=True)
        try:
            name = queues[0].name
            disable_ipv6(name)
            ip("addr", "add", f"{LOCAL}/25", "dev", name)
            ip("link", "set", name, "up", "mtu", "1500")
            for k, q in enumerate(queues):
                # Written through queue k towards c, four segments merge into one
                # super-packet that the kernel forwards and splits again.
                packets = [
                    tcp_packet(
                        False, 1 + i * 700, os.urandom(700), sport=6000 + k, ip_id=i, src=PEER
                    )
                    for i in range(4)
                ]
                assert q.write_batch(packets) == 4
                out = collect(c, 4)
                assert [ttl_free(p) for p in out] == [ttl_free(p) for p in packets]
            # Datagrams of many flows spread over the queues; each reads them as plain packets.
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                for port in range(40):
                    sock.sendto(port.to_bytes(2, "big") * 300, (PEER, 7000 + port))
            finally:
                sock.close()
            seen: set[int] = set()
            readers = 0
            for q in queues:
                got = 0
                for packet in q.read_packets(64, timeout=0.3):
                    body = bytes(packet.body)
                    if body[9] == 17:
                        assert len(body) == 20 + 8 + 600
                        seen.add(int.from_bytes(body[28:30], "big"))
                        got += 1
                readers += got > 0
            assert seen == set(range(40))
            assert readers >= 2
        finally:
            for q in queues:
                q.close()


def test_bad_offload_options_of_open_queues() -> None:
    with pytest.raises(ValueError, match="TUN devices only"):
        tuntap.open_queues("bq%d", DevKind.TAP, count=2, offload=True)
    with pytest.raises(TypeError, match="offload must be a bool"):
        tuntap.open_queues("bq%d", count=2, offload="yes")  # type: ignore[arg-type]
