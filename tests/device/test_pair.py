"""``tuntap.pair()``: two connected ends with an Interface's packet API and no device.

None of these tests is privileged: a pair needs no root, no namespace and no
/dev/net/tun (the last test runs one as nobody with /dev/net/tun closed to
it). The kernel joins the ends (a SOCK_SEQPACKET socketpair); its fds are
checked with select, poll and asyncio, and what went by with a pcap file
read back by dpkt.
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator

import dpkt
import pytest
from helpers.ip import TUN_ADDR, TUN_ADDR6, TUN_PEER, TUN_PEER6
from helpers.packets import ethernet, ipv4_udp, ipv6_udp
from helpers.processes import NOBODY, open_fds, spawn_with_private_tun, wait_for_line

import tuntap_cffi as tuntap
from tuntap_cffi import DevKind, PacketBatch

MAC_A = bytes.fromhex("020000005301")
MAC_B = bytes.fromhex("020000005302")


def udp(seq: int, size: int = 0) -> bytes:
    """An IPv4/UDP packet numbered ``seq`` (in its payload), ``size`` bytes of payload at least."""
    payload = struct.pack("!I", seq).ljust(size, b"\xa5")
    return ipv4_udp(TUN_PEER, TUN_ADDR, 4000, 5000, payload, ident=seq & 0xFFFF)


def seq_of(body: bytes | memoryview) -> int:
    return int(struct.unpack_from("!I", body, 28)[0])


def frame(seq: int, size: int = 0) -> bytes:
    return ethernet(MAC_B, MAC_A, 0x0800, udp(seq, size))


@pytest.fixture
def tun_pair() -> Iterator[tuple[tuntap.PairEnd, tuntap.PairEnd]]:
    a, b = tuntap.pair()
    with a, b:
        yield a, b


@pytest.fixture
def tap_pair() -> Iterator[tuple[tuntap.PairEnd, tuntap.PairEnd]]:
    a, b = tuntap.pair(DevKind.TAP)
    with a, b:
        yield a, b


def in_thread(target: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """Run ``target`` in a daemon thread; the list gets its result or its exception."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(target())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


# -- what one end writes, the other reads ---------------------------------------


def test_what_one_end_writes_the_other_reads_both_ways(tun_pair: tuple) -> None:
    a, b = tun_pair
    v4 = udp(1, 100)
    v6 = ipv6_udp(TUN_PEER6, TUN_ADDR6, 4000, 5000, b"six")
    a.write_packet(v4)
    a.write_packet(tuntap.parse_packet(v6))
    got = b.read_packet(timeout=1)
    assert (bytes(got.body), got.protocol, got.kind) == (v4, tuntap.ETH_P_IP, DevKind.TUN)
    got = b.read_packet(timeout=1)
    assert (bytes(got.body), got.protocol) == (v6, tuntap.ETH_P_IPV6)
    b.write_packet(bytearray(v4))
    b.write_packet(memoryview(v6))
    assert [bytes(a.read_packet(timeout=1).body) for _ in range(2)] == [v4, v6]
    with pytest.raises(TimeoutError):
        a.read_packet(timeout=0.05)


def test_the_ends_say_what_they_are(tun_pair: tuple) -> None:
    a, b = tun_pair
    assert isinstance(a, tuntap.Interface) and isinstance(a, tuntap.PairEnd)
    assert a.kind == b.kind == DevKind.TUN
    assert a.name != b.name and a.name.startswith("pair") and b.name.startswith("pair")
    assert a.write_limit == b.write_limit == 1600  # what a device with MTU 1500 takes
    assert a.mtu == 1500
    assert not a.offload and not a.multi_queue
    assert not a.closed and a.fileno() != b.fileno()
    assert a.name in repr(a) and "TUN" in repr(a)
    assert os.get_blocking(a.fileno()) is False


