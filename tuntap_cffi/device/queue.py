"""``Queue``: one open queue of a TUN/TAP device and its packet I/O, one packet
(``read_packet``, ``write_packet``) or a batch (``read_batch``, ``read_packets``,
``write_batch``: one crossing into C for many packets) at a time.

A queue is an fd attached to a device (``open`` gives one, ``open_queues``
several), its wake-up eventfd, its usage count (:class:`~.lifetime.Lifetime`)
and its state in C: one ``struct tt_queue``, allocated once and passed first
to every I/O call. Whether the queue speaks virtio-net headers is chosen once,
at open, by what that struct says: the shim takes the plain or the offload
path for every packet, so nothing here tests a flag per packet.

The common case of each packet call (no timeout, a packet ready) is one C
call between entering and leaving the usage count; waiting, errors and
refusals are handled off that path. A wait in C lasts at most
``WAIT_SLICE_MS``, so that Python sees a close, a deadline or Ctrl-C between
slices.
"""

from __future__ import annotations

import errno
import functools
import platform
import threading
import time
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, cast

from .. import _lowlevel
from ..errors import (
    InterfaceClosedError,
    JumboPacketError,
    NotIPPacketError,
    ShortWriteError,
    TruncatedPacketError,
    os_error,
)
from ..lifetime import Lifetime
from ..link.link import Link, MtuCallback
from ..packets.batch import MAX_CAPACITY, PacketBatch, thread_batch
from ..packets.offload import Offload
from ..packets.packet import (
    ETH_HEADER_LEN,
    VLAN_TAG_LEN,
    Body,
    DevKind,
    Packet,
    packet_from_verdict,
)
from ..packets.writes import Progress, Writable, WriteJob, stopped, write_job
from ..timeouts import RETRYABLE, Timeout, deadline_of, next_slice, slice_ms
from .bytes_io import READ_SIZE, check_size, cut, refusal

if TYPE_CHECKING:
    from .._native import TTBatch, TTWriteStatus

__all__ = ["DEFAULT_WRITE_LIMIT", "Queue", "Writable", "coalescing", "raw_reads"]

DEFAULT_WRITE_LIMIT = 1600  # the Go seed's limit, raised with the MTU
# Big enough for any packet a device delivers (64 KiB IP packet plus an
# Ethernet header and two VLAN tags), so read_packet() never cuts one.
SCRATCH_SIZE = 65536 + 64

# Bound once: the per-packet path looks up module globals, not attributes.
_recv = _lowlevel.queue_recv
_send = _lowlevel.queue_send
_read = _lowlevel.queue_read
_write = _lowlevel.queue_write
_copy = _lowlevel.copy_bytes
_recv_bytes = _lowlevel.queue_recv_bytes
_recv_next = _lowlevel.queue_recv_next
_send_bytes = _lowlevel.queue_send_bytes
_send_now = _lowlevel.queue_send_now
_from_buffer = _lowlevel.packet_view
_REFUSED = _lowlevel.BUFFER_REFUSED
_WRITE_TAKES = "write_packet takes a Packet or a bytes-like object"
_READ_TAKES = "read_packet takes a bytes-like object to read into"
_SLICE = _lowlevel.WAIT_SLICE_MS
_NUMBERS = (int, float)
_BODY = _lowlevel.BODY_MASK
_PROTO_SHIFT = _lowlevel.PROTO_SHIFT
_VERDICT_SHIFT = _lowlevel.VERDICT_SHIFT
# Another thread holds the queue's pending super-packet (offload queues): how
# long to let it finish before trying again.
_BUSY_PAUSE = 0.0005
_BUSY = -errno.EBUSY
_INVAL = -errno.EINVAL
# Makes a queue's scratch once, whichever thread reads first.
_SCRATCH_LOCK = threading.Lock()
# CPython reads into the storage of a bytes object and slices it; PyPy copies out.
_SLICED = platform.python_implementation() != "PyPy"


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


