"""Batches through the kernel: PacketBatch, read_batch, read_packets, write_batch.

Everything runs in the private network namespace made by conftest.py; the
relay test adds two namespaces of its own (``ip netns add``, unique names,
deleted afterwards), joined only by the relay between two TUNs.
"""

from __future__ import annotations

import errno
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from helpers.ip import TUN_ADDR, TUN_PEER, configure_v4, ip, netns
from helpers.packets import ipv4_udp
from helpers.processes import interrupt_after_ready
from helpers.relay import CLIENT, SERVER, check_transfer, join_namespaces, relay_forever
from helpers.skips import NEEDS_COMPILER_RUNS_IN, skip_or_fail
from helpers.sockets import drain, receiver

import tuntap_cffi as tuntap
from tuntap_cffi import DevKind, PacketBatch, _lowlevel
from tuntap_cffi._native import ffi, lib

pytestmark = pytest.mark.privileged


@pytest.fixture
def sender() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((TUN_ADDR, 0))
    yield sock
    sock.close()


def send_numbered(sock: socket.socket, count: int, size: int = 64, port: int = 4000) -> list[bytes]:
    """Send ``count`` datagrams through the TUN; returns their payloads, in order."""
    payloads = [i.to_bytes(4, "big") + os.urandom(size - 4) for i in range(count)]
    for payload in payloads:
        sock.sendto(payload, (TUN_PEER, port))
    return payloads


def udp_payloads(batch: PacketBatch, port: int = 4000) -> list[bytes]:
    """The payloads of the UDP packets to ``port`` in ``batch`` (other traffic is skipped)."""
    found = []
    for view in batch:
        if len(view) >= 28 and view[9] == 17 and int.from_bytes(view[22:24], "big") == port:
            found.append(bytes(view[28:]))
    return found


def inject(iface: tuntap.Interface, *frames: bytes) -> None:
    """Make the device deliver exactly these bytes (a packet socket sends them out of it)."""
    with socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800)) as sock:
        sock.bind((iface.name, 0x0800))
        for frame in frames:
            sock.send(frame)


# -- reading ----------------------------------------------------------------------


def test_a_burst_comes_back_whole_in_order_and_byte_for_byte(
    tun_v4: tuntap.Interface, sender: socket.socket
) -> None:
    sent = send_numbered(sender, 300, size=200)
    batch = PacketBatch(64)
    got: list[bytes] = []
    sizes = []
    for _ in range(50):
        n = tun_v4.read_batch(batch, timeout=2)
        assert n == len(batch) and 1 <= n <= 64
        sizes.append(n)
        got.extend(udp_payloads(batch))
        if len(got) >= len(sent):
            break
    assert got == sent
    assert max(sizes) == 64  # the queue was drained many packets per call
    for view in batch:
        assert isinstance(view, memoryview)
        assert view.obj is not None and not view.readonly


def test_the_whole_packet_is_in_the_slot_with_its_header(
    tun_v4: tuntap.Interface, sender: socket.socket
) -> None:
    port = sender.getsockname()[1]
    sender.sendto(b"whole", (TUN_PEER, 4001))
    batch = PacketBatch(4)
    assert tun_v4.read_batch(batch, timeout=2) >= 1
    index = next(i for i in range(len(batch)) if bytes(batch[i][-5:]) == b"whole")
    pkt = batch.packet(index)
    assert pkt.protocol == tuntap.ETH_P_IP and pkt.kind is DevKind.TUN
    assert str(pkt.sip) == TUN_ADDR and str(pkt.dip) == TUN_PEER
    assert isinstance(pkt.body, memoryview) and bytes(pkt.body) == bytes(batch[index])
    assert int.from_bytes(pkt.body[20:22], "big") == port
    assert batch.packet(-len(batch) + index) == pkt
    assert batch.packets()[index] == pkt and batch.errors() == []


def test_partial_batches(tun_v4: tuntap.Interface, sender: socket.socket) -> None:
    sent = send_numbered(sender, 5)
    small = PacketBatch(3)
    assert tun_v4.read_batch(small, timeout=2) == 3
    first = udp_payloads(small)
    assert tun_v4.read_batch(small, timeout=2) == 2
    assert first + udp_payloads(small) == sent
    assert tun_v4.read_batch(small, timeout=0) == 0 and len(small) == 0
    sent = send_numbered(sender, 5)
    big = PacketBatch(64)
    assert tun_v4.read_batch(big, timeout=2) == 5
    assert udp_payloads(big) == sent