def test_a_tap_pair_carries_frames_and_their_ethertype(tap_pair: tuple) -> None:
    a, b = tap_pair
    tagged = MAC_B + MAC_A + struct.pack("!HHH", 0x8100, 7, 0x86DD) + bytes(40)
    a.write_packet(frame(1))
    a.write_packet(tagged)
    first, second = b.read_packet(timeout=1), b.read_packet(timeout=1)
    assert (bytes(first.body), first.protocol, first.kind) == (frame(1), 0x0800, DevKind.TAP)
    assert (bytes(second.body), second.protocol) == (tagged, 0x86DD)
    assert a.write_limit == 1600
    _, big = tuntap.pair(DevKind.TAP, mtu=9000)
    with _, big:
        assert big.write_limit == 9000 + 14 + 4  # the MTU, an Ethernet header and a tag


def test_every_packet_is_read_in_order_through_batches(tun_pair: tuple) -> None:
    a, b = tun_pair
    packets = [udp(i, i % 1400) for i in range(60)]
    assert a.write_batch(packets) == 60
    batch = PacketBatch(16)
    got: list[int] = []
    while len(got) < 60:
        count = b.read_batch(batch, timeout=1)
        assert count > 0 and not batch.errors()
        got.extend(seq_of(p.body) for p in batch.packets())
    assert got == list(range(60))
    # A relay: the batch goes on as it is, from b to a, then as Packets.
    a.write_packet(udp(100))
    a.write_packet(udp(101))
    assert b.read_batch(batch, timeout=1) == 2
    assert b.write_batch(batch) == 2
    assert [seq_of(p.body) for p in a.read_packets(8, timeout=1)] == [100, 101]
    assert a.read_packets(8, timeout=0.05) == []


def test_a_packet_of_exactly_the_write_limit_goes_through(tun_pair: tuple) -> None:
    a, b = tun_pair
    packet = udp(7, a.write_limit - 28)
    assert len(packet) == a.write_limit
    a.write_packet(packet)
    assert bytes(b.read_packet(timeout=1).body) == packet
    a.write_batch([packet])
    batch = PacketBatch(2)
    assert b.read_batch(batch, timeout=1) == 1 and bytes(batch[0]) == packet


def test_a_large_mtu_takes_large_packets(tmp_path: object) -> None:
    a, b = tuntap.pair(mtu=65535)
    with a, b:
        packet = udp(1, 65535 - 28)
        a.write_packet(packet)
        assert bytes(b.read_packet(timeout=1).body) == packet
        batch = PacketBatch(1)
        a.write_packet(packet)
        assert b.read_batch(batch, timeout=1) == 1 and bytes(batch[0]) == packet


# -- the rules of a device of its kind -------------------------------------------


def test_the_write_rules_refuse_and_write_nothing(tun_pair: tuple, tap_pair: tuple) -> None:
    a, b = tun_pair
    with pytest.raises(tuntap.JumboPacketError, match="1601 bytes > 1600"):
        a.write_packet(udp(1, 1601 - 28))
    with pytest.raises(tuntap.NotIPPacketError):
        a.write_packet(b"\x00" * 40)
    with pytest.raises(tuntap.NotIPPacketError):
        a.write_packet(b"")
    with pytest.raises(tuntap.BatchWriteError) as stopped:
        a.write_batch([udp(1), b"\x10" * 30, udp(2)])
    assert isinstance(stopped.value, tuntap.NotIPPacketError)
    assert (stopped.value.written, stopped.value.index) == (1, 1)
    with pytest.raises(tuntap.JumboPacketError):
        a.write_batch([udp(3, 2000)])
    assert seq_of(b.read_packet(timeout=1).body) == 1
    with pytest.raises(TimeoutError):
        b.read_packet(timeout=0.05)

    c, d = tap_pair
    with pytest.raises(tuntap.TruncatedPacketError, match="13 bytes < 14"):
        c.write_packet(bytes(13))
    with pytest.raises(tuntap.JumboPacketError):
        c.write_packet(frame(1, 1601))
    c.write_packet(bytes(14))  # a bare Ethernet header is a frame
    assert bytes(d.read_packet(timeout=1).body) == bytes(14)
    with pytest.raises(TimeoutError):
        d.read_packet(timeout=0.05)


