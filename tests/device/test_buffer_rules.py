"""One rule for the buffers of every packet call: any C-contiguous buffer is
taken, as its bytes (bytes, bytearray, memoryview, array.array of any type
code, mmap ...); anything else is a TypeError that says what was wrong, and
nothing is written. The calls: write_packet, the items of write_batch and of
udp_send_batch, and read_packet's buffer (which must also be writable).

The kernel is the oracle: what a write hands to the TUN arrives at a UDP
socket, what a read fills is what a UDP socket sent into the TUN.
"""

from __future__ import annotations

import array
import mmap
import re
import socket
from collections.abc import Callable, Iterator

import pytest
from helpers.ip import configure_v4
from helpers.packets import ipv4_udp
from helpers.sockets import drain

import tuntap_cffi as tuntap

pytestmark = pytest.mark.privileged

ADDR, PEER = "203.0.113.65", "203.0.113.66"


@pytest.fixture(scope="module")
def tun() -> Iterator[tuntap.Interface]:
    with tuntap.open("ttbuf%d", tuntap.DevKind.TUN) as iface:
        configure_v4(iface.name, ADDR, 28)
        yield iface


@pytest.fixture
def receiver() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with sock:
        sock.bind((ADDR, 0))
        sock.settimeout(0.3)
        yield sock


def packet(sock: socket.socket, payload: bytes) -> bytes:
    """An IPv4/UDP packet from the peer to ``sock``, of an even length (for array('H'))."""
    data = ipv4_udp(PEER, ADDR, 7, sock.getsockname()[1], payload)
    assert len(data) % 2 == 0
    return data


def from_mmap(data: bytes) -> mmap.mmap:
    area = mmap.mmap(-1, len(data))
    area.write(data)
    return area


def from_array_h(data: bytes) -> array.array[int]:
    items = array.array("H")
    items.frombytes(data)
    return items


# Every kind of C-contiguous buffer, made from the bytes it must stand for.
ACCEPTED: dict[str, Callable[[bytes], object]] = {
    "bytes": bytes,
    "bytearray": bytearray,
    "array B": lambda data: array.array("B", data),
    "array H (its bytes)": from_array_h,
    "mmap": from_mmap,
    "mmap read-only": lambda data: memoryview(from_mmap(data)).toreadonly(),
    "memoryview slice": lambda data: memoryview(b"xx" + data + b"yy")[2:-2],
    "memoryview of H": lambda data: memoryview(bytearray(data)).cast("H"),
    "2-D memoryview": lambda data: memoryview(bytearray(data)).cast("B", (2, len(data) // 2)),
}


def non_contiguous(data: bytes) -> memoryview:
    """A memoryview holding ``data`` every other byte: the right bytes, not contiguous."""
    spread = bytearray(2 * len(data))
    spread[::2] = data
    return memoryview(spread)[::2]


# What no call takes, and what its TypeError says it was.
REFUSED: dict[str, tuple[Callable[[bytes], object], str]] = {
    "non-contiguous memoryview": (non_contiguous, r"not a non-contiguous memoryview"),
    "str": (lambda data: "text", r"not str\b.*encode it"),
    "int": (lambda data: 1234, r"not int\b"),
    "None": (lambda data: None, r"not None\b"),
    "list of ints": (lambda data: list(data), r"not list\b"),
}


# -- writes ----------------------------------------------------------------------


@pytest.mark.parametrize("make", ACCEPTED.values(), ids=ACCEPTED)
def test_write_packet_takes_every_contiguous_buffer(
    tun: tuntap.Interface, receiver: socket.socket, make: Callable[[bytes], object]
) -> None:
    data = packet(receiver, b"one.")
    tun.write_packet(make(data))  # type: ignore[arg-type]
    tun.write_packet(make(packet(receiver, b"two.")), timeout=1)  # type: ignore[arg-type]
    assert drain(receiver) == [b"one.", b"two."]


@pytest.mark.parametrize("make", ACCEPTED.values(), ids=ACCEPTED)
def test_write_batch_takes_every_contiguous_buffer(
    tun: tuntap.Interface, receiver: socket.socket, make: Callable[[bytes], object]
) -> None:
    items = [make(packet(receiver, b"p%d" % i)) for i in range(3)]
    assert tun.write_batch(items) == 3  # type: ignore[arg-type]
    assert tun.write_batch(iter(items[:1])) == 1  # type: ignore[arg-type]
    mixed = [bytes(packet(receiver, b"bb")), items[2]]  # with bytes before it
    assert tun.write_batch(mixed) == 2  # type: ignore[arg-type]
    assert drain(receiver) == [b"p0", b"p1", b"p2", b"p0", b"bb", b"p2"]


@pytest.mark.parametrize("make", ACCEPTED.values(), ids=ACCEPTED)
def test_udp_send_batch_takes_every_contiguous_buffer(make: Callable[[bytes], object]) -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b,
    ):
        b.bind(("127.0.0.1", 0))
        b.settimeout(0.3)
        a.connect(b.getsockname())
        datagrams = [b"datagram %d.." % i for i in range(4)]  # even lengths
        assert tuntap.udp_send_batch(a, [make(d) for d in datagrams]) == 4  # type: ignore[misc]
        assert drain(b) == datagrams


@pytest.mark.parametrize("make, match", REFUSED.values(), ids=REFUSED)
def test_write_packet_refuses_what_is_no_buffer(
    tun: tuntap.Interface, receiver: socket.socket, make: Callable[[bytes], object], match: str
) -> None:
    bad = make(packet(receiver, b"never!"))
    for timeout in (None, 1):
        with pytest.raises(
            TypeError, match=f"write_packet takes a Packet or a bytes-like .*{match}"
        ):
            tun.write_packet(bad, timeout=timeout)  # type: ignore[arg-type]
    assert drain(receiver) == []


@pytest.mark.parametrize("make, match", REFUSED.values(), ids=REFUSED)
def test_write_batch_refuses_what_is_no_buffer_and_writes_nothing(
    tun: tuntap.Interface, receiver: socket.socket, make: Callable[[bytes], object], match: str
) -> None:
    good = packet(receiver, b"never!")
    for items in ([good, make(good)], [bytearray(good), make(good)]):
        with pytest.raises(TypeError, match=r"^write_batch takes Packets or bytes-like") as refused:
            tun.write_batch(items)  # type: ignore[arg-type]
        assert re.search(match, str(refused.value)) and "(item 1)" in str(refused.value)
    assert drain(receiver) == []


@pytest.mark.parametrize("make, match", REFUSED.values(), ids=REFUSED)
def test_udp_send_batch_refuses_what_is_no_buffer_and_sends_nothing(
    make: Callable[[bytes], object], match: str
) -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b,
    ):
        b.bind(("127.0.0.1", 0))
        b.settimeout(0.3)
        a.connect(b.getsockname())
        with pytest.raises(TypeError, match=r"^udp_send_batch takes Packets or bytes") as refused:
            tuntap.udp_send_batch(a, [b"ok", make(b"datagram")])  # type: ignore[list-item]
        assert re.search(match, str(refused.value)) and "(item 1)" in str(refused.value)
        assert drain(b) == []


