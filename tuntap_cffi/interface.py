"""``Interface``: one open TUN/TAP device and its packet I/O; ``open()`` makes one.

Every packet call takes the fd through the interface's usage count
(:class:`~tuntap_cffi.lifetime.Lifetime`): ``close()`` marks the interface
closed and fires its wake-up fd, and the fds are really closed by whoever is
the last one out. So a reader blocked in another thread returns at once, and
no call can ever touch an fd number that was closed and re-used by something
else. The configuration is the interface's :class:`~tuntap_cffi.Link`.
"""

from __future__ import annotations

import errno
import math
import threading
import time
import warnings
import weakref
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Callable, Optional, Union, cast

from . import _lowlevel, devices
from .addresses import AddressLike, IPInterface, SubnetLike
from .batch import MAX_CAPACITY, PacketBatch
from .channel import Channel
from .devices import CLONE_DEVICE
from .errors import (
    InterfaceClosedError,
    JumboPacketError,
    NotIPPacketError,
    ShortWriteError,
    TruncatedPacketError,
    TunTapError,
    hint_for,
    os_error,
)
from .lifetime import Lifetime
from .link import Link, MtuCallback
from .netlink import Netlink
from .netns import NetnsLike
from .offload import NONE, Offload
from .packet import (
    ETH_HEADER_LEN,
    VLAN_TAG_LEN,
    Body,
    DevKind,
    Packet,
    as_kind,
    byte_view,
    packet_from_verdict,
)

if TYPE_CHECKING:
    from ._native import TTBatch, TTPackets, TTWriteStatus

__all__ = ["CLONE_DEVICE", "DEFAULT_WRITE_LIMIT", "Interface", "open", "open_queues"]

DEFAULT_WRITE_LIMIT = 1600  # the Go seed's limit, raised with the MTU
# Big enough for any packet a device without offloads delivers (64 KiB IP
# packet plus Ethernet header and two VLAN tags), so nothing is cut short.
SCRATCH_SIZE = 65536 + 64

Timeout = Optional[float]
Writable = Union[Packet, bytes, bytearray, memoryview]

_thread_state = threading.local()
# Read buffers not in use. list.pop and append are atomic, so every call
# (another thread's, or a re-entrant one from a signal handler) takes a
# buffer of its own; there are never more than calls reading at once.
_scratch_pool: list[_lowlevel.CData] = []


def _take_scratch() -> _lowlevel.CData:
    """A read buffer for this call alone."""
    return _scratch_pool.pop() if _scratch_pool else _lowlevel.new_buffer(SCRATCH_SIZE)


def _give_back_scratch(buf: _lowlevel.CData) -> None:
    _scratch_pool.append(buf)


