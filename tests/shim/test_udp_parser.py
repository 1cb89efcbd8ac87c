"""The UDP receive parsers on bytes we make: exact results, and no stray reads or writes.

``tt_udp_gro_size`` reads the UDP_GRO segment size from received control
bytes, ``tt_udp_split`` cuts one received GRO'd message into one datagram
per slot. Control messages are built here in the kernel's layout (cmsg_len
size_t, level int, type int, data, padding to 8), and every call runs on the
guarded memory of ``helpers.guard``: the input ends right before an
inaccessible page and so do the slots, so a read past the input or a write
past the slots crashes the run.
"""

from __future__ import annotations

import errno
import itertools
import struct
from typing import Any

import pytest
from helpers.guard import GUARD, PAGE
from hypothesis import HealthCheck, given, settings, strategies as st

from tuntap_cffi._native import ffi, lib

SOL_UDP, UDP_GRO, UDP_SEGMENT = 17, 104, 103
SOL_SOCKET, SO_TIMESTAMPNS = 1, 35
IPPROTO_IP, IP_TOS, IP_PKTINFO = 0, 1, 8
TUN, TAP = lib.TT_KIND_TUN, lib.TT_KIND_TAP
OK, SHORT, CUT = lib.TT_PKT_OK, lib.TT_PKT_SHORT_READ, lib.TT_PKT_TRUNCATED
VERDICT_SHIFT, PROTO_SHIFT = lib.TT_PACK_VERDICT_SHIFT, lib.TT_PACK_PROTO_SHIFT
HEADER = 16  # CMSG_LEN(0) on 64-bit Linux
SENTINEL = 0x5A5A5A5A5A5A5A5A
FILL = 0xA5


# -- control messages in the kernel's layout ------------------------------------------


def cmsg(level: int, kind: int, data: bytes, pad: bool = True, length: int | None = None) -> bytes:
    """One control message; ``length`` overrides cmsg_len."""
    raw = struct.pack("=Qii", HEADER + len(data) if length is None else length, level, kind)
    raw += data
    return raw + bytes(-len(raw) % 8 if pad else 0)


def gro(value: int, pad: bool = True) -> bytes:
    return cmsg(SOL_UDP, UDP_GRO, struct.pack("=i", value), pad)


PKTINFO = cmsg(IPPROTO_IP, IP_PKTINFO, struct.pack("=i4s4s", 2, b"\xc0\0\2\1", b"\xc0\0\2\2"))
TOS = cmsg(IPPROTO_IP, IP_TOS, b"\x10")
STAMP = cmsg(SOL_SOCKET, SO_TIMESTAMPNS, struct.pack("=qq", 1, 2))


def gro_size(control: bytes) -> int:
    """tt_udp_gro_size on control bytes that end at a guard page."""
    result: int = lib.tt_udp_gro_size(GUARD.data(control), len(control))
    return result


def test_no_control_messages_is_no_size() -> None:
    assert gro_size(b"") == 0
    assert lib.tt_udp_gro_size(ffi.NULL, 0) == 0
    assert lib.tt_udp_gro_size(ffi.NULL, 1) == -errno.EINVAL
    assert gro_size(PKTINFO + TOS) == 0


@pytest.mark.parametrize("value", [1, 1472, 65535, 65536])
def test_one_udp_gro_message_is_its_size(value: int) -> None:
    assert gro_size(gro(value)) == value


@pytest.mark.parametrize("order", list(itertools.permutations([gro(1200), PKTINFO, TOS, STAMP])))
def test_udp_gro_among_others_in_any_order(order: tuple[bytes, ...]) -> None:
    assert gro_size(b"".join(order)) == 1200


@pytest.mark.parametrize(
    "control",
    [gro(900, pad=False), PKTINFO + gro(900, pad=False), gro(900) + TOS[:17], gro(900) + STAMP],
)
def test_a_last_message_without_padding(control: bytes) -> None:
    assert gro_size(control) == 900


def test_bytes_after_the_last_message_too_few_for_a_header_are_ignored() -> None:
    assert gro_size(gro(900) + bytes(HEADER - 1)) == 900


def test_look_alikes_are_not_udp_gro() -> None:
    other_udp = cmsg(SOL_UDP, UDP_SEGMENT, struct.pack("=H", 1200))
    other_level = cmsg(IPPROTO_IP, UDP_GRO, struct.pack("=i", 1200))
    assert gro_size(other_udp + other_level) == 0


def test_the_last_udp_gro_message_counts() -> None:
    assert gro_size(gro(500) + PKTINFO + gro(700)) == 700