def test_the_read_rules_raise_the_seeds_errors_with_the_packet(tun_pair: tuple) -> None:
    """What reaches an end is judged as a device's reads are; bytes written on the fd
    itself (past the write rules) stand for what a device may deliver."""
    a, b = tun_pair
    short = udp(1)[:24]  # an IPv4 header that promises more
    os.write(b.fileno(), short)
    os.write(b.fileno(), b"\x00" * 30)
    os.write(b.fileno(), udp(2))
    with pytest.raises(tuntap.TruncatedPacketError) as truncated:
        a.read_packet(timeout=1)
    assert truncated.value.packet is not None and bytes(truncated.value.packet.body) == short
    with pytest.raises(tuntap.NotIPPacketError):
        a.read_packet(timeout=1)
    assert seq_of(a.read_packet(timeout=1).body) == 2
    # The same three through a batch: the bad ones by their slots, the rest read.
    for data in (short, b"\x00" * 30, udp(3)):
        os.write(b.fileno(), data)
    batch = PacketBatch(8)
    assert a.read_batch(batch, timeout=1) == 3
    errors = batch.errors()
    assert [index for index, _ in errors] == [0, 1]
    assert isinstance(errors[0][1], tuntap.TruncatedPacketError)
    assert isinstance(errors[1][1], tuntap.NotIPPacketError)
    assert [seq_of(p.body) for p in batch.packets()] == [3]


def test_a_packet_longer_than_the_readers_buffer_is_cut_as_a_devices_is(tun_pair: tuple) -> None:
    a, b = tun_pair
    a.write_packet(udp(1, 500))
    buffer = bytearray(100)
    with pytest.raises(tuntap.TruncatedPacketError):
        b.read_packet(buffer, timeout=1)
    with pytest.raises(TimeoutError):  # the rest of it went, as on a device
        b.read_packet(timeout=0.05)


def test_an_empty_message_on_the_fd_is_a_short_read_not_the_peers_close(tun_pair: tuple) -> None:
    """The ends never send an empty message (the write rules refuse one); written on
    the fd itself, one is read as the seed's empty read, and the pair lives on."""
    a, b = tun_pair
    os.write(b.fileno(), b"")
    with pytest.raises(tuntap.ShortReadError):
        a.read_packet(timeout=1)
    b.write_packet(udp(5))
    assert seq_of(a.read_packet(timeout=1).body) == 5


# -- nothing dropped: a writer waits -----------------------------------------------


def fill(end: tuntap.PairEnd, size: int = 1400) -> int:
    """Write numbered packets until the peer's queue is full (bounded); how many went."""
    for count in range(100_000):
        try:
            end.write_packet(udp(count, size), timeout=0.02)
        except TimeoutError:
            return count
    raise AssertionError("the queue never filled")


def test_a_writer_whose_peer_does_not_read_times_out_and_nothing_is_lost(tun_pair: tuple) -> None:
    a, b = tun_pair
    written = fill(a)
    assert written > 0
    with pytest.raises(tuntap.BatchWriteError) as stopped:
        a.write_batch([udp(written), udp(written + 1)], timeout=0.02)
    assert isinstance(stopped.value, TimeoutError) and stopped.value.written == 0
    got: list[int] = []
    while True:
        try:
            got.append(seq_of(b.read_packet(timeout=0.05).body))
        except TimeoutError:
            break
    assert got == list(range(written))


def test_a_blocked_writer_goes_on_as_the_reader_reads(tun_pair: tuple) -> None:
    a, b = tun_pair
    total = 2000
    writer, outcome = in_thread(lambda: [a.write_packet(udp(i, 1400)) for i in range(total)])
    got = []
    deadline = time.monotonic() + 20
    while len(got) < total and time.monotonic() < deadline:
        got.append(seq_of(b.read_packet(timeout=5).body))
        if len(got) == 10:
            time.sleep(0.1)  # the writer is blocked meanwhile, and must wait
    writer.join(5)
    assert not writer.is_alive() and not isinstance(outcome[0], BaseException)
    assert got == list(range(total))