def _deadline(timeout: Timeout) -> float | None:
    """Validate a timeout (None or seconds >= 0) and turn it into a monotonic deadline."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be None or a number of seconds, not {timeout!r}")
    if math.isnan(timeout) or timeout < 0:
        raise ValueError(f"timeout must be None or >= 0, not {timeout!r}")
    return time.monotonic() + timeout


def _slice_ms(deadline: float | None) -> int:
    """How long the next wait in C may last, in ms: short enough for Ctrl-C."""
    if deadline is None:
        return _lowlevel.WAIT_SLICE_MS
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return 0
    return min(_lowlevel.WAIT_SLICE_MS, math.ceil(remaining * 1000))


def _release(fd: int, wakefd: int, name: str, channel: Channel) -> None:
    """What the last one out of an Interface closes: its socket, namespace fd and fds."""
    channel.release()
    _lowlevel.close_fd(fd, name)
    _lowlevel.close_fd(wakefd, name)


def _follow_mtu(interface: weakref.ref[Interface]) -> MtuCallback:
    """The Link's MTU callback: the interface's write limit follows (held weakly,
    so an unreferenced Interface is still collected, and warned about, at once)."""

    def mtu_changed(mtu: int) -> None:
        iface = interface()
        if iface is not None:
            iface._mtu_changed(mtu)

    return mtu_changed


class Interface:
    """An open TUN or TAP device. Go: Interface.

    Create one with :func:`open`. Usable as a context manager; closing it
    destroys a non-persistent device. The configuration methods (addresses,
    MTU, link state, IPv6 controls) are those of its :attr:`link`.
    """

    def __init__(
        self,
        fd: int,
        wakefd: int,
        name: str,
        kind: DevKind,
        *,
        multi_queue: bool = False,
        netlink: Netlink | None = None,
        netns_fd: int = -1,
        offload: Offload = NONE,
    ) -> None:
        self._fd = fd
        self._wakefd = wakefd
        self._name = name
        self._kind = kind
        self._write_limit = DEFAULT_WRITE_LIMIT
        self._multi_queue = multi_queue
        lifetime = Lifetime(
            name,
            lambda: _release(fd, wakefd, name, channel),
            wake=lambda: _lowlevel.wake(wakefd, name),
        )
        channel = Channel(name, lifetime, netlink, netns_fd)
        self._lifetime = lifetime
        # The packet calls enter and leave the lifetime through these, bound
        # once: no extra Python frame per packet.
        self._enter: Callable[[str], None] = lifetime.enter
        self._leave: Callable[[], None] = lifetime.leave
        self._link = Link.of_device(channel, kind, _follow_mtu(weakref.ref(self)))
        self._init_offload(offload)

    # -- identity ---------------------------------------------------------

    @property
    def name(self) -> str:
        """The device's name, as the kernel chose it from the pattern. Go: Name."""
        return self._name

    @property
    def kind(self) -> DevKind:
        """``DevKind.TUN`` or ``DevKind.TAP``."""
        return self._kind

    @property
    def link(self) -> Link:
        """The device's configuration (addresses, MTU, link state, IPv6), closed with it."""
        return self._link

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._lifetime.closed

    @property
    def _closing(self) -> bool:
        return self._lifetime.closed

    @property
    def write_limit(self) -> int:
        """The largest body :meth:`write_packet` accepts, in bytes."""
        return self._write_limit

    @property
    def offload(self) -> Offload:
        """The offload features the kernel accepted (empty: not an offload device)."""
        return self._offload

    def fileno(self) -> int:
        """The device fd (non-blocking), e.g. for ``select`` or an event loop."""
        self._lifetime.check_open("fileno")
        return self._fd

    def __repr__(self) -> str:
        state = "closed" if self._closing else f"fd={self._fd}"
        return f"<Interface {self._name} {self._kind.name} {state}>"

    # -- lifetime: see lifetime.py ------------------------------------------

    def close(self) -> None:
        """Close the device; wakes every call blocked on it. Go: Close.

        Calls waiting in other threads raise :class:`InterfaceClosedError`.
        Closing twice is harmless.
        """
        self._lifetime.close()

    def __enter__(self) -> Interface:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_closing", True):
            return
        warnings.warn(f"unclosed interface {self._name}", ResourceWarning, stacklevel=2)
        self.close()

    def _mtu_changed(self, mtu: int) -> None:
        """Let write_packet take what an MTU of ``mtu`` lets through (never below the seed's)."""
        frame = ETH_HEADER_LEN + VLAN_TAG_LEN if self._kind == DevKind.TAP else 0
        self._write_limit = max(DEFAULT_WRITE_LIMIT, mtu + frame)

    def _error(self, err: int, operation: str) -> Exception:
        if err == errno.ECANCELED:
            return InterfaceClosedError(self._name, operation)
        area = "write" if err == errno.EIO and operation.startswith("write") else "device"
        return os_error(err, operation, self._name, area=area)

    # -- configuration: the link's (see link.py) ------------------------------

    def add_address(
        self, ip: AddressLike, subnet: SubnetLike = None, *, nodad: bool = False
    ) -> None:
        """Assign an address to the interface. Go: AddAddress.

        The forms it takes and its errors: :meth:`Link.add_address`.
        """
        self._link.add_address(ip, subnet, nodad=nodad)

    def del_address(self, ip: AddressLike, subnet: SubnetLike = None) -> None:
        """Remove an address; without a prefix, whatever prefix it has."""
        self._link.del_address(ip, subnet)

    def get_addr_list(self) -> list[bytes]:
        """Every address of the interface as raw bytes (4 IPv4, 16 IPv6). Go: GetAddrList."""
        return self._link.get_addr_list()

    def addresses(self) -> list[IPInterface]:
        """Every address of the interface with its prefix, as ``ip_interface`` objects."""
        return self._link.addresses()

    @property
    def ifindex(self) -> int:
        """The interface index the kernel gave the device (asked afresh: it may be gone)."""
        return self._link.ifindex

    @property
    def mtu(self) -> int:
        """The link MTU (also sets :attr:`write_limit` to match it)."""
        return self._link.mtu

    def set_mtu(self, mtu: int) -> None:
        """Set the link MTU; raises the write limit with it. Go: SetMTU.

        Checked and refused as :meth:`Link.set_mtu` says.
        """
        self._link.set_mtu(mtu)

    def up(self) -> None:
        """Set the link up. Go: Up."""
        self._link.up()

    def down(self) -> None:
        """Set the link down."""
        self._link.down()

    @property
    def is_up(self) -> bool:
        """True when the link is administratively up (IFF_UP)."""
        return self._link.is_up

    @property
    def txqueuelen(self) -> int:
        """The transmit queue length: packets the kernel holds for us before dropping."""
        return self._link.txqueuelen

    def set_txqueuelen(self, length: int) -> None:
        """Set the transmit queue length (0..2**32-1 packets)."""
        self._link.set_txqueuelen(length)

    @property
    def hwaddr(self) -> str:
        """The TAP device's MAC address, ``"aa:bb:cc:dd:ee:ff"``."""
        return self._link.hwaddr

    def set_hwaddr(self, mac: str | bytes) -> None:
        """Set the TAP device's MAC address (``"02:00:5e:00:53:01"`` or 6 bytes)."""
        self._link.set_hwaddr(mac)

    def set_ipv6(self, enabled: bool) -> None:
        """Enable or disable IPv6 on the device (``disable_ipv6``, inverted). Go: IPv6."""
        self._link.set_ipv6(enabled)

    def set_ipv6_forwarding(self, enabled: bool) -> None:
        """Enable or disable IPv6 forwarding on the device. Go: IPv6Forwarding."""
        self._link.set_ipv6_forwarding(enabled)

    def set_ipv6_slaac(self, enabled: bool) -> None:
        """Enable or disable stateless address autoconfiguration. Go: IPv6SLAAC."""
        self._link.set_ipv6_slaac(enabled)

    # -- packets ----------------------------------------------------------

    def _wait_loop_failed(self, result: int, deadline: float | None, operation: str) -> int:
        """After a failed C call: raise, or return the next wait slice to retry with."""
        if result != -errno.EAGAIN and result != -errno.EINTR:
            raise self._error(-result, operation)
        if self._closing:
            raise InterfaceClosedError(self._name, operation)
        slice_ms = _slice_ms(deadline)
        if slice_ms == 0:
            raise TimeoutError(errno.ETIMEDOUT, f"{operation} on {self._name}: timed out")
        return slice_ms

    def _recv(self, buf: _lowlevel.CData, size: int, deadline: float | None) -> int:
        """The wait loop of read_packet: a packed classification, or -ENOBUFS (an
        offload segment longer than ``size``, still pending)."""
        slice_ms = _slice_ms(deadline)
        queue = self._queue
        while True:
            result = _lowlevel.queue_recv(queue, buf, size, slice_ms)
            if result >= 0 or result == -errno.ENOBUFS:
                return result
            slice_ms = self._wait_loop_failed(result, deadline, "read_packet")

    def read_packet(
        self, buffer: bytearray | memoryview | None = None, *, timeout: Timeout = None
    ) -> Packet:
        """Read one packet, waiting for it. Go: ReadPacket.

        Args:
            buffer: a writable bytes-like object to read into; the returned
                body is then a ``memoryview`` into it (no copy). A packet
                longer than the buffer is cut by the kernel (and a TUN packet
                so cut raises TruncatedPacketError). Without it the body is
                ``bytes`` and no packet is ever cut.
            timeout: seconds to wait at most; None waits for ever.

        Raises:
            TimeoutError: nothing arrived within ``timeout``.
            InterfaceClosedError: closed before or during the wait.
            ShortReadError, TruncatedPacketError, NotIPPacketError: the
                seed's rules for what was read (see ``parse_packet``).
            OSError: the device failed (e.g. it was deleted).
        """
        deadline = _deadline(timeout)
        if buffer is not None:
            view = byte_view(buffer, "read_packet")
            if view.readonly:
                raise TypeError("read_packet needs a writable buffer, not a read-only one")
            if len(view) == 0:
                raise ValueError("read_packet: the buffer is empty")
            cbuf = _lowlevel.from_buffer(view, writable=True)
        if self._offload:
            return self._read_offload_packet(None if buffer is None else view, deadline)
        self._enter("read_packet")
        try:
            if buffer is None:
                scratch = _take_scratch()
                try:
                    packed = self._recv(scratch, SCRATCH_SIZE, deadline)
                    verdict, protocol, body_len = _lowlevel.unpack(packed)
                    body: Body = _lowlevel.copy_out(scratch, body_len)
                finally:
                    _give_back_scratch(scratch)
            else:
                packed = self._recv(cbuf, len(view), deadline)
                verdict, protocol, body_len = _lowlevel.unpack(packed)
                body = view[:body_len]
        finally:
            self._leave()
        return packet_from_verdict(body, verdict, protocol, body_len, self._kind)

    def _limit_grew(self) -> bool:
        """Re-read the MTU (someone may have raised it with ip(8)); True if the
        write limit grew. Only called for a packet over the limit."""
        before = self._write_limit
        try:
            self.mtu  # noqa: B018 - reading it updates the write limit
        except OSError:
            return False
        return self._write_limit > before

    def write_packet(self, packet: Writable, *, timeout: Timeout = None) -> None:
        """Write one packet (a Packet or its bytes). Go: WritePacket.

        Waits while the device cannot take it (nothing is dropped silently).

        Raises:
            JumboPacketError: larger than :attr:`write_limit`; nothing written.
            NotIPPacketError: a TUN body that is not IPv4 or IPv6.
            TruncatedPacketError: a TAP frame shorter than an Ethernet header.
            TypeError: not a Packet or bytes-like object.
            TimeoutError, InterfaceClosedError, OSError: as for read_packet.
        """
        body = packet.body if isinstance(packet, Packet) else packet
        if isinstance(body, bytes):
            data: bytes | _lowlevel.CData = body
        elif isinstance(body, (bytearray, memoryview)):
            body = memoryview(body).cast("B")
            data = _lowlevel.from_buffer(body, writable=False)
        else:
            raise TypeError(
                f"write_packet takes a Packet or a bytes-like object, not {type(body).__name__}"
            )
        deadline = _deadline(timeout)
        size = len(body)
        self._enter("write_packet")
        try:
            queue = self._queue
            queue.write_limit = self._write_limit
            slice_ms = _slice_ms(deadline)
            while True:
                result = _lowlevel.queue_send(queue, data, size, slice_ms)
                if result >= 0:
                    break
                if result == -errno.EMSGSIZE or result == -errno.EINVAL:
                    if result == -errno.EMSGSIZE and self._limit_grew():
                        queue.write_limit = self._write_limit
                        continue
                    refused = self._refused(result, queue.refused, body)
                    if refused is not None:
                        raise refused
                slice_ms = self._wait_loop_failed(result, deadline, "write_packet")
        finally:
            self._leave()
        if result != size:
            raise ShortWriteError(f"write_packet on {self._name}: wrote {result} of {size} bytes")

    def _refused(self, err: int, refused: int, body: Body) -> Exception | None:
        """The exception for a packet the write rules (in C) refused; None for another error."""
        if err == -errno.EMSGSIZE:
            size = len(memoryview(body).cast("B"))
            return JumboPacketError(
                f"jumbo packet too large for /dev/tun: {size} bytes > {self._write_limit} "
                f"({self._name})"
            )
        if refused == _lowlevel.PKT_NOT_IP:
            return NotIPPacketError()
        if refused == _lowlevel.PKT_TRUNCATED:
            size = len(memoryview(body).cast("B"))
            return TruncatedPacketError(
                f"Ethernet frame is truncated: {size} bytes < {ETH_HEADER_LEN}",
                Packet(body, 0, self._kind),
            )
        return None

    # -- batches (issue 4) ------------------------------------------------

    def _largest_packet(self) -> int:
        """The longest packet a read can deliver (MTU plus link header).

        The write limit is kept at least that large, so it stands for it.
        """
        return self._write_limit

    def read_batch(
        self, batch: PacketBatch, *, segment: bool | None = None, timeout: Timeout = None
    ) -> int:
        """Read every packet that is ready, up to ``batch.capacity``, in one call into C.

        Waits like :meth:`read_packet` until at least one packet is ready.
        The packets are then in ``batch`` (``batch[i]``, ``batch.packet(i)``);
        a malformed one is reported by its slot and does not stop the rest.

        On an offload device (``open(..., offload=True)``) super-packets are
        split in C into ordinary packets with correct headers and checksums
        (``segment=True``, the default; a super-packet with more segments than
        free slots continues in the next read, nothing is lost). With
        ``segment=False`` each slot holds one (super-)packet as the kernel
        gave it: ``batch[i]`` is the packet, ``batch.vnet_header(i)`` its
        virtio-net header, and ``write_batch(batch)`` to another offload
        device relays both as they are. A malformed super-packet takes one
        slot, reported as an ``OSError`` (EBADMSG, EMSGSIZE, EPROTONOSUPPORT).

        Returns:
            The number of packets read, 1..capacity; 0 only when ``timeout``
            passed with nothing ready.

        Raises:
            ValueError: the batch's slots are too small for this device, or
                ``segment`` given for a device without offloads.
            TypeError: ``batch`` is not a PacketBatch, ``segment`` not a bool.
            InterfaceClosedError, OSError: as for read_packet.
        """
        if not isinstance(batch, PacketBatch):
            raise TypeError(f"read_batch takes a PacketBatch, not {type(batch).__name__}")
        if segment is not None:
            self._check_offload_option("segment", segment, "read_batch")
        if self._offload:
            return self._read_batch_vnet(batch, segment is not False, timeout)
        deadline = None if timeout is None else _deadline(timeout)
        largest = self._largest_packet()
        cbatch = batch._c
        if cbatch is None or batch._kind is not self._kind or (batch._slot_size or 0) <= largest:
            cbatch = batch._for_reading(self._kind, largest, self._name)
        return self._read_batch_loop(cbatch, deadline)

    def _read_batch_loop(self, cbatch: TTBatch, deadline: float | None, raw: int = 0) -> int:
        """The wait loop of read_batch; ``raw``: an offload device's header + packet slots."""
        self._enter("read_batch")
        try:
            slice_ms = _lowlevel.WAIT_SLICE_MS if deadline is None else _slice_ms(deadline)
            queue = self._queue
            while True:
                result = _lowlevel.queue_read(queue, cbatch, raw, slice_ms)
                if result >= 0:
                    return result
                try:
                    slice_ms = self._wait_loop_failed(result, deadline, "read_batch")
                except TimeoutError:
                    return 0
        finally:
            self._leave()

    def read_packets(self, max_packets: int = 64, *, timeout: Timeout = None) -> list[Packet]:
        """Read up to ``max_packets`` ready packets as a list of Packets (bodies copied).

        Waits like :meth:`read_packet`; returns ``[]`` when ``timeout`` passed
        with nothing ready. Malformed packets are left out: use
        :meth:`read_batch` and ``PacketBatch.errors()`` to see them.
        """
        if isinstance(max_packets, bool) or not isinstance(max_packets, int):
            raise TypeError(f"max_packets must be an int, not {type(max_packets).__name__}")
        if not 1 <= max_packets <= MAX_CAPACITY:
            raise ValueError(f"max_packets must be between 1 and {MAX_CAPACITY}, not {max_packets}")
        batch: PacketBatch | None = getattr(_thread_state, "batch", None)
        if batch is None or batch.capacity != max_packets:
            batch = _thread_state.batch = PacketBatch(max_packets)
        if self.read_batch(batch, timeout=timeout) == 0:
            return []
        return [Packet(bytes(p.body), p.protocol, p.kind) for p in batch.packets()]

    def write_batch(
        self,
        packets: PacketBatch | Iterable[Writable],
        *,
        coalesce: bool | None = None,
        timeout: Timeout = None,
    ) -> int:
        """Write packets in order in one call into C; returns how many were written.

        On an offload device every packet gets an empty virtio-net header,
        and (``coalesce=True``, the default there) consecutive TCP segments
        of one flow that the kernel's GRO would merge are written as one
        super-packet; the count still counts the packets given. A batch read
        with ``segment=False`` is relayed as it is (headers included).

        Args:
            packets: a PacketBatch (its well-formed packets are forwarded as
                they are, without a copy: a relay) or an iterable of Packets
                and bytes-like objects (written without a copy).
            coalesce: merge TCP segments (offload devices only; default on).
            timeout: seconds to wait at most while the device cannot take more.

        Raises:
            TypeError: an item is not a Packet or bytes-like (nothing written),
                ``coalesce`` not a bool.
            ValueError: a batch read from another kind of device, a raw
                offload batch for a device without offloads, or ``coalesce``
                given for a device without offloads.
            JumboPacketError, NotIPPacketError, TruncatedPacketError,
            TimeoutError, InterfaceClosedError, OSError: the batch stopped at
                a packet: the exception is that packet's (as write_packet
                raises it), with ``.written``, how many packets went out
                before it, and ``.index``, its position in ``packets`` (its
                slot for a batch).
        """
        if coalesce is not None:
            self._check_offload_option("coalesce", coalesce, "write_batch")
        merge = bool(self._offload) and coalesce is not False
        deadline = None if timeout is None else _deadline(timeout)
        return self._write_batch_from(packets, 0, deadline, merge)

    def _write_batch_from(
        self,
        packets: PacketBatch | Iterable[Writable],
        start: int,
        deadline: float | None,
        merge: bool,
    ) -> int:
        """write_batch from position ``start`` (a slot for a batch): for resuming a
        stopped batch, as AsyncInterface does after waiting for room. ``merge``:
        coalesce TCP segments (offload devices)."""
        if isinstance(packets, PacketBatch):
            if packets._raw and not self._offload:
                raise ValueError(
                    f"write_batch on {self._name}: the batch holds virtio-net headers "
                    "(read with segment=False); only a device opened with offload=True takes it"
                )
            slots = packets._for_writing(self._kind, self._name)
            if slots is None:
                return self._write_nothing()
            coalesce = merge and not packets._raw
            return self._write_many(slots, packets._status, deadline, packets, start, coalesce)
        try:
            bodies = [item.body if isinstance(item, Packet) else item for item in packets]
        except TypeError:
            raise TypeError(
                "write_batch takes a PacketBatch or an iterable of packets, "
                f"not {type(packets).__name__}"
            ) from None
        try:
            views = [_lowlevel.view_of(body) for body in bodies]
        except TypeError:
            raise _not_writable(bodies) from None
        if not views:
            return self._write_nothing()
        # The arrays stay referenced here until the write is done.
        source, _bufs, _lens = _lowlevel.packet_arrays(views)
        status = _lowlevel.new_write_status()
        return self._write_many(source, status, deadline, bodies, start, merge)

    def _write_nothing(self) -> int:
        if self._closing:
            raise InterfaceClosedError(self._name, "write_batch")
        return 0

    def _write_many(
        self,
        packets: TTPackets,
        status: TTWriteStatus,
        deadline: float | None,
        source: PacketBatch | Sequence[Body],
        start: int = 0,
        coalesce: bool = False,
    ) -> int:
        """The write loop of write_batch: ``packets`` (what ``source`` holds) from
        position ``start``."""
        written = 0
        queue = self._queue
        self._enter("write_batch")
        # Coalescing builds in the queue's one buffer: a write that finds it in
        # use (another thread's) goes without merging rather than waiting.
        merging = coalesce and self._tx_lock.acquire(blocking=False)
        try:
            queue.write_limit = self._write_limit
            slice_ms = _lowlevel.WAIT_SLICE_MS if deadline is None else _slice_ms(deadline)
            while True:
                result = _lowlevel.queue_write(queue, packets, start, merging, slice_ms, status)
                if result < 0:
                    raise self._error(-result, "write_batch")
                written += result
                err = status.error
                if err == 0:
                    return written
                start = status.next
                if err == -errno.EMSGSIZE and self._limit_grew():
                    queue.write_limit = self._write_limit
                    continue
                if err == -errno.EAGAIN or err == -errno.EINTR:
                    slice_ms = self._wait_loop_failed(err, deadline, "write_batch")
                    continue
                raise self._packet_write_error(status, source)
        except (TunTapError, OSError) as exc:
            _batch_stopped(exc, written, start)
            raise
        finally:
            if merging:
                self._tx_lock.release()
            self._leave()

    def _packet_write_error(
        self, status: TTWriteStatus, source: PacketBatch | Sequence[Body]
    ) -> Exception:
        """The exception write_packet would raise for the packet the batch stopped at."""
        body = source[status.next]
        refused = self._refused(status.error, status.refused, body)
        if refused is not None:
            return refused
        if status.error == -errno.EIO and status.partial:
            size = len(memoryview(body).cast("B"))
            return ShortWriteError(
                f"write_batch on {self._name}: wrote {status.partial} of {size} bytes"
            )
        return self._error(-status.error, "write_batch")

    # -- operating the device: persistence, queues (issue 6) --------------

    @property
    def multi_queue(self) -> bool:
        """True for a queue of a multi-queue device (made by :func:`open_queues`)."""
        return self._multi_queue

    def _device_call(
        self,
        operation: str,
        call: Callable[[int], int],
        area: str = "",
        hints: dict[int, str] | None = None,
    ) -> None:
        """Run one ioctl on the device fd, held through the usage count.

        A refusal is explained by the errors.HINTS of ``area``, or by
        ``hints`` (those that depend on more than the errno), or as any
        failure of the device fd.
        """
        self._enter(operation)
        try:
            result = call(self._fd)
        finally:
            self._leave()
        if result < 0:
            hint = (hints or {}).get(-result) or hint_for(-result, area)
            if not hint:
                raise self._error(-result, operation)
            raise os_error(-result, operation, self._name, hint=hint)

    def set_persist(self, persist: bool) -> None:
        """Keep the device when its last fd closes (True), or let it go then (False).

        TUNSETPERSIST. A persistent device stays, with its addresses, until
        ``set_persist(False)`` and the last close, or ``ip link delete``.
        """
        if not isinstance(persist, bool):
            raise TypeError(f"set_persist takes True or False, not {persist!r}")
        self._device_call("set_persist", lambda fd: _lowlevel.set_persist(fd, persist))

    def _check_multi_queue(self, operation: str) -> None:
        if self._closing:
            raise InterfaceClosedError(self._name, operation)
        if not self._multi_queue:
            raise ValueError(
                f"{operation} on {self._name}: not a queue of a multi-queue device "
                "(open one with tuntap.open_queues())"
            )

    def detach_queue(self) -> None:
        """Take this queue out of the device's rotation (TUNSETQUEUE, IFF_DETACH_QUEUE).

        The kernel then spreads every flow over the other queues; this one
        receives nothing (its reads wait or time out) until :meth:`attach_queue`.
        Packets it still held are dropped.

        Raises:
            ValueError: not a queue of a multi-queue device.
            OSError: (EINVAL) the queue is detached already.
        """
        self._check_multi_queue("detach_queue")
        self._device_call("detach_queue", lambda fd: _lowlevel.set_queue(fd, False), "detach-queue")

    def attach_queue(self) -> None:
        """Put a detached queue back into the device's rotation (IFF_ATTACH_QUEUE).

        Raises:
            ValueError: not a queue of a multi-queue device.
            OSError: (EINVAL) the queue is attached already; (E2BIG) the device
                has the most queues the kernel allows.
        """
        self._check_multi_queue("attach_queue")
        self._device_call(
            "attach_queue",
            lambda fd: _lowlevel.set_queue(fd, True),
            "attach-queue",
            {errno.E2BIG: devices.FULL_HINT},
        )

    # -- offloads (issue 5) -----------------------------------------------

    def _init_offload(self, offload: Offload) -> None:
        self._offload = offload
        # The state of this queue in C, passed first to every I/O call.
        self._queue_memory = _lowlevel.new_queue(
            self._fd, self._wakefd, self._kind, offload.value, self._write_limit
        )
        self._queue = self._queue_memory.c
        # One segmenting read at a time: the super-packet pending in the queue
        # continues in the next read (read_packet's or read_batch's).
        self._rx_lock = threading.Lock()
        # One coalescing write at a time builds in the queue's buffer.
        self._tx_lock = threading.Lock()

    def _check_offload_option(self, option: str, value: object, operation: str) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"{operation}: {option} must be a bool, not {type(value).__name__}")
        if not self._offload:
            raise ValueError(
                f"{operation} on {self._name}: {option}= applies only to a device "
                "opened with offload=True"
            )

    def _read_batch_vnet(self, batch: PacketBatch, segment: bool, timeout: Timeout) -> int:
        """read_batch on an offload device: segmented slots, or raw header + packet slots."""
        deadline = None if timeout is None else _deadline(timeout)
        cbatch = batch._for_reading(self._kind, self._largest_packet(), self._name, not segment)
        with self._rx_lock:
            return self._read_batch_loop(cbatch, deadline, int(not segment))

    def _read_offload_packet(self, view: memoryview | None, deadline: float | None) -> Packet:
        """read_packet on an offload device: the next segment of the pending super-packet.

        One call into C, which reads a new super-packet when none is pending,
        so no segment is lost between calls (nor between read_packet and
        read_batch).
        """
        self._enter("read_packet")
        try:
            with self._rx_lock:
                if view is not None:
                    packed = self._recv(_lowlevel.from_buffer(view, True), len(view), deadline)
                    if packed != -errno.ENOBUFS:
                        verdict, protocol, body_len = _lowlevel.unpack(packed)
                        body: Body = view[:body_len]
                        return packet_from_verdict(body, verdict, protocol, body_len, self._kind)
                scratch = _take_scratch()
                try:
                    packed = self._recv(scratch, SCRATCH_SIZE, deadline)
                    verdict, protocol, body_len = _lowlevel.unpack(packed)
                    body = _lowlevel.copy_out(scratch, body_len)
                finally:
                    _give_back_scratch(scratch)
        finally:
            self._leave()
        if view is None:
            return packet_from_verdict(body, verdict, protocol, body_len, self._kind)
        # Longer than the caller's buffer: cut, as the kernel cuts a plain read.
        size = min(body_len, len(view))
        view[:size] = body[:size]
        verdict, protocol, body_len = _lowlevel.classify(view[:size], self._kind)
        return packet_from_verdict(view[:body_len], verdict, protocol, body_len, self._kind)


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