# -- reads -----------------------------------------------------------------------

WRITABLE: dict[str, Callable[[int], object]] = {
    "bytearray": bytearray,
    "array B": lambda size: array.array("B", bytes(size)),
    "array H (its bytes)": lambda size: array.array("H", bytes(size)),
    "mmap": lambda size: mmap.mmap(-1, size),
    "memoryview slice": lambda size: memoryview(bytearray(size + 8))[4:-4],
    "memoryview of H": lambda size: memoryview(bytearray(size)).cast("H"),
    "2-D memoryview": lambda size: memoryview(bytearray(size)).cast("B", (2, size // 2)),
}


@pytest.fixture
def sender() -> Iterator[socket.socket]:
    """A socket whose datagrams to the peer go into the TUN."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with sock:
        sock.bind((ADDR, 0))
        yield sock


@pytest.mark.parametrize("make", WRITABLE.values(), ids=WRITABLE)
def test_read_packet_reads_into_every_writable_contiguous_buffer(
    tun: tuntap.Interface, sender: socket.socket, make: Callable[[int], object]
) -> None:
    for timeout in (None, 2):
        buffer = make(2048)
        sender.sendto(b"into the buffer", (PEER, 9))
        pkt = tun.read_packet(buffer, timeout=timeout)  # type: ignore[arg-type]
        body = pkt.body
        assert isinstance(body, memoryview) and body.format == "B" and body.ndim == 1
        assert bytes(body).endswith(b"into the buffer") and len(body) == 20 + 8 + 15
        assert bytes(memoryview(buffer).cast("B"))[: len(body)] == bytes(body)  # type: ignore[arg-type]
        body.release()


READ_ONLY: dict[str, Callable[[int], object]] = {
    "bytes": bytes,
    "memoryview of bytes": lambda size: memoryview(bytes(size)),
    "read-only memoryview": lambda size: memoryview(bytearray(size)).toreadonly(),
    "mmap opened read-only": lambda size: mmap.mmap(-1, size, prot=mmap.PROT_READ),
}


@pytest.mark.parametrize("make", READ_ONLY.values(), ids=READ_ONLY)
def test_read_packet_refuses_a_read_only_buffer(
    tun: tuntap.Interface, make: Callable[[int], object]
) -> None:
    buffer = make(2048)
    for timeout in (None, 0):
        readonly = r"read_packet .*(writable.*read-only|read-only.*writable)"
        with pytest.raises(TypeError, match=readonly):
            tun.read_packet(buffer, timeout=timeout)  # type: ignore[arg-type]


READ_REFUSED = {name: row for name, row in REFUSED.items() if name != "None"}  # None: no buffer


@pytest.mark.parametrize("make, match", READ_REFUSED.values(), ids=READ_REFUSED)
def test_read_packet_refuses_what_is_no_buffer(
    tun: tuntap.Interface, make: Callable[[bytes], object], match: str
) -> None:
    bad = make(bytes(2048))
    for timeout in (None, 0):
        with pytest.raises(TypeError, match=f"read_packet takes a bytes-like .*{match}"):
            tun.read_packet(bad, timeout=timeout)  # type: ignore[arg-type]


def test_the_write_rules_count_the_bytes_of_any_buffer(
    tun: tuntap.Interface, receiver: socket.socket
) -> None:
    """A buffer of 2-byte items is as long as its bytes: the limit and the messages say so."""
    jumbo = array.array("H", b"\x45\x00" + bytes(69998))  # 35000 items, 70000 bytes
    with pytest.raises(tuntap.JumboPacketError, match=r"\b70000 bytes"):
        tun.write_packet(jumbo)  # type: ignore[arg-type]
    good = packet(receiver, b"ok")
    for items in ([good, jumbo], [good, memoryview(jumbo)]):
        with pytest.raises(tuntap.JumboPacketError, match=r"\b70000 bytes") as stopped:
            tun.write_batch(items)  # type: ignore[arg-type]
        assert (stopped.value.written, stopped.value.index) == (1, 1)  # type: ignore[attr-defined]
    with pytest.raises(tuntap.NotIPPacketError):
        tun.write_packet(from_mmap(b"\x12" * 30))  # type: ignore[arg-type]
    assert drain(receiver) == [b"ok", b"ok"]