def test_a_blocked_write_batch_goes_on_as_the_reader_reads(tun_pair: tuple) -> None:
    a, b = tun_pair
    packets = [udp(i, 1000) for i in range(1000)]
    writer, outcome = in_thread(lambda: a.write_batch(packets))
    batch = PacketBatch(64)
    got: list[int] = []
    deadline = time.monotonic() + 20
    while len(got) < 1000 and time.monotonic() < deadline:
        b.read_batch(batch, timeout=5)
        got.extend(seq_of(p.body) for p in batch.packets())
    writer.join(5)
    assert outcome == [1000]
    assert got == list(range(1000))


# -- closing -------------------------------------------------------------------------


def test_close_wakes_the_ends_own_blocked_calls(tun_pair: tuple) -> None:
    a, _ = tun_pair
    reader, read_outcome = in_thread(lambda: a.read_packet())
    batch_reader, batch_outcome = in_thread(lambda: a.read_batch(PacketBatch(4)))
    fill(a)
    writer, write_outcome = in_thread(lambda: a.write_packet(udp(0, 1400)))
    time.sleep(0.2)
    assert reader.is_alive() and batch_reader.is_alive() and writer.is_alive()
    a.close()
    for thread in (reader, batch_reader, writer):
        thread.join(5)
        assert not thread.is_alive()
    for outcome in (read_outcome, batch_outcome, write_outcome):
        assert isinstance(outcome[0], tuntap.InterfaceClosedError), outcome
    assert a.closed
    with pytest.raises(tuntap.InterfaceClosedError):
        a.write_packet(udp(1))
    with pytest.raises(tuntap.InterfaceClosedError):
        a.fileno()


@pytest.mark.parametrize("closer_had_unread", [False, True], ids=["idle", "with-unread"])
def test_after_the_peer_closes_reads_drain_then_break(closer_had_unread: bool) -> None:
    """What was queued is read first; then reads and writes raise BrokenPipeError.
    (A closing end that left packets unread makes the kernel say ECONNRESET once,
    ahead of the queue: that too is the peer's close, and loses nothing.)"""
    a, b = tuntap.pair()
    with b:
        for i in range(3):
            a.write_packet(udp(i))
        if closer_had_unread:
            b.write_packet(udp(99))
        a.close()
        assert seq_of(b.read_packet(timeout=1).body) == 0
        batch = PacketBatch(8)
        assert b.read_batch(batch, timeout=1) == 2
        assert [seq_of(p.body) for p in batch.packets()] == [1, 2]
        for read in (
            lambda: b.read_packet(),
            lambda: b.read_packet(timeout=1),
            lambda: b.read_packet(bytearray(2000)),
            lambda: b.read_batch(batch),
            lambda: b.read_packets(timeout=1),
        ):
            with pytest.raises(BrokenPipeError, match="other end of the pair is closed"):
                read()
        with pytest.raises(BrokenPipeError, match="other end of the pair is closed"):
            b.write_packet(udp(1))
        with pytest.raises(BrokenPipeError):
            b.write_packet(udp(1), timeout=1)
        with pytest.raises(tuntap.BatchWriteError) as stopped:
            b.write_batch([udp(1), udp(2)])
        assert isinstance(stopped.value, BrokenPipeError) and stopped.value.written == 0


def test_the_peers_close_wakes_a_blocked_reader_and_writer() -> None:
    a, b = tuntap.pair()
    c, d = tuntap.pair()
    with b, d:
        reader, read_outcome = in_thread(lambda: b.read_packet())
        fill(d)
        writer, write_outcome = in_thread(lambda: d.write_packet(udp(0, 1400)))
        time.sleep(0.2)
        assert reader.is_alive() and writer.is_alive()
        a.close()
        c.close()
        for thread in (reader, writer):
            thread.join(5)
            assert not thread.is_alive()
        assert isinstance(read_outcome[0], BrokenPipeError), read_outcome
        assert isinstance(write_outcome[0], BrokenPipeError), write_outcome


