"""The rtnetlink reply parser on bytes we make: exact results, and no stray reads.

``tt_nl_parse_reply`` is the parser every request uses, reachable on caller
bytes. Replies are built here from the kernel's documented layout (an
independent encoder), and every parse runs on bytes that end right before
an inaccessible page, with the address array also ending right before one:
a read past the reply, or a write past the array, crashes the test run
instead of passing unnoticed.
"""

from __future__ import annotations

import errno
import mmap
import os
import signal
import socket
import struct
import subprocess
import sys
from typing import Any

import cffi
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

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
PAGE = mmap.PAGESIZE


# -- an encoder for the kernel's layout ---------------------------------------------


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


# -- parsing on guarded memory ----------------------------------------------------------


class Guarded:
    """Two buffers that each end right before a PROT_NONE page."""

    def __init__(self) -> None:
        abi = cffi.FFI()
        abi.cdef("int mprotect(void *addr, size_t len, int prot);")
        libc = abi.dlopen(None)
        self.region = mmap.mmap(-1, 4 * PAGE)
        self.base = ffi.from_buffer(self.region, require_writable=True)
        start = int(ffi.cast("uintptr_t", self.base))
        assert start % PAGE == 0
        for page in (1, 3):
            assert libc.mprotect(abi.cast("void *", start + page * PAGE), PAGE, 0) == 0

    def data(self, raw: bytes) -> Any:
        """``raw`` copied to end exactly at the first guard page."""
        assert len(raw) <= PAGE
        offset = PAGE - len(raw)
        self.region[offset:PAGE] = raw
        return self.base + offset

    def addrs(self, count: int) -> Any:
        """Room for ``count`` struct tt_addr ending exactly at the second guard page."""
        size = ffi.sizeof("struct tt_addr") * count
        return ffi.cast("struct tt_addr *", self.base + 3 * PAGE - size)


GUARD = Guarded()


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


# -- exact behaviour ------------------------------------------------------------------


def test_an_ack_completes_a_request() -> None:
    parse = Parse(ACK)
    assert parse(ack()) == 1
    assert parse.reply.ext_ack == ""


@pytest.mark.parametrize("capped", [True, False])
def test_an_error_gives_errno_and_the_kernels_text(capped: bool) -> None:
    parse = Parse(ACK)
    request = b"\x02\x18\x00\x00" + bytes(36)
    raw = ack(-errno.EEXIST, b"ipv4: Address already assigned\0", capped, request)
    assert parse(raw) == -errno.EEXIST
    assert parse.reply.ext_ack == "ipv4: Address already assigned"
    assert parse.reply.c.flags & lib.TT_NL_GOT_EXT_ACK


def test_a_long_or_unterminated_text_is_cut_to_fit() -> None:
    parse = Parse(ACK)
    assert parse(ack(-errno.EINVAL, b"x" * 1000)) == -errno.EINVAL
    assert parse.reply.ext_ack == "x" * (lib.TT_NL_EXT_ACK_MAX - 1)
    assert parse(ack(-errno.EINVAL, b"no nul")) == -errno.EINVAL
    assert parse.reply.ext_ack == "no nul"


def test_replies_to_other_requests_or_ports_are_skipped() -> None:
    parse = Parse(ACK)
    assert parse(ack(-errno.EPERM, seq=SEQ - 1)) == 0
    assert parse(message(NLMSG_ERROR, bytes(20), pid=PORT + 1)) == 0
    assert parse(message(NLMSG_NOOP, b"") + ack(seq=SEQ + 1) + ack()) == 1


def test_a_link_reply_then_its_ack() -> None:
    parse = Parse(LINK)
    hwaddr = bytes.fromhex("02005e005301")
    raw = link(index=9, flags=0x1003, mtu=9000, txqlen=77, hwaddr=hwaddr, name=b"tap7", kind=1)
    assert parse(raw) == 0
    assert parse(ack()) == 1
    assert parse.reply.link() == _lowlevel.LinkInfo(9, 0x1003, 9000, 77, 1, hwaddr, "tap7")


def test_a_tun_links_details_come_from_its_linkinfo() -> None:
    parse = Parse(LINK)
    data = tun_data(IFF_TAP, 1, 1, 1, 1, owner=65534, group=100, queues=(3, 1))
    assert parse(link(extra=linkinfo(b"tun\0", data)) + ack()) == 1
    info = parse.reply.link()
    assert info.kind == "tun"
    assert info.tun == _lowlevel.TunInfo(lib.TT_KIND_TAP, True, True, True, True, 65534, 100, 3, 1)


def test_data_before_kind_and_no_owner() -> None:
    parse = Parse(LINK)
    assert parse(link(extra=linkinfo(b"tun\0", tun_data(), data_first=True)) + ack()) == 1
    tun = parse.reply.link().tun
    assert tun == _lowlevel.TunInfo(lib.TT_KIND_TUN, False, False, False, False, None, None, 0, 0)


