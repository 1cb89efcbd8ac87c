"""``tuntap_cffi.scapy.TunTapSocket``: scapy's send, recv, sniff, sr1 and select on
our interfaces.

On a pair (unprivileged) what scapy sends, the other end reads byte for byte,
and what the other end writes scapy dissects. Against the kernel (privileged,
in the test namespace, documentation addresses only): ``sr1`` of an echo
request gets the kernel's echo reply, ``sniff`` sees a datagram the kernel
routed to the TUN, and on a TAP an ARP reply sent through scapy teaches the
kernel the neighbour (``ip neigh`` is the oracle).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import pytest
from helpers.ip import TUN_ADDR, TUN_PEER, configure_v4, ip_json
from helpers.packets import ipv4_udp
from helpers.skips import import_or_skip

import tuntap_cffi as tuntap
from tuntap_cffi import DevKind

scapy_all = import_or_skip("scapy.all")  # a test dependency (the "test" extra)
from scapy.layers.inet import ICMP, IP, UDP  # noqa: E402
from scapy.layers.inet6 import IPv6  # noqa: E402
from scapy.layers.l2 import ARP, Ether  # noqa: E402
from scapy.packet import Raw  # noqa: E402

from tuntap_cffi.scapy import TunTapSocket  # noqa: E402

MAC_PEER = "02:00:00:00:53:02"
MAC_TAP = "02:00:00:00:53:01"


@pytest.fixture(autouse=True)
def quiet_scapy() -> Iterator[None]:
    verbosity = scapy_all.conf.verb
    scapy_all.conf.verb = 0
    yield
    scapy_all.conf.verb = verbosity


@pytest.fixture
def tun_pair() -> Iterator[tuple[tuntap.PairEnd, tuntap.PairEnd]]:
    a, b = tuntap.pair()
    with a, b:
        yield a, b


# -- the package and the extra ----------------------------------------------------------


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60
    )


def test_importing_the_package_does_not_import_scapy() -> None:
    result = run_python(
        """
        import sys
        import tuntap_cffi, tuntap_cffi.device.pair
        print(sorted(name for name in sys.modules if name.split(".")[0] == "scapy"))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_without_scapy_the_module_says_how_to_get_it() -> None:
    result = run_python(
        """
        import sys
        sys.modules["scapy"] = None  # as if it were not installed
        import tuntap_cffi
        try:
            import tuntap_cffi.scapy
        except ImportError as exc:
            print(type(exc).__name__, exc)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "ImportError tuntap_cffi.scapy needs scapy: pip install tuntap-cffi[scapy]" in (
        result.stdout
    )


# -- on a pair --------------------------------------------------------------------------


def test_what_scapy_sends_the_other_end_reads_byte_for_byte(tun_pair: tuple) -> None:
    a, b = tun_pair
    sock = TunTapSocket(a)
    request = IP(src=TUN_PEER, dst=TUN_ADDR) / ICMP(id=7, seq=1) / b"ping"
    assert sock.send(request) == len(bytes(request))
    assert bytes(b.read_packet(timeout=1).body) == bytes(request)
    assert request.sent_time > 0
    six = IPv6(src="2001:db8::2", dst="2001:db8::1") / UDP(sport=1, dport=2) / b"six"
    sock.send(six)
    assert bytes(b.read_packet(timeout=1).body) == bytes(six)
    sock.send(bytes(request))  # bytes go as they are
    assert bytes(b.read_packet(timeout=1).body) == bytes(request)


def test_recv_dissects_by_the_ip_version_and_stamps_the_arrival(tun_pair: tuple) -> None:
    a, b = tun_pair
    sock = TunTapSocket(a)
    v4 = ipv4_udp(TUN_ADDR, TUN_PEER, 4000, 5000, b"hello")
    before = time.time()
    b.write_packet(v4)
    got = sock.recv()
    assert isinstance(got, IP) and bytes(got) == v4 and got[UDP].dport == 5000
    assert before <= got.time <= time.time()
    b.write_packet(bytes(IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP()))
    assert isinstance(sock.recv(), IPv6)
    # What the read rules would refuse still reaches scapy, as far as it goes.
    import os

    os.write(b.fileno(), b"\x00" * 20)
    os.write(b.fileno(), v4[:30])
    not_ip, truncated = sock.recv(), sock.recv()
    assert isinstance(not_ip, Raw) and bytes(not_ip) == b"\x00" * 20
    assert isinstance(truncated, IP) and bytes(truncated)[:20] == v4[:20]


def test_a_tap_gives_ether_frames() -> None:
    a, b = tuntap.pair(DevKind.TAP)
    with a, b:
        sock = TunTapSocket(a)
        arp = Ether(src=MAC_PEER, dst="ff:ff:ff:ff:ff:ff") / ARP(psrc=TUN_PEER, pdst=TUN_ADDR)
        b.write_packet(bytes(arp))
        got = sock.recv()
        assert isinstance(got, Ether) and got[ARP].pdst == TUN_ADDR
        sock.send(Ether(dst=MAC_PEER, src=MAC_TAP) / IP(dst=TUN_PEER) / UDP())
        frame = b.read_packet(timeout=1)
        assert frame.protocol == 0x0800 and bytes(frame.body[:6]) == bytes.fromhex("020000005302")


def test_sniff_and_select_on_a_pair(tun_pair: tuple) -> None:
    a, b = tun_pair
    sock = TunTapSocket(a)
    assert TunTapSocket.select([sock], 0) == []
    for port in (1, 2, 3):
        b.write_packet(ipv4_udp(TUN_ADDR, TUN_PEER, 4000, port, b"x"))
    assert TunTapSocket.select([sock], 1) == [sock]
    sniffed = sock.sniff(count=3, timeout=5)
    assert [p[UDP].dport for p in sniffed] == [1, 2, 3]
    start = time.monotonic()
    assert len(sock.sniff(timeout=0.3)) == 0
    assert time.monotonic() - start < 3


def test_sr1_through_a_pair_gets_the_answer_the_other_end_writes(tun_pair: tuple) -> None:
    a, b = tun_pair

    def answer() -> None:
        request = IP(bytes(b.read_packet(timeout=5).body))
        reply = IP(src=request.dst, dst=request.src) / ICMP(
            type=0, id=request[ICMP].id, seq=request[ICMP].seq
        )
        b.write_packet(bytes(reply))

    answerer = threading.Thread(target=answer, daemon=True)
    answerer.start()
    sock = TunTapSocket(a)
    reply = sock.sr1(IP(src=TUN_PEER, dst=TUN_ADDR) / ICMP(id=9, seq=4), timeout=5)
    answerer.join(5)
    assert reply is not None and reply[ICMP].type == 0 and reply[ICMP].id == 9


def test_sr_through_a_pair_matches_each_answer_to_its_request(tun_pair: tuple) -> None:
    a, b = tun_pair

    def answer() -> None:
        for _ in range(3):
            request = IP(bytes(b.read_packet(timeout=5).body))
            if request[ICMP].seq == 2:
                continue  # one goes unanswered
            reply = IP(src=request.dst, dst=request.src) / ICMP(
                type=0, id=request[ICMP].id, seq=request[ICMP].seq
            )
            b.write_packet(bytes(reply))

    answerer = threading.Thread(target=answer, daemon=True)
    answerer.start()
    requests = [IP(src=TUN_PEER, dst=TUN_ADDR) / ICMP(id=5, seq=seq) for seq in (1, 2, 3)]
    answered, unanswered = TunTapSocket(a).sr(requests, timeout=2)
    answerer.join(5)
    assert sorted((sent[ICMP].seq, got[ICMP].seq) for sent, got in answered) == [(1, 1), (3, 3)]
    assert [p[ICMP].seq for p in unanswered] == [2]


def test_after_the_peer_closes_recv_ends_and_sniff_returns_what_it_had() -> None:
    a, b = tuntap.pair()
    with a:
        sock = TunTapSocket(a)
        b.write_packet(ipv4_udp(TUN_ADDR, TUN_PEER, 4000, 9, b"last"))
        b.close()
        start = time.monotonic()
        sniffed = sock.sniff(timeout=5)
        assert [p[UDP].dport for p in sniffed] == [9]
        assert time.monotonic() - start < 4  # ended by the close, not the timeout
        with pytest.raises(EOFError, match="other end of the pair is closed"):
            TunTapSocket(a).recv()


def test_closing_the_socket_leaves_the_interface_open(tun_pair: tuple) -> None:
    a, b = tun_pair
    with TunTapSocket(a) as sock:
        assert sock.interface is a and sock.iface == a.name
    assert sock.closed and not a.closed
    sock.close()  # twice is harmless
    assert sock.fileno() == -1
    with pytest.raises(OSError, match="TunTapSocket is closed"):
        sock.send(IP())
    with pytest.raises(OSError, match="TunTapSocket is closed"):
        sock.recv()
    a.write_packet(bytes(IP(dst=TUN_ADDR)))
    assert b.read_packet(timeout=1)


def test_closing_the_interface_ends_a_waiting_recv(tun_pair: tuple) -> None:
    a, _ = tun_pair
    sock = TunTapSocket(a)
    outcome: list[BaseException] = []

    def receive() -> None:
        try:
            sock.recv()
        except BaseException as exc:
            outcome.append(exc)

    reader = threading.Thread(target=receive, daemon=True)
    reader.start()
    time.sleep(0.2)
    a.close()
    reader.join(5)
    assert not reader.is_alive()
    assert isinstance(outcome[0], EOFError) and "closed interface" in str(outcome[0])


@pytest.mark.parametrize(
    "make, exc, match",
    [
        (lambda: TunTapSocket("tun0"), TypeError, "takes an Interface"),
        (lambda: TunTapSocket(None), TypeError, "takes an Interface"),
        (lambda: TunTapSocket(tuntap.AsyncInterface), TypeError, "takes an Interface"),
    ],
)
def test_bad_interfaces(make: object, exc: type[BaseException], match: str) -> None:
    with pytest.raises(exc, match=match):
        make()


def test_a_closed_interface_is_refused() -> None:
    a, b = tuntap.pair()
    a.close()
    b.close()
    with pytest.raises(tuntap.InterfaceClosedError):
        TunTapSocket(a)


def test_what_the_write_rules_refuse_is_refused_through_scapy(tun_pair: tuple) -> None:
    a, b = tun_pair
    sock = TunTapSocket(a)
    with pytest.raises(tuntap.NotIPPacketError):
        sock.send(Ether() / IP())
    with pytest.raises(tuntap.JumboPacketError):
        sock.send(IP() / Raw(b"x" * 2000))
    with pytest.raises(TypeError, match="scapy packet or bytes"):
        sock.send(42)
    with pytest.raises(TypeError, match="scapy packet or bytes"):
        sock.send("IP()")
    c, d = tuntap.pair(DevKind.TAP)
    with c, d, pytest.raises(tuntap.TruncatedPacketError):
        TunTapSocket(c).send(Raw(b"short"))
    with pytest.raises(TimeoutError):
        b.read_packet(timeout=0.05)


# -- against the kernel ------------------------------------------------------------------


@pytest.mark.privileged
def test_sr1_of_an_echo_request_gets_the_kernels_reply(tun_v4: tuntap.Interface) -> None:
    sock = TunTapSocket(tun_v4)
    request = IP(src=TUN_PEER, dst=TUN_ADDR) / ICMP(id=0x5301, seq=3) / b"scapy"
    reply = sock.sr1(request, timeout=2)
    assert reply is not None
    assert (reply[IP].src, reply[IP].dst) == (TUN_ADDR, TUN_PEER)
    assert (reply[ICMP].type, reply[ICMP].id, reply[ICMP].seq) == (0, 0x5301, 3)
    assert bytes(reply[ICMP].payload) == b"scapy"


@pytest.mark.privileged
def test_sniff_sees_a_datagram_the_kernel_routed_to_the_tun(tun_v4: tuntap.Interface) -> None:
    sock = TunTapSocket(tun_v4)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(b"to the tun", (TUN_PEER, 5353))
    sniffed = sock.sniff(count=1, timeout=5, lfilter=lambda p: UDP in p)
    assert len(sniffed) == 1
    packet = sniffed[0]
    assert (packet[IP].src, packet[IP].dst, packet[UDP].dport) == (TUN_ADDR, TUN_PEER, 5353)
    assert bytes(packet[UDP].payload) == b"to the tun"


@pytest.mark.privileged
def test_on_a_tap_an_arp_reply_through_scapy_teaches_the_kernel(tap: tuntap.Interface) -> None:
    tap.set_hwaddr(MAC_TAP)
    configure_v4(tap.name)
    sock = TunTapSocket(tap)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(b"after arp", (TUN_PEER, 5353))  # the kernel asks who has it
        asked = sock.sniff(count=1, timeout=5, lfilter=lambda p: ARP in p and p[ARP].op == 1)
        assert len(asked) == 1 and asked[0][ARP].pdst == TUN_PEER
        assert asked[0][ARP].hwsrc == MAC_TAP
        sock.send(
            Ether(src=MAC_PEER, dst=MAC_TAP)
            / ARP(op=2, hwsrc=MAC_PEER, psrc=TUN_PEER, hwdst=MAC_TAP, pdst=TUN_ADDR)
        )
        datagram = sock.sniff(count=1, timeout=5, lfilter=lambda p: UDP in p)
    assert len(datagram) == 1 and datagram[0][Ether].dst == MAC_PEER
    assert bytes(datagram[0][UDP].payload) == b"after arp"
    (neighbour,) = ip_json("neigh", "show", "dev", tap.name, TUN_PEER)
    assert neighbour["lladdr"] == MAC_PEER
    assert neighbour["state"][0] in ("REACHABLE", "STALE", "DELAY")