def test_a_write_to_a_closed_peer_raises_even_with_sigpipe_at_its_default() -> None:
    """The end sends without SIGPIPE: a program that restored SIGPIPE's default
    (as CLI tools do) gets BrokenPipeError instead of dying."""
    code = """
        import signal
        import tuntap_cffi as tuntap
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        a, b = tuntap.pair()
        b.close()
        try:
            a.write_packet(bytes([0x45]) + bytes(19))
        except BrokenPipeError:
            print("BrokenPipeError")
        try:
            a.write_batch([bytes([0x45]) + bytes(19)])
        except BrokenPipeError:
            print("BrokenPipeError")
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, (result.returncode, -signal.SIGPIPE, result.stderr)
    assert result.stdout.split() == ["BrokenPipeError", "BrokenPipeError"]


def test_the_ends_leave_no_fd_behind() -> None:
    before = open_fds()
    for kind in (DevKind.TUN, DevKind.TAP):
        a, b = tuntap.pair(kind)
        a.close()
        a.close()  # harmless
        b.close()
    with tuntap.pair()[0] as a:
        pass
    assert a.closed
    del a
    import gc

    gc.collect()
    assert open_fds() == before


def test_an_unclosed_end_warns_and_closes() -> None:
    a, b = tuntap.pair()
    fds = (a.fileno(), b.fileno())
    with pytest.warns(ResourceWarning, match="unclosed"):
        del a, b
        import gc

        gc.collect()
    for fd in fds:
        with pytest.raises(OSError):
            os.fstat(fd)


# -- no configuration ------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda e: e.link,
        lambda e: e.add_address("192.0.2.1/24"),
        lambda e: e.del_address("192.0.2.1/24"),
        lambda e: e.addresses(),
        lambda e: e.get_addr_list(),
        lambda e: e.add_route("198.51.100.0/24"),
        lambda e: e.routes(),
        lambda e: e.up(),
        lambda e: e.down(),
        lambda e: e.is_up,
        lambda e: e.set_mtu(1400),
        lambda e: e.stats,
        lambda e: e.ifindex,
        lambda e: e.hwaddr,
        lambda e: e.set_txqueuelen(10),
        lambda e: e.set_ipv6(False),
        lambda e: e.set_persist(True),
        lambda e: e.detach_queue(),
        lambda e: e.attach_queue(),
        lambda e: tuntap.AsyncInterface(e).events(),
    ],
)
def test_configuration_does_not_exist_on_an_end(
    tun_pair: tuple, call: Callable[[tuntap.PairEnd], object]
) -> None:
    a, _ = tun_pair
    with pytest.raises(tuntap.NoDeviceError, match="a pair end has no device") as refused:
        call(a)
    assert isinstance(refused.value, tuntap.TunTapError)
    assert a.name in str(refused.value)


def test_an_end_has_no_link_attribute_to_probe(tun_pair: tuple) -> None:
    a, _ = tun_pair
    assert not hasattr(a, "link") and not hasattr(a, "ifindex")
    assert hasattr(a, "read_packet") and hasattr(a, "write_limit")


# -- waiting on the fd: select, poll, asyncio ------------------------------------------


def test_the_fd_works_with_select_and_poll(tun_pair: tuple) -> None:
    a, b = tun_pair
    assert select.select([b.fileno()], [], [], 0)[0] == []
    a.write_packet(udp(1))
    assert select.select([b.fileno()], [], [], 1)[0] == [b.fileno()]
    poller = select.poll()
    poller.register(b.fileno(), select.POLLIN)
    assert poller.poll(1000) == [(b.fileno(), select.POLLIN)]
    b.read_packet(timeout=0)
    assert poller.poll(0) == []


def test_asyncio_awaits_an_end() -> None:
    async def read_all(ab: tuntap.AsyncInterface, count: int) -> list[int]:
        got: list[int] = []
        while len(got) < count:
            got.extend(seq_of(p.body) for p in await ab.read_packets())
        return got

    async def main() -> list[int]:
        a, b = tuntap.pair()
        async with tuntap.AsyncInterface(a) as aa, tuntap.AsyncInterface(b) as ab:
            assert aa.name == a.name and aa.kind == DevKind.TUN
            read = asyncio.ensure_future(ab.read_packet())
            await asyncio.sleep(0.05)
            assert not read.done()  # waiting on the fd
            await aa.write_packet(udp(1))
            first = await asyncio.wait_for(read, 1)
            # More than the socket holds: the writer awaits room as the reader reads.
            reader = asyncio.ensure_future(read_all(ab, 2000))
            await asyncio.wait_for(aa.write_batch([udp(i, 1000) for i in range(2, 2002)]), 10)
            return [seq_of(first.body), *await asyncio.wait_for(reader, 10)]

    assert asyncio.run(main()) == list(range(1, 2002))


def test_a_pcap_of_what_went_by(tun_pair: tuple, tmp_path: object) -> None:
    a, b = tun_pair
    path = os.path.join(str(tmp_path), "pair.pcap")
    with tuntap.PcapWriter(path, b.kind) as pcap:
        for i in range(3):
            a.write_packet(udp(i))
            pcap.write(b.read_packet(timeout=1))
    with open(path, "rb") as f:
        records = list(dpkt.pcap.Reader(f))
    assert [bytes(buf) for _, buf in records] == [udp(i) for i in range(3)]


# -- no root needed ----------------------------------------------------------------------

AS_NOBODY = """
    import os
    import tuntap_cffi as tuntap
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    try:
        tuntap.open("nobody%d")
    except OSError as exc:
        print("open refused", type(exc).__name__, flush=True)
    with open("/proc/self/status") as f:
        print("capabilities", [ln.split()[1] for ln in f if ln.startswith("CapEff")][0], flush=True)
    a, b = tuntap.pair()
    a.write_packet(bytes([0x45, 0, 0, 20]) + bytes(16))
    print("pair read", len(b.read_packet(timeout=5).body), b.fileno() > 2, flush=True)
    c, d = tuntap.pair(tuntap.DevKind.TAP)
    c.write_batch([bytes(14), bytes(60)])
    print("tap pair read", [len(p.body) for p in d.read_packets(timeout=5)], flush=True)
    a.close()
    try:
        b.read_packet(timeout=5)
    except BrokenPipeError:
        print("pair closed", flush=True)