def _batch_stopped(exc: Exception, written: int, index: int) -> Exception:
    """Tell the caller of write_batch exactly what went out before ``exc`` stopped it."""
    exc.written = written  # type: ignore[attr-defined]
    exc.index = index  # type: ignore[attr-defined]
    return exc


def _check_offload_kind(offload: object, kind: DevKind, name: str) -> None:
    if not isinstance(offload, bool):
        raise TypeError(f"offload must be a bool, not {type(offload).__name__}")
    if offload and kind != DevKind.TUN:
        raise ValueError(f"offload=True is for TUN devices only, not {kind.name} ({name})")


def _interfaces(device: devices.Attached, kind: DevKind, multi_queue: bool) -> list[Interface]:
    """Wrap what devices.attach opened: one Interface per queue."""
    return [
        Interface(
            fd,
            wakefd,
            device.name,
            kind,
            multi_queue=multi_queue,
            netlink=device.netlink if i == 0 else None,
            netns_fd=netns_fd,
            offload=Offload(device.offload),
        )
        for i, (fd, wakefd, netns_fd) in enumerate(
            zip(device.fds, device.wakefds, device.netns_fds)
        )
    ]


def open(  # noqa: A001 - the seed's name
    name: str,
    kind: DevKind = DevKind.TUN,
    *,
    persist: bool = False,
    owner: int | str | None = None,
    group: int | str | None = None,
    netns: NetnsLike | None = None,
    offload: bool = False,
) -> Interface:
    """Create a TUN/TAP device, or attach to a persistent one. Go: Open.

    Args:
        name: an exact name (``"tun42"``) or a pattern with one ``%d``
            (``"tun%d"``) for the kernel to number.
        kind: ``DevKind.TUN`` (IP packets) or ``DevKind.TAP`` (Ethernet frames).
        offload: speak virtio-net headers (``IFF_VNET_HDR``) and take TCP
            and UDP super-packets (TUN only); ``Interface.offload`` says
            which features the kernel accepted.
        persist: make the device persistent: it stays when the last fd
            closes (False leaves a device as it is: a new one is not
            persistent, an existing persistent one stays so).
        owner, group: a uid/gid or a user/group name. Set on the device
            (TUNSETOWNER, TUNSETGROUP), they let that user (and members of
            that group) attach to it later without CAP_NET_ADMIN.
        netns: create (or find) the device in another network namespace: a
            name (``/run/netns/NAME``, as ``ip netns`` makes them), a path
            such as ``/proc/PID/ns/net``, or an open fd of one. The calling
            thread stays in its own namespace; the interface's configuration
            methods act in the device's.

    Raises:
        ValueError, TypeError: a bad name, kind, owner, group or netns
            (checked before any system call; a netns that is not a network
            namespace is a ValueError).
        FileNotFoundError: no /dev/net/tun (the ``tun`` module is not
            loaded), or no such namespace.
        PermissionError: no CAP_NET_ADMIN, or not the device's owner (the
            message says whose it is).
        DeviceBusyError: another process holds the device.
        DeviceMismatchError: the name belongs to another kind of device, or
            to a multi-queue one (the message names the difference).
        ValueError: ``offload=True`` for a TAP device.
        OSError: the kernel refused virtio-net headers or offloads.
    """
    kind = as_kind(kind)
    name = devices.validate_name(name)
    _check_offload_kind(offload, kind, name)
    device = devices.attach(
        name,
        kind,
        1,
        False,
        persist=persist,
        owner=owner,
        group=group,
        netns_target=netns,
        offload=offload,
    )
    return _interfaces(device, kind, False)[0]


