"""The bytes path of a queue: one packet as ``os.read`` and ``os.write`` move it.

``read`` gives the bytes of one packet, ``readinto`` puts them into any
writable buffer, ``write`` writes bytes as they are: no :class:`Packet`, no
classification, the write rules checked in C (``csrc/queue.c``, the bytes
calls). The waits, timeouts, ``close()`` and Ctrl-C are those of
``read_packet`` and ``write_packet``: waits in C of at most one slice, a
close seen between them. A queue whose fd puts headers before every packet
(packet information, a virtio-net header: only the python-pytun drop-in,
``tuntap_cffi.pytun``, opens one) reads and writes them as they are; an
offload queue gives one segment per read, as ``read_packet`` does.

The per-packet cost is what the issue of being a drop-in for a C extension
is about, so the common case (no timeout, a packet ready) is one C call with
as few arguments as it can have: the usage count is kept in C (atomics in
``struct tt_queue``: no Python list per call), a read takes the whole packet
into the queue's scratch (``tt_queue_recv_next``, one argument) and Python
copies out as many bytes as were asked for (a slice of the scratch on
CPython, whose storage it is); a write passes three. A call on a closed
queue gets -ECANCELED from C before it touches an fd, which the wait loop
turns into :class:`InterfaceClosedError`.
"""

from __future__ import annotations

import errno
import operator
import platform
import sys
import threading
from typing import Any, SupportsIndex, cast

from .. import _lowlevel
from ..errors import JumboPacketError, NotIPPacketError, TruncatedPacketError
from ..packets.packet import ETH_HEADER_LEN, DevKind, Packet
from ..timeouts import Timeout, deadline_of, slice_ms
from .queue import SCRATCH_SIZE, Queue

__all__ = ["READ_SIZE", "BytesQueue", "frame_len"]

# What read() asks for unless told: room for any IP packet.
READ_SIZE = 65536

_recv = _lowlevel.queue_recv_bytes
_recv_next = _lowlevel.queue_recv_next
_send = _lowlevel.queue_send_bytes
_send_now = _lowlevel.queue_send_now
_copy = _lowlevel.copy_bytes
_view = _lowlevel.view_of
_new_buffer = _lowlevel.new_buffer
_NOBUFS = -errno.ENOBUFS
_BUSY = -errno.EBUSY
_INVAL = -errno.EINVAL
# Makes a queue's scratch once, whichever thread reads first.
_SCRATCH_LOCK = threading.Lock()
_EMPTY = b""
# CPython reads into the storage of a bytes object and slices it; PyPy copies out.
_SLICED = platform.python_implementation() != "PyPy"


def frame_len(framing: int) -> int:
    """How many bytes of headers a queue of ``framing`` has before each packet."""
    return (_lowlevel.PI_LEN if framing & _lowlevel.FRAME_PI else 0) + (
        _lowlevel.VNET_HDR_LEN if framing & _lowlevel.FRAME_VNET else 0
    )


def _check_size(size: object) -> int:
    """read()'s size: an int >= 0 (or any integer type's value, as ``os.read`` takes)."""
    try:
        value = operator.index(cast(SupportsIndex, size))
    except TypeError:
        raise TypeError(f"read size must be an int, not {type(size).__name__}") from None
    if value < 0:
        raise ValueError(f"read size must be >= 0, not {value}")
    return value