def test_read_packets_copies_the_bodies(tun_v4: tuntap.Interface, sender: socket.socket) -> None:
    sent = send_numbered(sender, 10)
    packets = tun_v4.read_packets(4, timeout=2)
    packets += tun_v4.read_packets(timeout=2)
    assert [bytes(p.body[28:]) for p in packets] == sent
    assert all(isinstance(p.body, bytes) for p in packets)
    assert tun_v4.read_packets(timeout=0) == []


def test_timeouts(tun_v4: tuntap.Interface, sender: socket.socket) -> None:
    batch = PacketBatch(8)
    assert tun_v4.read_batch(batch, timeout=0) == 0
    start = time.monotonic()
    assert tun_v4.read_batch(batch, timeout=0.2) == 0
    assert 0.19 <= time.monotonic() - start < 2
    timer = threading.Timer(0.2, lambda: sender.sendto(b"late", (TUN_PEER, 4002)))
    start = time.monotonic()  # before the timer's clock starts
    timer.start()
    try:
        assert tun_v4.read_batch(batch) >= 1  # timeout=None waits for as long as it takes
        assert time.monotonic() - start >= 0.15
        assert bytes(batch[len(batch) - 1][-4:]) == b"late"
    finally:
        timer.cancel()


def test_malformed_packets_do_not_spoil_the_batch(tun_v4: tuntap.Interface) -> None:
    good = ipv4_udp(TUN_PEER, TUN_ADDR, 1, 2, b"good")
    short_header = good[:12]
    cut_short = good[:-2]  # the header says two bytes more
    with_surplus = good + b"surplus"
    inject(tun_v4, good, b"\x12\x34 not ip", short_header, cut_short, with_surplus, good)
    batch = PacketBatch(16)
    assert tun_v4.read_batch(batch, timeout=2) == 6
    assert [bytes(view) for view in batch] == [
        good,
        b"\x12\x34 not ip",  # a bad slot keeps every byte that arrived
        short_header,
        cut_short,
        good,  # the seed's rule: surplus bytes are cut off
        good,
    ]
    errors = batch.errors()
    assert [index for index, _ in errors] == [1, 2, 3]
    assert isinstance(errors[0][1], tuntap.NotIPPacketError)
    assert isinstance(errors[1][1], tuntap.TruncatedPacketError)
    with pytest.raises(tuntap.NotIPPacketError):
        batch.packet(1)
    with pytest.raises(tuntap.TruncatedPacketError) as info:
        batch.packet(3)
    assert info.value.packet is not None and bytes(info.value.packet.body) == cut_short
    assert [bytes(p.body) for p in batch.packets()] == [good, good, good]


@pytest.mark.parametrize("kind", [DevKind.TUN, DevKind.TAP])
def test_a_slot_that_comes_back_full_is_reported_truncated(kind: DevKind) -> None:
    """A packet longer than its slot is never silently cut, even if the MTU grows under us.

    An Ethernet frame has no length field: only the full slot tells.
    """
    with (
        tuntap.open("bt%d", kind) as iface,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock,
    ):
        configure_v4(iface.name)
        if kind == DevKind.TAP:
            ip("neigh", "add", TUN_PEER, "lladdr", "02:00:00:00:00:02", "dev", iface.name)
        batch = PacketBatch(8)
        result: list[int] = []
        reader = threading.Thread(target=lambda: result.append(iface.read_batch(batch, timeout=5)))
        reader.start()
        time.sleep(0.2)  # the slots are sized and checked; the read is waiting
        ip("link", "set", iface.name, "mtu", "3000")
        sock.sendto(b"x" * 2500, (TUN_PEER, 4003))
        reader.join(10)
        assert result == [1]
        slot_size = batch.slot_size
        assert slot_size is not None and slot_size > iface.write_limit
        assert len(batch[0]) == slot_size
        with pytest.raises(tuntap.TruncatedPacketError) as info:
            batch.packet(0)
        assert info.value.packet is not None and len(info.value.packet.body) == slot_size
        assert batch.packets() == [] and len(batch.errors()) == 1


# -- writing ----------------------------------------------------------------------


