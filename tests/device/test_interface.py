"""Real devices: open, read and write packets through the kernel, close.

Everything happens in the private network namespace made by conftest.py,
with documentation addresses only.
"""

from __future__ import annotations

import errno
import os
import socket
import threading
import time

import pytest
from helpers.ip import TUN_ADDR, TUN_PEER, configure_v4, ip, ip_json, link_names
from helpers.packets import ethernet, ipv4_udp, mac_bytes
from helpers.processes import open_fds

import tuntap_cffi as tuntap
from tuntap_cffi import DevKind

pytestmark = pytest.mark.privileged


def udp_socket(bind: str = TUN_ADDR) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((bind, 0))
    sock.settimeout(5)
    return sock


def read_udp(iface: tuntap.Interface, dport: int, tries: int = 20) -> tuntap.Packet:
    """The first UDP packet to ``dport`` that the device reads (others are skipped)."""
    for _ in range(tries):
        pkt = iface.read_packet(timeout=5)
        proto, off, _later = pkt.ip_proto()
        if proto == 17 and int.from_bytes(pkt.body[off + 2 : off + 4], "big") == dport:
            return pkt
    raise AssertionError(f"no UDP packet to port {dport} in {tries} packets")


# -- opening ----------------------------------------------------------------


def test_pattern_names_are_chosen_by_the_kernel(tun: tuntap.Interface) -> None:
    assert tun.name.startswith("tun") and tun.name[3:].isdigit()  # the fixture asks for tun%d
    assert tun.kind is DevKind.TUN and not tun.closed
    (link,) = ip_json("-d", "link", "show", "dev", tun.name)
    assert link["linkinfo"]["info_kind"] == "tun"
    assert link["linkinfo"]["info_data"]["type"] == "tun"
    assert link["linkinfo"]["info_data"]["pi"] is False


def test_tap_is_a_tap(tap: tuntap.Interface) -> None:
    (link,) = ip_json("-d", "link", "show", "dev", tap.name)
    assert link["linkinfo"]["info_data"]["type"] == "tap"
    assert link["link_type"] == "ether"


def test_exact_name_and_device_goes_away_on_close() -> None:
    before = open_fds()
    iface = tuntap.open("tt-exact", DevKind.TUN)
    assert iface.name == "tt-exact" and "tt-exact" in link_names()
    iface.close()
    iface.close()  # harmless
    assert iface.closed
    assert "tt-exact" not in link_names()
    assert open_fds() == before


def test_fd_is_non_blocking_and_close_on_exec(tun: tuntap.Interface) -> None:
    fd = tun.fileno()
    assert os.get_blocking(fd) is False
    assert os.get_inheritable(fd) is False


def test_second_open_of_a_held_device_is_busy(tun: tuntap.Interface) -> None:
    before = open_fds()
    with pytest.raises(tuntap.DeviceBusyError, match=f"TUNSETIFF on {tun.name}") as info:
        tuntap.open(tun.name, DevKind.TUN)
    assert info.value.errno == errno.EBUSY and isinstance(info.value, OSError)
    assert open_fds() == before


def test_other_kind_of_device_is_a_clear_mismatch(tun: tuntap.Interface) -> None:
    before = open_fds()
    with pytest.raises(tuntap.DeviceMismatchError, match="not a TAP device"):
        tuntap.open(tun.name, DevKind.TAP)
    with pytest.raises(tuntap.DeviceMismatchError, match="TUNSETIFF on lo"):
        tuntap.open("lo", DevKind.TUN)
    assert open_fds() == before


def test_many_opens_leak_nothing() -> None:
    before = open_fds()
    for i in range(200):
        with tuntap.open("leak%d", DevKind.TAP if i % 2 else DevKind.TUN):
            pass
    assert open_fds() == before
    assert not [n for n in link_names() if n.startswith("leak")]


# -- TUN round trips ----------------------------------------------------------


def test_udp_datagram_is_read_back_byte_for_byte(tun: tuntap.Interface) -> None:
    configure_v4(tun.name)
    with udp_socket() as sock:
        payload = os.urandom(300)
        sock.sendto(payload, (TUN_PEER, 4242))
        pkt = read_udp(tun, 4242)
    assert pkt.protocol == tuntap.ETH_P_IP
    assert str(pkt.sip) == TUN_ADDR and str(pkt.dip) == TUN_PEER
    assert isinstance(pkt.body, bytes) and pkt.body[28:] == payload
    assert len(pkt.body) == 28 + 300


