"""Bad inputs to udp_recv_batch / udp_send_batch (and their asyncio forms): a clear
exception before any datagram is sent, no fd leaked; and the asyncio forms."""

from __future__ import annotations

import asyncio
import errno
import socket
import subprocess
from collections.abc import Iterator

import pytest
from helpers.ip import ip
from helpers.packets import check_packet
from helpers.processes import open_fds

import tuntap_cffi as tuntap

pytestmark = pytest.mark.privileged

A4, B4 = "203.0.113.211", "203.0.113.212"
A6 = "2001:db8:ff::11"


@pytest.fixture(scope="module", autouse=True)
def local_addresses() -> Iterator[None]:
    ip("link", "add", "ttudp2", "type", "veth", "peer", "name", "ttudp2p")
    try:
        ip("addr", "add", f"{A4}/32", "dev", "ttudp2")
        ip("addr", "add", f"{B4}/32", "dev", "ttudp2")
        ip("addr", "add", f"{A6}/128", "dev", "ttudp2", "nodad")
        ip("link", "set", "ttudp2", "up")
        yield
    finally:
        subprocess.run(["ip", "link", "del", "ttudp2"], capture_output=True)


@pytest.fixture
def sockets() -> Iterator[tuple[socket.socket, socket.socket]]:
    """a connected to b, b receiving; and a check that b got nothing unexpected."""
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    a.bind((A4, 0))
    b.bind((B4, 0))
    a.connect(b.getsockname())
    b.setblocking(False)
    fds = open_fds()
    yield a, b
    assert open_fds() == fds
    a.close()
    b.close()


def nothing_arrived(sock: socket.socket) -> bool:
    """True when no datagram is waiting on ``sock`` (a non-blocking socket)."""
    assert not sock.getblocking()
    try:
        sock.recv(65536)
    except BlockingIOError:
        return True
    return False