def test_write_batch_takes_bytes_packets_and_views(tun_v4: tuntap.Interface) -> None:
    with receiver() as sock:
        port = sock.getsockname()[1]
        raw = [ipv4_udp(TUN_PEER, TUN_ADDR, 7, port, b"p%d" % i) for i in range(4)]
        items = [raw[0], bytearray(raw[1]), memoryview(raw[2]), tuntap.parse_packet(raw[3])]
        assert tun_v4.write_batch(items) == 4
        assert tun_v4.write_batch(iter([raw[0]])) == 1  # any iterable
        assert tun_v4.write_batch([]) == 0
        assert drain(sock) == [b"p0", b"p1", b"p2", b"p3", b"p0"]


@pytest.mark.parametrize(
    "bad,error",
    [
        (b"\x45" + bytes(1600), tuntap.JumboPacketError),
        (b"\x12\x34", tuntap.NotIPPacketError),
        (b"", tuntap.NotIPPacketError),
    ],
)
def test_a_packet_refused_stops_the_batch_with_the_exact_count(
    tun_v4: tuntap.Interface, bad: bytes, error: type[Exception]
) -> None:
    with receiver() as sock:
        port = sock.getsockname()[1]
        good = [ipv4_udp(TUN_PEER, TUN_ADDR, 7, port, b"g%d" % i) for i in range(4)]
        with pytest.raises(error) as info:
            tun_v4.write_batch([good[0], good[1], bad, good[2], good[3]])
        assert info.value.written == 2 and info.value.index == 2  # type: ignore[attr-defined]
        assert drain(sock) == [b"g0", b"g1"]


def test_a_short_tap_frame_stops_the_batch_with_the_frame() -> None:
    with tuntap.open("btp%d", DevKind.TAP) as tap:
        configure_v4(tap.name)
        frame = bytes(12) + b"\x08\x00" + ipv4_udp(TUN_PEER, TUN_ADDR, 7, 9, b"x")
        with pytest.raises(tuntap.TruncatedPacketError, match="13 bytes < 14") as info:
            tap.write_batch([frame, tuntap.Packet(frame[:13], 0, DevKind.TAP), frame])
        assert info.value.written == 1 and info.value.index == 1  # type: ignore[attr-defined]
        assert info.value.packet is not None and bytes(info.value.packet.body) == frame[:13]


def test_a_kernel_refusal_stops_the_batch(tun_v4: tuntap.Interface) -> None:
    ip("link", "set", tun_v4.name, "down")
    with pytest.raises(OSError, match=r"write_batch on .*the interface is down") as info:
        tun_v4.write_batch([ipv4_udp(TUN_PEER, TUN_ADDR, 7, 9, b"x")] * 3)
    assert info.value.errno == errno.EIO
    assert info.value.written == 0 and info.value.index == 0  # type: ignore[attr-defined]


def test_a_batch_is_forwarded_as_it_is_and_bad_slots_are_skipped() -> None:
    with tuntap.open("bta%d") as src, tuntap.open("btb%d") as dst:
        configure_v4(src.name, "198.51.100.1")
        configure_v4(dst.name, TUN_ADDR)
        with receiver() as sock:
            port = sock.getsockname()[1]
            good = [ipv4_udp(TUN_PEER, TUN_ADDR, 7, port, b"f%d" % i) for i in range(3)]
            inject(src, good[0], b"\x12 junk", good[1], good[2])
            batch = PacketBatch(8)
            assert src.read_batch(batch, timeout=2) == 4
            assert dst.write_batch(batch) == 3
            assert drain(sock) == [b"f0", b"f1", b"f2"]


def test_a_forwarded_slot_over_the_write_limit_stops_at_its_slot() -> None:
    with tuntap.open("bta%d") as src, tuntap.open("btb%d") as dst:
        configure_v4(src.name, "198.51.100.1")
        configure_v4(dst.name, TUN_ADDR)
        ip("link", "set", src.name, "mtu", "3000")
        with receiver() as sock:
            port = sock.getsockname()[1]
            small = [ipv4_udp(TUN_PEER, TUN_ADDR, 7, port, b"s%d" % i) for i in range(3)]
            big = ipv4_udp(TUN_PEER, TUN_ADDR, 7, port, bytes(2000))
            inject(src, small[0], b"\x12 junk", small[1], big, small[2])
            batch = PacketBatch(8, slot_size=4096)
            assert src.read_batch(batch, timeout=2) == 5
            with pytest.raises(tuntap.JumboPacketError, match="2028 bytes > 1600") as info:
                dst.write_batch(batch)
            assert info.value.written == 2 and info.value.index == 3  # type: ignore[attr-defined]
            assert drain(sock) == [b"s0", b"s1"]


