"""What ``write_batch`` and ``read_batch`` need besides the C call: their options,
the C view of what is written, and the exceptions of a batch that stopped.

Pure functions of their arguments; the calls themselves are ``Queue``'s.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable, Sequence
from itertools import accumulate
from typing import TYPE_CHECKING, NamedTuple, Union, cast

from . import _lowlevel
from .batch import PacketBatch, slots_for_writing, write_status
from .errors import JumboPacketError, NotIPPacketError, TruncatedPacketError
from .offload import Offload
from .packet import ETH_HEADER_LEN, Body, DevKind, Packet

if TYPE_CHECKING:
    from ._native import TTPackets, TTWriteStatus

__all__ = ["WriteJob", "coalescing", "raw_reads", "refusal", "write_job"]

Writable = Union[Packet, bytes, bytearray, memoryview]


class WriteJob(NamedTuple):
    """One write_batch call's packets in C, and what keeps their memory alive."""

    packets: TTPackets
    status: TTWriteStatus
    source: Sequence[Writable] | PacketBatch  # what ``status.next`` indexes
    start: int
    coalesce: bool
    keep: tuple[object, ...]


def _check_option(option: str, value: object, operation: str, offload: Offload, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{operation}: {option} must be a bool, not {type(value).__name__}")
    if not offload:
        raise ValueError(
            f"{operation} on {name}: {option}= applies only to a device opened with offload=True"
        )
    return value


def raw_reads(segment: object, offload: Offload, name: str) -> int:
    """read_batch's ``raw`` for C: 1 keeps virtio-net headers (``segment=False``)."""
    if segment is None:
        return 0
    return int(not _check_option("segment", segment, "read_batch", offload, name))


def coalescing(coalesce: object, offload: Offload, name: str) -> bool:
    """Whether write_batch merges TCP segments: by default on an offload device."""
    if coalesce is None:
        return bool(offload)
    return _check_option("coalesce", coalesce, "write_batch", offload, name)


def _check_start(start: object, count: int) -> int:
    if isinstance(start, bool) or not isinstance(start, int):
        raise TypeError(f"write_batch: start must be an int, not {type(start).__name__}")
    if not 0 <= start <= count:
        raise ValueError(f"write_batch: start must be between 0 and {count}, not {start}")
    return start


def write_job(
    packets: PacketBatch | Iterable[Writable],
    start: int,
    coalesce: bool,
    kind: DevKind,
    offload: Offload,
    name: str,
) -> WriteJob | None:
    """The C view of what write_batch writes from ``start``; None when there is nothing."""
    if isinstance(packets, PacketBatch):
        start = _check_start(start, len(packets))
        slots = slots_for_writing(packets, kind, offload, name)
        if slots is None:
            return None
        return WriteJob(
            slots, write_status(packets), packets, start, coalesce and not packets.raw, ()
        )
    if not isinstance(packets, (list, tuple)):
        try:
            packets = list(packets)
        except TypeError:
            raise TypeError(
                "write_batch takes a PacketBatch or an iterable of packets, "
                f"not {type(packets).__name__}"
            ) from None
    start = _check_start(start, len(packets))
    if not packets:
        return None
    status = _lowlevel.new_write_status()
    # The common case, a list of bytes-like objects: one buffer holds them all,
    # so no Python object or C view is made per packet.
    try:
        joined = b"".join(cast("list[bytes]", packets))
    except TypeError:
        joined = None
    if joined is not None:
        offsets = list(accumulate(map(len, packets), initial=0))
        if offsets[-1] == len(joined):  # a memoryview of wider items would not add up
            c, view, array = _lowlevel.joined_packets(joined, offsets)
            return WriteJob(c, status, packets, start, coalesce, (joined, view, array))
    bodies = [item.body if isinstance(item, Packet) else item for item in packets]
    try:
        views = [_lowlevel.view_of(body) for body in bodies]
    except TypeError:
        raise _not_writable(bodies) from None
    c, bufs, lens = _lowlevel.packet_arrays(views)
    return WriteJob(c, status, bodies, start, coalesce, (views, bufs, lens))


def _not_writable(bodies: Sequence[object]) -> TypeError:
    """The TypeError for the first item write_batch cannot write."""
    for index, body in enumerate(bodies):
        try:
            _lowlevel.view_of(cast(Body, body))
        except TypeError:
            return TypeError(
                f"write_batch takes Packets or bytes-like objects, not "
                f"{type(body).__name__} (item {index})"
            )
    return TypeError("write_batch takes Packets or bytes-like objects")


def refusal(
    err: int, refused: int | None, body: Writable, limit: int, name: str, kind: DevKind
) -> Exception | None:
    """The exception for a packet the write rules (in C) refused; None for another error.

    ``refused`` is the rule's TT_PKT_* verdict (a batch's status says it); None
    for a single send, whose -EINVAL can only be the rule of this kind of device.
    """
    if isinstance(body, Packet):
        body = body.body
    size = len(memoryview(body).cast("B"))
    if err == -errno.EMSGSIZE:
        return JumboPacketError(
            f"jumbo packet too large for /dev/tun: {size} bytes > {limit} ({name})"
        )
    if err != -errno.EINVAL:
        return None
    if refused is None:
        refused = _lowlevel.PKT_NOT_IP if kind == DevKind.TUN else _lowlevel.PKT_TRUNCATED
    if refused == _lowlevel.PKT_NOT_IP:
        return NotIPPacketError()
    if refused == _lowlevel.PKT_TRUNCATED:
        return TruncatedPacketError(
            f"Ethernet frame is truncated: {size} bytes < {ETH_HEADER_LEN}",
            Packet(body, 0, kind),
        )
    return None
