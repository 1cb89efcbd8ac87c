"""The binding tier: the only module that touches the compiled ``lib``.

One small function per C call. Each turns the shim's ``-errno`` into an
``OSError`` whose builtin subclass Python picks from the errno and whose
message names the operation and the interface. The per-packet calls are
bound straight to ``lib`` so the hot path pays no extra Python frame.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Union, cast

from . import errors
from ._native import ffi, lib

if TYPE_CHECKING:
    from _cffi_backend import _CDataBase

    from ._native import TTBatch, TTPackets, TTQueue, TTWriteStatus

    CData = _CDataBase
BytesLike = Union[bytes, bytearray, memoryview]

IFNAME_MAX = lib.TT_IFNAME_MAX
KIND_TUN = lib.TT_KIND_TUN
KIND_TAP = lib.TT_KIND_TAP
PKT_OK = lib.TT_PKT_OK
PKT_SHORT_READ = lib.TT_PKT_SHORT_READ
PKT_TRUNCATED = lib.TT_PKT_TRUNCATED
PKT_NOT_IP = lib.TT_PKT_NOT_IP
PROTO_SHIFT = lib.TT_PACK_PROTO_SHIFT
VERDICT_SHIFT = lib.TT_PACK_VERDICT_SHIFT
BODY_MASK = (1 << PROTO_SHIFT) - 1
PROTO_MASK = 0xFFFF

# The shim waits at most this long per call, so that a signal that arrives
# just before a wait starts is still handled (Ctrl-C within 100 ms).
WAIT_SLICE_MS = 50

# (buf, len, kind) -> packed classification, bound directly.
classify_raw = lib.tt_classify


def os_error(err: int, operation: str, name: str, hint: str | None = None) -> OSError:
    """Build the ``OSError`` subclass for a positive errno, naming what failed
    (``errors.os_error``, for the callers of this tier)."""
    return errors.os_error(err, operation, name, hint=hint)


def check(result: int, operation: str, name: str) -> int:
    """Return ``result`` if it is not a ``-errno``; raise the matching OSError if it is."""
    if result < 0:
        raise os_error(-result, operation, name)
    return result


def unpack(packed: int) -> tuple[int, int, int]:
    """Split a packed classification into (verdict, protocol, body length)."""
    return (
        packed >> VERDICT_SHIFT,
        (packed >> PROTO_SHIFT) & PROTO_MASK,
        packed & BODY_MASK,
    )


def classify(data: BytesLike, kind: int) -> tuple[int, int, int]:
    """Apply the seed's read-side rules to ``data``: (verdict, protocol, body length)."""
    if isinstance(data, bytes):
        packed = classify_raw(data, len(data), kind)
    else:
        view = ffi.from_buffer(data)
        packed = classify_raw(view, len(view), kind)
    return unpack(check(packed, "classify", "packet"))


def open_clone(path: str) -> int:
    """Open the TUN/TAP clone device; returns the new fd."""
    return lib.tt_open_clone(os.fsencode(path))


def set_iff(fd: int, name: str, kind: int, extra_flags: int) -> tuple[int, str]:
    """TUNSETIFF: attach ``fd`` to device ``name``; returns (-errno or 0, kernel's name)."""
    name_out = ffi.new("char[]", IFNAME_MAX + 1)
    result = lib.tt_set_iff(fd, name.encode("ascii"), kind, extra_flags, name_out, IFNAME_MAX + 1)
    raw = ffi.string(name_out)
    assert isinstance(raw, bytes)
    return result, raw.decode("ascii", "replace")


def set_nonblocking(fd: int, name: str) -> None:
    """Put ``fd`` in non-blocking mode (waits happen in poll, with a wake-up fd)."""
    check(lib.tt_set_nonblocking(fd), "set O_NONBLOCK", name)


def new_wake_fd(name: str) -> int:
    """Create the eventfd that wakes every waiter of an interface when it closes."""
    return check(lib.tt_eventfd(), "eventfd", name)


