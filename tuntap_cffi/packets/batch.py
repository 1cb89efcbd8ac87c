"""``PacketBatch``: reusable memory for many packets per call into C.

A batch is ``capacity`` fixed-size slots in one buffer that Python allocates
once, plus one packed classification per slot (``csrc/queue.c`` fills both).
``Interface.read_batch`` fills it in one crossing; ``Interface.write_batch``
can forward it as it is to another device, so a relay moves packets without
a Python object per packet. Reading a slot gives a zero-copy ``memoryview``
that stays valid until the next read into the batch.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .. import _lowlevel
from ..errors import TunTapError
from .packet import DevKind, Packet, packet_from_verdict

if TYPE_CHECKING:
    from .._lowlevel import UdpRx
    from .._native import TTBatch, TTPackets, TTWriteStatus
    from .offload import Offload

__all__ = ["DEFAULT_CAPACITY", "MAX_BATCH_BYTES", "MIN_SLOT_SIZE", "PacketBatch"]

DEFAULT_CAPACITY = 64
MAX_CAPACITY = _lowlevel.BATCH_MAX_CAPACITY
# Big enough for a 64 KiB IP packet plus an Ethernet header and VLAN tags.
MAX_SLOT_SIZE = _lowlevel.BATCH_MAX_SLOT
# Smaller slots could not hold an IPv6 header and a little payload.
MIN_SLOT_SIZE = 64
# One batch's slots together; guards against a typo allocating gigabytes.
MAX_BATCH_BYTES = 64 * 1024 * 1024
# Slots are rounded up to this so that each starts aligned.
SLOT_ALIGN = 64


def slot_size_for(largest_packet: int) -> int:
    """The default slot for a device whose largest packet is ``largest_packet`` bytes.

    One byte more than the largest packet, so that a slot that comes back
    full can only mean a cut packet; rounded up for alignment.
    """
    return -(-(largest_packet + 1) // SLOT_ALIGN) * SLOT_ALIGN


def _check_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    return value


class PacketBatch:
    """Slots for up to ``capacity`` packets of ``slot_size`` bytes, allocated once.

    ``slot_size=None`` sizes the slots, at the first read, from what that
    interface can deliver (and again if that grows). ``len(batch)`` is the
    number of packets the last ``read_batch`` put in it; ``batch[i]`` is a
    zero-copy ``memoryview`` of packet ``i`` (for a malformed one, every byte
    that arrived); ``batch.packet(i)`` applies ``read_packet``'s rules to slot
    ``i``; ``batch.errors()`` lists the malformed ones. A batch is not
    thread-safe.
    """

    __slots__ = (
        "_buf",
        "_c",
        "_capacity",
        "_kind",
        "_packets",
        "_raw",
        "_results",
        "_sent",
        "_sent_part",
        "_sized_by_default",
        "_slot_size",
        "_status",
        "_udp",
        "_udp_sized",
        "_view",
    )

    def __init__(self, capacity: int = DEFAULT_CAPACITY, slot_size: int | None = None) -> None:
        capacity = _check_int(capacity, "capacity")
        if not 1 <= capacity <= MAX_CAPACITY:
            raise ValueError(f"capacity must be between 1 and {MAX_CAPACITY}, not {capacity}")
        if slot_size is not None:
            slot_size = _check_int(slot_size, "slot_size")
            if not MIN_SLOT_SIZE <= slot_size <= MAX_SLOT_SIZE:
                raise ValueError(
                    f"slot_size must be between {MIN_SLOT_SIZE} and {MAX_SLOT_SIZE}, "
                    f"not {slot_size}"
                )
            _check_total(capacity, slot_size)
        self._capacity = capacity
        self._slot_size = slot_size
        self._sized_by_default = slot_size is None
        self._kind: DevKind | None = None
        self._raw = False
        self._c: TTBatch | None = None
        self._packets: TTPackets | None = None
        self._buf: _lowlevel.CData | None = None
        self._results: _lowlevel.CData | None = None
        self._view: memoryview | None = None
        self._status = _lowlevel.new_write_status()
        # Which slots went out ahead of their turn, merged with their flow: a
        # write resumed at a stopped one's index passes over them.
        self._sent = _lowlevel.add_sent_marks(self._status, capacity)
        # A raw batch's udp_send_batch that stopped inside a super-packet: its
        # slot and the segments of it that went (a send resumed there skips
        # them). Any read or receive into the batch forgets it.
        self._sent_part: tuple[int, int] | None = None
        # udp_recv_batch's state: each slot's source, and staged messages.
        self._udp: _lowlevel.UdpRx | None = None
        # The largest datagram the slots were last made ready for (0: not
        # ready): a receive into a batch as it is skips the checks.
        self._udp_sized = 0
        if slot_size is not None:
            self._allocate(slot_size)

    def _allocate(self, slot_size: int) -> None:
        self._c, self._buf, self._results = _lowlevel.new_batch(
            self._capacity, slot_size, _lowlevel.KIND_TUN
        )
        # A read into the batch clears the marks of the slots it fills (in C).
        self._c.sent = self._sent
        if self._udp is not None:  # receives leave datagrams in place, as before
            self._c.where = self._udp.where
        self._packets = _lowlevel.batch_packets(self._c)
        self._view = _lowlevel.buffer_view(self._buf)
        self._slot_size = slot_size
        self._udp_sized = 0

    # -- the C view, for the library's readers and writers -------------------

    def ready_for_reading(self, kind: DevKind, largest: int) -> TTBatch | None:
        """The C batch when a plain read from a device of ``kind`` (whose packets
        are at most ``largest`` bytes) can fill it as it is: read_batch's common
        case. None when it must be sized or checked first
        (:meth:`slots_for_reading`)."""
        if self._raw or self._kind is not kind:
            return None
        return self._c if (self._slot_size or 0) > largest else None

    def slots_for_reading(self, kind: DevKind, largest: int, name: str, raw: int) -> TTBatch:
        """The C batch a read from device ``name`` fills; checks the slots can hold
        its packets of up to ``largest`` bytes (``raw``: header + 64 KiB slots).

        A batch sized by default is sized (again) here: at its first read,
        if the device's largest packet outgrew its slots (a raised MTU), and
        when it goes from raw offload slots to ordinary ones.
        """
        if not raw:
            ready = self.ready_for_reading(kind, largest)
            if ready is not None:
                return ready
        c = self._c
        if raw:
            largest = _lowlevel.VNET_HDR_LEN + _lowlevel.GSO_MAX
        shrink = self._raw and not raw and self._sized_by_default
        if c is None or shrink or (self._sized_by_default and (self._slot_size or 0) <= largest):
            slot_size = slot_size_for(largest)
            _check_total(self._capacity, slot_size)
            self._allocate(slot_size)
            c = self._c
            assert c is not None
            self._kind = None
        elif self._slot_size is not None and self._slot_size <= largest:
            raise ValueError(
                f"read_batch on {name}: slot_size {self._slot_size} cannot hold the "
                f"{largest}-byte packets the device can deliver "
                f"(use at least {largest + 1}, or slot_size=None)"
            )
        if kind != self._kind:
            c.kind = kind
            self._kind = kind
        self._hold_raw(bool(raw))
        return c

    def _hold_raw(self, raw: bool) -> None:
        """Say whether the slots hold raw offload reads, in the C view that writes
        send too: a write that takes the batch as it is (:meth:`ready_for_writing`)
        must not read the packets of a later plain read as header + packet."""
        self._raw = raw
        self._sent_part = None
        if self._packets is not None:
            self._packets.raw = raw

    def ready_for_writing(self, kind: DevKind | None) -> tuple[TTPackets, TTWriteStatus] | None:
        """The slots and status when a write to a device of ``kind`` can send them as
        they are: write_batch's common case (a relay). None otherwise."""
        if self._kind is kind and not self._raw and self._packets is not None:
            return self._packets, self._status
        return None

    def slots_for_writing(self, kind: DevKind, offload: Offload, name: str) -> TTPackets | None:
        """The slots a write to device ``name`` sends; None when the batch holds none."""
        if self._raw and not offload:
            raise ValueError(
                f"write_batch on {name}: the batch holds virtio-net headers "
                "(read with segment=False); only a device opened with offload=True takes it"
            )
        c, packets = self._c, self._packets
        if c is None or packets is None or c.count == 0:
            return None
        if self._kind != kind:
            assert self._kind is not None
            raise ValueError(
                f"write_batch on {name}: a batch read from a {self._kind.name} device "
                f"cannot be written to a {kind.name} device"
            )
        packets.raw = self._raw
        return packets

    def sent_segments(self, slot: int) -> int:
        """The segments of raw slot ``slot`` that a udp_send_batch stopped inside it
        sent already (0 for a slot no send stopped in): where a send resumed
        at that slot begins.

        Raises:
            IndexError: ``slot`` outside ``0 <= slot <= len(batch)``.
        """
        slot = _check_int(slot, "slot")
        if not 0 <= slot <= len(self):
            raise IndexError(f"sent_segments: slot {slot} is outside the batch's 0..{len(self)}")
        part = self._sent_part
        return part[1] if part is not None and part[0] == slot else 0

    def note_sent_part(self, slot: int, segments: int) -> None:
        """Remember that a udp_send_batch stopped after ``segments`` segments of raw
        slot ``slot`` (0: at a slot's start, nothing to remember)."""
        self._sent_part = (slot, segments) if segments else None

    @property
    def write_status(self) -> TTWriteStatus:
        """Where the last write of the batch stopped (allocated once, with it)."""
        return self._status

    def slots_for_udp(self, largest: int, kind: DevKind | None) -> tuple[TTBatch, UdpRx]:
        """The C batch and receive state that udp_recv_batch fills (slots sized by
        default for datagrams of ``largest`` bytes, as far as MAX_BATCH_BYTES allows)."""
        c, udp = self._c, self._udp
        if kind is None and self._udp_sized == largest and udp and c and not self._raw:
            return c, udp  # as the last receive left it: no check to make again
        room = MAX_BATCH_BYTES // self._capacity // SLOT_ALIGN * SLOT_ALIGN
        slot = min(slot_size_for(largest), room)
        if self._c is None or (self._sized_by_default and (self._slot_size or 0) < slot):
            self._allocate(slot)
        c = self._c
        assert c is not None
        kind = kind or self._kind or DevKind.TUN
        c.kind = self._kind = kind
        self._hold_raw(False)
        if self._udp is None:
            self._udp = _lowlevel.new_udp_rx(c, self._capacity)
        self._udp_sized = largest
        return c, self._udp

    # -- the sequence of packets ------------------------------------------

    @property
    def capacity(self) -> int:
        """How many packets one read can put in the batch."""
        return self._capacity

    @property
    def slot_size(self) -> int | None:
        """Bytes per slot; None until the first read sizes it."""
        return self._slot_size

    @property
    def kind(self) -> DevKind | None:
        """The kind of device the batch was last read from (None before the first read)."""
        return self._kind

    def __len__(self) -> int:
        c = self._c
        return 0 if c is None else int(c.count)

    def _index(self, index: int) -> int:
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"batch indices must be integers, not {type(index).__name__}")
        count = len(self)
        if index < 0:
            index += count
        if not 0 <= index < count:
            raise IndexError(f"batch index out of range (the batch holds {count} packets)")
        return index

    def _body(self, index: int, packed: int) -> memoryview:
        assert self._view is not None and self._slot_size is not None and self._c is not None
        length = 0 if packed < 0 else packed & _lowlevel.BODY_MASK
        udp = self._udp
        if udp is not None and self._c.in_place:  # where udp_recv_batch left it
            start = udp.where[index]
            return udp.view[start : start + length]
        start = index * self._slot_size
        if self._raw:
            start += _lowlevel.VNET_HDR_LEN
        return self._view[start : start + length]

    @property
    def staged(self) -> bool:
        """True when ``udp_recv_batch`` took datagrams from the socket that the batch
        holds for its next receive (a GRO'd run waits for a batch with room for all of
        it): the socket's fd no longer says they are there, so receive again first."""
        udp = self._udp
        return udp is not None and udp.c.head < udp.c.count

    @property
    def raw(self) -> bool:
        """True when the last read was ``read_batch(batch, segment=False)``: raw offload slots."""
        return self._raw

    def segments(self, start: int = 0, stop: int | None = None) -> int:
        """The packets slots ``start``..``stop`` (default: all) carry, counted in C.

        For a raw offload batch, each super-packet's segments, as the segmenting
        read or ``udp_send_batch`` makes them (one for a packet without GSO, or
        one that does not parse); otherwise one a slot. A malformed slot (see
        :meth:`errors`) carries none. A raw batch sent by ``udp_send_batch``
        counts slots (``.written``, ``.index``): this says how many datagrams
        those were, e.g. ``batch.segments(0, sent)`` for a send from the start.

        Raises:
            IndexError: a range outside ``0 <= start <= stop <= len(batch)``.
        """
        count = len(self)
        stop = count if stop is None else _check_int(stop, "stop")
        start = _check_int(start, "start")
        if not 0 <= start <= stop <= count:
            raise IndexError(f"segments: {start}..{stop} is outside the batch's 0..{count} packets")
        if start == stop or self._c is None:
            return 0
        found = _lowlevel.batch_segments(self._c, int(self._raw), start, stop)
        assert found >= 0, f"tt_batch_segments: {found}"
        return int(found)

    def vnet_header(self, index: int) -> memoryview:
        """The virtio-net header (10 bytes) before packet ``index`` of a raw offload read.

        ``batch[index]`` is the (super-)packet after it. All zeros for a
        segment of a super-packet that an earlier segmenting read had begun
        to hand out (a raw read finishes it first).

        Raises:
            ValueError: the last read was not ``read_batch(batch, segment=False)``.
        """
        index = self._index(index)
        if not self._raw:
            raise ValueError(
                "vnet_header: the batch holds no virtio-net headers "
                "(only read_batch(batch, segment=False) on an offload device keeps them)"
            )
        assert self._view is not None and self._slot_size is not None
        start = index * self._slot_size
        return self._view[start : start + _lowlevel.VNET_HDR_LEN]

    def address(self, index: int) -> tuple[str, int]:
        """(host, port) that datagram ``index`` came from (a batch ``udp_recv_batch`` filled).

        Raises:
            ValueError: the last read into the batch was not ``udp_recv_batch``.
        """
        index = self._index(index)
        if self._udp is None or self._c is None or self._c.origin != _lowlevel.ORIGIN_UDP:
            raise ValueError("address: the batch was not filled by udp_recv_batch")
        return _lowlevel.slot_address(self._udp.addrs, index)

    def __getitem__(self, index: int) -> memoryview:
        """A zero-copy view of packet ``index`` (valid until the next read into the batch)."""
        index = self._index(index)
        assert self._results is not None
        return self._body(index, int(self._results[index]))

    def __iter__(self) -> Iterator[memoryview]:
        for index in range(len(self)):
            yield self[index]

    def packet(self, index: int) -> Packet:
        """Packet ``index``, validated as ``read_packet`` does; its body is a zero-copy view.

        Raises:
            IndexError, TypeError: a bad index.
            ShortReadError, TruncatedPacketError, NotIPPacketError: the
                seed's error for a malformed packet in that slot. A slot that
                came back full is reported truncated: it may have been cut.
        """
        index = self._index(index)
        assert self._results is not None and self._kind is not None
        packed = int(self._results[index])
        if packed < 0:
            raise _lowlevel.os_error(-packed, "read_batch", f"slot {index}")
        verdict, protocol, body_len = _lowlevel.unpack(packed)
        return packet_from_verdict(
            self._body(index, packed), verdict, protocol, body_len, self._kind
        )

    def packets(self) -> list[Packet]:
        """The well-formed packets in order (zero-copy views); :meth:`errors` has the rest."""
        if self._c is None or self._c.bad == 0:
            return [self.packet(index) for index in range(len(self))]
        found = []
        for index in range(len(self)):
            try:
                found.append(self.packet(index))
            except (TunTapError, OSError):
                continue
        return found

    def errors(self) -> list[tuple[int, Exception]]:
        """(slot index, exception) for every malformed packet of the last read; usually empty."""
        if self._c is None or self._c.bad == 0:
            return []
        found: list[tuple[int, Exception]] = []
        for index in range(len(self)):
            try:
                self.packet(index)
            except (TunTapError, OSError) as exc:
                found.append((index, exc))
        return found

    def __repr__(self) -> str:
        slot = "unsized" if self._slot_size is None else f"slot_size={self._slot_size}"
        return f"<PacketBatch {len(self)}/{self._capacity} packets, {slot}>"


def _check_total(capacity: int, slot_size: int) -> None:
    if capacity * slot_size > MAX_BATCH_BYTES:
        raise ValueError(
            f"a batch of {capacity} slots of {slot_size} bytes is larger than "
            f"{MAX_BATCH_BYTES} bytes; use fewer or smaller slots"
        )


_thread_state = threading.local()


def thread_batch(capacity: int) -> PacketBatch:
    """A batch of ``capacity`` slots for this thread alone (read_packets' own)."""
    batch: PacketBatch | None = getattr(_thread_state, "batch", None)
    if batch is None or batch.capacity != capacity:
        batch = _thread_state.batch = PacketBatch(capacity)
    return batch