def follow_mtu(queue: weakref.ref[Queue]) -> MtuCallback:
    """A Link's MTU callback that keeps the queue's write limit in step (holding the
    queue weakly, so an unreferenced interface is still collected, and warned about,
    at once)."""

    def mtu_changed(mtu: int) -> None:
        target = queue()
        if target is not None:
            target._mtu_changed(mtu)

    return mtu_changed


class Queue:
    """The packet I/O of one open queue (the base of :class:`~tuntap_cffi.Interface`)."""

    def __init__(
        self,
        fd: int,
        wakefd: int,
        name: str,
        kind: DevKind,
        offload: Offload,
        lifetime: Lifetime,
        link: Link,
    ) -> None:
        self._fd, self._wakefd, self._name, self._kind = fd, wakefd, name, kind
        self._offload = offload
        self._lifetime = lifetime
        self._link = link
        # Entered and left through these, bound once: no extra frame per packet.
        self._enter = lifetime.enter
        self._leave = lifetime.leave
        self._write_limit = DEFAULT_WRITE_LIMIT
        self._memory = _lowlevel.new_queue(fd, wakefd, kind, offload.value, DEFAULT_WRITE_LIMIT)
        self._q = self._memory.c
        # read_packet()'s buffers: one per call in progress (list.pop and
        # append are atomic, so concurrent and re-entrant calls never share).
        self._scratch: list[_lowlevel.CData] = []
        # The scratch of read() (tt_queue_recv_next), made by the first read
        # (until then C answers -EINVAL): _bb its bytes object (CPython), _cbuf
        # its C view. Once made, neither ever changes.
        self._bb: bytes | None = None
        self._cbuf: _lowlevel.CData | None = None
        # Reads that sleep wait on an epoll fd of the queue's own (made by the
        # first one); the release of the fds closes it (_lowlevel.close_epoll).
        _lowlevel.allow_epoll(self._q)

    @property
    def write_limit(self) -> int:
        """The largest body :meth:`write_packet` accepts, in bytes (follows the MTU)."""
        return self._write_limit

    def _mtu_changed(self, mtu: int) -> None:
        """Take what an MTU of ``mtu`` lets through (never below the seed's limit)."""
        frame = ETH_HEADER_LEN + VLAN_TAG_LEN if self._kind == DevKind.TAP else 0
        self._write_limit = max(DEFAULT_WRITE_LIMIT, mtu + frame)
        self._q.write_limit = self._write_limit

    def _limit_grew(self) -> bool:
        """Re-read the MTU (``ip link set mtu`` may have raised it); True if the limit grew."""
        before = self._write_limit
        try:
            self._link.mtu  # noqa: B018 - reading it updates the write limit
        except OSError:
            return False
        return self._write_limit > before

    def _error(self, err: int, operation: str) -> Exception:
        """The exception for errno ``err`` of a packet call on this queue."""
        if err == errno.ECANCELED:
            return InterfaceClosedError(self._name, operation)
        area = "write" if err == errno.EIO and operation.startswith("write") else "device"
        return os_error(err, operation, self._name, area=area)

    def _retry(self, result: int, deadline: float | None, operation: str) -> int:
        """After a C call that did nothing: raise, or the wait slice to try again with."""
        if result == -errno.EBUSY:
            time.sleep(_BUSY_PAUSE)
        elif result not in RETRYABLE:
            raise self._error(-result, operation)
        if self._lifetime.closed:
            raise InterfaceClosedError(self._name, operation)
        wait = next_slice(deadline)
        if wait is None:
            raise TimeoutError(errno.ETIMEDOUT, f"{operation} on {self._name}: timed out")
        return wait

    # -- one packet ------------------------------------------------------------

    def read_packet(
        self, buffer: bytearray | memoryview | None = None, *, timeout: Timeout = None
    ) -> Packet:
        """Read one packet, waiting for it. Go: ReadPacket.

        Args:
            buffer: a writable, C-contiguous bytes-like object to read into
                (bytearray, array.array, mmap, a memoryview of one ...); the
                body is then a byte ``memoryview`` of it. A packet longer than
                the buffer is cut (a TUN packet so cut raises
                TruncatedPacketError). Without it the body is ``bytes`` and no
                packet is ever cut.
            timeout: seconds to wait at most; None waits for ever.

        Raises:
            TypeError: ``buffer`` is no such object (read-only, not contiguous ...).
            TimeoutError: nothing arrived within ``timeout``.
            InterfaceClosedError: closed before or during the wait.
            ShortReadError, TruncatedPacketError, NotIPPacketError: the seed's
                rules for what was read (see ``parse_packet``).
            OSError: the device failed (e.g. it was deleted).
        """
        if timeout is not None:
            return self._read_packet(buffer, deadline_of(timeout))
        if buffer is None:
            pool = self._scratch
            cbuf = pool.pop() if pool else _lowlevel.new_buffer(SCRATCH_SIZE)
            size = SCRATCH_SIZE
        elif type(buffer) is bytearray and buffer:
            cbuf = _from_buffer(buffer)
            size = len(buffer)
        else:
            return self._read_packet(buffer, None)
        lifetime = self._lifetime
        users = lifetime.users
        users.append("read_packet")
        try:
            if lifetime.closing:
                raise InterfaceClosedError(self._name, "read_packet")
            packed = _recv(self._q, cbuf, size, _SLICE)
            if packed < 0:
                packed = self._recv_waiting(cbuf, size, None, packed)
                if packed == -errno.ENOBUFS:
                    assert buffer is not None  # only a caller's buffer is too small
                    return self._read_cut(memoryview(buffer), None)
            if buffer is None:
                body: Body = _copy(cbuf, packed & _BODY)
                pool.append(cbuf)
            else:
                body = memoryview(buffer)[: packed & _BODY]
        finally:
            users.pop()
            if lifetime.closing:
                lifetime.left()
        if packed >> _VERDICT_SHIFT:
            return self._classified(body, packed)
        return Packet(body, (packed >> _PROTO_SHIFT) & 0xFFFF, self._kind)

    def _recv_waiting(
        self, buf: _lowlevel.CData, size: int, deadline: float | None, result: int
    ) -> int:
        """The wait loop of read_packet after a C call that read nothing: a packed
        classification, or -ENOBUFS (an offload segment longer than ``size``, still pending)."""
        while result < 0 and result != -errno.ENOBUFS:
            wait = self._retry(result, deadline, "read_packet")
            result = _recv(self._q, buf, size, wait)
        return result

    def _classified(self, body: Body, packed: int) -> Packet:
        """The Packet of a read the seed's rules did not take as it came (or its error)."""
        verdict, protocol, body_len = _lowlevel.unpack(packed)
        return packet_from_verdict(body, verdict, protocol, body_len, self._kind)

    def _read_packet(self, buffer: bytearray | memoryview | None, deadline: float | None) -> Packet:
        """read_packet with a buffer or a deadline."""
        if buffer is None:
            view = None
            size = SCRATCH_SIZE
            pool = self._scratch
            cbuf = pool.pop() if pool else _lowlevel.new_buffer(SCRATCH_SIZE)
        else:
            cbuf = _lowlevel.c_buffer(buffer, _READ_TAKES, writable=True)
            size = len(cbuf)
            if size == 0:
                raise ValueError("read_packet: the buffer is empty")
            view = memoryview(buffer).cast("B")  # C-contiguous: cbuf says so
        self._enter("read_packet")
        try:
            packed = self._recv_waiting(
                cbuf, size, deadline, _recv(self._q, cbuf, size, slice_ms(deadline))
            )
            if packed == -errno.ENOBUFS:
                assert view is not None
                return self._read_cut(view, deadline)
            body: Body = _copy(cbuf, packed & _BODY) if view is None else view[: packed & _BODY]
        finally:
            if view is None:
                pool.append(cbuf)
            self._leave()
        return self._classified(body, packed)

    def _read_cut(self, view: memoryview, deadline: float | None) -> Packet:
        """An offload segment longer than the caller's buffer: cut, as the kernel
        cuts a plain read that does not fit."""
        whole = self._read_packet(None, deadline)
        size = min(len(whole.body), len(view))
        view[:size] = whole.body[:size]
        verdict, protocol, body_len = _lowlevel.classify(view[:size], self._kind)
        return packet_from_verdict(view[:body_len], verdict, protocol, body_len, self._kind)

    def write_packet(self, packet: Writable, *, timeout: Timeout = None) -> None:
        """Write one packet (a Packet or its bytes). Go: WritePacket.

        The bytes may be in any C-contiguous bytes-like object (bytes,
        bytearray, memoryview, array.array, mmap ...), taken as its bytes.
        Waits while the device cannot take it (nothing is dropped silently).

        Raises:
            JumboPacketError: larger than :attr:`write_limit`; nothing written.
            NotIPPacketError: a TUN body that is not IPv4 or IPv6.
            TruncatedPacketError: a TAP frame shorter than an Ethernet header.
            TypeError: not a Packet or such an object (saying what was wrong:
                a ``str``, a non-contiguous memoryview ...).
            TimeoutError, InterfaceClosedError, OSError: as for read_packet.
        """
        body = packet.body if isinstance(packet, Packet) else packet
        if type(body) is not bytes or timeout is not None:
            self._write_packet(body, deadline_of(timeout))
            return
        size = len(body)
        lifetime = self._lifetime
        users = lifetime.users
        users.append("write_packet")
        try:
            if lifetime.closing:
                raise InterfaceClosedError(self._name, "write_packet")
            result = _send(self._q, body, size, _SLICE)
            if result < 0:
                result = self._send_waiting(body, body, size, None, result)
        finally:
            users.pop()
            if lifetime.closing:
                lifetime.left()
        if result != size:
            raise ShortWriteError(f"write_packet on {self._name}: wrote {result} of {size} bytes")

    def _write_packet(self, body: object, deadline: float | None) -> None:
        """write_packet of a buffer that is not ``bytes``, or with a deadline."""
        if isinstance(body, bytes):
            data: bytes | _lowlevel.CData = body
        else:
            try:
                data = _from_buffer(body)  # any C-contiguous buffer
            except _REFUSED:
                raise _lowlevel.buffer_refusal(body, _WRITE_TAKES) from None
        size = len(data)
        self._enter("write_packet")
        try:
            result = self._send_waiting(
                data, body, size, deadline, _send(self._q, data, size, slice_ms(deadline))
            )
        finally:
            self._leave()
        if result != size:
            raise ShortWriteError(f"write_packet on {self._name}: wrote {result} of {size} bytes")

    def _send_waiting(
        self,
        data: bytes | _lowlevel.CData,
        body: object,
        size: int,
        deadline: float | None,
        result: int,
        operation: str = "write_packet",
    ) -> int:
        """The wait loop of write_packet (or of write(): ``operation`` "write", its
        bytes as they are) after a C call that wrote nothing."""
        send = _send_bytes if operation == "write" else _send
        while result < 0:
            if result == -errno.EMSGSIZE and self._limit_grew():
                wait = slice_ms(deadline)
            elif result in (-errno.EMSGSIZE, -errno.EINVAL) and (
                refused := self._write_refusal(result, body, operation)
            ):
                raise refused
            else:
                wait = self._retry(result, deadline, operation)
            result = send(self._q, data, size, wait)
        return int(result)

    def _write_refusal(self, err: int, body: object, operation: str) -> Exception | None:
        """The exception for what the write rules refused in one write; None for
        another error. write()'s bytes are judged past a framed queue's headers."""
        if operation != "write":
            return self._refusal(err, None, body)
        q = self._q
        if err == -errno.EMSGSIZE or q.refused:
            view = cast("bytes | memoryview", body)
            return refusal(err, q.refused, q.framing, view, self._write_limit, self._name)
        return None

    def _refusal(self, err: int, refused: int | None, body: object) -> Exception | None:
        """The exception for a packet the write rules (in C) refused; None for another error.

        ``refused`` is the rule's TT_PKT_* verdict (a batch's status says it);
        None for a single send, whose -EINVAL can only be this kind's rule.
        ``body``: a Packet or any buffer the rules took.
        """
        if isinstance(body, Packet):
            body = body.body
        if not isinstance(body, (bytes, bytearray)):  # any other buffer: as its bytes
            body = memoryview(body).cast("B")  # type: ignore[arg-type]
        size = len(body)
        if err == -errno.EMSGSIZE:
            return JumboPacketError(
                f"jumbo packet too large for /dev/tun: {size} bytes > {self._write_limit} "
                f"({self._name})"
            )
        if err != -errno.EINVAL:
            return None
        if refused is None:
            refused = _lowlevel.PKT_NOT_IP if self._kind == DevKind.TUN else _lowlevel.PKT_TRUNCATED
        if refused == _lowlevel.PKT_NOT_IP:
            return NotIPPacketError()
        if refused == _lowlevel.PKT_TRUNCATED:
            return TruncatedPacketError(
                f"Ethernet frame is truncated: {size} bytes < {ETH_HEADER_LEN}",
                Packet(body, 0, self._kind),
            )
        return None

    @functools.cached_property
    def _coalescing(self) -> bool:
        """write_batch's default: coalesce on an offload device (found once)."""
        return bool(self._offload)

    @property
    def pending(self) -> bool:
        """True when a segmenting read left a super-packet in the queue (some or all of
        its segments not read yet): the fd no longer shows them, so read again before
        waiting for it. A read never starts a super-packet in a batch without room for
        all its segments, so a batch that is not full may leave one."""
        return self._q.rx_len != 0

    def read_batch(
        self, batch: PacketBatch, *, segment: bool | None = None, timeout: Timeout = None
    ) -> int:
        """Read every packet that is ready, up to ``batch.capacity``, in one call into C.

        Waits like :meth:`read_packet` for the first; a malformed packet is
        reported by its slot (``batch.errors()``) and does not stop the rest.
        On an offload device super-packets are split into ordinary packets
        (``segment=True``, the default; one starts only in a batch with room for
        all its segments, else it waits in the queue, :attr:`pending`; one with
        more segments than the batch has slots continues in the next read);
        ``segment=False`` keeps each as the kernel
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
        # The common read (into a batch ready for this device, segmenting on an
        # offload one) goes straight to C, with any timeout; no wait (timeout 0,
        # a poller's case) says 0 at once when nothing is ready.
        poll = timeout == 0 and type(timeout) in _NUMBERS
        ready = None
        if type(batch) is PacketBatch and (
            segment is None or (segment is True and self._coalescing)
        ):
            ready = batch.ready_for_reading(self._kind, self._write_limit)
        if ready is not None:
            deadline = None if timeout is None or poll else deadline_of(timeout)
            lifetime = self._lifetime
            users = lifetime.users
            users.append("read_batch")
            try:
                if lifetime.closing:
                    raise InterfaceClosedError(self._name, "read_batch")
                result = _read(self._q, ready, 0, 0 if poll else slice_ms(deadline))
                if result < 0:
                    if poll and result in RETRYABLE and not lifetime.closing:
                        return 0
                    if poll:
                        deadline = deadline_of(timeout)
                    result = self._read_waiting(ready, 0, deadline, result)
                return result
            finally:
                users.pop()
                if lifetime.closing:
                    lifetime.left()
        if not isinstance(batch, PacketBatch):
            raise TypeError(f"read_batch takes a PacketBatch, not {type(batch).__name__}")
        raw = raw_reads(segment, self._offload, self._name)
        slots = batch.slots_for_reading(self._kind, self._write_limit, self._name, raw)
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
            ready = None
            if type(packets) is PacketBatch:
                ready = packets.ready_for_writing(self._kind)
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

    # -- the bytes path: one packet as os.read and os.write move it ------------
    #
    # read(), readinto() and write(): no Packet, no classification, the write
    # rules checked in C (csrc/queue.c, the bytes calls); the waits, timeouts,
    # close() and Ctrl-C are read_packet's and write_packet's. A framed queue
    # (bytes_io.py) reads and writes its headers as they are; an offload queue
    # gives one segment per read. The common case (no timeout, a packet ready)
    # is one C call with as few arguments as it can have, between entering and
    # leaving the usage count inline as the packet calls do: a read takes the
    # whole packet into the queue's scratch (tt_queue_recv_next, one argument)
    # and Python copies out as many bytes as were asked for (a slice of the
    # scratch on CPython, whose storage it is); a write passes three.

    def scratch(self) -> tuple[bytes | None, _lowlevel.CData]:
        """The queue's scratch (bytes object, C view), made now if it was not yet."""
        with _SCRATCH_LOCK:
            if self._cbuf is None:
                self._bb, self._cbuf = _lowlevel.add_scratch(self._q, SCRATCH_SIZE)
        return self._bb, self._cbuf

    def read(self, size: int = READ_SIZE, *, timeout: Timeout = None) -> bytes:
        """Read one packet's bytes, as ``os.read(fd, size)`` would give them,
        waiting for it.

        A packet longer than ``size`` is cut (as the kernel cuts it);
        ``size`` 0 reads nothing and returns ``b""`` at once. On an
        offload queue one segment per call, as :meth:`read_packet` gives
        them.

        Raises:
            TypeError, ValueError: ``size`` is not an int >= 0.
            TimeoutError: nothing arrived within ``timeout``.
            InterfaceClosedError: closed before or during the wait.
            OSError: the device failed (e.g. it was deleted).
        """
        if timeout is not None or type(size) is not int or size <= 0:
            return self._read_slow(size, timeout)
        # No usage count here: the C call counts itself in the queue's gate
        # (tt_queue_shut/tt_queue_drain), which close() shuts and the release
        # of the fds waits on; once shut it answers -ECANCELED.
        n = _recv_next(self._q)
        if 0 <= n <= size:
            return self._bb[:n] if _SLICED else _copy(self._cbuf, n)  # type: ignore[index, arg-type]
        return self._next_rest(size, n)

    def _scratch_bytes(self, n: int) -> bytes:
        """The first ``n`` bytes of the scratch, as a new ``bytes``."""
        data, view = self.scratch()
        return _copy(view, n) if data is None else data[:n]

    def _next_rest(self, size: int, result: int) -> bytes:
        """A scratch read that did not give ``size`` bytes or fewer at once: a packet
        to cut, the wait loop, or (another thread holds the scratch) a read into a
        buffer of the pool. ``size`` > 0; each C call here counts itself (the gate)."""
        while result < 0:
            if result == _BUSY:
                return self._read_slow(size, None)
            if result == _INVAL and self._cbuf is None:
                self.scratch()  # the first read: the scratch is made now
            else:
                self._retry(result, None, "read")  # raises, unless it is worth trying again
            result = _recv_next(self._q)
        return self._cut(self._scratch_bytes(result), size)

    def _cut(self, data: bytes, size: int) -> bytes:
        """``data`` as a read of ``size`` bytes gives it (:func:`.bytes_io.cut`); EINVAL
        where the kernel refuses such a read."""
        part = cut(data, size, int(self._q.framing))
        if part is None:
            raise self._error(errno.EINVAL, "read")
        return part

    def _read_slow(self, size: object, timeout: Timeout) -> bytes:
        """read() with a timeout, of nothing, or of a size that is not a plain int."""
        size = check_size(size)
        deadline = deadline_of(timeout)
        if size == 0:
            self._bytes_call(0, None, deadline, "read")
            return b""
        pool = self._scratch
        cbuf = pool.pop() if pool else _lowlevel.new_buffer(SCRATCH_SIZE)
        n = self._bytes_call(SCRATCH_SIZE, cbuf, deadline, "read")
        data: bytes = _copy(cbuf, n)
        pool.append(cbuf)
        return self._cut(data, size)

    def _bytes_call(
        self, size: int, cbuf: _lowlevel.CData | None, deadline: float | None, operation: str
    ) -> int:
        """One read of at most ``size`` bytes into ``cbuf`` (SCRATCH_SIZE bytes), waiting
        until ``deadline``, inside the usage count; the bytes read."""
        buf = _lowlevel.NULL if cbuf is None else cbuf
        self._enter(operation)
        try:
            n = _recv_bytes(self._q, buf, size, slice_ms(deadline))
            while n < 0:
                wait = self._retry(n, deadline, operation)
                n = _recv_bytes(self._q, buf, size, wait)
        finally:
            self._leave()
        return int(n)

    def readinto(self, buffer: bytearray | memoryview, *, timeout: Timeout = None) -> int:
        """Read one packet's bytes into ``buffer`` (any writable bytes-like object),
        as ``os.readv(fd, [buffer])`` would; the number of bytes read.

        A packet longer than the buffer is cut; an empty buffer reads nothing
        (0 at once). Waits, timeouts and errors as for :meth:`read`.

        Raises:
            TypeError: ``buffer`` is not a writable bytes-like object.
        """
        try:
            view = _lowlevel.view_of(buffer, require_writable=True)
        except (TypeError, BufferError):
            kind = type(buffer).__name__
            raise TypeError(f"readinto needs a writable bytes-like object, not {kind}") from None
        size = len(view)
        deadline = deadline_of(timeout)
        if size == 0:
            self._bytes_call(0, None, deadline, "readinto")
            return 0
        if self._offload or self._q.framing:
            # A segment to cut, or headers to mark as cut: as read() does.
            data = self._cut(self._read_slow(SCRATCH_SIZE, timeout), size)
            _lowlevel.ffi.memmove(view, data, len(data))
            return len(data)
        return self._bytes_call(size, view, deadline, "readinto")

    def write(self, data: bytes | bytearray | memoryview, *, timeout: Timeout = None) -> int:
        """Write one packet's bytes as they are; the number of bytes written.

        The write rules of :meth:`write_packet` are checked first, in C:
        nothing is written when one refuses the packet. Waits while the
        device cannot take it (nothing is dropped silently).

        Raises:
            JumboPacketError: larger than :attr:`write_limit`.
            NotIPPacketError: a TUN packet that is not IPv4 or IPv6.
            TruncatedPacketError: a TAP frame shorter than an Ethernet header
                (or data shorter than the headers the queue's fd expects).
            TypeError: not a bytes-like object.
            TimeoutError, InterfaceClosedError, OSError: as for :meth:`read`.
        """
        if type(data) is not bytes or timeout is not None:
            return self._write_slow(data, deadline_of(timeout))
        # Counted by the C call itself, as read() is.
        n = _send_now(self._q, data, len(data))
        if n < 0:
            n = self._send_waiting(data, data, len(data), None, n, "write")
        return n

    def _write_slow(self, data: object, deadline: float | None) -> int:
        """write() of a buffer that is not ``bytes``, or with a deadline."""
        if isinstance(data, bytes):
            c: bytes | _lowlevel.CData = data
            body: bytes | memoryview = data
        else:
            try:
                body = memoryview(data).cast("B")  # type: ignore[arg-type]
            except TypeError:
                raise TypeError(
                    f"write takes a bytes-like object, not {type(data).__name__}"
                ) from None
            c = _lowlevel.view_of(body)
        size = len(body)
        self._enter("write")
        try:
            n = _send_bytes(self._q, c, size, slice_ms(deadline))
            if n < 0:
                n = self._send_waiting(c, body, size, deadline, n, "write")
        finally:
            self._leave()
        return int(n)

    # -- what the python-pytun drop-in sets ------------------------------------

    @property
    def framing(self) -> int:
        """The headers this queue's fd puts before every packet (``FRAME_*`` bits; 0: none)."""
        return int(self._q.framing)

    def _set_framing(self, framing: int) -> None:
        """Say which headers the fd was attached with (``tuntap_cffi.pytun`` only):
        the packet calls then take them off and put them on, the bytes calls pass them."""
        if framing & ~(_lowlevel.FRAME_PI | _lowlevel.FRAME_VNET) or (framing and self._offload):
            raise ValueError(f"framing {framing:#x} is not for this queue")
        self._q.framing = framing