def open_queues(
    name: str,
    kind: DevKind = DevKind.TUN,
    *,
    count: int,
    persist: bool = False,
    owner: int | str | None = None,
    group: int | str | None = None,
    netns: NetnsLike | None = None,
    offload: bool = False,
) -> list[Interface]:
    """Open ``count`` queues of a multi-queue device (IFF_MULTI_QUEUE).

    The kernel spreads flows over the queues by their hash, so one reader
    per queue (thread or process) shares the load. Every queue is a full
    :class:`Interface`; the configuration methods of any of them act on the
    one device, and closing one queue leaves the others working. Another
    process can add queues of its own by calling this with the device's name.

    Args:
        count: 1..256 queues (the kernel's limit, MAX_TAP_QUEUES, counts the
            queues other processes have attached too).
        name, kind, persist, owner, group, netns: as for :func:`open`.
        offload: as for :func:`open`, on every queue (each one's ``offload``
            says what the kernel accepted).

    Raises:
        ValueError, TypeError: a bad count, or as for :func:`open`.
        DeviceMismatchError: the device exists without IFF_MULTI_QUEUE, is
            of another kind, or its queues use headers this library does
            not read (or lack the virtio-net headers ``offload=True`` needs).
        OSError: (E2BIG) the device has 256 queues already; or as for :func:`open`.
    """
    kind = as_kind(kind)
    name = devices.validate_name(name)
    count = devices.check_count(count)
    _check_offload_kind(offload, kind, name)
    device = devices.attach(
        name,
        kind,
        count,
        True,
        persist=persist,
        owner=owner,
        group=group,
        netns_target=netns,
        offload=offload,
    )
    return _interfaces(device, kind, True)
