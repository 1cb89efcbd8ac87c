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
import os
import select
import socket
import struct
import time
from collections.abc import Iterator

import dpkt
import pytest
from netutil import disable_ipv6, ip
from test_offload import tcp4

import tuntap_cffi as tuntap
from tuntap_cffi import PacketBatch

pytestmark = pytest.mark.privileged

# Subnets of this module's own; the forwarding tests use test_coalesce's packets and subnets.
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