def wake(wakefd: int, name: str) -> None:
    """Fire the wake-up fd: every present and future wait returns -ECANCELED."""
    check(lib.tt_wake(wakefd), "wake", name)


def close_fd(fd: int, name: str) -> None:
    """Close an fd (never retried: Linux has released it even on EINTR)."""
    check(lib.tt_close(fd), "close", name)


def new_buffer(size: int) -> CData:
    """Allocate a C buffer of ``size`` bytes owned by Python (freed with its last reference)."""
    buf: CData = ffi.new("char[]", size)
    return buf


def from_buffer(obj: BytesLike, writable: bool) -> CData:
    """A zero-copy C view of a Python buffer."""
    if writable:
        return ffi.from_buffer(obj, require_writable=True)
    return ffi.from_buffer(obj)


# The first n bytes of a C buffer as a new ``bytes``, bound directly (read_packet).
copy_bytes = cast("Callable[[CData, int], bytes]", ffi.unpack)


def copy_out(buf: CData, size: int) -> bytes:
    """Copy the first ``size`` bytes of a C buffer into a new ``bytes``."""
    return cast(bytes, ffi.unpack(buf, size))


# -- netlink.c: interface configuration over rtnetlink --------------------

IFF_UP = lib.IFF_UP
IFA_F_NODAD = lib.IFA_F_NODAD
IFA_F_TENTATIVE = lib.IFA_F_TENTATIVE
RTN_LOCAL = lib.RTN_LOCAL
HWADDR_MAX = lib.TT_HWADDR_MAX
NL_DUMP_INTR = lib.TT_NL_DUMP_INTR
NL_EXPECT_ACK = lib.TT_NL_EXPECT_ACK
NL_EXPECT_LINK = lib.TT_NL_EXPECT_LINK
NL_EXPECT_ADDRS = lib.TT_NL_EXPECT_ADDRS
NL_EXPECT_ROUTE = lib.TT_NL_EXPECT_ROUTE

# A pointer to one of the shim's structs: cffi checks field names and value
# ranges at run time, which the CData stubs cannot express.
StructPtr = Any


def _new_struct(ctype: str) -> StructPtr:
    return ffi.new(ctype)


class LinkInfo(NamedTuple):
    """A link as the kernel's RTM_NEWLINK reply describes it."""

    ifindex: int
    flags: int  # IFF_* bits
    mtu: int
    txqlen: int
    type: int  # ARPHRD_*
    hwaddr: bytes  # empty when the device has none (TUN)
    name: str
    kind: str = ""  # IFLA_INFO_KIND: "tun" for TUN/TAP, "" when the link has none
    tun: TunInfo | None = None  # the TUN/TAP details when kind is "tun"


class AddressEntry(NamedTuple):
    """One address of an interface, as an RTM_NEWADDR dump part gives it."""

    family: int  # AF_INET or AF_INET6
    address: bytes  # 4 or 16 bytes
    prefixlen: int
    flags: int  # IFA_F_*
    scope: int


class NetlinkReply:
    """A ``struct tt_nl_reply`` with room for ``addrs_max`` dumped addresses.

    Keeps the address array alive for as long as the reply points to it.
    """

    def __init__(self, addrs_max: int = 0) -> None:
        self.c = _new_struct("struct tt_nl_reply *")
        self._addrs: CData | None = None
        if addrs_max:
            self._addrs = ffi.new("struct tt_addr[]", addrs_max)
            self.c.addrs = self._addrs
            self.c.addrs_max = addrs_max

    @property
    def ext_ack(self) -> str:
        """The kernel's extended-ack text for the last request ('' when none)."""
        raw = ffi.string(self.c.ext_ack)
        assert isinstance(raw, bytes)
        return raw.decode("utf-8", "replace")

    def link(self) -> LinkInfo:
        """The link the last link request returned."""
        link = self.c.link
        name = ffi.string(link.name)
        kind = ffi.string(link.kind)
        assert isinstance(name, bytes) and isinstance(kind, bytes)
        return LinkInfo(
            link.ifindex,
            link.flags,
            link.mtu,
            link.txqlen,
            link.type,
            bytes(ffi.buffer(link.hwaddr))[: link.hwaddr_len],
            name.decode("ascii", "replace"),
            kind.decode("ascii", "replace"),
            tun_info(link),
        )

    def addresses(self) -> list[AddressEntry]:
        """The addresses the last dump stored (at most ``addrs_max`` of them)."""
        count = min(self.c.addrs_found, self.c.addrs_max)
        entries = []
        for i in range(count):
            entry = self.c.addrs[i]
            size = 4 if entry.family == socket.AF_INET else 16
            raw = bytes(ffi.buffer(entry.addr))[:size]
            entries.append(
                AddressEntry(entry.family, raw, entry.prefixlen, entry.flags, entry.scope)
            )
        return entries