def test_a_batch_from_another_kind_of_device_is_refused(tun_v4: tuntap.Interface) -> None:
    with tuntap.open("btp%d", DevKind.TAP) as tap:
        configure_v4(tap.name, "198.51.100.1")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"needs arp", ("198.51.100.2", 9))
        batch = PacketBatch(8)
        assert tap.read_batch(batch, timeout=2) >= 1
        assert batch.kind is DevKind.TAP and batch.packet(0).kind is DevKind.TAP
        with pytest.raises(ValueError, match="read from a TAP device cannot be written to a TUN"):
            tun_v4.write_batch(batch)
    assert tun_v4.write_batch(PacketBatch(4)) == 0  # nothing read yet: nothing to write


# -- closing, Ctrl-C ---------------------------------------------------------------


def test_close_from_another_thread_wakes_read_batch() -> None:
    iface = tuntap.open("bt%d", DevKind.TUN)
    errors: list[BaseException] = []
    started = threading.Event()

    def reader() -> None:
        started.set()
        try:
            iface.read_batch(PacketBatch(8))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    started.wait(5)
    time.sleep(0.1)
    iface.close()
    thread.join(5)
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], tuntap.InterfaceClosedError)
    assert "read_batch on closed interface" in str(errors[0])


def test_ctrl_c_interrupts_read_batch() -> None:
    code = """
        import tuntap_cffi as tuntap
        iface = tuntap.open("intr%d", tuntap.DevKind.TUN)
        print("ready", flush=True)
        try:
            iface.read_batch(tuntap.PacketBatch(16))
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            raise SystemExit(3)
    """
    returncode, out, err, elapsed = interrupt_after_ready(code)
    assert returncode == 3, err
    assert "interrupted" in out
    assert elapsed < 1.0, f"Ctrl-C took {elapsed:.3f} s"


def test_calls_on_a_closed_interface() -> None:
    iface = tuntap.open("bt%d", DevKind.TUN)
    batch = PacketBatch(4)
    iface.close()
    for call in (
        lambda: iface.read_batch(batch),
        lambda: iface.read_packets(),
        lambda: iface.write_batch([b"\x45" + bytes(19)]),
        lambda: iface.write_batch([]),
        lambda: iface.write_batch(batch),
    ):
        with pytest.raises(tuntap.InterfaceClosedError, match="closed interface"):
            call()


# -- no allocation per packet ----------------------------------------------------


def test_the_batch_path_allocates_nothing_per_packet(tun_v4: tuntap.Interface) -> None:
    """Read and forward 100,000 packets: traced memory does not grow with the count."""
    if sys.implementation.name != "cpython":
        skip_or_fail("tracemalloc is CPython's", runs_in="the CPython envs")
    import tracemalloc

    packet = ipv4_udp(TUN_PEER, "198.51.100.9", 7, 9, bytes(32))  # forwarding is off: dropped
    batch = PacketBatch(64)
    with socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800)) as sock:
        sock.bind((tun_v4.name, 0x0800))

        def relay(packets: int) -> None:
            moved = 0
            while moved < packets:
                for _ in range(64):
                    sock.send(packet)
                n = tun_v4.read_batch(batch, timeout=2)
                assert n >= 1 and tun_v4.write_batch(batch) == n
                moved += n

        relay(1000)  # warm up: slots sized, caches filled
        tracemalloc.start()
        try:
            relay(1000)
            small, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            relay(100_000)
            large, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # One allocation per packet that stayed would be >= 100 kB here.
    assert large - small < 16_384, (small, large)
    assert peak - small < 65_536, (small, peak)


# -- relay between two namespaces ---------------------------------------------------


