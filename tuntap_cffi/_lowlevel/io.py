"""Bindings of ``csrc/cdef/io.h``: the packet I/O of one queue (csrc/queue.c)."""

from __future__ import annotations

import platform
from typing import TYPE_CHECKING, NamedTuple, cast

from .._native import ffi, lib
from .common import check

# On PyPy a C view of a bytes object (ffi.from_buffer) pins it, and memory grew
# without bound under write_batch (45 MB over 500,000 packets); a copy into C
# memory, freed with its cdata, does not grow.
_PYPY = platform.python_implementation() == "PyPy"

if TYPE_CHECKING:
    from .._native import TTBatch, TTPackets, TTQueue, TTWriteStatus
    from .common import CData

# The shim waits at most this long per call, so that a signal that arrives
# just before a wait starts is still handled (Ctrl-C within 100 ms).
WAIT_SLICE_MS = lib.TT_WAIT_SLICE_MS

BATCH_MAX_CAPACITY = lib.TT_BATCH_MAX_CAPACITY
BATCH_MAX_SLOT = lib.TT_BATCH_MAX_SLOT
NULL: CData = ffi.NULL
VNET_HDR_LEN = lib.TT_VNET_HDR_LEN
GSO_MAX = lib.TT_GSO_MAX
RX_PENDING_SIZE = lib.TT_RX_PENDING_SIZE

# The I/O calls, bound directly so the hot path pays no extra Python frame;
# each takes the queue first and returns >= 0 or -errno:
# (queue, buf, len, timeout_ms) -> packed classification of one packet read;
# (queue, buf, len, timeout_ms) -> packet bytes written (queue.refused says
# which write rule an -EINVAL broke); (queue, batch, raw, timeout_ms) -> slots
# filled; (queue, packets, start, coalesce, timeout_ms, status) -> packets
# written by this call, with where and why it stopped in ``status``.
queue_recv = lib.tt_queue_recv
queue_send = lib.tt_queue_send
queue_read = lib.tt_queue_read
queue_write = lib.tt_queue_write
# The bytes calls, bound the same way: (queue, buf, len, timeout_ms) -> bytes
# read as read(2) gives them (a segment on an offload queue); (queue, buf,
# len, timeout_ms) -> bytes written as given, after the write rules.
queue_recv_bytes = lib.tt_queue_recv_bytes
# Their per-packet forms, waiting at most WAIT_SLICE_MS: (queue) -> the length
# of the next packet, read whole into the queue's scratch (this thread's until
# its next call); (queue, buf, len) -> bytes written.
queue_recv_next = lib.tt_queue_recv_next
queue_send_now = lib.tt_queue_send_now
queue_send_bytes = lib.tt_queue_send_bytes

# The headers a framed queue's fd puts before every packet (struct tt_queue.framing).
FRAME_PI = lib.TT_FRAME_PI
FRAME_VNET = lib.TT_FRAME_VNET
PI_LEN = lib.TT_PI_LEN
PI_STRIP = lib.TT_PI_STRIP  # struct tun_pi.flags (host order): the kernel cut the packet


class Scratch(NamedTuple):
    """A queue's scratch: the memory C reads into, as Python copies out of it."""

    data: bytes | None  # CPython: the bytes object C reads into; slice it (data[:n])
    c: CData  # the C view of it (PyPy: a C buffer of its own; copy_bytes(c, n))


def add_scratch(queue: TTQueue, size: int) -> Scratch:
    """Give a queue the buffer of its scratch reads; the caller keeps it as long as
    the queue (the struct only points at it).

    On CPython the buffer is the storage of a private ``bytes`` object, never
    hashed nor shown to anyone, so that the bytes of a packet come out of it
    with one slice, the cheapest copy into a new ``bytes`` there is. PyPy
    may move a ``bytes`` object's storage: there it is a C buffer, copied out
    with ``ffi.unpack``.
    """
    if _PYPY:
        data = None
        view: CData = ffi.new("char[]", size)
    else:
        data = bytes(size)
        view = ffi.from_buffer(data)
    queue.scratch = view
    queue.scratch_len = size
    return Scratch(data, view)


def allow_epoll(queue: TTQueue) -> None:
    """Let the queue's reads wait with an epoll fd of its own (made by the first read
    that sleeps): only for a queue whose release closes it (:func:`close_epoll`)."""
    queue.wait_mode = lib.TT_WAIT_EPOLL


# How long a close waits for the calls inside a queue's gate to leave; they
# leave within one read, write or woken wait, so only a thread stopped inside
# C (a debugger) could outlast it.
DRAIN_MS = 5000


def shut_gates(held: list[TTQueue]) -> None:
    """Shut the gate of the queue in ``held``: its gated calls (``recv_next``,
    ``send_now``, ``send_bytes``) refuse from now on, with -ECANCELED. Part of
    close(), before the wake-up."""
    for queue in held:
        lib.tt_queue_shut(queue)


def drain_gates(held: list[TTQueue], name: str) -> None:
    """Wait until no gated call is inside the queue in ``held``: the first step of
    the release of its fds. OSError (EBUSY) when one stayed past DRAIN_MS: the
    fds must then stay open, not be closed under it."""
    for queue in held:
        check(lib.tt_queue_drain(queue, DRAIN_MS), "close", name)


