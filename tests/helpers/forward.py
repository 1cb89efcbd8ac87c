"""The forward path: an offload TUN whose packets the kernel forwards out of a plain
TUN, and what comes out of it.

It is the coalescing tests' oracle: the same packets written one by one (nothing
merged) are what the receiving side must see when ``write_batch`` merges them into
super-packets, which the kernel splits again on the way out.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import tuntap_cffi as tuntap
from helpers.ip import disable_ipv6, ip
from tuntap_cffi import PacketBatch

# A subnet of the forward path's own on each side: no socket bound to another
# test address can send into these devices.
IN_NET, OUT_NET = "198.51.100.129/25", "203.0.113.129/25"
PEER_IN, PEER_OUT = "198.51.100.200", "203.0.113.200"
IN6_NET, OUT6_NET = "2001:db8:c0::1/64", "2001:db8:c1::1/64"
PEER6_IN, PEER6_OUT = "2001:db8:c0::9", "2001:db8:c1::9"


@contextlib.contextmanager
def forward_path() -> Iterator[tuple[tuntap.Interface, tuntap.Interface]]:
    """An offload TUN whose packets the kernel forwards out of a plain TUN."""
    with tuntap.open("cin%d", offload=True) as a, tuntap.open("cout%d") as c:
        for iface, net, net6 in ((a, IN_NET, IN6_NET), (c, OUT_NET, OUT6_NET)):
            disable_ipv6(iface.name)
            with open(f"/proc/sys/net/ipv6/conf/{iface.name}/disable_ipv6", "w") as f:
                f.write("0")
            ip("addr", "add", net, "dev", iface.name)
            ip("addr", "add", net6, "dev", iface.name, "nodad")
            ip("link", "set", iface.name, "up")
        for path in ("/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"):
            with open(path, "w") as f:
                f.write("1")
        yield a, c


def collect(
    c: tuntap.Interface, expected: int, seconds: float = 3.0, proto: int = 6
) -> list[bytes]:
    """The TCP (or ``proto``) packets that come out of ``c`` until ``expected`` arrived
    or time ran out, and any that follow within 50 ms (a packet duplicated or split
    further)."""
    got: list[bytes] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for packet in c.read_packets(64, timeout=0.05 if len(got) >= expected else 0.1):
            body = bytes(packet.body)
            if body[6 if body[0] >> 4 == 6 else 9] == proto:
                got.append(body)
        if len(got) >= expected:
            extra = [bytes(p.body) for p in c.read_packets(64, timeout=0.05)]
            got += [b for b in extra if b[6 if b[0] >> 4 == 6 else 9] == proto]
            break
    return got


def as_sent_alone(
    a: tuntap.Interface, c: tuntap.Interface, packets: list[bytes], proto: int = 6
) -> list[bytes]:
    """What comes out when every packet is written by itself: nothing can be merged."""
    for packet in packets:
        a.write_packet(packet)
    return collect(c, len(packets), proto=proto)


def merged_into_super_packets(packets: list[bytes], proto: int = 6) -> int:
    """How many super-packets ``write_batch`` makes of ``packets`` (IPv4 without options,
    TCP without options or UDP), read raw by an offload TUN."""
    with tuntap.open("cra%d", offload=True) as a, tuntap.open("crb%d", offload=True) as b:
        for iface, net in ((a, IN_NET), (b, OUT_NET)):
            disable_ipv6(iface.name)
            ip("addr", "add", net, "dev", iface.name)
            ip("link", "set", iface.name, "up")
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write("1")
        assert a.write_batch(packets) == len(packets)
        batch = PacketBatch(64)
        headers = 40 if proto == 6 else 28
        expected = sum(len(p) - headers for p in packets)
        seen, payload = 0, 0
        deadline = time.monotonic() + 3
        while payload < expected and time.monotonic() < deadline:
            for index in range(b.read_batch(batch, segment=False, timeout=0.1)):
                if batch[index][9] == proto:
                    seen += 1
                    payload += len(batch[index]) - headers
        return seen
