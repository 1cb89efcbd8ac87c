"""Packet information and raw virtio-net headers: what the library does with a
device attached without IFF_NO_PI, or with IFF_VNET_HDR but no offloads.

Only the python-pytun drop-in attaches such a device (``open`` keeps
attaching with IFF_NO_PI: nothing but the drop-in needs the headers, which
say no more than a packet's first bytes do); its ``interface`` is an
ordinary :class:`~tuntap_cffi.Interface` whose packet calls take the
headers off what they read and put them on what they write, so a ported
program can move to read_packet, batches and the rest one call at a time.
The kernel is the oracle: it answers an echo request written through these
calls, and what it routes into the device comes out of them.
"""

from __future__ import annotations

import socket
import struct

import pytest
from helpers.ip import TUN_ADDR, TUN_PEER, disable_ipv6, ip
from helpers.packets import mac_bytes

import tuntap_cffi as tuntap
from tuntap_cffi import DeviceMismatchError, DevKind, PacketBatch, _lowlevel, pytun

pytestmark = pytest.mark.privileged

PEER_MAC = "02:00:5e:00:53:02"
FLAGS = {
    "pi": pytun.IFF_TUN,
    "vnet": pytun.IFF_TUN | pytun.IFF_NO_PI | pytun.IFF_VNET_HDR,
    "pi+vnet": pytun.IFF_TUN | pytun.IFF_VNET_HDR,
    "tap pi": pytun.IFF_TAP,
    "tap vnet": pytun.IFF_TAP | pytun.IFF_NO_PI | pytun.IFF_VNET_HDR,
}


def checksum(data: bytes) -> int:
    total = sum(struct.unpack(f"!{len(data) // 2}H", data + b"\0" * (len(data) % 2)))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_request(ident: int) -> bytes:
    icmp = struct.pack("!BBHHH", 8, 0, 0, ident, 1) + b"framed"
    icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(icmp),
        ident,
        0,
        64,
        1,
        0,
        socket.inet_aton(TUN_PEER),
        socket.inet_aton(TUN_ADDR),
    )
    return header[:10] + struct.pack("!H", checksum(header)) + header[12:] + icmp


def configured(flags: int) -> pytun.TunTapDevice:
    dev = pytun.TunTapDevice(name="frm%d", flags=flags)
    disable_ipv6(dev.name)
    if flags & pytun.IFF_TAP:
        ip("neigh", "add", TUN_PEER, "lladdr", PEER_MAC, "dev", dev.name)
    ip("addr", "add", f"{TUN_ADDR}/24", "dev", dev.name)
    ip("link", "set", dev.name, "up")
    return dev


def frame(dev: pytun.TunTapDevice, packet: bytes) -> bytes:
    """``packet`` as the interface's packet calls take it: an Ethernet frame on a TAP."""
    if dev.interface.kind == DevKind.TAP:
        return dev.hwaddr + mac_bytes(PEER_MAC) + b"\x08\x00" + packet
    return packet


def ip_of(dev: pytun.TunTapDevice, body: bytes) -> bytes:
    return body[14:] if dev.interface.kind == DevKind.TAP else body


def echo_reply(iface: tuntap.Interface, dev: pytun.TunTapDevice, ident: int) -> bytes:
    for _ in range(10):
        body = ip_of(dev, bytes(iface.read_packet(timeout=5).body))
        if body[9] == 1 and body[20] == 0 and body[24:26] == ident.to_bytes(2, "big"):
            return body
    raise AssertionError("no echo reply")


@pytest.mark.parametrize("flags", FLAGS.values(), ids=FLAGS.keys())
def test_packet_calls_take_the_headers_off_and_put_them_on(flags: int) -> None:
    dev = configured(flags)
    iface = dev.interface
    try:
        assert iface.framing == (0 if flags & pytun.IFF_NO_PI else _lowlevel.FRAME_PI) | (
            _lowlevel.FRAME_VNET if flags & pytun.IFF_VNET_HDR else 0
        )
        iface.write_packet(frame(dev, echo_request(1)))
        reply = echo_reply(iface, dev, 1)
        assert socket.inet_ntoa(reply[12:16]) == TUN_ADDR and reply.endswith(b"framed")

        # Batches: written through the headers, the replies read back without them.
        iface.write_batch([frame(dev, echo_request(i)) for i in (2, 3)])
        batch = PacketBatch(8)
        seen: set[int] = set()
        for _ in range(10):
            for index in range(iface.read_batch(batch, timeout=5)):
                body = ip_of(dev, bytes(batch[index]))
                if body[9] == 1 and body[20] == 0:
                    seen.add(int.from_bytes(body[24:26], "big"))
            if seen >= {2, 3}:
                break
        assert seen >= {2, 3}

        # The bytes path passes the headers as they are.
        iface.write_packet(frame(dev, echo_request(4)))
        raw = iface.read(timeout=5)
        pi = 0 if flags & pytun.IFF_NO_PI else 4
        vnet = 10 if flags & pytun.IFF_VNET_HDR else 0
        ethertype = b"\x08\x00" if dev.interface.kind == DevKind.TUN else b"\x00\x00"
        if pi:  # flags 0; the protocol: the packet's for a TUN, the frame's for a TAP
            assert raw[:4] in (b"\0\0" + ethertype, b"\0\0\x08\x00")
        if vnet:  # nothing asked for; or DATA_VALID, as the kernel may say
            assert raw[pi : pi + vnet] in (bytes(vnet), b"\x02" + bytes(vnet - 1))
        reply = ip_of(dev, raw[pi + vnet :])
        assert reply[9] == 1 and reply[20] == 0 and reply[24:26] == (4).to_bytes(2, "big")
    finally:
        dev.close()


def test_a_packet_cut_by_the_kernel_is_reported_truncated() -> None:
    """Packet information says when the kernel cut a packet (TUN_PKT_STRIP)."""
    dev = configured(pytun.IFF_TUN)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(bytes(200), (TUN_PEER, 9))
        with pytest.raises(tuntap.TruncatedPacketError) as caught:
            dev.interface.read_packet(bytearray(100), timeout=5)
        assert caught.value.packet is not None and len(caught.value.packet.body) == 100
    finally:
        dev.close()


def test_open_and_from_fd_still_refuse_packet_information() -> None:
    """The drop-in is the only way in: from_fd of its fd is refused as before."""
    import os

    dev = pytun.TunTapDevice(name="frr%d", flags=pytun.IFF_TUN)
    try:
        fd = os.dup(dev.fileno())
        try:
            with pytest.raises(DeviceMismatchError, match="packet information"):
                tuntap.from_fd(fd)
        finally:
            os.close(fd)
    finally:
        dev.close()
