"""The reply parser on route dumps, link counters and point-to-point addresses.

Bytes are built here from the kernel's documented layout (struct rtmsg and
its RTA_* attributes, struct rtnl_link_stats64, IFA_LOCAL/IFA_ADDRESS) with
the encoder of ``helpers.netlink``, and parsed on the guarded memory of
``helpers.guard``: a read past a reply, or a write past the route array,
crashes the run instead of passing unnoticed.
"""

from __future__ import annotations

import errno
import socket
import struct
from typing import Any

import pytest
from helpers.guard import GUARD, PAGE
from helpers.netlink import (
    ADDRS,
    AF_INET,
    AF_INET6,
    INDEX,
    LINK,
    PORT,
    SEQ,
    V4,
    V6,
    Parse,
    ack,
    address,
    attr,
    done,
    link,
    message,
    u32,
)
from hypothesis import HealthCheck, given, settings, strategies as st

from tuntap_cffi import _lowlevel
from tuntap_cffi._native import ffi, lib

RTM_NEWROUTE = 24
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_PREFSRC = 1, 4, 5, 6, 7
RTA_TABLE, RTA_VIA = 15, 18
IFLA_STATS64 = 23
RTNL_FAMILY_IPMR, AF_MPLS = 128, 28
NLM_F_MULTI, NLM_F_DUMP_INTR = 0x2, 0x10
RTPROT_KERNEL, RTPROT_STATIC = 2, 4
RT_SCOPE_LINK = 253
RTN_UNICAST, RTN_LOCAL = 1, 2
ROUTES = lib.TT_NL_EXPECT_ROUTES
STATS = _lowlevel.LINK_STATS_FIELDS


class ParseRoutes(Parse):
    """A reply expecting a route dump, with room for ``room`` routes before a guard page."""

    def __init__(self, room: int = 8, index: int = INDEX) -> None:
        super().__init__(ROUTES, addrs_max=0, index=index)
        size = ffi.sizeof("struct tt_route") * room
        c = self.reply.c
        c.routes = ffi.cast("struct tt_route *", GUARD.base + 3 * PAGE - size) if room else ffi.NULL
        c.routes_max = room


def route(
    dst: bytes = b"",
    dst_len: int | None = None,
    family: int | None = None,
    oif: int | None = INDEX,
    table: int = 254,
    rta_table: int | None = None,
    protocol: int = RTPROT_STATIC,
    scope: int = RT_SCOPE_LINK,
    rtm_type: int = RTN_UNICAST,
    extra: bytes = b"",
    msg_flags: int = NLM_F_MULTI,
) -> bytes:
    """An RTM_NEWROUTE as the kernel's fib dump writes it (rtm_fill_info)."""
    if family is None:
        family = AF_INET6 if len(dst) == 16 else AF_INET
    if dst_len is None:
        dst_len = len(dst) * 8
    header = struct.pack(
        "=BBBBBBBBI", family, dst_len, 0, 0, min(table, 255), protocol, scope, rtm_type, 0
    )
    attrs = attr(RTA_TABLE, struct.pack("=I", table if rta_table is None else rta_table))
    if dst:
        attrs += attr(RTA_DST, dst)
    if oif is not None:
        attrs += u32(RTA_OIF, oif)
    return message(RTM_NEWROUTE, header + attrs + extra, msg_flags)


def entry(**fields: Any) -> _lowlevel.RouteEntry:
    base: dict[str, Any] = {
        "family": AF_INET,
        "dst": bytes(4),
        "dst_len": 0,
        "gateway": None,
        "prefsrc": None,
        "metric": None,
        "table": 254,
        "protocol": RTPROT_STATIC,
        "scope": RT_SCOPE_LINK,
        "type": RTN_UNICAST,
        "oif": INDEX,
        "flags": 0,
    }
    base.update(fields)
    return _lowlevel.RouteEntry(**base)


NET = socket.inet_aton("198.51.100.0")
GW = socket.inet_aton("192.0.2.2")
NET6 = socket.inet_pton(AF_INET6, "2001:db8:1::")
GW6 = socket.inet_pton(AF_INET6, "2001:db8::2")


# -- route dumps -------------------------------------------------------------------------


def test_a_route_dump_in_parts_keeps_this_interfaces_routes() -> None:
    parse = ParseRoutes()
    first = route(NET, 24) + route(NET, 24, oif=INDEX + 1) + route(NET, 24, oif=None)
    assert parse(first) == 0
    v6 = route(
        NET6,
        48,
        protocol=RTPROT_KERNEL,
        scope=0,
        extra=attr(RTA_GATEWAY, GW6) + u32(RTA_PRIORITY, 100),
    )
    assert parse(v6 + route(bytes(4), 0, family=RTNL_FAMILY_IPMR)) == 0
    assert parse(ack()) == 0  # an ack does not end a dump
    assert parse(done()) == 1
    assert parse.reply.routes() == [
        entry(dst=NET, dst_len=24),
        entry(
            family=AF_INET6,
            dst=NET6,
            dst_len=48,
            gateway=GW6,
            metric=100,
            protocol=RTPROT_KERNEL,
            scope=0,
        ),
    ]
    assert parse.reply.c.routes_found == 2