@pytest.mark.parametrize(
    ("extra", "kind"),
    [
        (b"", ""),
        (linkinfo(b"veth\0", u32(1, 7)), "veth"),
        (linkinfo(b"tun\0", None), "tun"),  # kernels before 4.15 sent no IFLA_INFO_DATA
        (linkinfo(b"a-kind-longer-than-15\0", None), "a-kind-longer-t"),
        (linkinfo(b"tunnel\0", tun_data()), "tunnel"),  # data of another kind is not read
    ],
)
def test_links_that_are_not_tun_have_no_tun_details(extra: bytes, kind: str) -> None:
    parse = Parse(LINK)
    assert parse(link(extra=extra) + ack()) == 1
    info = parse.reply.link()
    assert (info.kind, info.tun) == (kind, None)


@pytest.mark.parametrize(
    "data",
    [
        tun_data(tun_type=3),
        tun_data()[8:],  # no IFLA_TUN_TYPE
        tun_data() + attr(IFLA_TUN_PI, b"\1\0"),
        tun_data() + attr(IFLA_TUN_OWNER, b"\1\0"),
        tun_data() + attr(IFLA_TUN_NUM_QUEUES, b"\1\0\0\0\0"),
        tun_data() + struct.pack("=HH", 40, IFLA_TUN_GROUP),  # attribute past the end
        attr(IFLA_TUN_TYPE, b""),
    ],
)
def test_malformed_tun_details_are_errors(data: bytes) -> None:
    assert Parse(LINK)(link(extra=linkinfo(b"tun\0", data))) == -errno.EBADMSG


def test_a_repeated_linkinfo_replaces_all_the_first_said() -> None:
    """Found by fuzz/fuzz_link.c: the second kind must not keep the first's details."""
    parse = Parse(LINK)
    first = linkinfo(b"tun\0", tun_data(IFF_TAP, persist=1, owner=7))
    assert parse(link(extra=first + linkinfo(b"veth\0", None)) + ack()) == 1
    assert (parse.reply.link().kind, parse.reply.link().tun) == ("veth", None)
    parse = Parse(LINK)
    assert parse(link(extra=first + linkinfo(b"tun\0", tun_data())) + ack()) == 1
    tun = parse.reply.link().tun
    assert tun is not None and (tun.kind, tun.persist, tun.owner) == (lib.TT_KIND_TUN, False, None)


def test_a_linkinfo_running_past_its_link_is_an_error() -> None:
    inner = attr(IFLA_INFO_KIND, b"tun\0")
    bad = struct.pack("=HH", 4 + len(inner) + 8, IFLA_LINKINFO) + inner
    assert Parse(LINK)(link(extra=bad)) == -errno.EBADMSG


def test_an_ack_without_the_link_is_a_protocol_error() -> None:
    assert Parse(LINK)(ack()) == -errno.EPROTO


def test_a_second_link_is_a_protocol_error() -> None:
    assert Parse(LINK)(link() + link()) == -errno.EPROTO


def test_an_address_dump_in_parts() -> None:
    parse = Parse(ADDRS)
    assert parse(address(V4, 24) + address(V4, 8, index=INDEX + 1)) == 0
    assert parse(address(V6, 64, flags=0x282, flags_u8=0x82)) == 0
    assert parse(done()) == 1
    assert parse.reply.addresses() == [
        _lowlevel.AddressEntry(AF_INET, V4, 24, 0x80, 0),
        _lowlevel.AddressEntry(AF_INET6, V6, 64, 0x282, 0),
    ]


def test_the_local_address_wins_over_the_peer() -> None:
    parse = Parse(ADDRS)
    peer = socket.inet_aton("192.0.2.99")
    assert parse(address(peer, 32, local=V4) + done()) == 1
    assert parse.reply.addresses()[0].address == V4


def test_more_addresses_than_room_are_counted_not_stored() -> None:
    parse = Parse(ADDRS, addrs_max=2)
    parts = b"".join(address(struct.pack("!I", 0xC0000200 + i), 32) for i in range(5))
    assert parse(parts + done()) == 1
    assert parse.found == 5
    assert [a.address[3] for a in parse.reply.addresses()] == [0, 1]


def test_an_interrupted_dump_is_flagged() -> None:
    parse = Parse(ADDRS)
    assert parse(address(V4, 24, msg_flags=NLM_F_MULTI | NLM_F_DUMP_INTR)) == 0
    assert parse(done(flags=NLM_F_MULTI | NLM_F_DUMP_INTR)) == 1
    assert parse.reply.c.flags & lib.TT_NL_DUMP_INTR


