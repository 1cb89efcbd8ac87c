"""The queue's I/O paths: a stopped batch's exception, resuming it, the one-buffer
write of a list of packets, and concurrent use of one offload queue.

Everything runs in the private network namespace made by conftest.py.
"""

from __future__ import annotations

import array
import contextlib
import errno
import re
import socket
import threading
import time

import pytest
from helpers.forward import collect, forward_path
from helpers.ip import TUN_ADDR, TUN_PEER, configure_v4
from helpers.packets import ipv4_udp, tcp_packet, ttl_free
from helpers.sockets import drain, receiver

import tuntap_cffi as tuntap
from tuntap_cffi import BatchWriteError, DevKind, _lowlevel
from tuntap_cffi._native import ffi, lib

pytestmark = pytest.mark.privileged


def udp(port: int, payload: bytes) -> bytes:
    return ipv4_udp(TUN_PEER, TUN_ADDR, 7, port, payload)


# -- a stopped batch --------------------------------------------------------------


@pytest.mark.parametrize(
    "bad,error,message",
    [
        (b"\x45" + bytes(1600), tuntap.JumboPacketError, r"jumbo packet too large .* 1601 bytes"),
        (b"\x12\x34", tuntap.NotIPPacketError, r"^packet is not IPv4 or IPv6$"),
    ],
)
def test_a_stopped_batch_is_a_batch_write_error_and_the_packets_own(
    tun_v4: tuntap.Interface, bad: bytes, error: type[Exception], message: str
) -> None:
    with pytest.raises(BatchWriteError) as info:
        tun_v4.write_batch([udp(9, b"a"), bad, udp(9, b"b")])
    exc = info.value
    assert isinstance(exc, error) and isinstance(exc, tuntap.TunTapError)
    assert (exc.written, exc.index) == (1, 1)
    assert re.search(message, str(exc))
    assert type(exc).__name__ == f"BatchWrite{error.__name__}"
    # The same class each time, and the plain error still catches it.
    with pytest.raises(error):
        tun_v4.write_batch([bad])


def test_an_os_error_keeps_its_errno_message_and_interface(tun_v4: tuntap.Interface) -> None:
    with tuntap.Link(tun_v4.name) as link:
        link.down()
    with pytest.raises(OSError) as info:
        tun_v4.write_batch([udp(9, b"x")] * 3)
    exc = info.value
    assert isinstance(exc, BatchWriteError)
    assert exc.errno == errno.EIO and exc.filename == tun_v4.name
    assert "write_batch on" in str(exc) and "the interface is down" in str(exc)
    assert (exc.written, exc.index) == (0, 0)


def test_a_truncated_frame_keeps_its_packet() -> None:
    with tuntap.open("qtp%d", DevKind.TAP) as tap:
        configure_v4(tap.name)
        with pytest.raises(tuntap.TruncatedPacketError) as info:
            tap.write_batch([bytes(13)])
    assert isinstance(info.value, BatchWriteError)
    assert info.value.packet is not None and bytes(info.value.packet.body) == bytes(13)


def test_a_closed_interface_stops_a_batch_with_interface_closed_error() -> None:
    iface = tuntap.open("qtc%d")
    iface.close()
    with pytest.raises(tuntap.InterfaceClosedError) as info:
        iface.write_batch([udp(9, b"x")])
    assert isinstance(info.value, BatchWriteError) and info.value.written == 0


# -- resuming with start= -------------------------------------------------------


def test_a_stopped_batch_resumes_at_its_index(tun_v4: tuntap.Interface) -> None:
    with receiver() as sock:
        port = sock.getsockname()[1]
        packets = [udp(port, b"r%d" % i) for i in range(3)]
        packets.insert(1, b"\x12 not ip")
        with pytest.raises(BatchWriteError) as info:
            tun_v4.write_batch(packets)
        assert tun_v4.write_batch(packets, start=info.value.index + 1) == 2
        assert tun_v4.write_batch(packets, start=len(packets)) == 0
        assert drain(sock) == [b"r0", b"r1", b"r2"]


@pytest.mark.parametrize(
    "start,error",
    [(-1, ValueError), (5, ValueError), (True, TypeError), ("1", TypeError), (1.0, TypeError)],
)
def test_bad_starts_write_nothing(tun_v4: tuntap.Interface, start: object, error: type) -> None:
    with receiver() as sock:
        port = sock.getsockname()[1]
        with pytest.raises(error, match="start"):
            tun_v4.write_batch([udp(port, b"x")] * 4, start=start)  # type: ignore[arg-type]
        with pytest.raises(error, match="start"):
            tun_v4.write_batch(tuntap.PacketBatch(4), start=start)  # type: ignore[arg-type]
        assert drain(sock) == []


# -- a list written from one buffer ---------------------------------------------


