"""udp_recv_batch / udp_send_batch against real sockets of the kernel.

The sockets use local addresses of a veth device in the test's namespace.
The loopback device's packet counter is the oracle for what was batched (a
UDP_SEGMENT message crosses it as one packet however many datagrams it
carries, and reaches a UDP_GRO socket so); a plain socket on the other side
(sendto, recvfrom) checks that the datagrams are the same. UDP_GRO is turned
on by the first udp_recv_batch, so a receiver calls it once before the send.
"""

from __future__ import annotations

import errno
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
from helpers.ip import ip, ip_json
from helpers.packets import ipv4_udp
from helpers.processes import interrupt_after_ready

import tuntap_cffi as tuntap

pytestmark = pytest.mark.privileged

DUMMY = "ttudp0"  # a veth, whose peer stays down: only its addresses are used
A4, B4 = "203.0.113.201", "203.0.113.202"
A6, B6 = "2001:db8:ff::1", "2001:db8:ff::2"
IP_MTU_DISCOVER, IP_PMTUDISC_DO = 10, 2  # linux/in.h; not in every socket module
FAMILIES = {socket.AF_INET: (A4, B4), socket.AF_INET6: (A6, B6)}


@pytest.fixture(scope="module", autouse=True)
def local_addresses() -> Iterator[None]:
    ip("link", "add", DUMMY, "type", "veth", "peer", "name", f"{DUMMY}p")
    try:
        for address in (f"{A4}/32", f"{B4}/32"):
            ip("addr", "add", address, "dev", DUMMY)
        for address in (f"{A6}/128", f"{B6}/128"):
            ip("addr", "add", address, "dev", DUMMY, "nodad")
        ip("link", "set", DUMMY, "up")
        yield
    finally:
        subprocess.run(["ip", "link", "del", DUMMY], capture_output=True)


def pair(family: int = socket.AF_INET) -> tuple[socket.socket, socket.socket]:
    """Two UDP sockets, a bound to A and b to B, a connected to b."""
    a_host, b_host = FAMILIES[family]
    a = socket.socket(family, socket.SOCK_DGRAM)
    b = socket.socket(family, socket.SOCK_DGRAM)
    a.bind((a_host, 0))
    b.bind((b_host, 0))
    a.connect(b.getsockname()[:2])
    b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    return a, b


def lo_packets() -> int:
    """Packets the namespace's loopback device has carried (every local datagram)."""
    return int(ip_json("-s", "link", "show", "lo")[0]["stats64"]["tx"]["packets"])


def receive_all(sock: socket.socket, batch: tuntap.PacketBatch, count: int) -> list[bytes]:
    """``count`` datagrams by udp_recv_batch (bounded by time)."""
    got: list[bytes] = []
    deadline = time.monotonic() + 5
    while len(got) < count and time.monotonic() < deadline:
        n = tuntap.udp_recv_batch(sock, batch, timeout=1)
        got += [bytes(batch[i]) for i in range(n)]
    return got


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6], ids=["v4", "v6"])
def test_equal_sizes_go_as_one_segment_message_and_arrive_split(family: int) -> None:
    a, b = pair(family)
    with a, b:
        data = [bytes([i]) * 1200 for i in range(40)]
        batch = tuntap.PacketBatch(64)
        assert tuntap.udp_recv_batch(b, batch, timeout=0) == 0  # UDP_GRO on
        before = lo_packets()
        assert tuntap.udp_send_batch(a, data) == 40
        assert receive_all(b, batch, 40) == data
        # One UDP_SEGMENT message crossed lo, and came to b as one GRO'd message.
        assert lo_packets() - before == 1
        assert len(batch) == 40
        assert {batch.address(i) for i in range(len(batch))} == {a.getsockname()[:2]}
        assert batch.errors() and all(  # payloads of 0x01... are not IP packets
            isinstance(exc, tuntap.NotIPPacketError) for _, exc in batch.errors()
        )


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6], ids=["v4", "v6"])
def test_a_plain_receiver_gets_the_same_datagrams_the_sender_gave(family: int) -> None:
    a, b = pair(family)
    with a, b:
        sizes = [1000] * 70 + [999, 1000, 1000, 0, 5, 5, 65000, 3] + [1] * 10
        data = [bytes([i % 256]) * size for i, size in enumerate(sizes)]
        assert tuntap.udp_send_batch(a, data) == len(data)
        b.settimeout(2)
        assert [b.recv(65536) for _ in data] == data