def test_a_failed_dump_reports_its_errno_and_text() -> None:
    parse = Parse(ADDRS)
    assert parse(done(-errno.ENODEV, b"ipv4: Device not found\0")) == -errno.ENODEV
    assert parse.reply.ext_ack == "ipv4: Device not found"


def test_done_outside_a_dump_is_a_protocol_error() -> None:
    assert Parse(ACK)(done()) == -errno.EPROTO


MALFORMED = {
    "empty": b"",
    "short header": ack()[:15],
    "length past the end": ack()[:-4],
    "length below a header": struct.pack("=IHHII", 15, NLMSG_ERROR, 0, SEQ, PORT),
    "short error": message(NLMSG_ERROR, b"\0\0\0\0"),
    "positive errno": ack(error=5),
    "errno out of range": ack(error=-5000),
    "uncapped request past the end": message(
        NLMSG_ERROR, struct.pack("=iIHHII", -1, 400, 0, 0, SEQ, PORT)
    ),
    "attribute past the end": message(
        NLMSG_ERROR, ack(-1)[16:36] + struct.pack("=HH", 40, 1), NLM_F_CAPPED | NLM_F_ACK_TLVS
    ),
    "attribute below its header": message(
        NLMSG_ERROR, ack(-1)[16:36] + struct.pack("=HH", 3, 1), NLM_F_CAPPED | NLM_F_ACK_TLVS
    ),
    "stray bytes after attributes": message(
        NLMSG_ERROR, ack(-1)[16:36] + b"\1\0", NLM_F_CAPPED | NLM_F_ACK_TLVS
    ),
    "short done": message(NLMSG_DONE, b"\0\0"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
@pytest.mark.parametrize("expect", [ACK, LINK, ADDRS, ROUTE])
def test_malformed_replies_are_errors(name: str, expect: int) -> None:
    assert Parse(expect)(MALFORMED[name]) == -errno.EBADMSG


@pytest.mark.parametrize(
    "raw",
    [
        address(V4[:3], 24),
        address(V6, 129),
        address(V4, 33),
        address(V4, 24, local=V6),
        message(
            RTM_NEWADDR,
            struct.pack("=BBBBI", AF_INET, 24, 0, 0, INDEX)
            + attr(IFA_ADDRESS, V4)
            + attr(IFA_FLAGS, b"\1\2"),
        ),
        message(RTM_NEWADDR, struct.pack("=BBBBI", AF_INET, 24, 0, 0, INDEX)),
        message(RTM_NEWADDR, struct.pack("=BBBB", AF_INET, 24, 0, 0)),
    ],
)
def test_malformed_addresses_are_errors(raw: bytes) -> None:
    assert Parse(ADDRS)(raw) == -errno.EBADMSG


@pytest.mark.parametrize(
    "raw",
    [
        link(hwaddr=bytes(33)),
        link(name=b"sixteen-letters!"),
        message(RTM_NEWLINK, struct.pack("=BxHiII", 0, 1, 1, 0, 0) + attr(IFLA_TXQLEN, b"\1")),
        message(RTM_NEWLINK, bytes(15)),
    ],
)
def test_malformed_links_are_errors(raw: bytes) -> None:
    assert Parse(LINK)(raw) == -errno.EBADMSG


def route(rtm_type: int, dst: bytes = V6, extra: bytes = b"") -> bytes:
    family = AF_INET6 if len(dst) == 16 else AF_INET
    header = struct.pack("=BBBBBBBBI", family, len(dst) * 8, 0, 0, 255, 2, 0, rtm_type, 0)
    return message(RTM_NEWROUTE, header + attr(RTA_DST, dst) + extra)


@pytest.mark.parametrize("rtm_type", [RTN_LOCAL, RTN_UNICAST])
def test_a_route_reply_then_its_ack(rtm_type: int) -> None:
    parse = Parse(ROUTE)
    assert parse(route(rtm_type)) == 0
    assert parse(ack()) == 1
    assert parse.reply.c.route_type == rtm_type
    assert parse.reply.c.flags & lib.TT_NL_GOT_ROUTE


@pytest.mark.parametrize(
    ("raw", "result"),
    [
        (ack(), -errno.EPROTO),  # acknowledged, but no route came
        (route(RTN_LOCAL) + route(RTN_LOCAL), -errno.EPROTO),  # one was asked for
        (message(RTM_NEWROUTE, bytes(11)), -errno.EBADMSG),  # shorter than struct rtmsg
        (route(RTN_LOCAL, extra=struct.pack("=HH", 40, 1)), -errno.EBADMSG),
        (ack(-errno.ENETUNREACH), -errno.ENETUNREACH),
    ],
)
def test_route_replies_that_are_refused(raw: bytes, result: int) -> None:
    assert Parse(ROUTE)(raw) == result


def test_routes_are_ignored_unless_asked_for() -> None:
    assert Parse(ACK)(route(RTN_LOCAL) + ack()) == 1
    assert Parse(LINK)(route(RTN_LOCAL) + link() + ack()) == 1


def test_bad_arguments_are_refused_in_c() -> None:
    parse = Parse(ACK)
    assert lib.tt_nl_parse_reply(ffi.NULL, 4, parse.reply.c) == -errno.EINVAL
    assert lib.tt_nl_parse_reply(b"", 0, ffi.NULL) == -errno.EINVAL
    parse.reply.c.expect = 9
    assert parse(ack()) == -errno.EINVAL
    parse.reply.c.expect = ADDRS
    parse.reply.c.addrs = ffi.NULL
    assert parse(ack()) == -errno.EINVAL


# -- properties: arbitrary and mutated replies -------------------------------------------


def check_invariants(parse: Parse, result: int) -> None:
    assert result in (0, 1) or -4095 <= result < 0
    text = ffi.string(parse.reply.c.ext_ack)
    assert isinstance(text, bytes) and len(text) < lib.TT_NL_EXT_ACK_MAX
    stored = parse.reply.addresses()
    assert len(stored) == min(parse.found, parse.reply.c.addrs_max)
    for entry in stored:
        assert entry.family in (AF_INET, AF_INET6) and entry.prefixlen <= 128
    kind = ffi.string(parse.reply.c.link.kind)
    assert isinstance(kind, bytes) and len(kind) < 16
    if parse.reply.c.link.tun_flags:
        assert parse.reply.c.link.tun_flags & lib.TT_TUN_INFO and kind == b"tun"
        assert parse.reply.c.link.tun_type in (lib.TT_KIND_TUN, lib.TT_KIND_TAP)


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


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512), st.sampled_from([ACK, LINK, ADDRS, ROUTE]), st.integers(0, 4))
def test_arbitrary_bytes_never_misbehave(raw: bytes, expect: int, room: int) -> None:
    parse = Parse(expect, addrs_max=room)
    check_invariants(parse, parse(raw))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datagrams(), st.sampled_from([ACK, LINK, ADDRS, ROUTE]), st.integers(0, 4))