def nl_new() -> StructPtr:
    """A closed ``struct tt_nl`` (socket state owned by Python, freed with it)."""
    nl = _new_struct("struct tt_nl *")
    nl.fd = -1
    return nl


def nl_open(nl: CData) -> int:
    """Open the NETLINK_ROUTE socket of ``nl`` in the caller's namespace; 0 or -errno."""
    return lib.tt_nl_open(nl)


def nl_close(nl: CData, name: str) -> None:
    """Close the socket of ``nl`` (harmless when it is closed)."""
    check(lib.tt_nl_close(nl), "close netlink socket", name)


def nl_link_get(nl: CData, ifindex: int, name: str, reply: NetlinkReply) -> int:
    """RTM_GETLINK by ``ifindex`` (or by ``name`` when it is 0); 0 or -errno."""
    return lib.tt_nl_link_get(nl, ifindex, name.encode("ascii"), reply.c)


def nl_link_set(
    nl: CData,
    ifindex: int,
    reply: NetlinkReply,
    *,
    mtu: int | None = None,
    up: bool | None = None,
    txqlen: int | None = None,
    hwaddr: bytes | None = None,
) -> int:
    """RTM_NEWLINK on ``ifindex`` changing only the given fields; 0 or -errno."""
    change = _new_struct("struct tt_link_change *")
    change.ifindex = ifindex
    if mtu is not None:
        change.set |= lib.TT_LINK_SET_MTU
        change.mtu = mtu
    if up is not None:
        change.set |= lib.TT_LINK_SET_UP
        change.up = int(up)
    if txqlen is not None:
        change.set |= lib.TT_LINK_SET_TXQLEN
        change.txqlen = txqlen
    if hwaddr is not None:
        change.set |= lib.TT_LINK_SET_HWADDR
        change.hwaddr_len = len(hwaddr)
        ffi.memmove(change.hwaddr, hwaddr, len(hwaddr))
    return lib.tt_nl_link_set(nl, change, reply.c)


def nl_addr_change(
    nl: CData,
    add: bool,
    ifindex: int,
    family: int,
    address: bytes,
    prefixlen: int,
    flags: int,
    reply: NetlinkReply,
) -> int:
    """RTM_NEWADDR (exclusive) or RTM_DELADDR of one address; 0 or -errno."""
    return lib.tt_nl_addr_change(
        nl, int(add), ifindex, family, address, len(address), prefixlen, flags, reply.c
    )


def nl_addr_dump(nl: CData, ifindex: int, reply: NetlinkReply) -> int:
    """RTM_GETADDR dump of one interface; the number found (may exceed room) or -errno."""
    return lib.tt_nl_addr_dump(nl, ifindex, reply.c)


def nl_route_get(nl: CData, family: int, address: bytes, reply: NetlinkReply) -> int:
    """RTM_GETROUTE for one destination; 0 with ``reply.c.route_type`` set, or -errno."""
    return lib.tt_nl_route_get(nl, family, address, len(address), reply.c)


