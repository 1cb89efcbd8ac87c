"""``BatchQueue``: a queue's batch calls (``read_batch``, ``read_packets``,
``write_batch``), and what they need besides the C call: their options and the
C view of what is written.

A batch is one crossing into C for many packets: the slots of a
``PacketBatch`` (allocated once), or a list of packets joined into one buffer.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable, Sequence
from itertools import accumulate
from typing import TYPE_CHECKING, NamedTuple, cast

from .. import _lowlevel
from ..errors import (
    BatchWriteStopped,
    InterfaceClosedError,
    ShortWriteError,
    batch_stopped,
)
from ..packets.batch import (
    MAX_CAPACITY,
    PacketBatch,
    ready_to_read,
    ready_to_write,
    slots_for_reading,
    slots_for_writing,
    thread_batch,
    write_status,
)
from ..packets.offload import Offload
from ..packets.packet import DevKind, Packet
from ..timeouts import RETRYABLE, Timeout, deadline_of, slice_ms
from .queue import Queue, Writable

_read = _lowlevel.queue_read
_write = _lowlevel.queue_write
_SLICE = _lowlevel.WAIT_SLICE_MS
_view = _lowlevel.packet_view
_PYPY = _lowlevel.PYPY
# What write_job joins into one buffer (anything else is viewed item by item).
_JOINABLE = frozenset((bytes, bytearray, memoryview))

if TYPE_CHECKING:
    from .._native import TTBatch, TTPackets, TTWriteStatus

__all__ = ["BatchQueue", "Progress", "WriteJob", "coalescing", "raw_reads", "stopped", "write_job"]

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


class BatchQueue(Queue):
    """A queue's batch I/O (the base of :class:`~tuntap_cffi.Interface`)."""

    @property
    def _coalescing(self) -> bool:
        """write_batch's default: coalesce on an offload device."""
        return bool(self._offload)

    def read_batch(
        self, batch: PacketBatch, *, segment: bool | None = None, timeout: Timeout = None
    ) -> int:
        """Read every packet that is ready, up to ``batch.capacity``, in one call into C.

        Waits like :meth:`read_packet` for the first; a malformed packet is
        reported by its slot (``batch.errors()``) and does not stop the rest.
        On an offload device super-packets are split into ordinary packets
        (``segment=True``, the default; one with more segments than free slots
        continues in the next read); ``segment=False`` keeps each as the kernel
        gave it, with its header (``batch.vnet_header(i)``), for a relay to
        another offload device.

        Returns:
            The number of packets read, 1..capacity; 0 only when ``timeout``
            passed with nothing ready.

        Raises:
            ValueError: slots too small for this device, or ``segment`` for a
                device without offloads.
            TypeError: ``batch`` is not a PacketBatch, ``segment`` not a bool.
            InterfaceClosedError, OSError: as for read_packet.
        """
        if segment is None and timeout is None:
            ready = ready_to_read(batch, self._kind, self._write_limit)
            if ready is not None:
                lifetime = self._lifetime
                users = lifetime.users
                users.append("read_batch")
                try:
                    if lifetime.closing:
                        raise InterfaceClosedError(self._name, "read_batch")
                    result = _read(self._q, ready, 0, _SLICE)
                    if result < 0:
                        result = self._read_waiting(ready, 0, None, result)
                    return result
                finally:
                    users.pop()
                    if lifetime.closing:
                        lifetime.left()
        raw = raw_reads(segment, self._offload, self._name)
        slots = slots_for_reading(batch, self._kind, self._write_limit, self._name, raw)
        deadline = deadline_of(timeout)
        self._enter("read_batch")
        try:
            return self._read_waiting(
                slots, raw, deadline, _read(self._q, slots, raw, slice_ms(deadline))
            )
        finally:
            self._leave()

    def _read_waiting(self, slots: TTBatch, raw: int, deadline: float | None, result: int) -> int:
        """The wait loop of read_batch after a C call that read nothing (0: timed out)."""
        while result < 0:
            try:
                wait = self._retry(result, deadline, "read_batch")
            except TimeoutError:
                return 0
            result = _read(self._q, slots, raw, wait)
        return result

    def read_packets(self, max_packets: int = 64, *, timeout: Timeout = None) -> list[Packet]:
        """Read up to ``max_packets`` ready packets as Packets (bodies copied).

        Waits like :meth:`read_packet`; ``[]`` when ``timeout`` passed with
        nothing ready. Malformed packets are left out (:meth:`read_batch` and
        ``PacketBatch.errors()`` show them).
        """
        if isinstance(max_packets, bool) or not isinstance(max_packets, int):
            raise TypeError(f"max_packets must be an int, not {type(max_packets).__name__}")
        if not 1 <= max_packets <= MAX_CAPACITY:
            raise ValueError(f"max_packets must be between 1 and {MAX_CAPACITY}, not {max_packets}")
        batch = thread_batch(max_packets)
        if self.read_batch(batch, timeout=timeout) == 0:
            return []
        return [Packet(bytes(p.body), p.protocol, p.kind) for p in batch.packets()]

    def write_batch(
        self,
        packets: PacketBatch | Iterable[Writable],
        *,
        coalesce: bool | None = None,
        timeout: Timeout = None,
        start: int = 0,
    ) -> int:
        """Write packets in order in one call into C; how many were written.

        Args:
            packets: a PacketBatch (its well-formed packets are forwarded as
                they are: a relay) or an iterable of Packets and bytes-like objects
                (any C-contiguous buffer, taken as its bytes, as write_packet).
            coalesce: on an offload device (default on there), consecutive TCP
                segments the kernel's GRO would merge go out as one super-packet;
                the count still counts the packets given.
            timeout: seconds to wait at most while the device cannot take more.
            start: the position to begin at (a stopped batch's ``.index``, to resume it).

        Raises:
            TypeError: an item is not a Packet or bytes-like (nothing written),
                ``coalesce`` not a bool.
            ValueError: a batch read from another kind of device, a raw offload
                batch for a device without offloads, ``coalesce`` for a device
                without offloads, or a bad ``start``.
            BatchWriteError: the batch stopped at a packet. It is also an instance
                of what write_packet raises for that packet (JumboPacketError,
                TimeoutError, ...), with ``.written`` (packets that went out
                before it) and ``.index`` (its position, its slot for a batch).
            BatchWriteStopped: any other exception that ends the write once a
                packet could have gone out (Ctrl-C, ``SystemExit``, whatever a
                signal handler raises) comes with the same ``.written``,
                ``.index`` and ``.unwritten``, exact; it is still an instance of
                its own type, and a ``KeyboardInterrupt`` stays out of ``except
                Exception``. An exception that is not a BatchWriteStopped means
                that nothing was written.
        """
        if coalesce is None and timeout is None and start == 0 and type(start) is int:
            ready = ready_to_write(packets, self._kind)
            if ready is not None:
                # A relay's write: one C call, and done when nothing stopped it.
                # Closed (before or after registering): the loop below says so.
                slots, status = ready
                status.next = status.written = 0  # the batch's: what its last write left
                lifetime = self._lifetime
                users = lifetime.users
                users.append("write_batch")
                try:
                    try:
                        result = -errno.ECANCELED
                        if not lifetime.closing:
                            result = _write(self._q, slots, 0, self._coalescing, _SLICE, status)
                    finally:
                        users.pop()
                        if lifetime.closing:
                            lifetime.left()
                    if result >= 0 and status.error == 0:
                        return result
                    if result >= 0:  # stopped part-way: go on from there
                        job = write_job(
                            packets, 0, self._coalescing, self._kind, self._offload, self._name
                        )
                        assert job is not None
                        after = _lowlevel.resumed_status(status)
                        return self._write_loop(job, (status.written, after), None)
                except BaseException as exc:
                    raise stopped(exc, (0, status), len(cast(PacketBatch, packets))) from None
        merge = coalescing(coalesce, self._offload, self._name)
        deadline = deadline_of(timeout)
        job = write_job(packets, start, merge, self._kind, self._offload, self._name)
        if job is None:
            self._lifetime.check_open("write_batch")
            return 0
        status = job.status
        status.next = job.start
        status.written = 0
        return self._write_loop(job, (0, status), deadline)

    def _write_loop(self, job: WriteJob, progress: Progress, deadline: float | None) -> int:
        """write_batch from ``progress``: the packets written already, and the status
        of the next C call (``next``: where it starts; ``written``: 0).

        Whatever exception ends it (a refused packet, a timeout, Ctrl-C) leaves
        as a BatchWriteStopped saying exactly how far the write went.
        """
        try:
            self._enter("write_batch")
            try:
                done, status = progress
                wait = slice_ms(deadline)
                while True:
                    result = _write(self._q, job.packets, status.next, job.coalesce, wait, status)
                    if result < 0:
                        raise self._error(-result, "write_batch")
                    err = status.error
                    if err == 0:
                        return done + status.written
                    if err == -errno.EMSGSIZE and self._limit_grew():
                        pass
                    elif err not in RETRYABLE:
                        raise self._packet_write_error(status, job.source[status.next])
                    else:
                        wait = self._retry(err, deadline, "write_batch")
                    after = _lowlevel.resumed_status(status)
                    done += status.written
                    status = after
                    progress = (done, status)
            finally:
                self._leave()
        except BaseException as exc:
            raise stopped(exc, progress, len(job.source)) from None

    def _packet_write_error(self, status: TTWriteStatus, body: Writable) -> Exception:
        """What write_packet would raise for the packet a batch stopped at."""
        refusal = self._refusal(status.error, status.refused, body)
        if refusal is not None:
            return refusal
        if status.error == -errno.EIO and status.partial:
            size = len(memoryview(body.body if isinstance(body, Packet) else body).cast("B"))
            return ShortWriteError(
                f"write_batch on {self._name}: wrote {status.partial} of {size} bytes"
            )
        return self._error(-status.error, "write_batch")