def test_mutated_replies_never_misbehave(raw: bytes, expect: int, room: int) -> None:
    parse = Parse(expect, addrs_max=room)
    check_invariants(parse, parse(raw))


@st.composite
def address_dumps(draw: Any) -> list[tuple[int, bytes, int, bytes | None, int | None]]:
    entries = []
    for _ in range(draw(st.integers(0, 12))):
        size = draw(st.sampled_from([4, 16]))
        entries.append(
            (
                draw(st.sampled_from([INDEX, INDEX, INDEX + 1])),
                draw(st.binary(min_size=size, max_size=size)),
                draw(st.integers(0, size * 8)),
                draw(st.one_of(st.none(), st.binary(min_size=size, max_size=size))),
                draw(st.one_of(st.none(), st.integers(0, 2**32 - 1))),
            )
        )
    return entries


@settings(max_examples=200, deadline=None)
@given(address_dumps(), st.integers(0, 12), st.integers(1, 4))
def test_well_formed_dumps_parse_as_the_model_says(
    entries: list[tuple[int, bytes, int, bytes | None, int | None]],
    room: int,
    per_datagram: int,
) -> None:
    parse = Parse(ADDRS, addrs_max=room)
    messages = [
        address(raw, plen, index, local, flags) for index, raw, plen, local, flags in entries
    ]
    messages.append(done())
    results = [
        parse(b"".join(messages[i : i + per_datagram]))
        for i in range(0, len(messages), per_datagram)
    ]
    assert results[-1] == 1 and all(r == 0 for r in results[:-1])
    model = [
        _lowlevel.AddressEntry(
            AF_INET if len(raw) == 4 else AF_INET6,
            local if local is not None else raw,
            plen,
            0x80 if flags is None else flags,
            0,
            raw if local is not None and local != raw else None,  # IFA_ADDRESS: the peer
        )
        for index, raw, plen, local, flags in entries
        if index == INDEX
    ]
    assert parse.found == len(model)
    assert parse.reply.addresses() == model[:room]


def test_the_guard_page_really_faults() -> None:
    """The harness above can fail: one byte past a reply kills the process."""
    here = os.path.dirname(os.path.abspath(__file__))
    code = (
        f"import sys; sys.path.insert(0, {here!r})\n"
        "from test_netlink_parser import GUARD, PAGE\n"
        "print(GUARD.base[PAGE - 1], flush=True)\n"
        "print(GUARD.base[PAGE])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert result.stdout.strip() == b"b'\\x00'"
    if os.environ.get("TUNTAP_SANITIZED") == "1":
        # AddressSanitizer catches the fault itself, reports it and exits 1.
        assert result.returncode == 1 and b"AddressSanitizer: SEGV" in result.stderr
    else:
        assert result.returncode == -signal.SIGSEGV