def test_the_default_route_the_table_attribute_and_the_source() -> None:
    parse = ParseRoutes()
    raw = route(table=1000, extra=attr(RTA_GATEWAY, GW) + attr(RTA_PREFSRC, V4))
    raw += route(NET, 24, table=255, rta_table=255, rtm_type=RTN_LOCAL)
    assert parse(raw + done()) == 1
    assert parse.reply.routes() == [
        entry(gateway=GW, prefsrc=V4, table=1000),
        entry(dst=NET, dst_len=24, table=255, type=RTN_LOCAL),
    ]


def test_without_rta_table_the_header_names_the_table() -> None:
    header = struct.pack("=BBBBBBBBI", AF_INET, 24, 0, 0, 253, 4, 253, 1, 0)
    raw = message(RTM_NEWROUTE, header + attr(RTA_DST, NET) + u32(RTA_OIF, INDEX), NLM_F_MULTI)
    parse = ParseRoutes()
    assert parse(raw + done()) == 1
    assert parse.reply.routes() == [entry(dst=NET, dst_len=24, table=253)]


def test_rta_via_gives_a_gateway_of_another_family() -> None:
    """RFC 5549: an IPv6 next hop for an IPv4 route; MPLS's via is no gateway of ours."""
    parse = ParseRoutes()
    via6 = attr(RTA_VIA, struct.pack("=H", AF_INET6) + GW6)
    via_mpls = attr(RTA_VIA, struct.pack("=H", AF_MPLS) + b"\1\2\3\4\5\6")
    assert parse(route(NET, 24, extra=via6) + route(NET, 24, extra=via_mpls) + done()) == 1
    assert parse.reply.routes() == [
        entry(dst=NET, dst_len=24, gateway=GW6),
        entry(dst=NET, dst_len=24),
    ]


def test_more_routes_than_room_are_counted_not_stored() -> None:
    parse = ParseRoutes(room=2)
    parts = b"".join(route(struct.pack("!I", 0xC6336400 + (i << 8)), 24) for i in range(5))
    assert parse(parts + done()) == 1
    assert parse.reply.c.routes_found == 5
    assert [r.dst[2] for r in parse.reply.routes()] == [100, 101]


def test_an_interrupted_route_dump_is_flagged() -> None:
    parse = ParseRoutes()
    assert parse(route(NET, 24, msg_flags=NLM_F_MULTI | NLM_F_DUMP_INTR) + done()) == 1
    assert parse.reply.c.flags & lib.TT_NL_DUMP_INTR


def test_a_failed_route_dump_reports_its_errno_and_text() -> None:
    parse = ParseRoutes()
    assert parse(done(-errno.ENODEV, b"Unknown device\0")) == -errno.ENODEV
    assert parse.reply.ext_ack == "Unknown device"


@pytest.mark.parametrize(
    "raw",
    [
        route(NET, 33),  # prefix longer than the family's
        route(NET6, 129),
        route(NET[:3], 24),  # RTA_DST of the wrong length
        route(dst_len=24),  # a prefix with no RTA_DST
        route(NET, 24, extra=attr(RTA_GATEWAY, GW6)),  # gateway of the wrong length
        route(NET, 24, extra=attr(RTA_PREFSRC, b"\1")),
        route(NET, 24, extra=attr(RTA_PRIORITY, b"\1\2")),
        route(NET, 24, rta_table=None, extra=attr(RTA_TABLE, b"\1\2\3")),
        route(NET, 24, extra=attr(RTA_OIF, b"\1")),
        route(NET, 24, extra=attr(RTA_VIA, b"\x0a")),  # shorter than its family
        route(NET, 24, extra=attr(RTA_VIA, struct.pack("=H", AF_INET) + GW6)),
        route(NET, 24, extra=struct.pack("=HH", 40, RTA_GATEWAY)),  # attribute past the end
        message(RTM_NEWROUTE, bytes(11)),  # shorter than struct rtmsg
    ],
)
def test_malformed_routes_are_errors(raw: bytes) -> None:
    assert ParseRoutes()(raw) == -errno.EBADMSG


def test_routes_are_ignored_by_the_other_expectations() -> None:
    assert Parse(ADDRS)(route(NET, 24) + done()) == 1
    assert Parse(LINK)(route(NET, 24) + link() + ack()) == 1


def test_bad_route_dump_arguments_are_refused_in_c() -> None:
    parse = ParseRoutes()
    parse.reply.c.routes = ffi.NULL
    assert parse(done()) == -errno.EINVAL
    parse.reply.c.routes_max = 0
    parse.reply.c.expect = ROUTES + 1
    assert parse(done()) == -errno.EINVAL


# -- link counters -----------------------------------------------------------------------


def stats64(count: int, first: int = 1) -> bytes:
    return attr(IFLA_STATS64, struct.pack(f"={count}Q", *range(first, first + count)))


def parse_stats(extra: bytes) -> dict[str, int] | None:
    parse = Parse(LINK)
    assert parse(link(extra=extra) + ack()) == 1
    return parse.reply.link_stats()


