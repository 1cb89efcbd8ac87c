"""Batched UDP on an ordinary socket: ``udp_recv_batch`` and ``udp_send_batch``.

The underlay half of a tunnel's data path, in the same C shim and the same
:class:`PacketBatch` as the TUN half: one ``recvmmsg`` fills a batch (with
``UDP_GRO`` on, a message of many datagrams is split, one per slot, and each
slot keeps its source address), one ``sendmmsg`` sends a batch or a list
(runs of equal-size datagrams go as single ``UDP_SEGMENT`` messages, which the
kernel splits). Either kernel feature is used where it exists and silently
not otherwise: the datagrams are the same. A batch from ``read_batch`` can be
sent as it is (a raw offload read's super-packets segmented in C without a
copy of their payload), and one from ``udp_recv_batch`` written to a TUN as
it is.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import cast

from . import _lowlevel
from .errors import os_error
from .packets.batch import PacketBatch
from .packets.offload import NONE, Offload
from .packets.packet import DevKind
from .packets.writes import Progress, Writable, stopped, write_job
from .timeouts import RETRYABLE, Timeout, deadline_of, next_slice, slice_ms

__all__ = ["udp_recv_batch", "udp_send_batch"]

_recv = _lowlevel.udp_recv
_send = _lowlevel.udp_send
_NULL = _lowlevel.NULL
_log = logging.getLogger(__name__)
_GSO = _lowlevel.UDP_GSO
_GRO_TRIED = 1 << 8  # beside the TT_UDP_* bits: GRO was asked for already
_MAX = _lowlevel.UDP_MAX_PAYLOAD
# What lets write_job take a raw offload batch (its slots as they are, headers and all).
_RAW = Offload.CSUM
# The C checks' verdicts before anything is sent: a ValueError, not a BatchWriteError.
_RAW_REFUSED = (-errno.EMSGSIZE, -errno.EBADMSG, -errno.EPROTONOSUPPORT)
# What each socket was found to be and to support, found once.
_sockets: weakref.WeakKeyDictionary[socket.socket, int] = weakref.WeakKeyDictionary()
# The socket checked last, its family and features: a tunnel sends and
# receives on one socket, so its calls skip the weak dictionary (whose lookup
# makes a weak reference) and ``sock.family`` (which makes an enum).
_recent: tuple[weakref.ref[socket.socket] | None, int, int] = (None, 0, 0)
# Numeric destinations already converted for C, by (family, address); bounded.
_destinations: dict[tuple[int, object], _lowlevel.CData] = {}
_DESTINATIONS_KEPT = 1024
# Host names resolved, by (family, name): (when, address, scope), the most
# recently used last; the last _NAMES_KEPT, each for _NAME_TTL seconds (a DNS
# change is seen within that time, whatever the record's own TTL says).
_names: OrderedDict[tuple[int, str], tuple[float, bytes, int]] = OrderedDict()
_names_lock = threading.Lock()
_NAMES_KEPT = 64
_NAME_TTL = 60.0


def _where(sock: socket.socket, operation: str) -> str:
    """``operation`` and the socket's local address, for error messages."""
    try:
        return f"{operation} on the UDP socket at {sock.getsockname()}"
    except OSError:
        return f"{operation} on a UDP socket"


def socket_closed(operation: str) -> OSError:
    """The EBADF of a call on a closed socket."""
    return os_error(errno.EBADF, operation, None, hint="the socket is closed")


def _udp_socket(sock: object, operation: str, gro: bool) -> tuple[int, int, int]:
    """The fd, family and TT_UDP_* features of a UDP socket, checked once per socket
    (turning UDP_GRO on when ``gro``)."""
    global _recent
    ref, known_family, known = _recent
    # (A dead reference gives None, which is no socket.)
    if ref is not None and sock is not None and ref() is sock and (known & _GRO_TRIED or not gro):
        fd = cast(socket.socket, sock).fileno()
        if fd >= 0:
            return fd, known_family, known
    if not isinstance(sock, socket.socket):
        raise TypeError(f"{operation} takes a socket.socket, not {type(sock).__name__}")
    fd = sock.fileno()
    if fd < 0:
        raise socket_closed(operation)
    features = _sockets.get(sock)
    if features is None or (gro and not features & _GRO_TRIED):
        found = _lowlevel.udp_setup(fd, int(gro))
        if found in (-errno.EPROTOTYPE, -errno.EAFNOSUPPORT, -errno.ENOTSOCK):
            raise ValueError(
                f"{operation} takes a UDP socket (AF_INET or AF_INET6, SOCK_DGRAM), not {sock!r}"
            )
        if found < 0:
            raise os_error(-found, _where(sock, operation), None)
        if features is None and not found & _GSO:
            _log.info(
                "%s: the kernel refused UDP_SEGMENT; sending one datagram per message",
                _where(sock, operation),
            )
        if gro and not found & _lowlevel.UDP_GRO:
            _log.info(
                "%s: the kernel refused UDP_GRO; receiving one datagram per message",
                _where(sock, operation),
            )
        features = found | (_GRO_TRIED if gro else 0)
        _sockets[sock] = features
    family = int(sock.family)
    _recent = (weakref.ref(sock), family, features)
    return fd, family, features