""".replace("NOBODY", str(NOBODY))


def test_a_pair_works_as_nobody_without_dev_net_tun() -> None:
    child = spawn_with_private_tun(AS_NOBODY, mode="0600")
    try:
        refused = wait_for_line(child, "open refused")
        capabilities = wait_for_line(child, "capabilities")
        read = wait_for_line(child, "pair read")
        tap_read = wait_for_line(child, "tap pair read")
        closed = wait_for_line(child, "pair closed")
        _, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert refused == "open refused PermissionError"
    assert capabilities == "capabilities 0000000000000000"
    assert read == "pair read 20 True"
    assert tap_read == "tap pair read [14, 60]"
    assert closed == "pair closed"
    assert child.returncode == 0, err


def test_socket_pair_semantics_the_ends_rely_on() -> None:
    """The kernel behaviour underneath, checked directly: SOCK_SEQPACKET keeps
    boundaries, and a closed peer is a 0-byte read with RDHUP."""
    x, y = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with x, y:
        x.send(b"one")
        x.send(b"two!")
        assert (y.recv(100), y.recv(100)) == (b"one", b"two!")
        x.close()
        rdhup = getattr(select, "POLLRDHUP", 0x2000)  # PyPy's select lacks the name
        poller = select.poll()
        poller.register(y, rdhup)
        assert poller.poll(0)[0][1] & rdhup
        assert y.recv(100) == b""