def test_read_into_a_caller_buffer_is_zero_copy(tun: tuntap.Interface) -> None:
    configure_v4(tun.name)
    buffer = bytearray(2048)
    with udp_socket() as sock:
        sock.sendto(b"zero-copy", (TUN_PEER, 4243))
        for _ in range(20):
            pkt = tun.read_packet(buffer, timeout=5)
            if pkt.ip_proto()[0] == 17:
                break
    assert isinstance(pkt.body, memoryview)
    assert pkt.body.obj is buffer
    assert bytes(pkt.body[-9:]) == b"zero-copy"


def test_a_buffer_too_small_gives_a_truncated_packet(tun: tuntap.Interface) -> None:
    configure_v4(tun.name)
    with udp_socket() as sock:
        sock.sendto(b"x" * 200, (TUN_PEER, 4244))
        with pytest.raises(tuntap.TruncatedPacketError) as info:
            tun.read_packet(bytearray(100), timeout=5)
    assert info.value.packet is not None and len(info.value.packet.body) == 100


def test_written_packet_reaches_a_local_socket(tun: tuntap.Interface) -> None:
    configure_v4(tun.name)
    with udp_socket() as sock:
        port = sock.getsockname()[1]
        payload = os.urandom(500)
        tun.write_packet(ipv4_udp(TUN_PEER, TUN_ADDR, 5555, port, payload))
        data, source = sock.recvfrom(2048)
    assert data == payload and source == (TUN_PEER, 5555)


def test_write_accepts_packets_and_buffers(tun: tuntap.Interface) -> None:
    configure_v4(tun.name)
    with udp_socket() as sock:
        port = sock.getsockname()[1]
        raw = ipv4_udp(TUN_PEER, TUN_ADDR, 5556, port, b"as packet")
        tun.write_packet(tuntap.parse_packet(raw))
        tun.write_packet(bytearray(ipv4_udp(TUN_PEER, TUN_ADDR, 5556, port, b"bytearray")))
        tun.write_packet(memoryview(ipv4_udp(TUN_PEER, TUN_ADDR, 5556, port, b"memoryview")))
        got = {sock.recv(100) for _ in range(3)}
    assert got == {b"as packet", b"bytearray", b"memoryview"}


# -- TAP round trips ------------------------------------------------------------


def test_tap_reads_the_kernels_arp_request(tap: tuntap.Interface) -> None:
    configure_v4(tap.name)
    mac = mac_bytes(ip_json("link", "show", "dev", tap.name)[0]["address"])
    with udp_socket() as sock:
        sock.sendto(b"needs arp", (TUN_PEER, 4245))
        for _ in range(20):
            pkt = tap.read_packet(timeout=5)
            if pkt.protocol == 0x0806:
                break
    body = bytes(pkt.body)
    assert body[:6] == b"\xff" * 6 and body[6:12] == mac
    assert body[20:22] == b"\x00\x01"  # ARP request
    assert socket.inet_ntoa(body[38:42]) == TUN_PEER


def test_tap_frame_written_is_received(tap: tuntap.Interface) -> None:
    configure_v4(tap.name)
    mac = mac_bytes(ip_json("link", "show", "dev", tap.name)[0]["address"])
    peer_mac = bytes.fromhex("020000c00002")
    with udp_socket() as sock:
        port = sock.getsockname()[1]
        frame = ethernet(mac, peer_mac, 0x0800, ipv4_udp(TUN_PEER, TUN_ADDR, 6000, port, b"eth"))
        tap.write_packet(frame)
        assert sock.recvfrom(100) == (b"eth", (TUN_PEER, 6000))


# -- waiting, timeouts, closing ------------------------------------------------


def test_timeouts(tun: tuntap.Interface) -> None:
    configure_v4(tun.name)
    with pytest.raises(TimeoutError, match=f"read_packet on {tun.name}: timed out"):
        tun.read_packet(timeout=0)
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        tun.read_packet(timeout=0.2)
    assert 0.19 <= time.monotonic() - start < 2


def test_close_from_another_thread_wakes_a_blocked_reader(tun: tuntap.Interface) -> None:
    errors: list[BaseException] = []
    started = threading.Event()

    def reader() -> None:
        started.set()
        try:
            tun.read_packet()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    started.wait(5)
    time.sleep(0.1)
    tun.close()
    thread.join(5)
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], tuntap.InterfaceClosedError)
    assert isinstance(errors[0], ValueError)