def udp_recv_batch(
    sock: socket.socket,
    batch: PacketBatch,
    *,
    timeout: Timeout = None,
    kind: DevKind | None = None,
) -> int:
    """Receive every datagram that is ready, up to ``batch.capacity``, in one call into C.

    Waits like ``read_batch`` for the first. The first call turns ``UDP_GRO`` on
    for the socket where the kernel has it (afterwards a plain ``recv`` on it may
    get many datagrams in one); a GRO'd message is split, one datagram per
    slot, and what does not fit stays in the batch for its next receive.
    ``batch[i]`` is datagram ``i``, ``batch.address(i)`` where it came from;
    slots are classified as packets of ``kind`` (default: the kind the batch
    last held, else TUN), so the batch can go to ``write_batch`` as it is. A
    batch sized by default gets slots for the largest datagram; a datagram cut
    to fit smaller slots is reported as truncated (``batch.errors()``).

    Returns:
        Datagrams received, 1..capacity; 0 only when ``timeout`` passed with none.

    Raises:
        TypeError: ``sock`` is not a socket, ``batch`` not a PacketBatch.
        ValueError: a socket that is not UDP; a batch still holding datagrams
            of another socket.
        OSError: a closed socket (EBADF), or what the kernel reports (an
            ICMP error on a connected socket: ConnectionRefusedError).
    """
    fd, family, _ = _udp_socket(sock, "udp_recv_batch", gro=True)
    if kind is not None and not isinstance(kind, DevKind):
        raise TypeError(f"udp_recv_batch: kind must be a DevKind, not {type(kind).__name__}")
    if not isinstance(batch, PacketBatch):
        raise TypeError(f"udp_recv_batch takes a PacketBatch, not {type(batch).__name__}")
    c, rx = batch.slots_for_udp(_MAX[family], kind)
    deadline = deadline_of(timeout)
    result = _recv(fd, -1, c, rx.addrs, rx.c, slice_ms(deadline))
    while result < 0:
        if result == -errno.EXDEV:
            raise ValueError(
                "udp_recv_batch: the batch still holds datagrams of another socket; "
                "receive them with that socket first, or use another batch"
            )
        if result == -errno.EBADF:
            raise socket_closed("udp_recv_batch")  # closed while the call waited
        if result not in RETRYABLE:
            raise os_error(-result, _where(sock, "udp_recv_batch"), None)
        wait = next_slice(deadline)
        if wait is None:
            return 0
        fd = sock.fileno()
        if fd < 0:
            raise socket_closed("udp_recv_batch")
        result = _recv(fd, -1, c, rx.addrs, rx.c, wait)
    return result


def _destination(address: object, family: int) -> _lowlevel.CData:
    """The C form of an address for a socket of ``family``: checked, a name resolved."""
    key = (family, address)
    try:
        cached = _destinations.get(key)
    except TypeError:  # unhashable: not a tuple of a host and a port
        cached = None
    if cached is not None:
        return cached
    host, port, scope = _checked(address, family)
    try:
        packed = socket.inet_pton(family, host)
    except OSError:  # a name, or an IPv6 address with %scope
        packed, named_scope = _resolved(host, family)
        if scope and named_scope and scope != named_scope:
            raise ValueError(
                f"udp_send_batch: {host!r} says scope {named_scope}, the scope_id {scope}"
            ) from None
        return _lowlevel.new_udp_addr(family, packed, port, scope or named_scope)
    found = _lowlevel.new_udp_addr(family, packed, port, scope)
    if len(_destinations) >= _DESTINATIONS_KEPT:
        _destinations.clear()
    _destinations[key] = found
    return found


