"""Offloads chosen per protocol: ``open(offload=Offload.TSO4 | Offload.TSO6)`` takes TCP
super-packets and no UDP ones (and the reverse), ``offload=True`` still asks for all
the kernel accepts, and ``iface.offload`` says what is on. A write merges only what
the device took: no UDP super-packet on a TCP-only device, no TCP one on a UDP-only
device (users of other user-space tunnels turned one off to avoid kernel bugs)."""

from __future__ import annotations

import os
import time

import pytest
from helpers.forward import IN_NET, OUT_NET
from helpers.ip import disable_ipv6, ip
from helpers.packets import tcp_packet, udp_packet

import tuntap_cffi as tuntap
from tuntap_cffi import Offload, PacketBatch, _lowlevel

pytestmark = pytest.mark.privileged

TCP = Offload.TSO4 | Offload.TSO6
UDP = Offload.USO4 | Offload.USO6


@pytest.mark.parametrize(
    "asked,on",
    [
        (TCP, Offload.CSUM | TCP),
        (Offload.TSO4, Offload.CSUM | Offload.TSO4),
        (UDP, Offload.CSUM | UDP),
        (Offload.CSUM, Offload.CSUM),
        (Offload.CSUM | TCP | UDP, Offload.CSUM | TCP | UDP),
        (True, Offload.CSUM | TCP | UDP),
    ],
)
def test_the_device_takes_the_offloads_asked_for(asked: Offload | bool, on: Offload) -> None:
    with tuntap.open("toc%d", offload=asked) as iface:
        assert iface.offload == on
    queues = tuntap.open_queues("toq%d", count=2, offload=asked)
    try:
        assert [q.offload for q in queues] == [on, on]
    finally:
        for q in queues:
            q.close()


def test_no_offloads_is_a_plain_device() -> None:
    with tuntap.open("toc%d", offload=Offload(0)) as iface:
        assert iface.offload == Offload(0)
        with pytest.raises(ValueError, match="offload"):
            iface.read_batch(PacketBatch(4), segment=False, timeout=0)


def test_bad_offload_choices() -> None:
    with pytest.raises(ValueError, match="both"):
        tuntap.open("toc%d", offload=Offload.USO4)
    with pytest.raises(ValueError, match="TUN"):
        tuntap.open("toc%d", tuntap.DevKind.TAP, offload=TCP)
    with pytest.raises(TypeError, match="offload"):
        tuntap.open("toc%d", offload="tcp")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="offload"):
        tuntap.open("toc%d", offload=1)  # type: ignore[arg-type]


def super_packets(offload: Offload, packets: list[bytes], proto: int) -> int:
    """How many super-packets ``write_batch`` on a device with ``offload`` makes of
    ``packets``, read raw from a forward through an offload TUN."""
    with tuntap.open("tca%d", offload=offload) as a, tuntap.open("tcb%d", offload=True) as b:
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
        seen = payload = 0
        deadline = time.monotonic() + 3
        while payload < expected and time.monotonic() < deadline:
            for index in range(b.read_batch(batch, segment=False, timeout=0.1)):
                if batch[index][9] == proto:
                    seen += 1
                    payload += len(batch[index]) - headers
        assert payload == expected
        return seen


def tcp_run() -> list[bytes]:
    return [tcp_packet(False, 1 + k * 600, os.urandom(600), ip_id=k) for k in range(4)]


def udp_run() -> list[bytes]:
    return [udp_packet(False, os.urandom(600), ip_id=k) for k in range(4)]


def test_a_tcp_only_device_merges_tcp_and_not_udp() -> None:
    assert super_packets(Offload.CSUM | TCP, tcp_run(), 6) == 1
    assert super_packets(Offload.CSUM | TCP, udp_run(), 17) == 4


def test_a_udp_only_device_merges_udp_and_not_tcp() -> None:
    assert super_packets(Offload.CSUM | UDP, udp_run(), 17) == 1
    assert super_packets(Offload.CSUM | UDP, tcp_run(), 6) == 4


def test_an_ipv4_only_tcp_device_leaves_ipv6_segments_alone() -> None:
    with tuntap.open("toc%d", offload=Offload.TSO4) as iface:
        assert iface.offload == Offload.CSUM | Offload.TSO4
    packets = [tcp_packet(True, 1 + k * 600, os.urandom(600)) for k in range(3)]
    for bits, members in (
        (Offload.CSUM | Offload.TSO4, [0]),
        (Offload.CSUM | Offload.TSO6, [0, 1, 2]),
    ):
        assert _lowlevel.coalesce_plan(packets, offload=bits.value) == members