def test_every_kind_of_list_arrives_whole(tun_v4: tuntap.Interface) -> None:
    with receiver() as sock:
        port = sock.getsockname()[1]
        raw = [udp(port, b"j%d" % i) for i in range(5)]
        assert tun_v4.write_batch(raw) == 5  # bytes: one joined buffer
        assert tun_v4.write_batch(tuple(raw)) == 5
        assert tun_v4.write_batch(p for p in raw) == 5
        mixed = [raw[0], bytearray(raw[1]), memoryview(raw[2]), tuntap.parse_packet(raw[3])]
        assert tun_v4.write_batch(mixed) == 4
        # A view of wider items: its length in items is not its length in bytes.
        wide = array.array("H")
        wide.frombytes(udp(port, b"j444"))  # 32 bytes: 16 items
        assert tun_v4.write_batch([raw[0], memoryview(wide)]) == 2
        got = drain(sock)
    assert got == [b"j%d" % i for i in range(5)] * 3 + [b"j0", b"j1", b"j2", b"j3", b"j0", b"j444"]


def test_the_c_write_checks_a_joined_source() -> None:
    with tuntap.open("qtj%d") as iface:
        configure_v4(iface.name)
        q = iface._q
        packets = [udp(9, b"a"), udp(9, b"b")]
        joined = b"".join(packets)
        offsets = [0, len(packets[0]), len(joined)]
        status = _lowlevel.new_write_status()
        # Offsets that go back, or past the buffer: that packet is refused.
        for bad, at in (([0, 40, 30], 1), ([0, 10, len(joined) + 1], 1), ([5, 1, len(joined)], 0)):
            source, _view, _array = _lowlevel.joined_packets(joined, bad)
            assert lib.tt_queue_write(q, source, 0, 0, 0, status) == at
            assert (status.error, status.next) == (-errno.EINVAL, at), bad
        source, view, array_ = _lowlevel.joined_packets(joined, offsets)
        mixed, _bufs, _lens = _lowlevel.packet_arrays([ffi.from_buffer(p) for p in packets])
        mixed.joined, mixed.offsets, mixed.joined_len = view, array_, len(joined)
        assert lib.tt_queue_write(q, mixed, 0, 0, 0, status) == -errno.EINVAL
        half = ffi.new("struct tt_packets *")
        half.joined, half.count = view, 2
        assert lib.tt_queue_write(q, half, 0, 0, 0, status) == -errno.EINVAL
        members = ffi.new("uint32_t[]", _lowlevel.COALESCE_MAX)
        assert lib.tt_coalesce_plan(half, 0, 1, 0, 1600, 4096, members, 64) == -errno.EINVAL


# -- one offload queue, several threads -------------------------------------------


def test_a_busy_pending_super_packet_is_reported_not_shared() -> None:
    with tuntap.open("qtb%d", offload=True) as iface:
        q = iface._q
        buf = ffi.new("char[]", 2048)
        batch, _buf, _results = _lowlevel.new_batch(4, 2048, _lowlevel.KIND_TUN)
        q.rx_busy = 1
        assert lib.tt_queue_recv(q, buf, 2048, 0) == -errno.EBUSY
        assert lib.tt_queue_read(q, batch, 0, 0) == -errno.EBUSY
        q.rx_busy = 0
        assert lib.tt_queue_recv(q, buf, 2048, 0) == -errno.EAGAIN
        with tuntap.open("qtp%d") as plain:
            plain._q.rx_busy = 1  # plain queues hold nothing pending: no arbitration
            assert lib.tt_queue_recv(plain._q, buf, 2048, 0) == -errno.EAGAIN


def test_two_threads_reading_one_offload_queue_each_get_whole_packets() -> None:
    with tuntap.open("qtr%d", offload=True) as iface:
        configure_v4(iface.name)
        got: list[list[bytes]] = [[], []]
        stop = time.monotonic() + 10

        def reader(index: int) -> None:
            batch = tuntap.PacketBatch(8)
            while time.monotonic() < stop and sum(map(len, got)) < 400:
                if index == 0:
                    with contextlib.suppress(TimeoutError):
                        got[0].append(bytes(iface.read_packet(timeout=0.05).body))
                else:
                    for i in range(iface.read_batch(batch, timeout=0.05)):
                        got[1].append(bytes(batch[i]))

        threads = [threading.Thread(target=reader, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for i in range(400):
                sock.sendto(i.to_bytes(2, "big") * 100, (TUN_PEER, 9))
                if i % 50 == 49:
                    time.sleep(0.01)
        for t in threads:
            t.join(15)
        payloads = sorted(int.from_bytes(p[-2:], "big") for p in got[0] + got[1] if p[9] == 17)
    assert payloads == list(range(400))


def test_two_threads_coalescing_into_one_queue_lose_nothing() -> None:
    with forward_path() as (a, c):
        flows = [
            [
                tcp_packet(False, 1 + i * 500, bytes([f]) * 500, sport=7000 + f, ip_id=i)
                for i in range(8)
            ]
            for f in range(2)
        ]
        errors: list[BaseException] = []

        def writer(packets: list[bytes]) -> None:
            try:
                for _ in range(10):
                    assert a.write_batch(packets) == len(packets)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(f,)) for f in flows]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
        out = collect(c, 160, seconds=5)
    assert not errors
    by_port = {7000: [], 7001: []}  # type: dict[int, list[bytes]]
    for p in out:
        by_port[int.from_bytes(p[20:22], "big")].append(ttl_free(p))
    assert by_port == {7000 + f: [ttl_free(p) for p in flows[f]] * 10 for f in range(2)}