def test_fd_is_released_only_after_the_last_reader_leaves() -> None:
    iface = tuntap.open("tt%d", DevKind.TUN)
    fd = iface.fileno()
    done = threading.Event()

    def reader() -> None:
        try:
            iface.read_packet()
        except tuntap.InterfaceClosedError:
            done.set()

    thread = threading.Thread(target=reader)
    thread.start()
    time.sleep(0.1)
    iface.close()
    thread.join(5)
    assert done.is_set()
    with pytest.raises(OSError):
        os.fstat(fd)  # closed once the reader had left


def test_calls_on_a_closed_interface_raise_value_error() -> None:
    iface = tuntap.open("tt%d", DevKind.TUN)
    iface.close()
    for call in (
        lambda: iface.read_packet(),
        lambda: iface.write_packet(b"\x45" + bytes(19)),
        iface.fileno,
        lambda: iface.read_packet(bytearray(10)),
    ):
        with pytest.raises(tuntap.InterfaceClosedError, match="closed interface"):
            call()
    assert "closed" in repr(iface)


def test_deleted_device_reports_that_it_is_gone(tun: tuntap.Interface) -> None:
    ip("link", "del", tun.name)
    with pytest.raises(OSError, match="the interface is gone"):
        tun.read_packet(timeout=1)
    with pytest.raises(OSError, match="the interface is gone"):
        tun.write_packet(ipv4_udp(TUN_PEER, TUN_ADDR, 1, 2, b""))


# -- bad input ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,message",
    [
        ("", "empty"),
        ("a" * 16, "longer than 15"),
        ("a/b", "contains '/'"),
        ("a b", "whitespace"),
        ("a\tb", "whitespace"),
        ("a\0b", "printable ASCII"),
        ("tun%s", "single %d"),
        ("t%d%d", "single %d"),
        ("%", "single %d"),
        ("..", "not allowed"),
        ("a:b", "contains ':'"),
        ("tün", "ASCII"),
    ],
)
def test_bad_names_are_refused_before_any_system_call(name: str, message: str) -> None:
    before = open_fds()
    with pytest.raises(ValueError, match=message):
        tuntap.open(name, DevKind.TUN)
    assert open_fds() == before


@pytest.mark.parametrize("name", [b"tun0", None, 5])
def test_name_must_be_a_str(name: object) -> None:
    with pytest.raises(TypeError, match="must be a str"):
        tuntap.open(name, DevKind.TUN)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", [2, -1, "tap", None])
def test_bad_kinds(kind: object) -> None:
    with pytest.raises(ValueError, match="kind must be"):
        tuntap.open("tt%d", kind)  # type: ignore[arg-type]


def test_bad_buffers(tun: tuntap.Interface) -> None:
    with pytest.raises(ValueError, match="buffer is empty"):
        tun.read_packet(bytearray(0))
    with pytest.raises(TypeError):
        tun.read_packet(b"read-only")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="writable"):
        tun.read_packet(memoryview(bytearray(10)).toreadonly())
    with pytest.raises(TypeError):
        tun.read_packet("text")  # type: ignore[arg-type]


@pytest.mark.parametrize("timeout", [-1, float("nan"), "1", True])
def test_bad_timeouts(tun: tuntap.Interface, timeout: object) -> None:
    with pytest.raises((ValueError, TypeError), match="timeout"):
        tun.read_packet(timeout=timeout)  # type: ignore[arg-type]


def test_writing_to_a_down_interface_says_so(tun: tuntap.Interface) -> None:
    with pytest.raises(OSError, match=f"write_packet on {tun.name}.*the interface is down"):
        tun.write_packet(ipv4_udp(TUN_PEER, TUN_ADDR, 1, 2, b""))


def test_bad_writes(tun: tuntap.Interface, tap: tuntap.Interface) -> None:
    configure_v4(tun.name)
    with pytest.raises(tuntap.JumboPacketError, match="jumbo packet too large"):
        tun.write_packet(b"\x45" + bytes(1600))
    tun.write_packet(ipv4_udp(TUN_PEER, TUN_ADDR, 1, 2, bytes(1600 - 28)))  # exactly the limit
    with pytest.raises(tuntap.NotIPPacketError):
        tun.write_packet(b"")
    with pytest.raises(tuntap.NotIPPacketError):
        tun.write_packet(b"\x12\x34")
    with pytest.raises(tuntap.TruncatedPacketError, match="Ethernet frame is truncated"):
        tap.write_packet(b"\xff" * 13)
    for body in ("text", 1234, None, [0x45]):
        with pytest.raises(TypeError, match="write_packet takes"):
            tun.write_packet(body)  # type: ignore[arg-type]