def test_the_counters_of_this_kernel() -> None:
    assert len(STATS) == 25 and STATS[:2] == ("rx_packets", "tx_packets")
    assert parse_stats(stats64(25)) == {name: i + 1 for i, name in enumerate(STATS)}


def test_an_older_kernels_shorter_counters_leave_the_rest_zero() -> None:
    counters = parse_stats(stats64(23))  # before rx_nohandler (Linux 4.6)
    assert counters is not None
    assert [counters[name] for name in STATS] == [*range(1, 24), 0, 0]


def test_a_newer_kernels_longer_counters_keep_what_we_know() -> None:
    assert parse_stats(stats64(30)) == {name: i + 1 for i, name in enumerate(STATS)}


def test_no_counters_without_ifla_stats64_and_a_repeat_replaces() -> None:
    assert parse_stats(b"") is None
    counters = parse_stats(stats64(25) + stats64(2, first=100))
    assert counters is not None and (counters["rx_packets"], counters["rx_bytes"]) == (100, 0)


@pytest.mark.parametrize("data", [b"", bytes(7), bytes(25 * 8 + 4)])
def test_counters_that_are_not_whole_u64s_are_errors(data: bytes) -> None:
    assert Parse(LINK)(link(extra=attr(IFLA_STATS64, data))) == -errno.EBADMSG


# -- point-to-point addresses ------------------------------------------------------------


def test_ifa_address_is_the_peer_when_it_differs_from_ifa_local() -> None:
    parse = Parse(ADDRS)
    peer = socket.inet_aton("192.0.2.2")
    raw = address(peer, 32, local=V4) + address(V4, 24, local=V4) + address(V6, 64)
    assert parse(raw + done()) == 1
    assert [(e.address, e.peer) for e in parse.reply.addresses()] == [
        (V4, peer),
        (V4, None),
        (V6, None),
    ]


# -- properties --------------------------------------------------------------------------


def one_route(draw: Any) -> bytes:
    family = draw(st.sampled_from([AF_INET, AF_INET6, RTNL_FAMILY_IPMR]))
    size = 16 if family == AF_INET6 else 4
    extra = b""
    for kind in draw(st.lists(st.sampled_from([RTA_GATEWAY, RTA_PREFSRC, RTA_VIA]), max_size=3)):
        if kind == RTA_VIA:
            via_family = draw(st.sampled_from([AF_INET, AF_INET6, AF_MPLS]))
            via_size = {AF_INET: 4, AF_INET6: 16, AF_MPLS: 4}[via_family]
            extra += attr(RTA_VIA, struct.pack("=H", via_family) + bytes(via_size))
        else:
            extra += attr(kind, draw(st.binary(min_size=size, max_size=size)))
    if draw(st.booleans()):
        extra += u32(RTA_PRIORITY, draw(st.integers(0, 2**32 - 1)))
    return route(
        draw(st.binary(min_size=size, max_size=size)),
        draw(st.integers(0, size * 8)),
        family=family,
        oif=draw(st.sampled_from([INDEX, INDEX, INDEX + 1, None])),
        table=draw(st.integers(0, 2**32 - 1)),
        extra=extra,
        msg_flags=draw(st.sampled_from([NLM_F_MULTI, NLM_F_MULTI | NLM_F_DUMP_INTR])),
    )


@st.composite
def route_datagrams(draw: Any) -> bytes:
    parts = [one_route(draw) for _ in range(draw(st.integers(0, 6)))]
    if draw(st.booleans()):
        parts.append(done())
    raw = bytearray(b"".join(parts))
    for _ in range(draw(st.integers(0, 3))):
        if not raw:
            break
        at = draw(st.integers(0, len(raw) - 1))
        raw[at] ^= draw(st.integers(1, 255))
    return bytes(raw[:PAGE])


def check_route_invariants(parse: ParseRoutes, result: int) -> None:
    assert result in (0, 1) or -4095 <= result < 0
    stored = parse.reply.routes()
    assert len(stored) == min(parse.reply.c.routes_found, parse.reply.c.routes_max)
    for found in stored:
        assert found.family in (AF_INET, AF_INET6) and found.oif == INDEX
        assert found.dst_len <= len(found.dst) * 8
        assert found.gateway is None or len(found.gateway) in (4, 16)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(route_datagrams(), st.integers(0, 4))
def test_mutated_route_dumps_never_misbehave(raw: bytes, room: int) -> None:
    parse = ParseRoutes(room)
    check_route_invariants(parse, parse(raw))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512), st.integers(0, 4))
def test_arbitrary_bytes_as_a_route_dump_never_misbehave(raw: bytes, room: int) -> None:
    parse = ParseRoutes(room)
    check_route_invariants(parse, parse(raw))


def test_seq_and_port_must_match() -> None:
    parse = ParseRoutes()
    other = message(RTM_NEWROUTE, route(NET, 24)[16:], NLM_F_MULTI, seq=SEQ + 1, pid=PORT)
    assert parse(other + done()) == 1
    assert parse.reply.routes() == []
