"""What a read leaves behind for the next call: pending segments and sent marks.

An offload queue's super-packet, split into segments handed out one per
``read_packet``, is still pending when a raw ``read_batch`` (``segment=False``)
comes: the raw read hands out the rest of it first, so the kernel's order
holds and nothing is lost. A batch's sent marks (the packets a stopped
coalescing write had sent ahead, with their flow) describe the packets the
batch held then: a read into the batch clears them, so a later
``write_batch(batch, start=k)`` writes every slot from k; and a stopped
``udp_send_batch`` says exactly which datagrams did not go.

A TUN never refuses a write part-way by itself, so the stopped coalescing
write that leaves marks goes to a pipe with little room, standing in for the
device (as in test_coalesce_flows); everything else goes through real devices
and sockets, and what arrives is read on the far side.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import socket
import struct
import time
from collections.abc import Iterator

import dpkt
import pytest
from helpers.forward import IN_NET, OUT_NET, PEER_IN, PEER_OUT
from helpers.ip import disable_ipv6, ip
from helpers.packets import ipv4_udp, tcp4, tcp_packet, ttl_free, udp_packet

import tuntap_cffi as tuntap
from tuntap_cffi import PacketBatch, _lowlevel
from tuntap_cffi._native import lib

pytestmark = pytest.mark.privileged

# Subnets of this module's own; the forwarding tests use the forward path's (helpers.forward).
TCP_NET, TCP_PEER = "192.0.2.161/27", "192.0.2.170"
UDP_NET, UDP_PEER = "192.0.2.193/27", "192.0.2.200"
IP_MTU_DISCOVER, IP_PMTUDISC_DO = 10, 2  # linux/in.h
F_SETPIPE_SZ = 1031


def up(iface: tuntap.Interface, net: str, mtu: int = 1500) -> None:
    """IPv4 only (so the kernel sends nothing of its own), ``net`` assigned, link up."""
    disable_ipv6(iface.name)
    ip("addr", "add", net, "dev", iface.name)
    ip("link", "set", iface.name, "mtu", str(mtu), "up")


# -- 3: a raw read after read_packet left segments pending ----------------------------


def tcp_data(raw: bytes, sport: int) -> tuple[int, bytes] | None:
    """(sequence number, payload) of a TCP packet from port ``sport`` carrying data."""
    packet = dpkt.ip.IP(raw)
    segment = packet.data
    if isinstance(segment, dpkt.tcp.TCP) and segment.sport == sport and segment.data:
        return int(segment.seq), bytes(segment.data)
    return None


@contextlib.contextmanager
def tcp_burst(off: tuntap.Interface) -> Iterator[tuple[socket.socket, int]]:
    """A connection from a local socket to a peer behind ``off``, opened by answering
    its SYN; yields the socket and its first data sequence number."""
    with socket.socket() as sock:
        # A reset on close: no FIN retransmissions reach later tests' devices.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            sock.connect((TCP_PEER, 5001))
        sport = sock.getsockname()[1]
        deadline = time.monotonic() + 5
        syn = None
        while syn is None and time.monotonic() < deadline:
            segment = dpkt.ip.IP(bytes(off.read_packet(timeout=1).body)).data
            if isinstance(segment, dpkt.tcp.TCP) and segment.sport == sport and segment.flags & 2:
                syn = segment
        assert syn is not None, "no SYN"
        peer, local = socket.inet_aton(TCP_PEER), socket.inet_aton(TCP_NET.split("/")[0])
        off.write_packet(tcp4(peer, local, 5001, sport, 9000, syn.seq + 1, 0x12, b""))
        _, writable, _ = select.select([], [sock], [], 5)
        assert writable and sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
        yield sock, int(syn.seq) + 1


def test_a_raw_read_hands_out_the_pending_segments_first() -> None:
    """read_packet takes the first segment of a TSO super-packet; the raw reads that
    follow give the rest of it, then what the kernel sent after it (a UDP datagram):
    every byte once, in the kernel's order."""
    with tuntap.open("pmr%d", offload=True) as off:
        up(off, TCP_NET)
        with (
            tcp_burst(off) as (sock, first_seq),
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
        ):
            sport = sock.getsockname()[1]
            data = os.urandom(60000)
            sent = sock.send(data)
            udp.sendto(b"after the burst", (TCP_PEER, 9))
            # In read order: (sequence number, payload) of TCP data, None for the marker.
            stream: list[tuple[int, bytes] | None] = []
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                found = tcp_data(bytes(off.read_packet(timeout=1).body), sport)
                if found is not None:
                    stream.append(found)
                    if off._q.rx_len:  # segments of a super-packet are pending
                        break
            assert off._q.rx_len, "the kernel sent no super-packet"
            batch = PacketBatch(64)
            marker = False
            while not marker and time.monotonic() < deadline:
                for index in range(off.read_batch(batch, segment=False, timeout=0.2)):
                    raw = bytes(batch[index])
                    if raw[9] == 17 and raw.endswith(b"after the burst"):
                        stream.append(None)
                        marker = True
                        break
                    found = tcp_data(raw, sport)
                    if found is not None:
                        stream.append(found)
    assert marker, "the datagram sent after the burst never came"
    assert stream[-1] is None
    end = 0
    for item in stream[:-1]:
        assert item is not None, "the datagram came before TCP data sent ahead of it"
        seq, payload = item
        offset = (seq - first_seq) & 0xFFFFFFFF
        assert offset == end, f"data at {offset} after {end} bytes: lost, repeated or late"
        assert payload == data[offset : offset + len(payload)]
        end += len(payload)
    assert 2 * 1460 < end <= sent


