"""udp_send_batch's destination: the scope of an IPv6 4-tuple, the ports it
refuses before sending, and host names resolved once.

The link-local test has two links with fe80::/64 routes, and the kernel
prefers the decoy's (a lower metric): a datagram to fe80::9 goes out the real
link only when the scope id says so. A packet socket on the real link's peer
sees what went out of it.
"""

from __future__ import annotations

import collections
import socket
import struct
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from helpers.ip import ip

import tuntap_cffi as tuntap
import tuntap_cffi.udp as udp

pytestmark = pytest.mark.privileged

LINK, PEER, DECOY = "ttll0", "ttll0p", "ttll1"
FAR = "fe80::9"  # on the far side of LINK (a neighbour entry, no host)
FAR_MAC = "02:00:00:00:00:09"
ETH_P_IPV6 = 0x86DD


def ifindex(name: str) -> int:
    """The interface index of ``name``, asked over rtnetlink (PyPy's socket
    module has no if_nametoindex)."""
    with tuntap.Link(name) as link:
        return link.ifindex


@pytest.fixture(scope="module")
def links() -> Iterator[int]:
    """The real link's ifindex."""
    ip("link", "add", LINK, "type", "veth", "peer", "name", PEER)
    try:
        ip("link", "add", DECOY, "type", "veth", "peer", "name", f"{DECOY}p")
        ip("addr", "add", "fe80::a/64", "dev", LINK, "nodad")
        ip("addr", "add", "fe80::d/64", "dev", DECOY, "nodad")
        for name in (LINK, PEER, DECOY, f"{DECOY}p"):
            ip("link", "set", name, "up")
        ip("-6", "route", "add", "fe80::/64", "dev", DECOY, "metric", "1")
        for name in (LINK, DECOY):
            ip("-6", "neigh", "replace", FAR, "lladdr", FAR_MAC, "dev", name)
        yield ifindex(LINK)
    finally:
        for name in (LINK, DECOY):
            subprocess.run(["ip", "link", "del", name], capture_output=True)


def capture(dev: str) -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IPV6))
    sock.bind((dev, ETH_P_IPV6))
    sock.settimeout(0.3)
    return sock


def udp_payloads(sock: socket.socket, port: int) -> list[bytes]:
    """The payloads of the UDP datagrams to ``port`` that the packet socket saw."""
    got = []
    try:
        while True:
            frame = sock.recv(4096)
            ipv6, udp_header = frame[14:54], frame[54:62]
            if ipv6[6] == 17 and struct.unpack("!H", udp_header[2:4])[0] == port:
                got.append(frame[62:])
    except socket.timeout:
        return got


def test_a_link_local_send_goes_by_the_scope_id_of_a_4_tuple(links: int) -> None:
    with capture(PEER) as far, socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sent = [b"one", b"two!"]  # of two sizes: two messages, not one UDP_SEGMENT run
        assert tuntap.udp_send_batch(sock, sent, (FAR, 4001, 0, links)) == 2
        assert udp_payloads(far, 4001) == sent
        # The same destination named with %iface, and both ways at once when they agree.
        assert tuntap.udp_send_batch(sock, [b"three"], (f"{FAR}%{LINK}", 4002)) == 1
        assert tuntap.udp_send_batch(sock, [b"four"], (f"{FAR}%{LINK}", 4002, 0, links)) == 1
        assert udp_payloads(far, 4002) == [b"three", b"four"]
        # Without a scope the kernel takes the decoy link: nothing here.
        tuntap.udp_send_batch(sock, [b"elsewhere"], (FAR, 4003))
        assert udp_payloads(far, 4003) == []


def test_a_4_tuple_is_checked_before_any_send(links: int) -> None:
    decoy = ifindex(DECOY)
    with capture(PEER) as far, socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        with pytest.raises(ValueError, match="scope"):
            tuntap.udp_send_batch(sock, [b"x"], (f"{FAR}%{LINK}", 4004, 0, decoy))
        with pytest.raises(ValueError, match="flowinfo"):
            tuntap.udp_send_batch(sock, [b"x"], (FAR, 4004, 5, links))
        for bad in ((FAR, 4004, "0", links), (FAR, 4004, 0, "1"), (FAR, 4004, 0, None)):
            with pytest.raises(TypeError, match=r"flowinfo|scope_id"):
                tuntap.udp_send_batch(sock, [b"x"], bad)  # type: ignore[arg-type]
        for bad_number in ((FAR, 4004, -1, links), (FAR, 4004, 0, -1), (FAR, 4004, 0, 1 << 32)):
            with pytest.raises(ValueError, match=r"flowinfo|scope_id"):
                tuntap.udp_send_batch(sock, [b"x"], bad_number)
        assert udp_payloads(far, 4004) == []
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as four,
        pytest.raises(TypeError, match=r"AF_INET .*\(host, port\)"),
    ):
        tuntap.udp_send_batch(four, [b"x"], ("127.0.0.1", 9, 0, 0))


@pytest.mark.parametrize("port", [0, -1, 65536])
def test_a_port_outside_1_to_65535_is_refused_before_any_send(port: int) -> None:
    with (
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800)) as lo,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock,
    ):
        lo.bind(("lo", 0x0800))
        lo.settimeout(0.3)
        with pytest.raises(ValueError, match=f"port {port} is outside 1..65535"):
            tuntap.udp_send_batch(sock, [b"x", b"y"], ("127.0.0.1", port))
        with pytest.raises(ValueError, match=f"port {port} is outside 1..65535"):
            tuntap.udp_send_batch(sock, [b"x", b"y"], ("localhost", port))
        sent = []
        try:
            while True:
                frame = lo.recv(4096)
                if frame[14 + 9] == 17:
                    sent.append(frame)
        except socket.timeout:
            pass
        assert sent == []


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The host names socket.getaddrinfo is asked for from now on (the cache cleared)."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def counting(host: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(host)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", counting)
    monkeypatch.setattr(udp, "_names", collections.OrderedDict(), raising=False)  # none yet
    return asked


def test_a_name_is_resolved_once_for_many_sends(lookups: list[str]) -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx,
    ):
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(1)
        port = rx.getsockname()[1]
        for i in range(5):
            assert tuntap.udp_send_batch(sock, [b"%d" % i], ("localhost", port)) == 1
        assert tuntap.udp_send_batch(sock, [b"other port"], ("localhost", port + 1)) == 1
        assert [rx.recv(100) for _ in range(5)] == [b"0", b"1", b"2", b"3", b"4"]
    assert lookups == ["localhost"]


def test_a_resolved_name_is_kept_for_a_while_only(
    lookups: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(udp, "_NAME_TTL", 0.0)  # kept for no time: resolved each time
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _ in range(3):
            assert tuntap.udp_send_batch(sock, [b"x"], ("localhost", 9)) == 1
    assert lookups == ["localhost"] * 3


def test_only_the_last_names_are_kept(lookups: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(udp, "_NAMES_KEPT", 1)
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx,
    ):
        rx.bind(("127.0.0.1", 0))
        port = rx.getsockname()[1]
        # 'localhost' and 'LOCALHOST' are two names to the cache (one to /etc/hosts).
        for name in ("localhost", "localhost", "LOCALHOST", "localhost"):
            assert tuntap.udp_send_batch(sock, [b"x"], (name, port)) == 1
    assert lookups == ["localhost", "LOCALHOST", "localhost"]