def test_datagrams_from_plain_sends_are_received_one_per_slot_with_their_sources() -> None:
    a, b = pair()
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with a, b, c:
        c.bind((A4, 0))
        expected = []
        for i in range(30):
            sender = a if i % 3 else c
            payload = f"datagram {i}".encode()
            sender.sendto(payload, b.getsockname())
            expected.append((payload, sender.getsockname()))
        batch = tuntap.PacketBatch(64)
        assert tuntap.udp_recv_batch(b, batch, timeout=1) == 30
        assert [(bytes(batch[i]), batch.address(i)) for i in range(30)] == expected


def test_a_gro_message_larger_than_the_batch_continues_in_the_next_receive() -> None:
    a, b = pair()
    with a, b:
        first = [i.to_bytes(2, "big") * 300 for i in range(50)]
        second = [b"tail"] * 3
        batch = tuntap.PacketBatch(16)
        assert tuntap.udp_recv_batch(b, batch, timeout=0) == 0  # UDP_GRO on
        assert tuntap.udp_send_batch(a, first) == 50
        assert tuntap.udp_send_batch(a, second) == 3
        counts, got = [], []
        for _ in range(6):
            n = tuntap.udp_recv_batch(b, batch, timeout=1)
            counts.append(n)
            got += [bytes(batch[i]) for i in range(n)]
        # 50 in one GRO'd message: 16, 16, 16, then its last 2 and the next message.
        assert counts == [16, 16, 16, 5, 0, 0]
        assert got == first + second
        assert tuntap.udp_recv_batch(b, batch, timeout=0) == 0


def test_a_batch_holding_another_sockets_datagrams_is_refused() -> None:
    a, b = pair()
    c, d = pair()
    with a, b, c, d:
        batch = tuntap.PacketBatch(8)
        assert tuntap.udp_recv_batch(b, batch, timeout=0) == 0  # UDP_GRO on
        tuntap.udp_send_batch(a, [b"x" * 100] * 20)  # one GRO'd message of 20
        assert tuntap.udp_recv_batch(b, batch, timeout=1) == 8
        with pytest.raises(ValueError, match="another socket"):
            tuntap.udp_recv_batch(d, batch, timeout=0)
        assert receive_all(b, batch, 12) == [b"x" * 100] * 12


def test_timeouts() -> None:
    a, b = pair()
    with a, b:
        batch = tuntap.PacketBatch(4)
        started = time.monotonic()
        assert tuntap.udp_recv_batch(b, batch, timeout=0) == 0
        assert tuntap.udp_recv_batch(b, batch, timeout=0.2) == 0
        waited = time.monotonic() - started
        assert 0.2 <= waited < 1.5
        a.send(b"late")
        assert tuntap.udp_recv_batch(b, batch, timeout=5) == 1
        assert bytes(batch[0]) == b"late"


def test_send_to_an_address_and_ipv6_scope_free_names() -> None:
    a, b = pair(socket.AF_INET6)
    plain = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    with a, b, plain:
        plain.bind((A6, 0))
        host, port = b.getsockname()[:2]
        assert tuntap.udp_send_batch(plain, [b"one", b"two"], (host, port)) == 2
        batch = tuntap.PacketBatch(4)
        assert receive_all(b, batch, 2) == [b"one", b"two"]
        assert batch.address(0) == plain.getsockname()[:2]


def test_the_largest_datagram_of_each_family_goes_through() -> None:
    for family, size in ((socket.AF_INET, 65507), (socket.AF_INET6, 65527)):
        a, b = pair(family)
        with a, b:
            data = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
            assert tuntap.udp_send_batch(a, [data, data[:100]]) == 2
            batch = tuntap.PacketBatch(4)
            assert receive_all(b, batch, 2) == [data, data[:100]]


def test_a_datagram_larger_than_small_slots_is_cut_and_reported() -> None:
    a, b = pair()
    with a, b:
        packet = ipv4_udp("192.0.2.1", "192.0.2.2", 1, 2, b"p" * 200)
        a.send(packet)
        a.send(packet[:100] + b"q" * 200)
        batch = tuntap.PacketBatch(4, slot_size=128)
        assert tuntap.udp_recv_batch(b, batch, timeout=1) == 2
        assert bytes(batch[0]) == packet[:128] and bytes(batch[1]) == packet[:100] + b"q" * 28
        assert [index for index, _ in batch.errors()] == [0, 1]
        assert all(isinstance(e, tuntap.TruncatedPacketError) for _, e in batch.errors())