def test_a_relay_between_two_namespaces_carries_tcp_byte_exact() -> None:
    tag = uuid.uuid4().hex[:8]
    ns_a, ns_b = f"tt-relay-a-{tag}", f"tt-relay-b-{tag}"
    stop = threading.Event()
    threads: list[threading.Thread] = []
    procs: list[subprocess.Popen[str]] = []
    ip("netns", "add", ns_a)
    try:
        ip("netns", "add", ns_b)
        with tuntap.open("rla%d") as tun_a, tuntap.open("rlb%d") as tun_b:
            join_namespaces(ns_a, ns_b, tun_a, tun_b)
            for src, dst in ((tun_a, tun_b), (tun_b, tun_a)):
                thread = threading.Thread(target=relay_forever, args=(src, dst, stop))
                thread.start()
                threads.append(thread)
            server = subprocess.Popen(
                netns(ns_b, sys.executable, "-c", SERVER), stdout=subprocess.PIPE, text=True
            )
            procs.append(server)
            assert server.stdout is not None
            assert server.stdout.readline().strip() == "listening"
            block = os.urandom(4096)
            repeat = 1024  # 4 MiB
            client = netns(ns_a, sys.executable, "-c", CLIENT, str(repeat))
            check_transfer(server, client, block, repeat, (60, 30))
            stop.set()
            for thread in threads:
                thread.join(5)
    finally:
        stop.set()
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for thread in threads:
            thread.join(5)
        subprocess.run(["ip", "netns", "del", ns_a], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns_b], capture_output=True)