def nl_parse_reply(data: bytes, reply: NetlinkReply) -> int:
    """The reply parser on raw bytes: 1 complete, 0 more expected, or -errno."""
    return lib.tt_nl_parse_reply(data, len(data), reply.c)


def unshare_netns() -> int:
    """Move the calling thread into a new network namespace; 0 or -errno."""
    return lib.tt_unshare_netns()


# -- the packet I/O of one queue (csrc/queue.c) ------------------------------

BATCH_MAX_CAPACITY = lib.TT_BATCH_MAX_CAPACITY
BATCH_MAX_SLOT = lib.TT_BATCH_MAX_SLOT
NULL: CData = ffi.NULL
VNET_HDR_LEN = lib.TT_VNET_HDR_LEN
IFF_VNET_HDR = lib.IFF_VNET_HDR
GSO_MAX = lib.TT_GSO_MAX
RX_PENDING_SIZE = lib.TT_RX_PENDING_SIZE
TUN_F_CSUM = lib.TUN_F_CSUM
TUN_F_TSO4 = lib.TUN_F_TSO4
TUN_F_TSO6 = lib.TUN_F_TSO6
TUN_F_USO4 = lib.TT_TUN_F_USO4
TUN_F_USO6 = lib.TT_TUN_F_USO6

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


class Queue(NamedTuple):
    """A ``struct tt_queue`` and the buffers it points at (keep all of them)."""

    c: TTQueue
    rx_buf: CData | None
    tx_buf: CData | None


def new_queue(fd: int, wakefd: int, kind: int, offload: int, write_limit: int) -> Queue:
    """The state of one open queue, allocated once; ``offload``: TUN_F_* bits, 0 plain."""
    queue = cast("TTQueue", ffi.new("struct tt_queue *"))
    queue.fd = fd
    queue.wakefd = wakefd
    queue.kind = kind
    queue.offload = offload
    queue.write_limit = write_limit
    rx_buf = tx_buf = None
    if offload:
        rx_buf = ffi.new("char[]", RX_PENDING_SIZE)
        tx_buf = ffi.new("char[]", RX_PENDING_SIZE)
        queue.rx_buf, queue.rx_buf_len = rx_buf, RX_PENDING_SIZE
        queue.tx_buf, queue.tx_buf_len = tx_buf, RX_PENDING_SIZE
    return Queue(queue, rx_buf, tx_buf)


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
    view = ffi.from_buffer(joined)
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


# -- offloads: enabling them, and the pure functions on bytes ---------------------


def set_offload(fd: int, wanted: int) -> int:
    """TUNSETVNETHDRSZ + TUNSETOFFLOAD: the TUN_F_* bits the kernel accepted, or -errno."""
    return lib.tt_set_offload(fd, wanted)


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


def coalesce_run(
    packets: list[BytesLike],
    start: int = 0,
    write_limit: int = GSO_MAX,
    room: int = RX_PENDING_SIZE,
) -> int:
    """The coalescing on raw packets, for tests and fuzzing: how many from ``start``
    on would go out as one super-packet (1: none merge), or -errno."""
    source, _bufs, _lens, _views = _array_of(packets)
    return lib.tt_coalesce_run(source, start, write_limit, room)


def coalesce_build(
    packets: list[BytesLike], start: int, count: int, out_len: int = RX_PENDING_SIZE
) -> tuple[int, bytes]:
    """The super-packet (virtio-net header + packet) of ``count`` raw packets from
    ``start``: (its length or -errno, its bytes)."""
    source, _bufs, _lens, _views = _array_of(packets)
    out = ffi.new("char[]", max(out_len, 1))
    length = lib.tt_coalesce_build(source, start, count, out, out_len)
    return length, bytes(ffi.buffer(out, max(length, 0)))


def checksum(data: BytesLike) -> int:
    """The Internet checksum (RFC 1071) of ``data``, as the C helpers compute it."""
    view = ffi.from_buffer(data)
    return check(lib.tt_checksum(view, len(view)), "checksum", "packet")


# -- operating devices (devctl.c, netns.c, IFLA_LINKINFO) ------------------