# -- 4: sent marks left by a stopped coalescing write ----------------------------------


def interleaved(per_flow_sizes: tuple[int, int]) -> list[bytes]:
    """A0 B0 A1 B1 A2 B2: two TCP flows (the forward path's peers) whose segments merge."""
    return [
        tcp_packet(False, 1 + k * size, bytes([65 + f]) * size, sport=4000 + f, ip_id=10 + k)
        for k in range(3)
        for f, size in enumerate(per_flow_sizes)
    ]


def stop_after_flow_a(batch: PacketBatch, a_size: int) -> None:
    """Writes ``batch`` (A0 B0 A1 B1 A2 B2), coalescing, to a pipe with room for A's
    super-packet and not B's: A1 and A2 went out ahead of B0, where the write stopped,
    and the batch's marks say so."""
    read_end, write_end = os.pipe2(os.O_NONBLOCK)
    wake, never = os.pipe()
    try:
        fcntl.fcntl(write_end, F_SETPIPE_SZ, 4096)
        super_len = _lowlevel.VNET_HDR_LEN + 40 + 3 * a_size
        os.write(write_end, bytes(4096 - super_len - 50))
        queue = _lowlevel.new_queue(write_end, wake, _lowlevel.KIND_TUN, 0x67, 65535)
        status = batch._status
        assert lib.tt_queue_write(queue.c, batch._packets, 0, 1, 0, status) == 3
        assert (status.next, status.written) == (1, 3)
        assert _lowlevel.unwritten(status, 1, len(batch)) == (1, 3, 5)  # marks on A1, A2
    finally:
        for fd in (read_end, write_end, wake, never):
            os.close(fd)


@contextlib.contextmanager
def forward_path() -> Iterator[tuple[tuntap.Interface, tuntap.Interface]]:
    """An offload TUN whose packets the kernel forwards out of a plain TUN (IPv4 only)."""
    with tuntap.open("pma%d", offload=True) as a, tuntap.open("pmc%d") as c:
        up(a, IN_NET)
        up(c, OUT_NET)
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write("1")
        yield a, c


def arrivals(c: tuntap.Interface, expected: int, proto: int) -> list[bytes]:
    """The ``proto`` packets out of ``c`` until ``expected`` came or 3 s passed, and
    any that follow within 0.1 s."""
    got: list[bytes] = []
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        timeout = 0.1 if len(got) >= expected else 0.5
        packets = c.read_packets(64, timeout=timeout)
        got += [bytes(p.body) for p in packets if bytes(p.body)[9] == proto]
        if len(got) >= expected and not packets:
            break
    return got


def fill(
    how: str,
    batch: PacketBatch,
    packets: list[bytes],
    a: tuntap.Interface,
    c: tuntap.Interface,
    rx: socket.socket,
    tx: socket.socket,
) -> list[bytes]:
    """Fills ``batch`` with ``packets`` by one read: read_batch on ``c`` (the packets
    written one by one into ``a`` and forwarded) or udp_recv_batch (each a datagram);
    what the batch holds."""
    if how == "read_batch":
        for packet in packets:
            a.write_packet(packet)
        assert c.read_batch(batch, timeout=1) == len(packets)
    else:
        for packet in packets:
            tx.sendto(packet, rx.getsockname())
        assert tuntap.udp_recv_batch(rx, batch, timeout=1) == len(packets)
    return [bytes(batch[i]) for i in range(len(batch))]


