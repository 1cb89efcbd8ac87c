"""What a write takes: the C view of the packets a batch write sends, and how a
stopped write says how far it went.

Shared by the device (``Queue.write_batch``) and the UDP underlay
(``udp_send_batch``): a ``PacketBatch``'s slots as they are, or a list of
packets joined into one buffer with an offsets array, so that no Python object
or C view is made per packet.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import accumulate
from typing import TYPE_CHECKING, NamedTuple, Union, cast

from .. import _lowlevel
from ..errors import BatchWriteStopped, batch_stopped
from .batch import PacketBatch
from .offload import Offload
from .packet import DevKind, Packet

if TYPE_CHECKING:
    from .._native import TTPackets, TTWriteStatus

__all__ = ["Progress", "Writable", "WriteJob", "stopped", "write_job"]

# What a packet call writes: a Packet or any C-contiguous buffer (as its bytes).
Writable = Union[Packet, bytes, bytearray, memoryview]

_view = _lowlevel.packet_view
_PYPY = _lowlevel.PYPY
# What write_job joins into one buffer (anything else is viewed item by item).
_JOINABLE = frozenset((bytes, bytearray, memoryview))

# How far a batch write went: the packets written before the C call that the
# status is for, and that status (whose ``written`` and ``next`` C sets when the
# call returns). The loops replace it as a whole, in one assignment, so that it
# is right at every point where an exception can arrive: a signal handler
# (Ctrl-C) runs as soon as a C call returns, before Python has looked at its
# result.
Progress = tuple[int, "TTWriteStatus"]


class WriteJob(NamedTuple):
    """One write_batch call's packets in C, and what keeps their memory alive."""

    packets: TTPackets
    status: TTWriteStatus
    source: Sequence[Writable] | PacketBatch  # what ``status.next`` indexes
    start: int
    coalesce: bool
    keep: tuple[object, ...]


def _check_start(start: object, count: int, operation: str) -> int:
    if isinstance(start, bool) or not isinstance(start, int):
        raise TypeError(f"{operation}: start must be an int, not {type(start).__name__}")
    if not 0 <= start <= count:
        raise ValueError(f"{operation}: start must be between 0 and {count}, not {start}")
    return start


def write_job(
    packets: PacketBatch | Iterable[Writable],
    start: int,
    coalesce: bool,
    kind: DevKind,
    offload: Offload,
    name: str,
    operation: str = "write_batch",
) -> WriteJob | None:
    """The C view of what write_batch (or ``operation``) writes from ``start``; None
    when there is nothing."""
    if isinstance(packets, PacketBatch):
        start = _check_start(start, len(packets), operation)
        slots = packets.slots_for_writing(kind, offload, name)
        if slots is None:
            return None
        return WriteJob(
            slots, packets.write_status, packets, start, coalesce and not packets.raw, ()
        )
    if not isinstance(packets, (list, tuple)):
        try:
            packets = list(packets)
        except TypeError:
            raise TypeError(
                f"{operation} takes a PacketBatch or an iterable of packets, "
                f"not {type(packets).__name__}"
            ) from None
    start = _check_start(start, len(packets), operation)
    if not packets:
        return None
    status = _lowlevel.new_write_status()
    # Marks let a coalescing write merge a flow's packets past other flows'.
    marks = _lowlevel.add_sent_marks(status, len(packets)) if coalesce else None
    # The common case, a list of bytes, bytearrays or memoryviews: one buffer
    # holds them all, so no Python object or C view is made per packet. (Any
    # other buffer, and a Packet, goes by a C view of each.)
    kinds = set(map(type, packets))
    if kinds <= _JOINABLE:
        try:
            joined = b"".join(cast("list[bytes]", packets))
        except _lowlevel.BUFFER_REFUSED:  # a memoryview not contiguous: refused below
            pass
        else:
            sizes: Iterable[int] = map(len, packets)  # bytes and bytearrays: their bytes
            if memoryview in kinds:  # whose items may be wider, or in rows
                sizes = [memoryview(item).nbytes for item in packets]  # type: ignore[arg-type]
            if not (_PYPY and memoryview in kinds and not _contiguous(packets)):
                offsets = list(accumulate(sizes, initial=0))
                c, view, array = _lowlevel.joined_packets(joined, offsets)
                return WriteJob(c, status, packets, start, coalesce, (joined, view, array, marks))
    bodies = [item.body if isinstance(item, Packet) else item for item in packets]
    try:
        views = [_view(body) for body in bodies]
    except _lowlevel.BUFFER_REFUSED:
        raise _not_writable(bodies, operation) from None
    c, bufs, lens = _lowlevel.packet_arrays(views)
    return WriteJob(c, status, bodies, start, coalesce, (views, bufs, lens, marks))


def _contiguous(packets: Sequence[object]) -> bool:
    """Whether every memoryview of ``packets`` is C-contiguous (PyPy joins one
    that is not, which CPython refuses)."""
    return all(item.c_contiguous for item in packets if type(item) is memoryview)


def _not_writable(bodies: Sequence[object], operation: str) -> TypeError:
    """The TypeError for the first item write_batch (or ``operation``) cannot write."""
    takes = f"{operation} takes Packets or bytes-like objects"
    for index, body in enumerate(bodies):
        try:
            _lowlevel.c_buffer(body, takes, where=f" (item {index})")
        except TypeError as exc:
            return exc
    return TypeError(takes)


def stopped(
    exc: BaseException, progress: Progress, count: int, *, marks: bool = True
) -> BaseException:
    """``exc``, which ended a write of ``count`` packets, as the BatchWriteStopped that
    says how far it went (``exc`` itself when it says so already: an inner loop's).

    ``marks``: the status's sent marks are this write's (a device write, which
    coalescing sends ahead); False for a send in order, whose unwritten packets
    are all those from where it stopped (a batch's marks are its device writes').
    """
    if isinstance(exc, BatchWriteStopped):
        return exc
    done, status = progress
    at = status.next
    unwritten = _lowlevel.unwritten(status, at, count) if marks else tuple(range(at, count))
    return batch_stopped(exc, done + status.written, at, unwritten)