@pytest.mark.parametrize("bad", [None, 3, "socket", object()])
def test_not_a_socket(bad: object) -> None:
    with pytest.raises(TypeError, match=r"socket\.socket"):
        tuntap.udp_recv_batch(bad, tuntap.PacketBatch(4))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"socket\.socket"):
        tuntap.udp_send_batch(bad, [b"x"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "family, kind",
    [
        (socket.AF_INET, socket.SOCK_STREAM),
        (socket.AF_UNIX, socket.SOCK_DGRAM),
        (socket.AF_INET, socket.SOCK_RAW),
    ],
    ids=["tcp", "unix", "raw"],
)
def test_not_a_udp_socket(family: int, kind: int) -> None:
    proto = socket.IPPROTO_ICMP if kind == socket.SOCK_RAW else 0
    with socket.socket(family, kind, proto) as sock:
        with pytest.raises(ValueError, match="takes a UDP socket"):
            tuntap.udp_recv_batch(sock, tuntap.PacketBatch(4))
        with pytest.raises(ValueError, match="takes a UDP socket"):
            tuntap.udp_send_batch(sock, [b"x"])


def test_a_closed_socket() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.close()
    for call in (
        lambda: tuntap.udp_recv_batch(sock, tuntap.PacketBatch(4)),
        lambda: tuntap.udp_send_batch(sock, [b"x"], (B4, 9)),
    ):
        with pytest.raises(OSError, match="closed") as raised:
            call()
        assert raised.value.errno == errno.EBADF


def test_bad_batches_and_kinds(sockets: tuple[socket.socket, socket.socket]) -> None:
    _, b = sockets
    with pytest.raises(TypeError, match="PacketBatch"):
        tuntap.udp_recv_batch(b, [bytearray(100)])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="DevKind"):
        tuntap.udp_recv_batch(b, tuntap.PacketBatch(4), kind="tun")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="timeout"):
        tuntap.udp_recv_batch(b, tuntap.PacketBatch(4), timeout="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        tuntap.udp_recv_batch(b, tuntap.PacketBatch(4), timeout=-1)


def test_oversized_datagrams_send_nothing(sockets: tuple[socket.socket, socket.socket]) -> None:
    a, b = sockets
    for data in ([b"ok", b"x" * 65508], [b"x" * 65508, b"ok"], [b"ok"] * 70 + [b"x" * 70000]):
        with pytest.raises(ValueError, match=r"over the 65507 .* nothing sent"):
            tuntap.udp_send_batch(a, data)
    assert nothing_arrived(b)
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as six:
        six.bind((A6, 0))
        six.setblocking(False)
        with pytest.raises(ValueError, match=r"datagram 1 is 65528 bytes, over the 65527"):
            tuntap.udp_send_batch(six, [b"ok", b"x" * 65528], (A6, six.getsockname()[1]))
        assert nothing_arrived(six)


@pytest.mark.parametrize(
    "address, error, match",
    [
        (("2001:db8::1", 9), ValueError, "other family"),
        (("198.51.100.1",), TypeError, r"\(host, port\)"),
        ("198.51.100.1:9", TypeError, r"\(host, port\)"),
        (["198.51.100.1", 9], TypeError, r"\(host, port\)"),
        ((b"198.51.100.1", 9), TypeError, "host must be a str"),
        (("198.51.100.1", "9"), TypeError, "port must be an int"),
        (("198.51.100.1", 70000), ValueError, "outside 1..65535"),
        (("198.51.100.1", True), TypeError, "port must be an int"),
    ],
)
def test_bad_addresses(
    sockets: tuple[socket.socket, socket.socket], address: object, error: type, match: str
) -> None:
    a, b = sockets
    with pytest.raises(error, match=match):
        tuntap.udp_send_batch(a, [b"x"], address)  # type: ignore[arg-type]
    assert nothing_arrived(b)


def test_an_ipv4_address_for_an_ipv6_socket() -> None:
    refused = r"AF_INET6 socket cannot send to '203\.0\.113\.212'"
    with (
        socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as six,
        pytest.raises(ValueError, match=refused),
    ):
        tuntap.udp_send_batch(six, [b"x"], (B4, 9))


def test_bad_items_and_starts(sockets: tuple[socket.socket, socket.socket]) -> None:
    a, b = sockets
    with pytest.raises(TypeError, match=r"udp_send_batch takes Packets or bytes-like .*item 1"):
        tuntap.udp_send_batch(a, [b"ok", 5, b"ok"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="udp_send_batch takes a PacketBatch or an iterable"):
        tuntap.udp_send_batch(a, 5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="start must be between 0 and 2"):
        tuntap.udp_send_batch(a, [b"1", b"2"], start=3)
    with pytest.raises(TypeError, match="start must be an int"):
        tuntap.udp_send_batch(a, [b"1"], start=None)  # type: ignore[arg-type]
    assert nothing_arrived(b)
    assert tuntap.udp_send_batch(a, []) == 0
    assert tuntap.udp_send_batch(a, tuntap.PacketBatch(4)) == 0  # never filled


def test_a_raw_offload_batch_is_sent(sockets: tuple[socket.socket, socket.socket]) -> None:
    """No longer refused: its packets go segmented (tests/test_udp_raw_send.py)."""
    a, b = sockets
    with tuntap.open("ttudpraw%d", tuntap.DevKind.TUN, offload=True) as tun:
        tun.set_ipv6(False)
        tun.add_address("192.0.2.1/24")
        tun.up()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
            out.sendto(b"x" * 10, ("192.0.2.9", 9))
        batch = tuntap.PacketBatch(4)
        assert tun.read_batch(batch, segment=False, timeout=1) == 1
        assert tuntap.udp_send_batch(a, batch) == 1
        got, sent = b.recv(100), bytes(batch[0])
        check_packet(got)  # its UDP checksum completed, which the slot leaves partial
        assert got[:26] + got[28:] == sent[:26] + sent[28:]


def test_an_unconnected_socket_without_an_address() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        with pytest.raises(tuntap.BatchWriteError) as stopped:
            tuntap.udp_send_batch(sock, [b"x", b"y"])
        assert stopped.value.errno == errno.EDESTADDRREQ
        assert (stopped.value.written, stopped.value.index) == (0, 0)


def test_address_of_a_batch_not_from_udp(sockets: tuple[socket.socket, socket.socket]) -> None:
    batch = tuntap.PacketBatch(4)
    with pytest.raises(IndexError):
        batch.address(0)
    a, b = sockets
    a.send(b"x")
    assert tuntap.udp_recv_batch(b, batch, timeout=1) == 1
    assert batch.address(0) == a.getsockname()
    with pytest.raises(IndexError):
        batch.address(1)
    with pytest.raises(TypeError):
        batch.address("0")  # type: ignore[arg-type]


# -- asyncio -----------------------------------------------------------------------


def test_async_forms_wait_for_the_socket(sockets: tuple[socket.socket, socket.socket]) -> None:
    a, b = sockets

    async def main() -> list[bytes]:
        batch = tuntap.PacketBatch(64)
        receiving = asyncio.ensure_future(tuntap.aio.udp_recv_batch(b, batch))
        await asyncio.sleep(0.05)
        assert not receiving.done()  # nothing yet: waiting on the loop, not blocking it
        assert await tuntap.aio.udp_send_batch(a, [b"p%d" % i for i in range(10)]) == 10
        count = await asyncio.wait_for(receiving, 5)
        return [bytes(batch[i]) for i in range(count)]

    assert asyncio.run(main()) == [b"p%d" % i for i in range(10)]


def test_a_cancelled_async_receive_loses_nothing(
    sockets: tuple[socket.socket, socket.socket],
) -> None:
    a, b = sockets

    async def main() -> bytes:
        batch = tuntap.PacketBatch(4)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(tuntap.aio.udp_recv_batch(b, batch), 0.05)
        a.send(b"kept")
        assert await asyncio.wait_for(tuntap.aio.udp_recv_batch(b, batch), 5) == 1
        return bytes(batch[0])

    assert asyncio.run(main()) == b"kept"


def test_async_send_errors_are_the_sync_ones(sockets: tuple[socket.socket, socket.socket]) -> None:
    a, _ = sockets

    async def main() -> None:
        with pytest.raises(ValueError, match="nothing sent"):
            await tuntap.aio.udp_send_batch(a, [b"x" * 65508])
        with pytest.raises(TypeError, match=r"socket\.socket"):
            await tuntap.aio.udp_recv_batch(None, tuntap.PacketBatch(4))  # type: ignore[arg-type]

    asyncio.run(main())