@pytest.mark.parametrize("how", ["read_batch", "udp_recv_batch"])
def test_a_read_clears_the_marks_so_a_write_from_start_writes_every_slot(how: str) -> None:
    """Marks left on slots 2 and 4 by a stopped coalescing write; six new packets read
    into the batch; write_batch(start=1) sends slots 1 to 5, and they come out of the
    forward."""
    with (
        forward_path() as (a, c),
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx,
    ):
        rx.bind(("127.0.0.1", 0))
        batch = PacketBatch(8)
        fill(how, batch, interleaved((100, 100)), a, c, rx, tx)
        stop_after_flow_a(batch, 100)
        datagrams = [
            udp_packet(False, bytes([97 + k]) * (200 + k), sport=4100 + k) for k in range(6)
        ]
        held = fill(how, batch, datagrams, a, c, rx, tx)
        assert a.write_batch(batch, start=1) == 5
        got = arrivals(c, 5, 17)
    assert sorted(ttl_free(p) for p in got) == sorted(ttl_free(p) for p in held[1:])


@pytest.mark.parametrize("source", ["list", "batch with marks"])
def test_a_stopped_udp_send_says_exactly_which_datagrams_did_not_go(source: str) -> None:
    """Datagram 1 is over the path's MTU with fragmentation forbidden (EMSGSIZE): what
    arrives behind the TUN the route goes through is exactly what ``.unwritten`` leaves
    out. A batch's marks from a stopped coalescing write (on A1 and A2) change nothing,
    and the send leaves them for that write to resume with."""
    packets = interleaved((100, 1600))  # B's segments do not fit a 1500-byte MTU
    with (
        tuntap.open("pmu%d") as far,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock,
    ):
        up(far, UDP_NET)
        rx.bind(("127.0.0.1", 0))
        items: PacketBatch | list[bytes] = packets
        if source != "list":
            batch = PacketBatch(8)
            for packet in packets:
                tx.sendto(packet, rx.getsockname())
            assert tuntap.udp_recv_batch(rx, batch, timeout=1) == len(packets)
            stop_after_flow_a(batch, 100)
            items = batch
        sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
        sock.connect((UDP_PEER, 9))
        with pytest.raises(tuntap.BatchWriteError) as stopped:
            tuntap.udp_send_batch(sock, items)
        arrived = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            got = far.read_packets(64, timeout=0.3)
            arrived += [bytes(p.body)[28:] for p in got if bytes(p.body)[9] == 17]
            if not got:
                break
    exc = stopped.value
    assert isinstance(exc, OSError) and exc.errno == errno.EMSGSIZE
    assert (exc.written, exc.index) == (1, 1)
    not_arrived = tuple(i for i, packet in enumerate(packets) if packet not in arrived)
    assert sorted(arrived) == sorted(p for i, p in enumerate(packets) if i not in not_arrived)
    assert exc.unwritten == not_arrived == (1, 2, 3, 4, 5)
    if isinstance(items, PacketBatch):
        assert _lowlevel.unwritten(items._status, 1, len(items)) == (1, 3, 5)


# -- a batch that held raw offload slots, then plain packets ----------------------------


def test_a_plain_read_after_a_raw_one_is_written_as_plain_packets() -> None:
    """A batch whose slots took a raw read (fixed, large slots: never resized) and
    went to a raw write, then takes a plain read: a write of it must send plain
    packets, not take the stale virtio-net header in front of each slot's packet
    (here one asking the kernel to complete a checksum, which would corrupt it)."""
    payload = b"raw, then plain"
    with forward_path() as (a, c), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        batch = PacketBatch(4, slot_size=65600)
        deadline = time.monotonic() + 5
        # A local datagram routed into a: its checksum left for the device to finish.
        raw = 0
        while not raw and time.monotonic() < deadline:
            sock.sendto(payload, (PEER_IN, 9))
            raw = a.read_batch(batch, segment=False, timeout=0.2)
        assert batch.raw and batch.vnet_header(0)[0] & 1  # VIRTIO_NET_HDR_F_NEEDS_CSUM
        a.write_batch(batch)  # raw, as read (a local source coming back in: dropped)
        assert batch._packets.raw == 1
        # A datagram PEER_OUT -> PEER_IN with its checksum complete, forwarded into a.
        incoming = ipv4_udp(PEER_OUT, PEER_IN, 4000, 5000, payload)
        c.write_packet(incoming)
        count = 0
        while not count and time.monotonic() < deadline:
            count = a.read_batch(batch, timeout=0.2)
        assert count == 1 and not batch.raw and bytes(batch[0])[20:] == incoming[20:]
        assert batch._packets.raw == 0  # the C view that a write takes as it is
        # Written back into a, it is forwarded out of a again, one hop older.
        assert a.write_batch(batch) == 1
        back = b""
        while not back.endswith(payload) and time.monotonic() < deadline:
            back = bytes(batch[0]) if a.read_batch(batch, timeout=0.2) else b""
        assert back[20:] == incoming[20:]  # the UDP header and checksum untouched
        assert back[8] == incoming[8] - 2 and back[12:20] == incoming[12:20]