class BytesQueue(Queue):
    """The bytes calls of one open queue (a base of :class:`~tuntap_cffi.Interface`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The scratch tt_queue_recv_next reads into, made by the first read
        # (until then C answers -EINVAL): _bb is its bytes object (CPython),
        # _cbuf its C view. Once made, neither ever changes.
        self._bb: bytes | None = None
        self._cbuf: _lowlevel.CData | None = None

    def scratch(self) -> tuple[bytes | None, _lowlevel.CData]:
        """The queue's scratch (bytes object, C view), made now if it was not yet."""
        with _SCRATCH_LOCK:
            if self._cbuf is None:
                self._bb, self._cbuf = _lowlevel.add_scratch(self._q, SCRATCH_SIZE)
        return self._bb, self._cbuf

    if _SLICED:

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
            if timeout is None and type(size) is int and size > 0:
                n = _recv_next(self._q)
                if 0 <= n <= size:
                    return self._bb[:n]  # type: ignore[index]
                return self._next_rest(size, n)
            return self._read_slow(size, timeout)

    else:

        def read(self, size: int = READ_SIZE, *, timeout: Timeout = None) -> bytes:
            """Read one packet's bytes, as ``os.read(fd, size)`` would give them,
            waiting for it (see the CPython definition above)."""
            if timeout is None and type(size) is int and size > 0:
                n = _recv_next(self._q)
                if 0 <= n <= size:
                    return _copy(self._cbuf, n)  # type: ignore[arg-type]
                return self._next_rest(size, n)
            return self._read_slow(size, timeout)

    def _scratch_bytes(self, n: int) -> bytes:
        """The first ``n`` bytes of the scratch, as a new ``bytes``."""
        data, view = self.scratch()
        return _copy(view, n) if data is None else data[:n]

    def _next_rest(self, size: int, result: int) -> bytes:
        """A scratch read that did not give ``size`` bytes or fewer at once: a packet
        to cut, the wait loop, or (another thread holds the scratch) a read into a
        buffer of the pool. ``size`` > 0."""
        while result < 0:
            if result == _BUSY:
                return self._read_slow(size, None)
            if result == _INVAL and self._cbuf is None:
                self.scratch()  # the first read: the scratch is made now
            else:
                self._retry(result, None, "read")  # raises, unless it is worth trying again
            result = _recv_next(self._q)
        return self.cut(self._scratch_bytes(result), size)

    def cut(self, data: bytes, size: int) -> bytes:
        """What a read of ``size`` bytes gives of a packet read whole: the bytes the
        kernel would have put in ``size`` bytes, and an error where it would have
        refused (room for less than the headers of a framed queue)."""
        if len(data) <= size:
            return data
        framing = int(self._q.framing)
        if size < frame_len(framing):
            raise self._error(errno.EINVAL, "read")  # the kernel drops the packet too
        if framing & _lowlevel.FRAME_PI:
            # The packet information says the kernel cut the packet (TUN_PKT_STRIP,
            # in its flags' host byte order).
            flags = int.from_bytes(data[:2], sys.byteorder) | _lowlevel.PI_STRIP
            return flags.to_bytes(2, sys.byteorder) + data[2:size]
        return data[:size]

    def _read_slow(self, size: object, timeout: Timeout) -> bytes:
        """read() with a timeout, of nothing, or of a size that is not a plain int."""
        size = _check_size(size)
        deadline = deadline_of(timeout)
        if size == 0:
            self._bytes_call(0, None, deadline, "read")
            return _EMPTY
        pool = self._scratch
        cbuf = pool.pop() if pool else _new_buffer(SCRATCH_SIZE)
        n = self._bytes_call(SCRATCH_SIZE, cbuf, deadline, "read")
        data: bytes = _copy(cbuf, n)
        pool.append(cbuf)
        return self.cut(data, size)

    def _bytes_call(
        self, size: int, cbuf: _lowlevel.CData | None, deadline: float | None, operation: str
    ) -> int:
        """One read of at most ``size`` bytes into ``cbuf`` (SCRATCH_SIZE bytes), waiting
        until ``deadline``; the bytes read."""
        buf = _lowlevel.NULL if cbuf is None else cbuf
        n = _recv(self._q, buf, size, slice_ms(deadline))
        while n < 0:
            wait = self._retry(n, deadline, operation)
            n = _recv(self._q, buf, size, wait)
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
            view = _view(buffer, require_writable=True)
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
            data = self.cut(self._read_slow(SCRATCH_SIZE, timeout), size)
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
        if type(data) is bytes and timeout is None:
            n = _send_now(self._q, data, len(data))
            if n >= 0:
                return n
            return self._send_waiting_bytes(data, data, len(data), None, n)
        return self._write_slow(data, deadline_of(timeout))

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
            c = _view(body)
        size = len(body)
        n = _send(self._q, c, size, slice_ms(deadline))
        if n < 0:
            n = self._send_waiting_bytes(c, body, size, deadline, n)
        return int(n)

    def _send_waiting_bytes(
        self,
        c: bytes | _lowlevel.CData,
        body: bytes | memoryview,
        size: int,
        deadline: float | None,
        result: int,
    ) -> int:
        """The wait loop of write() after a C call that wrote nothing."""
        while result < 0:
            if result == -errno.EMSGSIZE and self._limit_grew():
                wait = slice_ms(deadline)
            elif result == -errno.EMSGSIZE or (result == -errno.EINVAL and self._q.refused):
                raise self._bytes_refusal(result, body)
            else:
                wait = self._retry(result, deadline, "write")
            result = _send(self._q, c, size, wait)
        return int(result)

    def _bytes_refusal(self, err: int, body: bytes | memoryview) -> Exception:
        """The exception for bytes the write rules refused (``q.refused`` says which)."""
        size = len(body)
        if err == -errno.EMSGSIZE:
            return JumboPacketError(
                f"jumbo packet too large for /dev/tun: {size} bytes > {self._write_limit} "
                f"({self._name})"
            )
        if self._q.refused == _lowlevel.PKT_NOT_IP:
            return NotIPPacketError()
        head = frame_len(int(self._q.framing))
        if size < head:
            return TruncatedPacketError(
                f"write on {self._name}: {size} bytes, shorter than the {head} bytes of "
                "headers each packet carries on this queue"
            )
        return TruncatedPacketError(
            f"Ethernet frame is truncated: {size - head} bytes < {ETH_HEADER_LEN}",
            Packet(bytes(body[head:]), 0, DevKind.TAP),
        )

    # -- what the python-pytun drop-in sets --------------------------------------------

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
