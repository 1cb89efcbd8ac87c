"""``tuntap-cffi demo``: a TUN device that answers pings, from Python.

The demo moves itself into a network namespace of its own (so it touches
nothing on the host and leaves nothing behind), brings ``lo`` up, opens a
TUN there and configures it with this library alone, then pings two peers
that exist only as this loop: it sends ICMP and ICMPv6 echo requests from
its own sockets, reads each one from the TUN, writes the echo reply back and
times the round trip. It needs no ``ping`` program.

The requests go out on raw sockets (``SOCK_RAW``), not on the unprivileged
``SOCK_DGRAM`` ICMP sockets: the demo needs root anyway (a namespace and a
TUN), and root always has ``CAP_NET_RAW``, whereas datagram ICMP sockets also
need ``net.ipv4.ping_group_range`` to admit the caller's group, a sysctl that
a read-only ``/proc/sys`` (as in many containers) would keep the demo from
setting. Its private namespace means every ICMP message a raw socket sees is
the demo's own, so matching replies by identifier and sequence is enough.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import TextIO

from .. import netns
from ..device.interface import Interface
from ..device.opening import open as open_interface
from ..errors import TunTapError
from ..link.link import Link
from ..packets.packet import (
    ETH_P_IP,
    ETH_P_IPV6,
    IPPROTO_ICMP,
    IPPROTO_ICMPV6,
    DevKind,
    Packet,
    parse_packet,
)

__all__ = ["echo_reply", "icmp_description", "inet_checksum", "run_demo"]

LOCAL4, PEER4 = "192.0.2.1/24", "192.0.2.2"
LOCAL6, PEER6 = "2001:db8::1/64", "2001:db8::2"
ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY = 8, 0
ICMPV6_ECHO_REQUEST, ICMPV6_ECHO_REPLY = 128, 129
HOP_LIMIT = 64
READ_SLICE = 0.2  # seconds; the loop checks its deadlines at least this often
ECHO_INTERVAL = 0.2  # seconds between two requests to one peer (ping -i 0.2)
REPLY_TIMEOUT = 2.0  # seconds after which an unanswered request is lost (ping -W 2)
ECHO_PAYLOAD = b"tuntap-cffi demo echo payload, 56 bytes as ping sends. "

ICMP_NAMES = {
    (IPPROTO_ICMP, 0): "echo reply",
    (IPPROTO_ICMP, 3): "destination unreachable",
    (IPPROTO_ICMP, 8): "echo request",
    (IPPROTO_ICMPV6, 128): "echo request",
    (IPPROTO_ICMPV6, 129): "echo reply",
    (IPPROTO_ICMPV6, 133): "router solicitation",
    (IPPROTO_ICMPV6, 135): "neighbour solicitation",
    (IPPROTO_ICMPV6, 143): "multicast listener report v2",
}


def inet_checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def icmp_description(packet: Packet) -> str:
    """``"ICMP echo request (type 8, code 0)"``, or the upper protocol when not ICMP."""
    proto, icmp_type, code = packet.icmp_type()
    if not proto:
        return f"protocol {packet.ip_proto()[0]}"
    family = "ICMP" if proto == IPPROTO_ICMP else "ICMPv6"
    name = ICMP_NAMES.get((proto, icmp_type), "message")
    return f"{family} {name} (type {icmp_type}, code {code})"


def _with_checksum(message: bytearray, pseudo_header: bytes = b"") -> bytes:
    message[2:4] = b"\0\0"
    message[2:4] = struct.pack("!H", inet_checksum(pseudo_header + bytes(message)))
    return bytes(message)


def echo_reply(packet: Packet, peers: tuple[str, ...] = (PEER4, PEER6)) -> bytes | None:
    """The echo reply to an ICMP or ICMPv6 echo request sent to one of ``peers``, else None.

    The reply swaps the addresses, has a fresh header (no options or
    extension headers) and correct checksums; ICMPv6's covers the
    pseudo-header (RFC 8200, section 8.1).
    """
    proto, off, later_fragment = packet.ip_proto()
    body = bytes(packet.body)
    if later_fragment or len(body) < off + 8 or str(packet.dip) not in peers:
        return None
    if packet.protocol == ETH_P_IP and proto == IPPROTO_ICMP:
        if body[off] != ICMP_ECHO_REQUEST or body[off + 1] != 0:
            return None
        icmp = bytearray(body[off:])
        icmp[0] = ICMP_ECHO_REPLY
        ident = struct.unpack("!H", body[4:6])[0]
        header = bytearray(
            struct.pack(
                "!BBHHHBBH4s4s",
                0x45,
                body[1],
                20 + len(icmp),
                ident,
                0,
                HOP_LIMIT,
                IPPROTO_ICMP,
                0,
                body[16:20],
                body[12:16],
            )
        )
        header[10:12] = struct.pack("!H", inet_checksum(bytes(header)))
        return bytes(header) + _with_checksum(icmp)
    if packet.protocol == ETH_P_IPV6 and proto == IPPROTO_ICMPV6:
        if body[off] != ICMPV6_ECHO_REQUEST or body[off + 1] != 0:
            return None
        icmp6 = bytearray(body[off:])
        icmp6[0] = ICMPV6_ECHO_REPLY
        source, destination = body[24:40], body[8:24]
        pseudo = source + destination + struct.pack("!I3xB", len(icmp6), IPPROTO_ICMPV6)
        fixed = body[0:4] + struct.pack("!HBB", len(icmp6), IPPROTO_ICMPV6, HOP_LIMIT)
        return fixed + source + destination + _with_checksum(icmp6, pseudo)
    return None


@dataclass
class _Pinger:
    """Echo requests to one peer from a raw ICMP or ICMPv6 socket, and their round trips."""

    peer: str
    sock: socket.socket
    count: int
    ident: int = field(default_factory=lambda: os.getpid() & 0xFFFF)
    sent: int = 0
    rtts: list[float] = field(default_factory=list)  # milliseconds
    pending: dict[int, float] = field(default_factory=dict)  # sequence -> perf_counter()
    next_send: float = 0.0  # time.monotonic()

    @property
    def ipv6(self) -> bool:
        return self.sock.family == socket.AF_INET6

    @property
    def done(self) -> bool:
        return self.sent == self.count and not self.pending

    def send_due(self, now: float) -> None:
        """Send the next request when its time has come."""
        if self.sent >= self.count or now < self.next_send:
            return
        sequence = self.sent + 1
        kind = ICMPV6_ECHO_REQUEST if self.ipv6 else ICMP_ECHO_REQUEST
        message = bytearray(struct.pack("!BBHHH", kind, 0, 0, self.ident, sequence) + ECHO_PAYLOAD)
        if not self.ipv6:  # the kernel fills in ICMPv6 checksums (RFC 3542, section 3.1)
            message[2:4] = struct.pack("!H", inet_checksum(bytes(message)))
        self.pending[sequence] = time.perf_counter()
        self.sock.sendto(bytes(message), (self.peer, 0))
        self.sent += 1
        self.next_send = now + ECHO_INTERVAL

    def receive(self, out: TextIO) -> None:
        """Take one message from the socket; time it if it answers a pending request."""
        data, source = self.sock.recvfrom(65535)
        arrived = time.perf_counter()
        if not self.ipv6:  # IPv4 raw sockets deliver the IP header too
            data = data[(data[0] & 0x0F) * 4 :] if data else b""
        if len(data) < 8 or source[0] != self.peer:
            return
        kind, code, _, ident, sequence = struct.unpack("!BBHHH", data[:8])
        reply = ICMPV6_ECHO_REPLY if self.ipv6 else ICMP_ECHO_REPLY
        if (kind, code, ident) != (reply, 0, self.ident) or sequence not in self.pending:
            return
        # The kernel checks ICMPv6 checksums before a raw socket sees the message, not ICMP's.
        if data[8:] != ECHO_PAYLOAD or (not self.ipv6 and inet_checksum(data) != 0):
            print(f"bad reply from {self.peer}: seq={sequence}", file=out, flush=True)
            return
        rtt = (arrived - self.pending.pop(sequence)) * 1000
        self.rtts.append(rtt)
        print(f"reply from {self.peer}: seq={sequence} time={rtt:.3f} ms", file=out, flush=True)

    def expire(self, out: TextIO) -> None:
        """Give up on requests unanswered for REPLY_TIMEOUT."""
        oldest = time.perf_counter() - REPLY_TIMEOUT
        for sequence, sent_at in list(self.pending.items()):
            if sent_at < oldest:
                del self.pending[sequence]
                print(f"no reply from {self.peer}: seq={sequence}", file=out, flush=True)


def _enter_private_namespace() -> None:
    """Move this process (one thread so far) into a network namespace of its own."""
    netns.unshare()
    with Link("lo") as lo:
        lo.up()


def _echo_socket(peer: str) -> socket.socket:
    """A raw socket for echo requests to ``peer`` (ICMP, or ICMPv6 for an IPv6 peer)."""
    family, proto = (
        (socket.AF_INET6, socket.IPPROTO_ICMPV6) if ":" in peer else (socket.AF_INET, IPPROTO_ICMP)
    )
    try:
        return socket.socket(family, socket.SOCK_RAW, proto)
    except PermissionError as exc:
        raise PermissionError(
            exc.errno, f"demo: raw ICMP socket: {exc.strerror} (run it as root: needs CAP_NET_RAW)"
        ) from None


def _configure(iface: Interface, ipv6: bool, out: TextIO) -> None:
    iface.add_address(LOCAL4)
    if ipv6:
        iface.set_ipv6(True)
        iface.add_address(LOCAL6, nodad=True)
    iface.up()
    addresses = ", ".join(str(address) for address in iface.addresses())
    print(f"{iface.name}: up, mtu {iface.mtu}, addresses {addresses}", file=out, flush=True)


def _answer_one(iface: Interface, out: TextIO) -> int:
    """Read one packet from the TUN and answer it if it is an echo request; 1 if answered."""
    try:
        packet = iface.read_packet(timeout=0)
    except TimeoutError:
        return 0
    except TunTapError as exc:
        print(f"read error: {exc}", file=out, flush=True)
        return 0
    print(f"read  {packet}  {icmp_description(packet)}", file=out, flush=True)
    reply = echo_reply(packet)
    if reply is None:
        return 0
    iface.write_packet(reply)
    written = parse_packet(reply, DevKind.TUN)
    print(f"wrote {written}  {icmp_description(written)}", file=out, flush=True)
    return 1


def _exchange(iface: Interface, pingers: list[_Pinger], deadline: float, out: TextIO) -> int:
    """Send the requests and answer them until every one is answered or lost, or the
    deadline; returns the replies written to the TUN."""
    answered = 0
    sockets = {pinger.sock.fileno(): pinger for pinger in pingers}
    while not all(pinger.done for pinger in pingers):
        now = time.monotonic()
        if now >= deadline:
            break
        for pinger in pingers:
            pinger.send_due(now)
            pinger.expire(out)
        waits = [p.next_send - now for p in pingers if p.sent < p.count]
        wait = max(0.0, min([READ_SLICE, deadline - now, *waits]))
        readable, _, _ = select.select([iface.fileno(), *sockets], [], [], wait)
        for fd in readable:
            if fd in sockets:
                sockets[fd].receive(out)
            else:
                answered += _answer_one(iface, out)
    return answered


def run_demo(out: TextIO, count: int = 3, timeout: float = 30.0) -> int:
    """Run the demo; 0 when every echo request was answered, 1 otherwise."""
    _enter_private_namespace()
    ipv6 = os.path.isdir("/proc/sys/net/ipv6")
    peers = [PEER4, PEER6] if ipv6 else [PEER4]
    if not ipv6:
        print("IPv6 is not available in this kernel: pinging the IPv4 peer only", file=out)
    deadline = time.monotonic() + timeout
    pingers: list[_Pinger] = []
    try:
        with open_interface("demo%d", DevKind.TUN) as iface:
            _configure(iface, ipv6, out)
            for peer in peers:
                pingers.append(_Pinger(peer, _echo_socket(peer), count))
            answered = _exchange(iface, pingers, deadline, out)
    finally:
        for pinger in pingers:
            pinger.sock.close()
    for pinger in pingers:
        received = len(pinger.rtts)
        print(f"ping {pinger.peer}: {pinger.sent} sent, {received} answered", file=out)
    sent = sum(pinger.sent for pinger in pingers)
    rtts = [rtt for pinger in pingers for rtt in pinger.rtts]
    received = len(rtts)
    rtt = (
        f"rtt min/avg/max = {min(rtts):.3f}/{sum(rtts) / len(rtts):.3f}/{max(rtts):.3f} ms"
        if rtts
        else "no round trips"
    )
    print(
        f"summary: {sent} sent, {received} answered ({answered} replies written), "
        f"{sent - received} lost; {rtt}",
        file=out,
        flush=True,
    )
    return 0 if sent == count * len(peers) and received == sent else 1