def _checked(address: object, family: int) -> tuple[str, int, int]:
    """(host, port, scope_id) of an address for a socket of ``family``, or the
    TypeError or ValueError that says what is wrong with it."""
    if not isinstance(address, tuple) or len(address) not in (2, 4):
        raise TypeError(f"udp_send_batch: address must be a (host, port) tuple, not {address!r}")
    if len(address) == 4 and family != socket.AF_INET6:
        raise TypeError(
            f"udp_send_batch: an AF_INET address is a (host, port) pair, not {address!r}"
        )
    host, port = address[0], address[1]
    if not isinstance(host, str):
        raise TypeError(f"udp_send_batch: the host must be a str, not {type(host).__name__}")
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"udp_send_batch: the port must be an int, not {type(port).__name__}")
    if not 1 <= port <= 65535:
        raise ValueError(f"udp_send_batch: port {port} is outside 1..65535 (0 is no destination)")
    scope = 0
    if len(address) == 4:
        flowinfo, scope = address[2], address[3]
        for name, value, top in (("flowinfo", flowinfo, 0xFFFFF), ("scope_id", scope, 2**32 - 1)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(
                    f"udp_send_batch: the {name} must be an int, not {type(value).__name__}"
                )
            if not 0 <= value <= top:
                raise ValueError(f"udp_send_batch: {name} {value} is outside 0..{top}")
        if flowinfo:
            raise ValueError(
                f"udp_send_batch: flowinfo {flowinfo} cannot be sent: the datagrams carry "
                "the flow label the kernel gives the socket (give 0)"
            )
    other = socket.AF_INET6 if family == socket.AF_INET else socket.AF_INET
    try:
        socket.inet_pton(other, host.split("%")[0])
    except OSError:
        pass
    else:
        raise ValueError(
            f"udp_send_batch: an {socket.AddressFamily(family).name} socket cannot send "
            f"to {host!r}, an address of the other family"
        )
    return host, port, scope


def _resolved(host: str, family: int) -> tuple[bytes, int]:
    """The address (inet_pton's bytes) and scope of a host name (or of an IPv6
    address with ``%scope``) for ``family``: looked up once, then kept (see
    ``_names``). socket.gaierror when it has none."""
    key = (family, host)
    now = time.monotonic()
    with _names_lock:
        kept = _names.get(key)
        if kept is not None and now - kept[0] < _NAME_TTL:
            _names.move_to_end(key)
            return kept[1], kept[2]
    info: tuple[object, ...] = socket.getaddrinfo(host, None, family, socket.SOCK_DGRAM)[0][4]
    scope = int(info[3]) if family == socket.AF_INET6 else 0  # type: ignore[call-overload]
    packed = socket.inet_pton(family, str(info[0]).split("%")[0])
    with _names_lock:
        _names[key] = (now, packed, scope)
        _names.move_to_end(key)
        while len(_names) > _NAMES_KEPT:
            _names.popitem(last=False)
    return packed, scope


def udp_send_batch(
    sock: socket.socket,
    packets: PacketBatch | Iterable[Writable],
    address: tuple[str, int] | tuple[str, int, int, int] | None = None,
    *,
    timeout: Timeout = None,
    start: int = 0,
) -> int:
    """Send datagrams in order in as few calls into the kernel as it takes: how many went.

    Args:
        packets: what ``write_batch`` takes: a PacketBatch (its well-formed
            packets; one from ``read_batch`` or ``udp_recv_batch``), or an
            iterable of Packets and bytes-like objects. Runs of equal-size
            datagrams (the last may be shorter) go as one ``UDP_SEGMENT``
            message where the kernel takes it. A raw offload batch
            (``read_batch(batch, segment=False)``) is segmented on the way
            without copying a payload byte: each segment of a super-packet
            goes as its headers (built in a small buffer: lengths, IPv4 ID,
            TCP sequence number and flags, checksums, as the kernel's own
            segmentation makes them) and its payload where it lies in the
            slot, a super-packet as ``UDP_SEGMENT`` messages of up to 64
            segments; a packet without GSO goes as it is, its checksum
            completed. The datagrams are those the segmenting read would
            give. Then each slot counts as one item: the return value,
            ``.written`` and ``.index`` count slots, and a super-packet
            stopped part-way counts as not written; the batch remembers
            which of its segments went, so a send resumed at ``.index``
            sends only the others (until the batch is read into again).
        address: where every datagram goes: (host, port), or for IPv6
            (host, port, flowinfo, scope_id) as ``socket`` gives it (a
            link-local host needs its scope: the ``scope_id``, or ``%iface``
            in the host; flowinfo must be 0); None: the socket's connected
            peer. The port is 1..65535. A host name is resolved once and its
            address kept for a minute (the last 64 names), so a DNS change is
            seen within a minute, whatever the record's TTL says; give a
            numeric address to resolve names when you choose.
        timeout: seconds to wait at most while the socket cannot take more.
        start: the position to begin at (a stopped send's ``.index``, to resume).

    Raises:
        TypeError: a bad socket, item or address type (nothing sent).
        ValueError: a socket that is not UDP, an address of the other family,
            a port outside 1..65535, a scope_id that %iface contradicts,
            a datagram over the family's maximum (65507 bytes over IPv4,
            65527 over IPv6), a raw slot whose virtio-net header and packet
            do not add up or that the segmenter does not take (nothing sent,
            the batch unchanged).
        BatchWriteError: the send stopped at a datagram; also an instance of the
            OSError it met (TimeoutError, ConnectionRefusedError, ...), with
            ``.written`` (datagrams that went) and ``.index`` (its position).
        BatchWriteStopped: Ctrl-C or anything else that ends the send part-way
            says how far it went, as for ``write_batch``.
    """
    fd, family, features = _udp_socket(sock, "udp_send_batch", gro=False)
    to = _NULL if address is None else _destination(address, family)
    # A batch sent whole, the tunnel's case: its slots and status as they are.
    ready = None
    if type(packets) is PacketBatch and start == 0 and type(start) is int:
        ready = packets.ready_for_writing(packets.kind)
    # A raw batch: where a send stopped inside a super-packet is kept in it.
    raw_batch: PacketBatch | None = None
    if ready is not None:
        c_packets, status = ready
        source: Sequence[Writable] | PacketBatch = cast(PacketBatch, packets)
        first = 0
    else:
        kind = packets.kind if isinstance(packets, PacketBatch) else None
        # A raw offload batch is segmented in C as it goes (its slots keep
        # their virtio-net headers: as for an offload device's write).
        if isinstance(packets, PacketBatch) and packets.raw:
            raw_batch = packets
        raw = raw_batch is not None
        job = write_job(
            packets,
            start,
            False,
            kind or DevKind.TUN,
            _RAW if raw else NONE,
            "socket",
            "udp_send_batch",
        )
        if job is None:
            return 0
        c_packets, status, source, first = job.packets, job.status, job.source, job.start
    flags = _lowlevel.new_flags(features & _GSO)
    deadline = deadline_of(timeout)
    status.next = first
    status.written = 0  # a batch's status: what its last write left
    # A raw batch's: the segments of its first slot that a stopped send sent.
    status.partial = 0 if raw_batch is None else raw_batch.sent_segments(first)
    # Replaced as a whole, so that it is right wherever an exception arrives
    # (see packets.writes.Progress).
    progress: Progress = (0, status)
    try:
        done = 0
        while True:
            result = _send(
                fd, -1, c_packets, status.next, to, family, flags, slice_ms(deadline), status
            )
            if result < 0:
                raise os_error(-result, _where(sock, "udp_send_batch"), None)
            err = status.error
            if err == 0:
                if raw_batch is not None:
                    raw_batch.note_sent_part(0, 0)
                return done + status.written
            if err in _RAW_REFUSED and done + status.written == 0:
                too_big = _too_big(source, status.next, family, err)
                if too_big is not None:
                    break  # nothing went: a plain ValueError
            if err == -errno.EBADF:
                raise socket_closed("udp_send_batch")
            if err not in RETRYABLE:
                raise os_error(-err, _where(sock, "udp_send_batch"), None)
            if next_slice(deadline) is None:
                raise TimeoutError(errno.ETIMEDOUT, "udp_send_batch: timed out")
            fd = sock.fileno()
            if fd < 0:
                raise socket_closed("udp_send_batch")
            after = _lowlevel.resumed_status(status)
            done += status.written
            status = after
            progress = (done, status)
    except BaseException as exc:
        if raw_batch is not None:
            raw_batch.note_sent_part(progress[1].next, progress[1].partial)
        raise stopped(exc, progress, len(source), marks=False) from None
    raise too_big


def _too_big(source: object, index: int, family: int, err: int) -> ValueError | None:
    """The ValueError for a datagram over the family's maximum or a raw slot whose
    packet does not parse (the C checks found one: nothing was sent), or None
    when the kernel's EMSGSIZE was of another kind."""
    if isinstance(source, PacketBatch) and source.raw:
        header = bytes(source.vnet_header(index)).hex(" ")
        if err == -errno.EMSGSIZE:
            why = f"makes datagrams over the {_MAX[family]} bytes a UDP datagram carries"
        elif err == -errno.EPROTONOSUPPORT:
            why = "is of a kind the segmenter does not take (GSO type, or IPv6 extension headers)"
        else:
            why = "is malformed (its virtio-net header and the packet do not add up)"
        return ValueError(
            f"udp_send_batch: the packet in slot {index} (virtio-net header {header}) {why}; "
            "nothing sent"
        )
    if err != -errno.EMSGSIZE:
        return None
    if isinstance(source, PacketBatch):
        size = len(source[index])
    else:
        item = source[index]  # type: ignore[index]
        size = memoryview(getattr(item, "body", item)).nbytes
    if size > _MAX[family]:
        return ValueError(
            f"udp_send_batch: datagram {index} is {size} bytes, over the {_MAX[family]} a "
            f"UDP datagram over {socket.AddressFamily(family).name} can carry; nothing sent"
        )
    return None