def close_epoll(held: list[TTQueue], name: str) -> None:
    """Close the epoll fd a read of the queue in ``held`` made, if one did: part of
    the release of its fds, when no call is inside (the usage count says so)."""
    for queue in held:
        if queue.wait_mode == lib.TT_WAIT_EPOLL_MADE:
            queue.wait_mode = lib.TT_WAIT_POLL
            check(lib.tt_close(queue.epfd), "close", name)


class QueueMemory(NamedTuple):
    """A ``struct tt_queue`` and the buffers it points at (keep all of them)."""

    c: TTQueue
    rx_buf: CData | None
    tx_buf: CData | None


def new_queue(fd: int, wakefd: int, kind: int, offload: int, write_limit: int) -> QueueMemory:
    """The state of one open queue, allocated once; ``offload``: TUN_F_* bits, 0 plain."""
    queue = cast("TTQueue", ffi.new("struct tt_queue *"))
    queue.fd = fd
    queue.wakefd = wakefd
    queue.kind = kind
    queue.offload = offload
    queue.write_limit = write_limit
    queue.epfd = -1
    rx_buf = tx_buf = None
    if offload:
        rx_buf = ffi.new("char[]", RX_PENDING_SIZE)
        tx_buf = ffi.new("char[]", RX_PENDING_SIZE)
        queue.rx_buf, queue.rx_buf_len = rx_buf, RX_PENDING_SIZE
        queue.tx_buf, queue.tx_buf_len = tx_buf, RX_PENDING_SIZE
    return QueueMemory(queue, rx_buf, tx_buf)


def new_batch(capacity: int, slot_size: int, kind: int) -> tuple[TTBatch, CData, CData]:
    """Allocate a batch once: (struct tt_batch, its slot buffer, its results array).

    The caller keeps all three: the struct only points at the other two.
    """
    buf = ffi.new("char[]", capacity * slot_size)
    results = ffi.new("int64_t[]", capacity)
    batch = cast("TTBatch", ffi.new("struct tt_batch *"))
    batch.buf = buf
    batch.buf_len = capacity * slot_size
    batch.slot_size = slot_size
    batch.results = results
    batch.capacity = capacity
    batch.kind = kind
    return batch, buf, results


def batch_packets(batch: TTBatch) -> TTPackets:
    """The ``struct tt_packets`` that writes the well-formed slots of ``batch``."""
    packets = cast("TTPackets", ffi.new("struct tt_packets *"))
    packets.batch = batch
    return packets


def new_write_status() -> TTWriteStatus:
    """Where a batch write stopped (``struct tt_write_status``)."""
    return cast("TTWriteStatus", ffi.new("struct tt_write_status *"))


def add_sent_marks(status: TTWriteStatus, count: int) -> CData:
    """Gives ``status`` marks for ``count`` packets (what lets a coalescing write
    group by flow); the caller keeps the returned array alive as long as status."""
    marks = ffi.new("uint8_t[]", max(count, 1))
    status.sent = marks
    status.sent_len = count
    return marks


def unwritten(status: TTWriteStatus, start: int, count: int) -> tuple[int, ...]:
    """The positions from ``start`` to ``count`` that a stopped write did not send:
    all of them, but for those its marks say went out with their flow."""
    if status.sent == ffi.NULL or start >= count:
        return tuple(range(start, count))
    marks = bytes(ffi.buffer(status.sent, count))
    return tuple(i for i in range(start, count) if not marks[i])


# A zero-copy C view of any bytes-like object (TypeError for anything else),
# bound directly: write_batch takes one per packet.
view_of = ffi.from_buffer


def packet_arrays(views: list[CData]) -> tuple[TTPackets, CData, CData]:
    """The ``struct tt_packets`` of the packets ``views`` point at, and its
    (pointers, lengths) arrays, which the caller keeps while it is used."""
    bufs = ffi.new("char *[]", views)
    lens = ffi.new("size_t[]", list(map(len, views)))
    packets = cast("TTPackets", ffi.new("struct tt_packets *"))
    packets.bufs = bufs
    packets.lens = lens
    packets.count = len(views)
    return packets, bufs, lens


def joined_packets(joined: bytes, offsets: list[int]) -> tuple[TTPackets, CData, CData]:
    """The ``struct tt_packets`` of ``len(offsets) - 1`` packets laid one after the
    other in ``joined`` (packet i at offsets[i]..offsets[i + 1]), and the view of
    ``joined`` and the offsets array, which the caller keeps while it is used."""
    view = ffi.new("char[]", joined) if _PYPY else ffi.from_buffer(joined)
    array = ffi.new("size_t[]", offsets)
    packets = cast("TTPackets", ffi.new("struct tt_packets *"))
    packets.joined = view
    packets.joined_len = len(joined)
    packets.offsets = array
    packets.count = len(offsets) - 1
    return packets, view, array


def buffer_view(buf: CData) -> memoryview:
    """A writable zero-copy ``memoryview`` of a whole C buffer."""
    return memoryview(ffi.buffer(buf))
