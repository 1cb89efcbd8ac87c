"""``python -m tuntap_cffi demo``: a TUN device that answers pings, from Python.

The demo moves itself into a network namespace of its own (so it touches
nothing on the host and leaves nothing behind), brings ``lo`` up, opens a
TUN there and configures it with this library alone, then runs ``ping`` for
two peers that exist only as this loop: it reads each echo request from the
TUN and writes the echo reply back.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import struct
import subprocess
import time
from dataclasses import dataclass, field
from typing import TextIO

from . import _lowlevel
from .config import Netlink
from .errors import TunTapError
from .interface import Interface
from .interface import open as open_interface
from .packet import (
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
READ_SLICE = 0.2  # seconds; the loop checks on the pings this often

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
_RTT = re.compile(r"time=([0-9.]+) ms")
_COUNTS = re.compile(r"(\d+) packets transmitted, (\d+) received")


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
class _Ping:
    """One ping(8) run against one peer."""

    peer: str
    process: subprocess.Popen[str]
    output: str = ""
    rtts: list[float] = field(default_factory=list)
    sent: int = 0
    received: int = 0

    def finish(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.output, _ = self.process.communicate()
        self.rtts = [float(rtt) for rtt in _RTT.findall(self.output)]
        counts = _COUNTS.search(self.output)
        if counts:
            self.sent, self.received = int(counts.group(1)), int(counts.group(2))


def _enter_private_namespace() -> None:
    """Move this process (one thread so far) into a network namespace of its own."""
    result = _lowlevel.unshare_netns()
    if result < 0:
        hint = "run it as root (needs CAP_SYS_ADMIN)" if result == -errno.EPERM else ""
        raise _lowlevel.os_error(-result, "demo: unshare(CLONE_NEWNET)", "a new namespace", hint)
    with Netlink("lo", "demo: bring lo up") as netlink:
        netlink.set_link(netlink.link(0, "demo: find lo").ifindex, "demo: bring lo up", up=True)


def _start_ping(peer: str, count: int, deadline_s: int) -> _Ping:
    family = "-6" if ":" in peer else "-4"
    command = ["ping", family, "-n", "-c", str(count), "-i", "0.2", "-W", "2"]
    command += ["-w", str(deadline_s), peer]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return _Ping(peer, process)


def _configure(iface: Interface, ipv6: bool, out: TextIO) -> None:
    iface.add_address(LOCAL4)
    if ipv6:
        iface.set_ipv6(True)
        iface.add_address(LOCAL6, nodad=True)
    iface.up()
    addresses = ", ".join(str(address) for address in iface.addresses())
    print(f"{iface.name}: up, mtu {iface.mtu}, addresses {addresses}", file=out, flush=True)


def _answer(iface: Interface, pings: list[_Ping], deadline: float, out: TextIO) -> int:
    """Answer echo requests until every ping has ended; returns the replies written."""
    answered = 0
    while time.monotonic() < deadline and any(p.process.poll() is None for p in pings):
        try:
            packet = iface.read_packet(timeout=READ_SLICE)
        except TimeoutError:
            continue
        except TunTapError as exc:
            print(f"read error: {exc}", file=out, flush=True)
            continue
        print(f"read  {packet}  {icmp_description(packet)}", file=out, flush=True)
        reply = echo_reply(packet)
        if reply is None:
            continue
        iface.write_packet(reply)
        answered += 1
        written = parse_packet(reply, DevKind.TUN)
        print(f"wrote {written}  {icmp_description(written)}", file=out, flush=True)
    return answered


def run_demo(out: TextIO, count: int = 3, timeout: float = 30.0) -> int:
    """Run the demo; 0 when every ping was answered, 1 otherwise."""
    if shutil.which("ping") is None:
        raise FileNotFoundError(errno.ENOENT, "demo: ping not found (install iputils-ping)")
    _enter_private_namespace()
    ipv6 = os.path.isdir("/proc/sys/net/ipv6")
    peers = [PEER4, PEER6] if ipv6 else [PEER4]
    if not ipv6:
        print("IPv6 is not available in this kernel: pinging the IPv4 peer only", file=out)
    deadline = time.monotonic() + timeout
    pings: list[_Ping] = []
    with open_interface("demo%d", DevKind.TUN) as iface:
        _configure(iface, ipv6, out)
        try:
            for peer in peers:
                pings.append(_start_ping(peer, count, max(1, int(timeout))))
            answered = _answer(iface, pings, deadline, out)
        finally:
            for ping in pings:
                ping.finish()
    for ping in pings:
        print(f"ping {ping.peer}: {ping.sent} sent, {ping.received} answered", file=out)
    sent = sum(ping.sent for ping in pings)
    received = sum(ping.received for ping in pings)
    rtts = [rtt for ping in pings for rtt in ping.rtts]
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
