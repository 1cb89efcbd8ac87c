"""The rtnetlink reply parser on bytes we make: exact results, and no stray reads.

``tt_nl_parse_reply`` is the parser every request uses, reachable on caller
bytes. Replies are built from the kernel's documented layout (an independent
encoder, ``helpers.netlink``), and every parse runs on bytes that end right
before an inaccessible page, with the address array also ending right before
one (``helpers.guard``): a read past the reply, or a write past the array,
crashes the test run instead of passing unnoticed.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import struct
import subprocess
import sys
from typing import Any

import pytest
from helpers.netlink import (
    ACK,
    ADDRS,
    AF_INET,
    AF_INET6,
    IFA_ADDRESS,
    IFA_FLAGS,
    IFF_TAP,
    IFLA_INFO_KIND,
    IFLA_LINKINFO,
    IFLA_TUN_GROUP,
    IFLA_TUN_NUM_QUEUES,
    IFLA_TUN_OWNER,
    IFLA_TUN_PI,
    IFLA_TUN_TYPE,
    IFLA_TXQLEN,
    INDEX,
    LINK,
    NLM_F_ACK_TLVS,
    NLM_F_CAPPED,
    NLM_F_DUMP_INTR,
    NLM_F_MULTI,
    NLMSG_DONE,
    NLMSG_ERROR,
    NLMSG_NOOP,
    PORT,
    ROUTE,
    RTA_DST,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWROUTE,
    RTN_LOCAL,
    RTN_UNICAST,
    SEQ,
    V4,
    V6,
    Parse,
    ack,
    address,
    attr,
    datagrams,
    done,
    link,
    linkinfo,
    message,
    tun_data,
    u32,
)
from hypothesis import HealthCheck, given, settings, strategies as st

from tuntap_cffi import _lowlevel
from tuntap_cffi._native import ffi, lib

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
    """The guard pages can fail a test: one byte past a reply kills the process."""
    tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # where helpers/ is
    code = (
        f"import sys; sys.path.insert(0, {tests!r})\n"
        "from helpers.guard import GUARD, PAGE\n"
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