MAX_QUEUES = lib.TT_MAX_QUEUES
IFF_MULTI_QUEUE = lib.IFF_MULTI_QUEUE
ACCESS_READ = lib.TT_ACCESS_READ
ACCESS_WRITE = lib.TT_ACCESS_WRITE
ACCESS_READ_WRITE = lib.TT_ACCESS_READ_WRITE


class TunInfo(NamedTuple):
    """What the kernel says of a TUN/TAP link (IFLA_INFO_DATA of kind "tun")."""

    kind: int  # KIND_TUN or KIND_TAP
    pi: bool  # packet information headers (opened without IFF_NO_PI)
    vnet_hdr: bool
    persist: bool
    multi_queue: bool
    owner: int | None
    group: int | None
    queues: int  # attached queues (multi-queue devices only)
    disabled_queues: int  # detached queues (multi-queue devices only)


def tun_info(link: StructPtr) -> TunInfo | None:
    """The TUN/TAP details of a ``struct tt_link_info``, None for another kind of link."""
    flags = link.tun_flags
    if not flags & lib.TT_TUN_INFO:
        return None
    return TunInfo(
        link.tun_type,
        bool(flags & lib.TT_TUN_PI),
        bool(flags & lib.TT_TUN_VNET_HDR),
        bool(flags & lib.TT_TUN_PERSIST),
        bool(flags & lib.TT_TUN_MULTI_QUEUE),
        link.tun_owner if flags & lib.TT_TUN_HAS_OWNER else None,
        link.tun_group if flags & lib.TT_TUN_HAS_GROUP else None,
        link.tun_queues,
        link.tun_disabled_queues,
    )


def set_persist(fd: int, persist: bool) -> int:
    """TUNSETPERSIST: keep the device after its last fd closes (or not); 0 or -errno."""
    return lib.tt_set_persist(fd, int(persist))


def set_owner(fd: int, uid: int) -> int:
    """TUNSETOWNER: the uid that may attach without CAP_NET_ADMIN; 0 or -errno."""
    return lib.tt_set_owner(fd, uid)


def set_group(fd: int, gid: int) -> int:
    """TUNSETGROUP: the group whose members may attach without CAP_NET_ADMIN; 0 or -errno."""
    return lib.tt_set_group(fd, gid)


def set_queue(fd: int, attach: bool) -> int:
    """TUNSETQUEUE: attach or detach this queue of a multi-queue device; 0 or -errno."""
    return lib.tt_set_queue(fd, int(attach))


def netns_check(nsfd: int) -> int:
    """0 when ``nsfd`` is a network namespace, -EINVAL when it is something else."""
    return lib.tt_netns_check(nsfd)


def netns_open(
    nsfd: int, path: str | None, access: int, count: int, nl: CData | None
) -> tuple[int, list[int], int]:
    """Open ``path`` ``count`` times (and ``nl``'s socket) inside namespace ``nsfd``.

    Returns (0 or -errno, the fds, errno of a failed return to the thread's
    own namespace or 0).
    """
    fds = ffi.new("int32_t[]", max(count, 1))
    restore = ffi.new("int32_t *")
    raw_path = ffi.NULL if path is None else os.fsencode(path)
    result = lib.tt_netns_open(
        nsfd, raw_path, access, fds, count, ffi.NULL if nl is None else nl, restore
    )
    return result, [fds[i] for i in range(count)] if result == 0 else [], restore[0]


def netns_create(run_dir: str, path: str) -> tuple[int, int]:
    """A new network namespace bind-mounted on ``path``: (0 or -errno, restore errno)."""
    restore = ffi.new("int32_t *")
    result = lib.tt_netns_create(os.fsencode(run_dir), os.fsencode(path), restore)
    return result, restore[0]


def netns_delete(path: str) -> int:
    """Unmount (lazily) and remove a namespace's bind mount; 0 or -errno."""
    return lib.tt_netns_delete(os.fsencode(path))
