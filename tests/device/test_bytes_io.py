"""The bytes path on real devices: ``read``, ``readinto`` and ``write``.

One packet as ``os.read`` and ``os.write`` move it, with the waits,
timeouts, ``close()`` and Ctrl-C rules of ``read_packet``/``write_packet``.
The kernel is the oracle: datagrams sent through the namespace come out of
the device, packets written into it reach sockets.
"""

from __future__ import annotations

import array
import contextlib
import errno
import socket
import threading
import time

import pytest
from helpers.ip import TUN_ADDR, TUN_PEER, configure_v4
from helpers.packets import ipv4_udp
from helpers.processes import interrupt_after_ready, open_fds
from helpers.threads import close_while_blocked

import tuntap_cffi as tuntap
from tuntap_cffi import DevKind, InterfaceClosedError, JumboPacketError, NotIPPacketError

pytestmark = pytest.mark.privileged

PORT = 5300
SOURCE_PORT = 5301


def send(payload: bytes, port: int = PORT) -> None:
    """A datagram to the peer behind the device, always from the same port."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((TUN_ADDR, SOURCE_PORT))
        sock.sendto(payload, (TUN_PEER, port))


def normalized(packet: bytes) -> bytes:
    """An IPv4 packet with its identification and header checksum zeroed."""
    return packet[:4] + b"\0\0" + packet[6:10] + b"\0\0" + packet[12:]


def test_read_gives_the_bytes_read_packet_gives(tun_v4: tuntap.Interface) -> None:
    send(b"bytes path")
    send(b"bytes path")
    data = tun_v4.read(timeout=5)
    packet = tun_v4.read_packet(timeout=5)
    assert type(data) is bytes
    assert normalized(data) == normalized(bytes(packet.body))
    assert data.endswith(b"bytes path") and data[9] == 17 and len(data) == 20 + 8 + 10


def test_read_cuts_as_the_kernel_does_and_a_read_of_nothing_takes_nothing(
    tun_v4: tuntap.Interface,
) -> None:
    send(b"0123456789")
    time.sleep(0.05)
    assert tun_v4.read(0) == b""  # at once, and the packet stays
    assert len(tun_v4.read(10)) == 10  # the rest of the packet is gone, as with os.read
    send(b"next")
    assert tun_v4.read(timeout=5).endswith(b"next")


def test_readinto_any_writable_buffer(tun_v4: tuntap.Interface) -> None:
    for target in (
        bytearray(2048),
        memoryview(bytearray(4096))[100:2148],
        array.array("B", bytes(2048)),
    ):
        send(b"into")
        n = tun_v4.readinto(target, timeout=5)
        assert n == 32 and bytes(memoryview(target).cast("B")[:n]).endswith(b"into")
    send(b"cut short")
    small = bytearray(12)
    assert tun_v4.readinto(small, timeout=5) == 12 and small[0] == 0x45
    assert tun_v4.readinto(bytearray(), timeout=5) == 0


def test_write_returns_the_count_and_the_packet_arrives(tun_v4: tuntap.Interface) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((TUN_ADDR, PORT))
        sock.settimeout(5)
        packet = ipv4_udp(TUN_PEER, TUN_ADDR, 4000, PORT, b"written as bytes")
        assert tun_v4.write(packet) == len(packet)
        assert sock.recvfrom(100) == (b"written as bytes", (TUN_PEER, 4000))
        for kind in (bytearray, memoryview, lambda b: array.array("B", b)):
            assert tun_v4.write(kind(packet), timeout=1) == len(packet)
            assert sock.recv(100) == b"written as bytes"


def test_the_write_rules_refuse_and_write_nothing(tun_v4: tuntap.Interface) -> None:
    sent = tun_v4.stats.rx_packets
    with pytest.raises(NotIPPacketError):
        tun_v4.write(b"\x01" * 40)
    with pytest.raises(NotIPPacketError):
        tun_v4.write(b"")
    with pytest.raises(JumboPacketError):
        tun_v4.write(b"\x45" + bytes(1700))
    assert tun_v4.stats.rx_packets == sent
    tun_v4.set_mtu(2000)  # the limit follows the MTU
    assert tun_v4.write(ipv4_udp(TUN_PEER, TUN_ADDR, 4000, PORT, bytes(1700))) == 1728


def test_a_short_tap_frame_is_refused(tap: tuntap.Interface) -> None:
    configure_v4(tap.name)
    with pytest.raises(tuntap.TruncatedPacketError) as caught:
        tap.write(bytes(13))
    assert caught.value.packet is not None and len(caught.value.packet.body) == 13


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda i: i.read(-1), ValueError),
        (lambda i: i.read(1.5), TypeError),
        (lambda i: i.read("64"), TypeError),
        (lambda i: i.read(None), TypeError),
        (lambda i: i.read(64, timeout=-1), ValueError),
        (lambda i: i.read(64, timeout="1"), TypeError),
        (lambda i: i.readinto(b"read-only"), TypeError),
        (lambda i: i.readinto(5), TypeError),
        (lambda i: i.readinto(bytearray(8), timeout=float("nan")), ValueError),
        (lambda i: i.write("str"), TypeError),
        (lambda i: i.write(5), TypeError),
        (lambda i: i.write(None), TypeError),
        (lambda i: i.write([b"\x45"] * 20), TypeError),
        (lambda i: i.write(b"\x45" + bytes(19), timeout=-1), ValueError),
    ],
)
def test_bad_inputs_raise_and_lose_nothing(
    tun_v4: tuntap.Interface, call: object, error: type
) -> None:
    before = open_fds()
    send(b"still here")
    time.sleep(0.05)
    with pytest.raises(error):
        call(tun_v4)  # type: ignore[operator]
    assert tun_v4.read(timeout=5).endswith(b"still here")
    assert open_fds() == before


def test_a_read_times_out(tun_v4: tuntap.Interface) -> None:
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        tun_v4.read(timeout=0.1)
    with pytest.raises(TimeoutError):
        tun_v4.readinto(bytearray(64), timeout=0)
    assert time.monotonic() - start < 2


def test_close_wakes_a_blocked_read_and_the_fds_go_when_it_leaves() -> None:
    before = open_fds()
    iface = tuntap.open("bio%d")
    woken = close_while_blocked(iface.read, iface.close)
    assert not woken.alive and woken.seconds < 0.5
    assert len(woken.raised) == 1 and isinstance(woken.raised[0], InterfaceClosedError)
    assert open_fds() == before
    for call in (lambda: iface.read(), lambda: iface.write(b"\x45" + bytes(19))):
        with pytest.raises(InterfaceClosedError):
            call()
    with pytest.raises(InterfaceClosedError):
        iface.readinto(bytearray(10))


def test_two_threads_reading_one_queue_get_every_packet_once(tun_v4: tuntap.Interface) -> None:
    got: list[list[bytes]] = [[], []]
    stop = time.monotonic() + 10
    count = 300

    def reader(index: int) -> None:
        while time.monotonic() < stop and sum(map(len, got)) < count:
            with contextlib.suppress(TimeoutError):
                got[index].append(tun_v4.read(timeout=0.05))

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for i in range(count):
        send(i.to_bytes(2, "big") * 50)
        if i % 50 == 49:
            time.sleep(0.01)
    for t in threads:
        t.join(15)
    payloads = sorted(int.from_bytes(p[-2:], "big") for p in got[0] + got[1] if p[9] == 17)
    assert payloads == list(range(count))
    assert all(p[-100:] == p[-2:] * 50 for p in got[0] + got[1] if p[9] == 17)


def test_ctrl_c_stops_a_blocked_read() -> None:
    _status, out, err, elapsed = interrupt_after_ready(
        """
        import tuntap_cffi as tuntap
        iface = tuntap.open("bic%d")
        print("ready", flush=True)
        try:
            iface.read()
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        """
    )
    assert "interrupted" in out, err
    assert elapsed < 1


def test_read_on_an_offload_device_gives_what_read_packet_gives() -> None:
    with tuntap.open("bof%d", DevKind.TUN, offload=True) as off:
        configure_v4(off.name)
        send(b"offload bytes")
        send(b"offload bytes")
        data = off.read(timeout=5)
        assert normalized(data) == normalized(bytes(off.read_packet(timeout=5).body))
        send(b"cut offload segment")
        assert len(off.read(25, timeout=5)) == 25
        packet = ipv4_udp(TUN_PEER, TUN_ADDR, 4000, PORT, b"offload write")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((TUN_ADDR, PORT))
            sock.settimeout(5)
            assert off.write(packet) == len(packet)
            assert sock.recv(100) == b"offload write"


def test_an_unexpected_errno_keeps_its_errno(tun_v4: tuntap.Interface) -> None:
    """A device that went away: the errno of the read, as for read_packet."""
    tun_v4.set_persist(False)
    from helpers.ip import ip

    ip("link", "delete", tun_v4.name)
    with pytest.raises(OSError) as caught:
        tun_v4.read(timeout=1)
    assert caught.value.errno in (errno.EFAULT, errno.EBADFD, errno.EIO)