# -- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        ({"capacity": 0}, ValueError, "capacity must be between 1 and 4096"),
        ({"capacity": -1}, ValueError, "capacity must be between"),
        ({"capacity": 10**9}, ValueError, "capacity must be between"),
        ({"capacity": "64"}, TypeError, "capacity must be an int"),
        ({"capacity": True}, TypeError, "capacity must be an int"),
        ({"capacity": 2.0}, TypeError, "capacity must be an int"),
        ({"slot_size": 10}, ValueError, "slot_size must be between 64 and 65600"),
        ({"slot_size": 70000}, ValueError, "slot_size must be between"),
        ({"slot_size": -5}, ValueError, "slot_size must be between"),
        ({"slot_size": "big"}, TypeError, "slot_size must be an int"),
        ({"capacity": 4096, "slot_size": 65600}, ValueError, "larger than 67108864 bytes"),
    ],
)
def test_bad_batches(kwargs: dict[str, object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        PacketBatch(**kwargs)  # type: ignore[arg-type]


def test_slots_too_small_for_the_device_are_refused(tun_v4: tuntap.Interface) -> None:
    batch = PacketBatch(4, slot_size=1000)
    with pytest.raises(
        ValueError, match=f"read_batch on {tun_v4.name}: slot_size 1000 cannot hold"
    ):
        tun_v4.read_batch(batch, timeout=0)
    exact = PacketBatch(4, slot_size=tun_v4.write_limit)  # a full slot would be ambiguous
    with pytest.raises(ValueError, match="use at least 1601"):
        tun_v4.read_batch(exact, timeout=0)
    assert tun_v4.read_batch(PacketBatch(4, slot_size=tun_v4.write_limit + 1), timeout=0) == 0


def test_a_batch_sized_by_default_grows_with_the_device(
    tun_v4: tuntap.Interface, sender: socket.socket
) -> None:
    batch, fixed = PacketBatch(4), PacketBatch(4, slot_size=1664)
    assert tun_v4.read_batch(batch, timeout=0) == 0 and tun_v4.read_batch(fixed, timeout=0) == 0
    assert batch.slot_size == 1664
    ip("link", "set", tun_v4.name, "mtu", "3000")
    tun_v4._write_limit = 3000  # what the write limit becomes when it follows the MTU
    with pytest.raises(ValueError, match="slot_size 1664 cannot hold the 3000-byte packets"):
        tun_v4.read_batch(fixed, timeout=0)
    sender.sendto(b"y" * 2500, (TUN_PEER, 4004))
    assert tun_v4.read_batch(batch, timeout=2) == 1
    assert batch.slot_size == 3008 and batch.errors() == []
    assert bytes(batch.packet(0).body[28:]) == b"y" * 2500


def test_bad_read_arguments(tun_v4: tuntap.Interface) -> None:
    for batch in (None, bytearray(100), [PacketBatch()], PacketBatch):
        with pytest.raises(TypeError, match="read_batch takes a PacketBatch"):
            tun_v4.read_batch(batch)  # type: ignore[arg-type]
    for timeout in (-1, float("nan"), "1", True):
        with pytest.raises((ValueError, TypeError), match="timeout"):
            tun_v4.read_batch(PacketBatch(), timeout=timeout)  # type: ignore[arg-type]
        with pytest.raises((ValueError, TypeError), match="timeout"):
            tun_v4.write_batch([], timeout=timeout)  # type: ignore[arg-type]
    for count, error in ((0, ValueError), (-1, ValueError), (5000, ValueError), ("8", TypeError)):
        with pytest.raises(error, match="max_packets"):
            tun_v4.read_packets(count)  # type: ignore[arg-type]


def test_bad_indexes(tun_v4: tuntap.Interface, sender: socket.socket) -> None:
    batch = PacketBatch(8)
    with pytest.raises(IndexError, match="holds 0 packets"):
        batch[0]
    assert list(batch) == [] and batch.packets() == [] and batch.errors() == []
    assert batch.slot_size is None and batch.kind is None and "unsized" in repr(batch)
    send_numbered(sender, 2)
    assert tun_v4.read_batch(batch, timeout=2) == 2
    for index in (2, 8, -3, 10**20):
        with pytest.raises(IndexError, match="batch index out of range"):
            batch[index]
        with pytest.raises(IndexError, match="batch index out of range"):
            batch.packet(index)
    for index in ("0", 1.0, None, slice(0, 1), True):
        with pytest.raises(TypeError, match="batch indices must be integers"):
            batch[index]  # type: ignore[index]
    assert bytes(batch[-1]) == bytes(batch[1])


def test_bad_write_items_write_nothing(tun_v4: tuntap.Interface) -> None:
    with receiver() as sock:
        good = ipv4_udp(TUN_PEER, TUN_ADDR, 7, sock.getsockname()[1], b"never")
        for bad in ("text", 1234, None, [0x45], PacketBatch()):
            with pytest.raises(TypeError, match="write_batch takes Packets or bytes-like"):
                tun_v4.write_batch([good, bad])  # type: ignore[list-item]
        for packets in (None, 5, good[0]):
            with pytest.raises(TypeError):
                tun_v4.write_batch(packets)  # type: ignore[arg-type]
        assert drain(sock) == []


# -- the C side's own checks ----------------------------------------------------------


def test_c_read_batch_checks_the_batch_and_flags_full_slots() -> None:
    r, w = os.pipe()
    wake = _lowlevel.new_wake_fd("test")
    os.set_blocking(r, False)
    try:
        queue = _lowlevel.new_queue(r, wake, _lowlevel.KIND_TAP, 0, 1600).c
        batch, _buf, _results = _lowlevel.new_batch(4, 100, _lowlevel.KIND_TAP)
        assert lib.tt_queue_read(queue, ffi.NULL, 0, 0) == -errno.EINVAL
        assert lib.tt_queue_read(ffi.NULL, batch, 0, 0) == -errno.EINVAL
        assert lib.tt_queue_read(queue, batch, 1, 0) == -errno.EINVAL  # raw: offload only
        for field, value in (
            ("capacity", 0),
            ("capacity", 5000),
            ("slot_size", 0),
            ("slot_size", 70000),
            ("kind", 9),
            ("kind", _lowlevel.KIND_TUN),  # not the queue's kind
            ("buf_len", 399),
            ("buf", ffi.NULL),
            ("results", ffi.NULL),
        ):
            saved = getattr(batch, field)
            setattr(batch, field, value)
            assert lib.tt_queue_read(queue, batch, 0, 0) == -errno.EINVAL, field
            setattr(batch, field, saved)
        assert lib.tt_queue_read(queue, batch, 0, 0) == -errno.EAGAIN
        assert queue.drained == 1
        start = time.monotonic()
        assert lib.tt_queue_read(queue, batch, 0, 20) == -errno.EAGAIN  # waited one slice
        assert time.monotonic() - start >= 0.015
        os.write(w, bytes(range(256)) + bytes(14))  # 270 bytes: 100, 100, 70
        assert lib.tt_queue_read(queue, batch, 0, 0) == 3
        assert (batch.count, batch.bad) == (3, 2)
        verdicts = [batch.results[i] >> lib.TT_PACK_VERDICT_SHIFT for i in range(3)]
        assert verdicts == [lib.TT_PKT_TRUNCATED, lib.TT_PKT_TRUNCATED, lib.TT_PKT_OK]
        assert [batch.results[i] & 0xFFFFFFFF for i in range(3)] == [100, 100, 70]
        _lowlevel.wake(wake, "test")
        assert lib.tt_queue_read(queue, batch, 0, 50) == -errno.ECANCELED
    finally:
        for fd in (r, w, wake):
            os.close(fd)


def test_c_write_batch_reports_where_and_why_it_stopped() -> None:
    r, w = os.pipe()
    wake = _lowlevel.new_wake_fd("test")
    os.set_blocking(w, False)
    try:
        tap = _lowlevel.new_queue(w, wake, _lowlevel.KIND_TAP, 0, 20).c
        tun_v4 = _lowlevel.new_queue(w, wake, _lowlevel.KIND_TUN, 0, 20).c
        data = [
            b"one" * 5,
            b"two" * 5,
            b"x" * 50,
            b"four" * 4,
            b"short",
            b"\x45" * 15,
            b"\x12" * 15,
        ]
        views = [ffi.from_buffer(d) for d in data]
        packets, bufs, _lens = _lowlevel.packet_arrays(views)
        status = _lowlevel.new_write_status()
        packets.count = 4
        assert lib.tt_queue_write(tap, packets, 0, 0, 0, status) == 2
        assert (status.next, status.written, status.error) == (2, 2, -errno.EMSGSIZE)
        assert lib.tt_queue_write(tap, packets, 3, 0, 0, status) == 1
        assert (status.next, status.written, status.error) == (4, 1, 0)
        assert os.read(r, 100) == data[0] + data[1] + data[3]
        # The write rules: a TAP frame needs an Ethernet header, a TUN packet an IP version.
        packets.count = 5
        assert lib.tt_queue_write(tap, packets, 4, 0, 0, status) == 0
        assert (status.error, status.refused) == (-errno.EINVAL, lib.TT_PKT_TRUNCATED)
        packets.count = 7
        assert lib.tt_queue_write(tun_v4, packets, 5, 0, 0, status) == 1
        assert (status.next, status.error, status.refused) == (6, -errno.EINVAL, lib.TT_PKT_NOT_IP)
        assert os.read(r, 100) == data[5]
        assert lib.tt_queue_write(tap, packets, 8, 0, 0, status) == -errno.EINVAL  # past count
        assert lib.tt_queue_write(tap, packets, 0, 1, 0, status) == -errno.EINVAL  # coalesce
        assert lib.tt_queue_write(tap, packets, 0, 0, 0, ffi.NULL) == -errno.EINVAL
        assert lib.tt_queue_write(tap, ffi.NULL, 0, 0, 0, status) == -errno.EINVAL
        assert lib.tt_queue_write(ffi.NULL, packets, 0, 0, 0, status) == -errno.EINVAL
        packets.raw = 1  # raw slots come from a batch only
        assert lib.tt_queue_write(tap, packets, 0, 0, 0, status) == -errno.EINVAL
        packets.raw = 0
        for field in ("bufs", "lens"):
            saved = getattr(packets, field)
            setattr(packets, field, ffi.NULL)
            assert lib.tt_queue_write(tap, packets, 0, 0, 0, status) == -errno.EINVAL, field
            setattr(packets, field, saved)
        bufs[0] = ffi.NULL
        packets.count = 1
        assert lib.tt_queue_write(tap, packets, 0, 0, 0, status) == 0
        assert status.error == -errno.EINVAL
        os.close(r)
        r = -1
        bufs[0] = views[0]
        packets.count = 2
        assert lib.tt_queue_write(tap, packets, 0, 0, 0, status) == 0
        assert (status.next, status.error) == (0, -errno.EPIPE)  # the kernel refused it
    finally:
        for fd in (r, w, wake):
            if fd >= 0:
                os.close(fd)


def test_c_write_batch_waits_once_when_the_device_is_full() -> None:
    r, w = os.pipe()
    wake = _lowlevel.new_wake_fd("test")
    os.set_blocking(w, False)
    try:
        queue = _lowlevel.new_queue(w, wake, _lowlevel.KIND_TUN, 0, 1 << 20).c
        chunk = b"\x45" * 65536
        packets, _bufs, _lens = _lowlevel.packet_arrays([ffi.from_buffer(chunk)] * 4)
        status = _lowlevel.new_write_status()
        start = time.monotonic()
        written = lib.tt_queue_write(queue, packets, 0, 0, 50, status)
        assert written == 1 and status.error == -errno.EAGAIN and status.next == 1
        assert 0.04 <= time.monotonic() - start < 2  # one slice, not one per packet
    finally:
        for fd in (r, w, wake):
            os.close(fd)


def test_c_write_slots_checks_its_arguments() -> None:
    queue = _lowlevel.new_queue(-1, -1, _lowlevel.KIND_TUN, 0, 1600).c
    batch, _buf, _results = _lowlevel.new_batch(4, 100, _lowlevel.KIND_TUN)
    slots = _lowlevel.batch_packets(batch)
    status = _lowlevel.new_write_status()
    assert lib.tt_queue_write(queue, slots, 0, 0, 0, ffi.NULL) == -errno.EINVAL
    assert lib.tt_queue_write(queue, slots, 1, 0, 0, status) == -errno.EINVAL  # past count
    batch.count = 5
    assert lib.tt_queue_write(queue, slots, 0, 0, 0, status) == -errno.EINVAL
    batch.count = 1
    batch.kind = _lowlevel.KIND_TAP  # read from another kind of device
    assert lib.tt_queue_write(queue, slots, 0, 0, 0, status) == -errno.EINVAL
    batch.kind = _lowlevel.KIND_TUN
    slots.raw = 1  # raw slots on a plain queue
    assert lib.tt_queue_write(queue, slots, 0, 0, 0, status) == -errno.EINVAL
    slots.raw = 0
    batch.results[0] = 500  # a length longer than its slot
    assert lib.tt_queue_write(queue, slots, 0, 0, 0, status) == 0
    assert (status.next, status.error) == (0, -errno.EINVAL)


# -- the benchmark runs ----------------------------------------------------------------

BENCH = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "bench.py"


def test_the_benchmark_smoke_run_prints_its_tables() -> None:
    if not BENCH.exists():
        skip_or_fail(f"the benchmark is not in this tree ({BENCH})")
    if shutil.which("gcc") is None:
        skip_or_fail(
            "the benchmark builds its C loops with gcc, and there is none on PATH",
            runs_in=NEEDS_COMPILER_RUNS_IN,
        )
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--only", "ingress,egress"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows = (
        "| C read() loop |",
        "| read_batch |",
        "| read_packet(buf) |",
        "| lib.tt_queue_recv (bare cffi call) |",
        "| C write() loop |",
        "| write_batch |",
        "| lib.tt_queue_send (bare cffi call) |",
        "| read() |",
        "| tuntap_cffi.pytun TunTapDevice.read |",
        "| write() |",
        "| tuntap_cffi.pytun TunTapDevice.write |",
    )
    for row in rows:
        assert row in result.stdout
    assert "warm up first" in result.stdout
    # Only this run's namespaces: other benchmark runs may share the machine.
    match = re.search(r"namespaces (ttbench-[0-9a-f]+-)\*", result.stdout)
    assert match is not None, result.stdout
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert match.group(1) not in listed


PER_CALL = BENCH.with_name("per_call.py")


def test_the_per_call_benchmark_prints_every_row() -> None:
    if not PER_CALL.exists():
        skip_or_fail(f"the benchmark is not in this tree ({PER_CALL})")
    result = subprocess.run(
        [sys.executable, str(PER_CALL), "--rounds", "1", "--calls", "1000"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    rows = [
        "os.read",
        "lib.tt_queue_recv_next (bare cffi call)",
        "Interface.read()",
        "tuntap_cffi.pytun TunTapDevice.read",
        "os.write",
        "lib.tt_queue_send_now (bare cffi call)",
        "Interface.write()",
        "tuntap_cffi.pytun TunTapDevice.write",
    ]
    for row in rows:
        line = next((x for x in result.stdout.splitlines() if x.startswith(f"| {row} |")), "")
        # A figure in ns, and a ratio: the row ran.
        assert re.fullmatch(r"\| .+ \| [0-9,]+ \| [0-9,]+ \| [0-9.]+x \|", line), result.stdout
    with pytest.raises(subprocess.CalledProcessError):
        subprocess.run(
            [sys.executable, str(PER_CALL), "--rounds", "0"], capture_output=True, check=True
        )
