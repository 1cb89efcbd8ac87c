"""rtnetlink replies built from the kernel's documented layout (an encoder independent
of the shim's parser), and ``Parse``: the shim's parser run on them in guarded memory
(``helpers.guard``), datagram by datagram.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

from hypothesis import strategies as st

from helpers.guard import GUARD, PAGE
from tuntap_cffi import _lowlevel
from tuntap_cffi._native import ffi, lib

NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE = 1, 2, 3
RTM_NEWLINK, RTM_NEWADDR, RTM_NEWROUTE = 16, 20, 24
RTA_DST, RTN_UNICAST, RTN_LOCAL = 1, 1, 2
NLM_F_MULTI, NLM_F_DUMP_INTR, NLM_F_CAPPED, NLM_F_ACK_TLVS = 0x2, 0x10, 0x100, 0x200
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_TXQLEN = 1, 3, 4, 13
IFLA_LINKINFO, IFLA_INFO_KIND, IFLA_INFO_DATA = 18, 1, 2
IFLA_TUN_OWNER, IFLA_TUN_GROUP, IFLA_TUN_TYPE, IFLA_TUN_PI = 1, 2, 3, 4
IFLA_TUN_VNET_HDR, IFLA_TUN_PERSIST, IFLA_TUN_MULTI_QUEUE = 5, 6, 7
IFLA_TUN_NUM_QUEUES, IFLA_TUN_NUM_DISABLED_QUEUES = 8, 9
IFF_TUN, IFF_TAP = 1, 2
NLA_F_NESTED = 0x8000
IFA_ADDRESS, IFA_LOCAL, IFA_FLAGS = 1, 2, 8
NLMSGERR_ATTR_MSG, NLMSGERR_ATTR_OFFS = 1, 2
AF_INET, AF_INET6 = socket.AF_INET, socket.AF_INET6
SEQ, PORT, INDEX = 7, 4242, 3


def pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % 4)


def attr(kind: int, data: bytes) -> bytes:
    return pad(struct.pack("=HH", 4 + len(data), kind) + data)


def message(kind: int, payload: bytes, flags: int = 0, seq: int = SEQ, pid: int = PORT) -> bytes:
    return pad(struct.pack("=IHHII", 16 + len(payload), kind, flags, seq, pid) + payload)


def ack(
    error: int = 0,
    text: bytes | None = None,
    capped: bool = True,
    request: bytes = b"",
    seq: int = SEQ,
) -> bytes:
    original = struct.pack("=IHHII", 16 + len(request), RTM_NEWADDR, 0x605, seq, PORT)
    payload = struct.pack("=i", error) + original
    flags = NLM_F_CAPPED
    if not capped:
        payload += pad(request)
        flags = 0
    if text is not None:
        payload += attr(NLMSGERR_ATTR_OFFS, struct.pack("=I", 20)) + attr(NLMSGERR_ATTR_MSG, text)
        flags |= NLM_F_ACK_TLVS
    return message(NLMSG_ERROR, payload, flags, seq=seq)


def done(error: int = 0, text: bytes | None = None, flags: int = NLM_F_MULTI) -> bytes:
    payload = struct.pack("=i", error)
    if text is not None:
        payload += attr(NLMSGERR_ATTR_MSG, text)
        flags |= NLM_F_ACK_TLVS
    return message(NLMSG_DONE, payload, flags)


def link(
    index: int = INDEX,
    flags: int = 0x1043,
    mtu: int = 1500,
    txqlen: int = 500,
    hwaddr: bytes = b"",
    name: bytes = b"tt0",
    kind: int = 0xFFFE,
    extra: bytes = b"",
) -> bytes:
    payload = struct.pack("=BxHiII", 0, kind, index, flags, 0)
    payload += attr(IFLA_IFNAME, name + b"\0") + attr(IFLA_MTU, struct.pack("=I", mtu))
    payload += attr(IFLA_TXQLEN, struct.pack("=I", txqlen))
    if hwaddr:
        payload += attr(IFLA_ADDRESS, hwaddr)
    return message(RTM_NEWLINK, payload + extra)


def u8(kind: int, value: int) -> bytes:
    return attr(kind, bytes([value]))


def u32(kind: int, value: int) -> bytes:
    return attr(kind, struct.pack("=I", value))


def tun_data(
    tun_type: int = IFF_TUN,
    pi: int = 0,
    vnet_hdr: int = 0,
    persist: int = 0,
    multi_queue: int = 0,
    owner: int | None = None,
    group: int | None = None,
    queues: tuple[int, int] | None = None,
) -> bytes:
    """IFLA_INFO_DATA as drivers/net/tun.c (tun_fill_info) writes it."""
    data = b"" if owner is None else u32(IFLA_TUN_OWNER, owner)
    data += b"" if group is None else u32(IFLA_TUN_GROUP, group)
    data += u8(IFLA_TUN_TYPE, tun_type) + u8(IFLA_TUN_PI, pi) + u8(IFLA_TUN_VNET_HDR, vnet_hdr)
    data += u8(IFLA_TUN_PERSIST, persist) + u8(IFLA_TUN_MULTI_QUEUE, multi_queue)
    if queues is not None:
        data += u32(IFLA_TUN_NUM_QUEUES, queues[0])
        data += u32(IFLA_TUN_NUM_DISABLED_QUEUES, queues[1])
    return data


def linkinfo(kind: bytes | None, data: bytes | None, data_first: bool = False) -> bytes:
    """IFLA_LINKINFO with IFLA_INFO_KIND and IFLA_INFO_DATA (nested, as the kernel flags it)."""
    parts = [
        b"" if kind is None else attr(IFLA_INFO_KIND, kind),
        b"" if data is None else attr(IFLA_INFO_DATA | NLA_F_NESTED, data),
    ]
    if data_first:
        parts.reverse()
    return attr(IFLA_LINKINFO | NLA_F_NESTED, b"".join(parts))


def address(
    raw: bytes,
    prefixlen: int,
    index: int = INDEX,
    local: bytes | None = None,
    flags: int | None = None,
    flags_u8: int = 0x80,
    msg_flags: int = NLM_F_MULTI,
) -> bytes:
    family = AF_INET if len(raw) == 4 else AF_INET6
    payload = struct.pack("=BBBBI", family, prefixlen, flags_u8, 0, index)
    payload += attr(IFA_ADDRESS, raw)
    if local is not None:
        payload += attr(IFA_LOCAL, local)
    if flags is not None:
        payload += attr(IFA_FLAGS, struct.pack("=I", flags))
    return message(RTM_NEWADDR, payload, msg_flags)


class Parse:
    """A reply expecting ``expect``, parsed datagram by datagram on guarded memory."""

    def __init__(self, expect: int, addrs_max: int = 8, index: int = INDEX) -> None:
        self.reply = _lowlevel.NetlinkReply()
        c = self.reply.c
        c.expect, c.seq, c.portid, c.ifindex = expect, SEQ, PORT, index
        c.addrs = GUARD.addrs(addrs_max) if addrs_max else ffi.NULL
        c.addrs_max = addrs_max

    def __call__(self, raw: bytes) -> int:
        result: int = lib.tt_nl_parse_reply(GUARD.data(raw), len(raw), self.reply.c)
        return result

    @property
    def found(self) -> int:
        found: int = self.reply.c.addrs_found
        return found


ACK, LINK, ADDRS = lib.TT_NL_EXPECT_ACK, lib.TT_NL_EXPECT_LINK, lib.TT_NL_EXPECT_ADDRS


ROUTE = lib.TT_NL_EXPECT_ROUTE


V4 = socket.inet_aton("192.0.2.1")


V6 = socket.inet_pton(AF_INET6, "2001:db8::1")


# -- hypothesis strategies ---------------------------------------------------------


def one_message(draw: Any) -> bytes:
    kind = draw(
        st.sampled_from(["ack", "error", "done", "link", "tun", "v4", "v6", "noop", "other"])
    )
    seq = draw(st.sampled_from([SEQ, SEQ, SEQ, SEQ + 1]))
    if kind == "ack":
        return ack(seq=seq)
    if kind == "error":
        text = draw(st.one_of(st.none(), st.binary(max_size=300)))
        return ack(
            -draw(st.integers(1, 4095)), text, draw(st.booleans()), draw(st.binary(max_size=64))
        )
    if kind == "done":
        return done(-draw(st.integers(0, 200)), draw(st.one_of(st.none(), st.binary(max_size=40))))
    if kind == "link":
        return link(
            hwaddr=draw(st.binary(max_size=32)), name=draw(st.binary(min_size=1, max_size=15))
        )
    if kind == "tun":
        data = tun_data(
            draw(st.sampled_from([IFF_TUN, IFF_TAP, 0, 3])),
            *(draw(st.integers(0, 2)) for _ in range(4)),
            owner=draw(st.one_of(st.none(), st.integers(0, 2**32 - 1))),
            group=draw(st.one_of(st.none(), st.integers(0, 2**32 - 1))),
            queues=draw(st.one_of(st.none(), st.tuples(st.integers(0, 256), st.integers(0, 256)))),
        )
        kind_name = draw(st.sampled_from([b"tun\0", b"tun", b"veth\0", b""]))
        return link(extra=linkinfo(kind_name, data, draw(st.booleans())))
    if kind in ("v4", "v6"):
        size = 4 if kind == "v4" else 16
        return address(
            draw(st.binary(min_size=size, max_size=size)),
            draw(st.integers(0, size * 8)),
            index=draw(st.sampled_from([INDEX, INDEX + 1])),
            local=draw(st.one_of(st.none(), st.binary(min_size=size, max_size=size))),
            flags=draw(st.one_of(st.none(), st.integers(0, 2**32 - 1))),
        )
    if kind == "noop":
        return message(NLMSG_NOOP, b"")
    return message(draw(st.integers(0, 0xFFFF)), draw(st.binary(max_size=40)))


@st.composite
def datagrams(draw: Any) -> bytes:
    """A datagram of well-formed messages, then maybe mutated."""
    raw = bytearray(b"".join(one_message(draw) for _ in range(draw(st.integers(1, 6)))))
    for _ in range(draw(st.integers(0, 4))):
        choice = draw(st.sampled_from(["flip", "cut", "length", "grow"]))
        if not raw:
            break
        at = draw(st.integers(0, len(raw) - 1))
        if choice == "flip":
            raw[at] ^= draw(st.integers(1, 255))
        elif choice == "cut":
            del raw[at:]
        elif choice == "length":
            # Length fields (nlmsg_len, rta_len) start at 4-byte boundaries.
            at -= at % 4
            value = draw(st.sampled_from([0, 3, 4, 5, 15, 16, 17, 64, 0xFFFF, 0xFFFFFFFF]))
            width = draw(st.sampled_from([2, 4]))
            raw[at : at + width] = value.to_bytes(8, "little")[:width]
        else:
            raw += draw(st.binary(max_size=20))
    return bytes(raw[:PAGE])