NINE = struct.pack("=i", 9)
MALFORMED = {
    "len-0": cmsg(SOL_UDP, UDP_GRO, NINE, length=0),
    "len-15": cmsg(SOL_UDP, UDP_GRO, NINE, length=HEADER - 1),
    "past-end": cmsg(SOL_UDP, UDP_GRO, NINE, length=25),  # one past the padded end
    "far-past-end": cmsg(SOL_UDP, UDP_GRO, NINE, length=4096),
    "past-unpadded-end": cmsg(SOL_UDP, UDP_GRO, NINE, pad=False, length=21),
    "second-past-end": gro(9) + cmsg(IPPROTO_IP, IP_TOS, b"\x10", pad=False, length=18),
    "cut-data": PKTINFO[: HEADER + 11],
}


@pytest.mark.parametrize("control", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_lengths_are_bad_messages(control: bytes) -> None:
    assert gro_size(control) == -errno.EBADMSG


@pytest.mark.parametrize("short", [0, 1, 2, 3])
def test_udp_gro_with_short_data_is_a_bad_message(short: int) -> None:
    data = b"\x30\x00\x00\x00"[:short]
    assert gro_size(cmsg(SOL_UDP, UDP_GRO, data, pad=False)) == -errno.EBADMSG
    assert gro_size(cmsg(SOL_UDP, UDP_GRO, data) + PKTINFO) == -errno.EBADMSG


@pytest.mark.parametrize("value", [0, -1, -(2**31), 65537, 2**31 - 1])
def test_impossible_sizes_are_bad_messages(value: int) -> None:
    assert gro_size(gro(value)) == -errno.EBADMSG
    assert gro_size(gro(value) + gro(1200)) == -errno.EBADMSG


# -- splitting a message ----------------------------------------------------------------


def ipv4(payload: int, total: int | None = None) -> bytes:
    """An IPv4 header (total length ``total``, default its own size) and payload bytes."""
    size = 20 + payload if total is None else total
    return b"\x45\0" + struct.pack("!H", size) + bytes(16) + bytes(i % 251 for i in range(payload))


class Split:
    """tt_udp_split of one message on guarded memory, call after call."""

    def __init__(self, msg: bytes, seg: int, slot: int, nslots: int, **opts: int) -> None:
        """opts: truncated, kind (TUN), offset (0)."""
        assert slot * nslots <= PAGE
        self.msg, self.seg, self.slot, self.nslots = msg, seg, slot, nslots
        self.truncated, self.kind = opts.get("truncated", 0), opts.get("kind", TUN)
        self.offset = ffi.new("size_t *", opts.get("offset", 0))
        self.data = GUARD.data(msg)
        self.out = GUARD.base + 3 * PAGE - slot * nslots
        self.results = ffi.new("int64_t[]", nslots + 1)

    def __call__(self) -> tuple[int, list[bytes], list[int]]:
        """One call: (result, the slots' bodies, their results); nothing else written."""
        room = self.slot * self.nslots
        ffi.memmove(self.out, bytes([FILL]) * room, room)
        for k in range(self.nslots + 1):
            self.results[k] = SENTINEL
        pos = self.offset[0]
        args = (self.seg, self.truncated, self.offset, self.out, self.slot, self.nslots)
        r: int = lib.tt_udp_split(self.data, len(self.msg), *args, self.results, self.kind)
        filled = max(r, 0)
        assert all(self.results[k] == SENTINEL for k in range(filled, self.nslots + 1))
        slots = ffi.buffer(self.out, room)[:]
        size = len(self.msg) if self.seg == 0 or self.seg >= len(self.msg) else self.seg
        bodies = []
        for k in range(filled):
            copied = min(size, len(self.msg) - pos, self.slot)  # the datagram, as far as it fits
            raw = slots[k * self.slot : (k + 1) * self.slot]
            assert raw[copied:] == bytes([FILL]) * (self.slot - copied)
            bodies.append(raw[:copied])
            pos += size
        assert slots[filled * self.slot :] == bytes([FILL]) * (room - filled * self.slot)
        return r, bodies, [self.results[k] for k in range(filled)]

    def all(self, calls: int = 100) -> tuple[list[int], list[bytes], list[int]]:
        """Calls until one fills nothing: (counts, bodies, results)."""
        counts, bodies, results = [], [], []
        for _ in range(calls):
            r, b, res = self()
            counts.append(r)
            bodies += b
            results += res
            if r <= 0:
                return counts, bodies, results
        raise AssertionError("the split never ended")


def body_of(packed: int) -> int:
    return packed & 0xFFFFFFFF


def verdict(packed: int) -> int:
    return (packed >> VERDICT_SHIFT) & 0xFF


def proto(packed: int) -> int:
    return (packed >> PROTO_SHIFT) & 0xFFFF


def classify(raw: bytes, kind: int = TUN) -> int:
    result: int = lib.tt_classify(raw, len(raw), kind)
    return result


def expected(
    msg: bytes, seg: int, slot: int, truncated: bool, kind: int, start: int = 0
) -> list[tuple[bytes, int]]:
    """The model: each datagram's slot body and result."""
    if not msg:
        return [(b"", classify(b"", kind))]
    size = len(msg) if seg == 0 or seg >= len(msg) else seg
    pieces = []
    for pos in range(start, len(msg), size):
        datagram = msg[pos : pos + size]
        body = datagram[:slot]
        own = classify(body, kind)
        cut = len(body) < len(datagram) or (truncated and pos + len(datagram) == len(msg))
        kept = CUT if cut else verdict(own)
        if kept != OK:  # as a read's slot: a bad one keeps every byte that arrived
            own = (own & ~(0xFF << VERDICT_SHIFT | 0xFFFFFFFF)) | kept << VERDICT_SHIFT | len(body)
        pieces.append((body, own))
    return pieces


FOUR = ipv4(28) * 3 + ipv4(8)  # three datagrams of 48 bytes, a last of 28


def test_an_exact_multiple_is_one_datagram_per_slot() -> None:
    msg = ipv4(28) * 3
    counts, bodies, results = Split(msg, 48, 64, 8).all()
    assert counts == [3, 0]
    assert bodies == [ipv4(28)] * 3
    assert [(verdict(r), proto(r), body_of(r)) for r in results] == [(OK, 0x800, 48)] * 3


def test_a_shorter_last_datagram() -> None:
    split = Split(FOUR, 48, 64, 8)
    datagrams = [ipv4(28)] * 3 + [ipv4(8)]
    assert split() == (4, datagrams, [classify(d) for d in datagrams])
    assert split.offset[0] == len(FOUR)
    assert split()[0] == 0


@pytest.mark.parametrize("seg", [0, len(FOUR), len(FOUR) + 1, 65536, 2**32 - 1])
def test_no_segment_size_or_a_large_one_is_one_datagram(seg: int) -> None:
    counts, bodies, results = Split(FOUR, seg, 256, 4).all()
    assert counts == [1, 0] and bodies == [FOUR] and results == [classify(FOUR)]


def test_a_split_resumes_across_calls_with_few_slots() -> None:
    msg = ipv4(28) * 5
    split = Split(msg, 48, 64, 2)
    offsets = []
    for want in (2, 2, 1, 0):
        r, bodies, _ = split()
        assert r == want and bodies == [ipv4(28)] * want
        offsets.append(split.offset[0])
    assert offsets == [96, 192, 240, 240]


def test_a_split_starts_at_the_offset_given() -> None:
    counts, bodies, _ = Split(FOUR, 48, 64, 8, offset=96).all()
    assert counts == [2, 0] and bodies == [ipv4(28), ipv4(8)]


def test_slots_smaller_than_datagrams_cut_them() -> None:
    counts, bodies, results = Split(FOUR, 48, 32, 8).all()
    assert counts == [4, 0]
    assert bodies == [ipv4(28)[:32]] * 3 + [ipv4(8)]
    assert [(verdict(r), proto(r), body_of(r)) for r in results] == [(CUT, 0x800, 32)] * 3 + [
        (OK, 0x800, 28)
    ]


def test_the_truncated_flag_marks_only_the_last_datagram() -> None:
    _, bodies, results = Split(FOUR, 48, 64, 8, truncated=True).all()
    assert bodies == [ipv4(28)] * 3 + [ipv4(8)]
    assert [verdict(r) for r in results] == [OK, OK, OK, CUT]
    assert (proto(results[3]), body_of(results[3])) == (0x800, 28)
    _, _, (one,) = Split(FOUR, 0, 256, 1, truncated=True).all()
    assert (verdict(one), body_of(one)) == (CUT, len(FOUR))


def test_tap_frames_and_a_cut_frame_too_short_for_its_header() -> None:
    frame = bytes(12) + b"\x08\x00" + bytes(30)
    _, bodies, results = Split(frame * 2, 44, 10, 2, kind=TAP).all()
    assert bodies == [frame[:10]] * 2
    assert [(verdict(r), proto(r), body_of(r)) for r in results] == [(CUT, 0, 10)] * 2


@pytest.mark.parametrize("truncated", [False, True])
def test_an_empty_message_fills_one_empty_slot(truncated: bool) -> None:
    split = Split(b"", 48, 64, 4, truncated=truncated)
    r, bodies, results = split()
    assert (r, bodies, split.offset[0]) == (1, [b""], 0)
    assert verdict(results[0]) == SHORT and body_of(results[0]) == 0
    assert Split(b"", 48, 64, 0)() == (0, [], [])


def test_no_slots_or_nothing_left_fills_nothing() -> None:
    assert Split(FOUR, 48, 64, 0)() == (0, [], [])
    split = Split(FOUR, 48, 64, 4, offset=len(FOUR))
    assert split() == (0, [], []) and split.offset[0] == len(FOUR)


def test_bad_arguments_are_invalid() -> None:
    out, results, n = ffi.new("char[]", 256), ffi.new("int64_t[]", 4), len(FOUR)

    def refused(start: int = 0, **changes: Any) -> bool:
        offset = ffi.new("size_t *", start)
        args: dict[str, Any] = dict(msg=GUARD.data(FOUR), length=n, seg=48, truncated=0)
        args.update(offset=offset, out=out, slot=64, nslots=4, results=results, kind=TUN)
        args.update(changes)
        return lib.tt_udp_split(*args.values()) == -errno.EINVAL and offset[0] == start

    assert refused(start=n + 1)
    assert refused(slot=0)
    assert refused(slot=lib.TT_BATCH_MAX_SLOT + 1)
    assert refused(nslots=lib.TT_BATCH_MAX_CAPACITY + 1)
    assert refused(kind=2) and refused(kind=-1)
    assert refused(length=lib.TT_UDP_MSG_MAX + 1)
    assert refused(msg=ffi.NULL)
    assert refused(offset=ffi.NULL) and refused(out=ffi.NULL) and refused(results=ffi.NULL)


# -- properties, the fuzz harness's invariants ------------------------------------------


def check_split(
    msg: bytes, seg: int, slot: int, nslots: int, truncated: bool, kind: int, start: int
) -> None:
    split = Split(msg, seg, slot, nslots, truncated=truncated, kind=kind, offset=start)
    if not msg:
        r, bodies, results = split()
        assert r == 1 and list(zip(bodies, results)) == expected(msg, seg, slot, truncated, kind)
        return
    got: list[tuple[bytes, int]] = []
    before = start
    for _ in range(len(msg) + 2):
        r, bodies, results = split()
        assert 0 <= r <= nslots and before <= split.offset[0] <= len(msg)
        if r > 0:
            assert split.offset[0] > before  # progress, or a caller would spin
        if r < nslots:
            assert split.offset[0] == len(msg)
        got += zip(bodies, results)
        if r == 0:
            break
        before = split.offset[0]
    assert split.offset[0] == len(msg)
    assert got == expected(msg, seg, slot, truncated, kind, start)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.binary(max_size=600),
    st.one_of(st.integers(0, 700), st.sampled_from([65536, 2**32 - 1])),
    st.integers(1, 200),
    st.integers(1, 8),
    st.booleans(),
    st.sampled_from([TUN, TAP]),
    st.data(),
)
def test_any_split_is_its_message_datagram_by_datagram(
    msg: bytes, seg: int, slot: int, nslots: int, truncated: bool, kind: int, data: st.DataObject
) -> None:
    start = data.draw(st.integers(0, len(msg)))
    check_split(msg, seg, slot, nslots, truncated, kind, start)


CMSGS = st.one_of(
    st.integers(-(2**31), 2**31 - 1).map(lambda v: (gro(v), v)),
    st.integers(1, 65536).map(lambda v: (gro(v), v)),
    st.sampled_from([(PKTINFO, None), (TOS, None), (STAMP, None)]),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(CMSGS, min_size=1, max_size=5), st.booleans(), st.binary(max_size=64))
def test_any_control_bytes_give_a_documented_result(
    cmsgs: list[tuple[bytes, int | None]], unpadded: bool, noise: bytes
) -> None:
    control = b"".join(raw for raw, _ in cmsgs)
    if unpadded:
        last = cmsgs[-1][0]
        control = control[: len(control) - len(last)] + last[: struct.unpack_from("=Q", last)[0]]
    want = 0
    for _, value in cmsgs:
        if value is not None:
            want = value if 1 <= value <= 65536 else -errno.EBADMSG
            if want < 0:
                break
    assert gro_size(control) == want
    assert gro_size(noise) in {-errno.EBADMSG, 0} or 1 <= gro_size(noise) <= 65536
