"""Bindings of ``csrc/cdef/offload.h``: the offload bits, and the pure functions
on bytes (segmenting, coalescing, the checksum) for tests and fuzzing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._native import ffi, lib
from .common import BytesLike, check
from .io import GSO_MAX, RX_PENDING_SIZE, packet_arrays

if TYPE_CHECKING:
    from .._native import TTPackets
    from .common import CData

IFF_VNET_HDR = lib.IFF_VNET_HDR
TUN_F_CSUM = lib.TUN_F_CSUM
TUN_F_TSO4 = lib.TUN_F_TSO4
TUN_F_TSO6 = lib.TUN_F_TSO6
TUN_F_USO4 = lib.TT_TUN_F_USO4
TUN_F_USO6 = lib.TT_TUN_F_USO6
# (batch, raw, start, stop) -> the packets those slots carry once segmented, bound directly.
batch_segments = lib.tt_batch_segments


def segment(
    data: BytesLike, slot_size: int, nslots: int, skip: int = 0
) -> tuple[int, int, bytes, list[int]]:
    """The segmenter on raw bytes (virtio-net header + packet), for tests and fuzzing.

    Returns (slots filled or -errno, total segments, the slot buffer, the results).
    """
    out = ffi.new("char[]", slot_size * nslots)
    results = ffi.new("int64_t[]", nslots)
    total = ffi.new("uint32_t *")
    view = ffi.from_buffer(data)
    filled = lib.tt_segment(view, len(view), skip, out, slot_size, nslots, results, total)
    return filled, int(total[0]), bytes(ffi.buffer(out)), [int(r) for r in results]


def _array_of(packets: list[BytesLike]) -> tuple[TTPackets, CData, CData, list[CData]]:
    views = [ffi.from_buffer(packet) for packet in packets]
    source, bufs, lens = packet_arrays(views)
    return source, bufs, lens, views


COALESCE_MAX = lib.TT_COALESCE_MAX
COALESCE_LOOKAHEAD = lib.TT_COALESCE_LOOKAHEAD
# Every offload a device may accept: TCP and UDP datagrams both merge.
ALL_OFFLOADS = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_USO4 | TUN_F_USO6


def coalesce_plan(
    packets: list[BytesLike],
    start: int = 0,
    *,
    group: bool = False,
    offload: int = ALL_OFFLOADS,
    write_limit: int = GSO_MAX,
    room: int = RX_PENDING_SIZE,
) -> list[int] | int:
    """The coalescing on raw packets, for tests and fuzzing: the positions of the
    packets that would go out with packet ``start`` in one super-packet (itself
    alone: none merge), or -errno."""
    source, _bufs, _lens, _views = _array_of(packets)
    members = ffi.new("uint32_t[]", COALESCE_MAX)
    n = lib.tt_coalesce_plan(
        source, start, int(group), offload, write_limit, room, members, COALESCE_MAX
    )
    return n if n < 0 else [int(members[k]) for k in range(n)]


def coalesce_run(
    packets: list[BytesLike],
    start: int = 0,
    write_limit: int = GSO_MAX,
    room: int = RX_PENDING_SIZE,
) -> int:
    """How many consecutive packets from ``start`` on would go out as one
    super-packet (1: none merge), or -errno."""
    plan = coalesce_plan(packets, start, write_limit=write_limit, room=room)
    return plan if isinstance(plan, int) else len(plan)


def coalesce_build(
    packets: list[BytesLike],
    start: int,
    count: int,
    out_len: int = RX_PENDING_SIZE,
    *,
    members: list[int] | None = None,
    offload: int = ALL_OFFLOADS,
) -> tuple[int, bytes]:
    """The super-packet (virtio-net header + packet) of ``count`` raw packets from
    ``start`` (or of the positions in ``members``): (its length or -errno, its bytes)."""
    source, _bufs, _lens, _views = _array_of(packets)
    chosen = list(range(start, start + count)) if members is None else members
    positions = ffi.new("uint32_t[]", max(len(chosen), 1))
    for k, position in enumerate(chosen):
        positions[k] = position
    out = ffi.new("char[]", max(out_len, 1))
    length = lib.tt_coalesce_build(source, positions, len(chosen), offload, out, out_len)
    return length, bytes(ffi.buffer(out, max(length, 0)))


def checksum(data: BytesLike) -> int:
    """The Internet checksum (RFC 1071) of ``data``, as the C helpers compute it."""
    view = ffi.from_buffer(data)
    return check(lib.tt_checksum(view, len(view)), "checksum", "packet")