def test_a_stopped_send_says_what_went_and_resumes() -> None:
    """A datagram over the path's MTU with fragmentation forbidden (EMSGSIZE)."""
    ip("link", "add", "ttudp1", "type", "veth", "peer", "name", "ttudp1p")
    try:
        ip("link", "set", "ttudp1p", "up")
        ip("link", "set", "ttudp1", "mtu", "1500", "up")
        ip("addr", "add", "198.51.100.1/24", "dev", "ttudp1")
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with sock:
            sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
            sock.connect(("198.51.100.7", 9))
            data = [b"a" * 100, b"b" * 100, b"c" * 2000, b"d" * 100, b"e" * 100]
            with pytest.raises(tuntap.BatchWriteError) as stopped:
                tuntap.udp_send_batch(sock, data)
            exc = stopped.value
            assert isinstance(exc, OSError) and exc.errno == 90  # EMSGSIZE
            assert (exc.written, exc.index, exc.unwritten) == (2, 2, (2, 3, 4))
            assert tuntap.udp_send_batch(sock, data, start=3) == 2
    finally:
        subprocess.run(["ip", "link", "del", "ttudp1"], capture_output=True)


def test_a_batch_read_from_a_tun_is_sent_and_a_received_one_written_to_a_tun() -> None:
    """TUN -> socket -> socket -> TUN, with no Python object per packet."""
    a, b = pair()
    tun = tuntap.open("ttudp%d", tuntap.DevKind.TUN)
    inner = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with a, b, tun, inner:
        tun.set_ipv6(False)
        tun.add_address("192.0.2.1/24")
        tun.up()
        inner.bind(("192.0.2.1", 7000))
        # The kernel routes datagrams to 192.0.2.9 into the TUN.
        out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with out:
            for i in range(20):
                out.sendto(b"%d" % i * 50, ("192.0.2.9", 7001))
        read = tuntap.PacketBatch(32)
        assert tun.read_batch(read, timeout=1) == 20
        assert tuntap.udp_send_batch(a, read) == 20
        carried = tuntap.PacketBatch(32)
        assert tuntap.udp_recv_batch(b, carried, timeout=1) == 20
        assert [bytes(carried[i]) for i in range(20)] == [bytes(read[i]) for i in range(20)]
        assert not carried.errors()
        # Written back as packets from 192.0.2.9 to the TUN's own 192.0.2.1:7000.
        replies = [ipv4_udp("192.0.2.9", "192.0.2.1", 7001, 7000, b"r%d" % i) for i in range(5)]
        assert tuntap.udp_send_batch(a, replies) == 5
        assert tuntap.udp_recv_batch(b, carried, timeout=1) == 5
        assert tun.write_batch(carried) == 5
        inner.settimeout(2)
        assert [inner.recv(100) for _ in range(5)] == [b"r%d" % i for i in range(5)]


def test_ctrl_c_interrupts_a_waiting_receive() -> None:
    code = """
        import socket
        import sys
        import tuntap_cffi as tuntap
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((sys.argv[1], 0))
        print("ready", flush=True)
        try:
            tuntap.udp_recv_batch(sock, tuntap.PacketBatch(16))
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            raise SystemExit(3)
    """
    returncode, out, err, elapsed = interrupt_after_ready(code, A4)
    assert returncode == 3, err
    assert "interrupted" in out
    assert elapsed < 1.0, f"Ctrl-C took {elapsed:.3f} s"


def test_closing_the_socket_ends_a_waiting_receive() -> None:
    _, b = pair()
    errors: list[BaseException] = []
    started = threading.Event()

    def receive() -> None:
        started.set()
        try:
            tuntap.udp_recv_batch(b, tuntap.PacketBatch(4), timeout=10)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=receive)
    thread.start()
    started.wait(5)
    time.sleep(0.1)
    closed = time.monotonic()
    b.close()
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - closed < 1.0
    assert len(errors) == 1 and isinstance(errors[0], OSError)
    assert errors[0].errno == errno.EBADF and "closed" in str(errors[0])
