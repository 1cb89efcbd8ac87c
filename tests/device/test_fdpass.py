"""Handing a device to another process: ``from_fd``, ``send_interface``, ``receive_interface``.

The fds adopted here are opened the way other code opens them (``fcntl.ioctl``
TUNSETIFF on /dev/net/tun, with the kernel's own constants); the kernel's
views (``ip -j``, pyroute2's ethtool features) say what the Interface should
be. Everything runs in the private namespace of conftest.py, with
documentation addresses only.
"""

from __future__ import annotations

import array
import contextlib
import errno
import fcntl
import json
import os
import socket
import struct
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import pytest
from helpers.ip import TUN_ADDR, TUN_PEER, ip_json, ip_link, link_names
from helpers.packets import ipv4_udp
from helpers.processes import NOBODY, open_fds
from hypothesis import HealthCheck, given, settings, strategies as st

import tuntap_cffi as tuntap
from tuntap_cffi import DevKind, Offload, PacketBatch
from tuntap_cffi._native import ffi, lib

pytestmark = pytest.mark.privileged

# linux/if_tun.h and linux/if.h, as any C or Python program spells them.
TUNSETIFF, TUNSETOFFLOAD, TUNSETVNETHDRSZ = 0x400454CA, 0x400454D0, 0x400454D8
IFF_TUN, IFF_TAP, IFF_NO_PI, IFF_VNET_HDR = 0x0001, 0x0002, 0x1000, 0x4000
TUN_F_CSUM, TUN_F_TSO4 = 0x01, 0x02


def raw_open(pattern: str, flags: int, mode: int = os.O_RDWR) -> tuple[int, str]:
    """Open /dev/net/tun and TUNSETIFF it without this library: (fd, the kernel's name)."""
    fd = os.open("/dev/net/tun", mode)
    try:
        ifr = fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", pattern.encode(), flags))
    except BaseException:
        os.close(fd)
        raise
    return fd, ifr[:16].rstrip(b"\0").decode()


def features(name: str) -> dict[str, bool]:
    """ethtool's view of a device's offload features (pyroute2's ETHTOOL_GFEATURES)."""
    from pyroute2.ethtool import Ethtool

    ethtool = Ethtool()
    try:
        return {key: bool(f.enable) for key, f in ethtool.get_features(name).features.items()}
    finally:
        ethtool.close()


def configure(iface: tuntap.Interface) -> None:
    iface.set_ipv6(False)
    iface.add_address(f"{TUN_ADDR}/24")
    iface.up()


def read_udp(iface: tuntap.Interface, payload: bytes) -> tuntap.Packet:
    """Send ``payload`` to 192.0.2.2 from a socket and read it from ``iface``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(payload, (TUN_PEER, 9))
    for _ in range(20):
        packet = iface.read_packet(timeout=5)
        if bytes(packet.body).endswith(payload):
            return packet
    raise AssertionError(f"{payload!r} never arrived")


def write_udp(iface: tuntap.Interface, payload: bytes) -> bytes:
    """Write a datagram to 192.0.2.1 into ``iface``; what a socket there receives."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((TUN_ADDR, 0))
        sock.settimeout(5)
        iface.write_packet(ipv4_udp(TUN_PEER, TUN_ADDR, 7, sock.getsockname()[1], payload))
        return sock.recv(2048)


@contextlib.contextmanager
def no_fd_left() -> Iterator[None]:
    before = open_fds()
    yield
    assert open_fds() == before, "an fd was left open"


# -- the C side: csrc/adopt.c --------------------------------------------------------------


def test_the_c_description_checks_its_arguments_and_asks_only_the_clone_device() -> None:
    out = ffi.new("struct tt_fd_device *")
    assert lib.tt_fd_device(-1, out) == -errno.EBADF
    assert lib.tt_device_netns(-1) == -errno.EBADF
    r, w = os.pipe()
    try:
        assert lib.tt_fd_device(r, ffi.NULL) == -errno.EINVAL
        assert lib.tt_fd_device(r, out) == -errno.ENOTTY
    finally:
        os.close(r)
        os.close(w)
    fd, name = raw_open("rawc%d", IFF_TUN | IFF_NO_PI | IFF_VNET_HDR)
    try:
        assert lib.tt_fd_device(fd, out) == 0
        assert ffi.string(out.name).decode() == name and out.tun_type == lib.TT_KIND_TUN
        assert out.tun_flags == lib.TT_TUN_INFO | lib.TT_TUN_VNET_HDR
        assert (out.vnet_hdr_sz, out.access) == (10, os.O_RDWR)
        nsfd = lib.tt_device_netns(fd)
        assert os.readlink(f"/proc/self/fd/{nsfd}") == os.readlink("/proc/self/ns/net")
        assert not os.get_inheritable(nsfd)
        os.close(nsfd)
    finally:
        os.close(fd)


# -- from_fd ----------------------------------------------------------------------------


def test_from_fd_adopts_a_raw_tun_fd_as_open_would() -> None:
    with no_fd_left():
        fd, name = raw_open("rawt%d", IFF_TUN | IFF_NO_PI)
        os.set_inheritable(fd, True)  # as a C program's open() leaves it
        iface = tuntap.from_fd(fd)
        try:
            assert (iface.name, iface.kind, iface.fileno()) == (name, DevKind.TUN, fd)
            assert (iface.offload, iface.multi_queue) == (Offload(0), False)
            link = ip_link(name)
            assert link["linkinfo"]["info_data"]["type"] == "tun"
            assert iface.ifindex == link["ifindex"]
            assert fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK
            assert not os.get_inheritable(fd)
            configure(iface)
            assert bytes(read_udp(iface, b"in through from_fd").body)[:1] == b"\x45"
            assert write_udp(iface, b"out through from_fd") == b"out through from_fd"
        finally:
            iface.close()
        assert name not in link_names()  # the Interface owned the fd, the last one


def test_from_fd_adopts_a_raw_tap_fd() -> None:
    fd, name = raw_open("rawp%d", IFF_TAP | IFF_NO_PI)
    with tuntap.from_fd(fd) as iface:
        assert (iface.name, iface.kind) == (name, DevKind.TAP)
        assert ip_link(name)["linkinfo"]["info_data"]["type"] == "tap"
        assert iface.hwaddr == ip_link(name)["address"]
        configure(iface)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"x", (TUN_PEER, 9))  # the kernel asks who has 192.0.2.2 first
        frames = [iface.read_packet(timeout=5) for _ in range(3)]
        assert any(frame.protocol == 0x0806 for frame in frames)


def test_from_fd_of_a_vnet_header_fd_is_an_offload_queue_with_opens_features() -> None:
    with tuntap.open("ref%d", DevKind.TUN, offload=True) as reference:
        expected = reference.offload
    fd, name = raw_open("rawv%d", IFF_TUN | IFF_NO_PI | IFF_VNET_HDR)
    fcntl.ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM)  # whoever opened it set fewer features
    with tuntap.from_fd(fd) as iface:
        assert iface.offload == expected and Offload.TSO4 in expected
        on = features(name)
        assert on["tx-tcp-segmentation"] and on["tx-tcp6-segmentation"]
        assert on["tx-udp-segmentation"] == (Offload.USO4 in expected)
        configure(iface)
        # Read as an offload queue: the 10-byte header is taken off, not read as IP.
        packet = read_udp(iface, b"behind a virtio-net header")
        assert bytes(packet.body)[:1] == b"\x45" and packet.protocol == 0x0800
        raw = PacketBatch(4)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"raw", (TUN_PEER, 9))
        assert iface.read_batch(raw, segment=False, timeout=5) == 1
        assert len(raw.vnet_header(0)) == 10 and bytes(raw[0]).endswith(b"raw")
        assert write_udp(iface, b"written with an empty header") == b"written with an empty header"


def test_from_fd_of_a_plain_fd_clears_offloads_an_earlier_user_left() -> None:
    fd, name = raw_open("rawo%d", IFF_TUN | IFF_NO_PI)
    fcntl.ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4)
    assert features(name)["tx-tcp-segmentation"]
    with tuntap.from_fd(fd) as iface:
        assert iface.offload == Offload(0)
        assert not features(name)["tx-tcp-segmentation"]


def test_from_fd_of_one_queue_of_a_multi_queue_device() -> None:
    queues = tuntap.open_queues("mqa%d", DevKind.TUN, count=2)
    try:
        with tuntap.from_fd(os.dup(queues[1].fileno())) as adopted:
            assert adopted.multi_queue and adopted.name == queues[0].name
            adopted.detach_queue()  # the one file: the original queue is detached too
            with pytest.raises(OSError, match="detached already"):
                queues[1].detach_queue()
            adopted.attach_queue()
    finally:
        for queue in queues:
            queue.close()


def test_from_fd_configures_a_device_in_its_own_namespace() -> None:
    ns = f"fdpass-{os.getpid()}"
    tuntap.netns.create(ns)
    try:
        there = tuntap.open("nsd%d", DevKind.TUN, netns=ns)
        with there, tuntap.from_fd(os.dup(there.fileno())) as adopted:
            assert adopted.name not in link_names()
            adopted.add_address("198.51.100.1/24")
            (link,) = ip_json("-n", ns, "addr", "show", "dev", adopted.name)
            assert [a["local"] for a in link["addr_info"]] == ["198.51.100.1"]
    finally:
        tuntap.netns.delete(ns)


REFUSED = {
    "a pipe": (OSError, "from_fd\\(\\d+\\): .*not a TUN/TAP device: fd \\d+ is pipe:"),
    "a socket": (OSError, "not a TUN/TAP device: fd \\d+ is socket:"),
    "/dev/null": (OSError, "fd \\d+ is /dev/null, not /dev/net/tun"),
    "a file": (OSError, "fd \\d+ is /.*, not /dev/net/tun"),
    "an unattached clone": (OSError, "attached to no device: TUNSETIFF was never called"),
    "packet information": (tuntap.DeviceMismatchError, "packet information headers"),
    "a vnet TAP": (tuntap.DeviceMismatchError, "TAP device with virtio-net headers"),
    "12-byte headers": (tuntap.DeviceMismatchError, "virtio-net headers of 12 bytes"),
    "read-only": (ValueError, "opened read-only; a queue needs O_RDWR"),
}


@contextlib.contextmanager
def refused_fd(what: str) -> Iterator[int]:
    """An open fd of the kind ``what``, closed at the end."""
    with contextlib.ExitStack() as stack:
        if what == "a pipe":
            r, w = os.pipe()
            stack.callback(os.close, w)
            fd = r
        elif what == "a socket":
            fd = stack.enter_context(socket.socket(socket.AF_UNIX)).detach()
        elif what == "/dev/null":
            fd = os.open("/dev/null", os.O_RDWR)
        elif what == "a file":
            fd = os.open(__file__, os.O_RDONLY)
        elif what == "an unattached clone":
            fd = os.open("/dev/net/tun", os.O_RDWR)
        elif what == "packet information":
            fd, _ = raw_open("rpi%d", IFF_TUN)
        elif what == "a vnet TAP":
            fd, _ = raw_open("rvt%d", IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)
        elif what == "12-byte headers":
            fd, _ = raw_open("r12%d", IFF_TUN | IFF_NO_PI | IFF_VNET_HDR)
            fcntl.ioctl(fd, TUNSETVNETHDRSZ, struct.pack("i", 12))
        else:
            fd, _ = raw_open("rro%d", IFF_TUN | IFF_NO_PI, os.O_RDONLY)
        stack.callback(os.close, fd)
        yield fd


@pytest.mark.parametrize("what", sorted(REFUSED))
def test_from_fd_refuses_what_is_not_a_usable_device_and_leaves_the_fd_alone(what: str) -> None:
    error, message = REFUSED[what]
    links = link_names()
    with no_fd_left(), refused_fd(what) as fd:
        with pytest.raises(error, match=message):
            tuntap.from_fd(fd)
        os.fstat(fd)  # still open: still the caller's
    assert link_names() == links


def test_from_fd_of_a_deleted_device_says_so() -> None:
    fd, name = raw_open("rdel%d", IFF_TUN | IFF_NO_PI)
    try:
        subprocess.run(["ip", "link", "delete", name], check=True)
        with pytest.raises(OSError, match="its device was deleted") as info:
            tuntap.from_fd(fd)
        assert info.value.errno == 77  # EBADFD
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    ("fd", "error", "message"),
    [
        (-1, ValueError, "must be >= 0, not -1"),
        ("3", TypeError, "must be an int, not str"),
        (3.0, TypeError, "must be an int, not float"),
        (True, TypeError, "must be an int, not bool"),
        (None, TypeError, "must be an int, not NoneType"),
    ],
)
def test_from_fd_checks_its_argument_first(fd: object, error: type, message: str) -> None:
    with no_fd_left(), pytest.raises(error, match=message):
        tuntap.from_fd(fd)  # type: ignore[arg-type]


def test_from_fd_of_a_closed_fd_is_ebadf() -> None:
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    with no_fd_left(), pytest.raises(OSError, match=f"from_fd\\({r}\\): Bad file") as info:
        tuntap.from_fd(r)
    assert info.value.errno == 9


# -- send_interface / receive_interface --------------------------------------------------


@pytest.mark.parametrize("kind", [socket.SOCK_STREAM, socket.SOCK_SEQPACKET, socket.SOCK_DGRAM])
def test_an_interface_sent_over_a_socketpair_arrives_whole(kind: int) -> None:
    with no_fd_left():
        ours, theirs = socket.socketpair(socket.AF_UNIX, kind)
        with ours, theirs, tuntap.open("snd%d", DevKind.TUN) as sent:
            tuntap.send_interface(ours, sent)
            with tuntap.receive_interface(theirs, timeout=5) as got:
                assert (got.name, got.kind, got.offload) == (sent.name, sent.kind, Offload(0))
                assert got.fileno() != sent.fileno() and not sent.closed
                configure(got)
                assert write_udp(got, b"through the received fd") == b"through the received fd"
                assert read_udp(sent, b"read by the sender's copy").protocol == 0x0800


def test_an_offload_queue_and_a_multi_queue_one_arrive_as_such() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with ours, theirs, tuntap.open("sof%d", DevKind.TUN, offload=True) as sent:
        tuntap.send_interface(ours, sent)
        with tuntap.receive_interface(theirs, timeout=5) as got:
            assert got.offload == sent.offload and Offload.TSO4 in got.offload
        queues = tuntap.open_queues("smq%d", DevKind.TUN, count=2)
        try:
            tuntap.send_interface(ours, queues[1])
            with tuntap.receive_interface(theirs, timeout=5) as got:
                assert got.multi_queue and got.name == queues[0].name
        finally:
            for queue in queues:
                queue.close()


def test_two_interfaces_sent_back_to_back_on_a_stream_arrive_one_by_one() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs, tuntap.open("bb%d") as first, tuntap.open("bb%d", DevKind.TAP) as second:
        tuntap.send_interface(ours, first)
        tuntap.send_interface(ours, second)
        a = tuntap.receive_interface(theirs, timeout=5)
        b = tuntap.receive_interface(theirs, timeout=5)
        with a, b:
            assert [(a.name, a.kind), (b.name, b.kind)] == [
                (first.name, DevKind.TUN),
                (second.name, DevKind.TAP),
            ]


def test_using_fd_keeps_the_fd_open_through_a_close_until_the_block_ends() -> None:
    iface = tuntap.open("use%d")
    name = iface.name
    with iface.using_fd() as fd:
        assert fd == iface.fileno()
        iface.close()
        assert iface.closed and name in link_names()
        os.fstat(fd)  # still ours: nothing can re-use the number yet
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(fd)
    assert name not in link_names()
    with pytest.raises(tuntap.InterfaceClosedError, match=f"sendmsg on closed interface {name}"):
        iface.using_fd("sendmsg").__enter__()


# A child that drops to nobody before it receives the device, proves it could
# not have opened one, then moves one packet each way and cannot configure.
UNPRIVILEGED = """
    import json, os, socket, sys
    import tuntap_cffi as tuntap
    sock = socket.socket(fileno=int(sys.argv[1]))
    reply = bytes.fromhex(sys.argv[2])
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    report = {"uid": os.getuid()}
    try:
        tuntap.open("mine%d").close()
    except PermissionError:
        report["open"] = "PermissionError"
    iface = tuntap.receive_interface(sock, timeout=10)
    report.update(name=iface.name, kind=iface.kind.name, mtu=iface.mtu)
    sock.sendall(b"R")
    assert sock.recv(1) == b"G"  # the parent has closed its copy and sent a packet
    for _ in range(20):
        packet = iface.read_packet(timeout=10)
        if bytes(packet.body).endswith(b"to the child"):
            break
    report["read"] = str(packet.dip)
    iface.write_packet(reply)
    try:
        iface.add_address("192.0.2.9/24")
    except PermissionError:
        report["add_address"] = "PermissionError"
    iface.close()
    print(json.dumps(report), flush=True)
""".replace("NOBODY", str(NOBODY))


def test_a_root_parent_hands_a_device_to_an_unprivileged_child() -> None:
    parent, child_end = socket.socketpair()
    iface = tuntap.open("sep%d", DevKind.TUN)
    with parent, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        configure(iface)
        udp.bind((TUN_ADDR, 0))
        udp.settimeout(10)
        reply = ipv4_udp(TUN_PEER, TUN_ADDR, 7, udp.getsockname()[1], b"from the child")
        child_args = [str(child_end.fileno()), reply.hex()]
        child = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(UNPRIVILEGED), *child_args],
            pass_fds=[child_end.fileno()],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        child_end.close()
        try:
            tuntap.send_interface(parent, iface)
            parent.settimeout(10)
            assert parent.recv(1) == b"R"
            name = iface.name
            iface.close()  # the parent's copy first: the child's goes on
            assert name in link_names()
            udp.sendto(b"to the child", (TUN_PEER, 9))
            parent.sendall(b"G")
            assert udp.recvfrom(2048) == (b"from the child", (TUN_PEER, 7))
            out, err = child.communicate(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.communicate(timeout=30)
    assert child.returncode == 0, err
    assert json.loads(out) == {
        "uid": NOBODY,
        "open": "PermissionError",
        "name": name,
        "kind": "TUN",
        "mtu": 1500,
        "read": TUN_PEER,
        "add_address": "PermissionError",
    }
    assert name not in link_names()  # the child's close was the last


# -- what a receiver refuses, and the fds it then closes ---------------------------------


def body(
    name: str, kind: int = 0, flags: int = 0, version: int = 1, magic: bytes = b"TTIF"
) -> bytes:
    """A message body as the handoff module documents it."""
    return struct.pack("!4sBBBB16s", magic, version, kind, flags, 0, name.encode())


def send_raw(sock: socket.socket, data: bytes, fds: list[int]) -> None:
    rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
    sock.sendmsg([data], rights)


def test_a_message_built_by_hand_to_the_documented_format_is_received() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with ours, theirs, tuntap.open("hand%d", DevKind.TAP) as sent:
        send_raw(ours, body(sent.name, kind=1), [sent.fileno()])
        with tuntap.receive_interface(theirs, timeout=5) as got:
            assert (got.name, got.kind) == (sent.name, DevKind.TAP)


BAD_MESSAGES = {
    "no fd": (lambda tun, pipe: (b"hello", []), ValueError, "carried no file descriptor"),
    "two fds": (lambda tun, pipe: (body(tun.name), [tun.fileno(), pipe]), ValueError, "carried 2"),
    "17 fds": (
        lambda tun, pipe: (body(tun.name), [tun.fileno()] + [pipe] * 16),
        ValueError,
        "more file descriptors than the one expected",
    ),
    "another magic": (
        lambda tun, pipe: (body(tun.name, magic=b"XXXX"), [tun.fileno()]),
        ValueError,
        "not a tuntap-cffi interface message",
    ),
    "version 2": (
        lambda tun, pipe: (body(tun.name, version=2), [tun.fileno()]),
        ValueError,
        "of version 2; this library reads version 1",
    ),
    "too long": (
        lambda tun, pipe: (body(tun.name) + b"x", [tun.fileno()]),
        ValueError,
        "has 25 bytes; version 1 has 24",
    ),
    "much too long": (
        lambda tun, pipe: (body(tun.name) + bytes(300), [tun.fileno()]),
        ValueError,
        "longer than 256 bytes",
    ),
    "unknown kind": (
        lambda tun, pipe: (body(tun.name, kind=7), [tun.fileno()]),
        ValueError,
        "unknown kind of device",
    ),
    "unknown flags": (
        lambda tun, pipe: (body(tun.name, flags=0x80), [tun.fileno()]),
        ValueError,
        "unknown flags",
    ),
    "no name": (lambda tun, pipe: (body(""), [tun.fileno()]), ValueError, "no valid interface"),
    "another name": (
        lambda tun, pipe: (body("other0"), [tun.fileno()]),
        tuntap.DeviceMismatchError,
        r"names other0 \(TUN\), but the fd it carried is attached to bad\d+ \(TUN\)",
    ),
    "another kind": (
        lambda tun, pipe: (body(tun.name, kind=1), [tun.fileno()]),
        tuntap.DeviceMismatchError,
        r"\(TAP\), but the fd it carried is attached to bad\d+ \(TUN\)",
    ),
    "a pipe": (
        lambda tun, pipe: (body(tun.name), [pipe]),
        OSError,
        r"receive_interface \(fd \d+ received\): .* is pipe:",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_MESSAGES))
def test_a_bad_message_is_refused_and_every_fd_it_carried_is_closed(case: str) -> None:
    make, error, message = BAD_MESSAGES[case]
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    r, w = os.pipe()
    with ours, theirs, tuntap.open("bad%d", DevKind.TUN) as tun:
        assert tun.mtu  # its netlink socket open before the count
        data, fds = make(tun, r)
        with no_fd_left():
            send_raw(ours, data, fds)
            with pytest.raises(error, match=message):
                tuntap.receive_interface(theirs, timeout=5)
        assert fcntl.fcntl(tun.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK  # untouched, working
    os.close(r)
    os.close(w)


def test_receive_interface_waits_no_longer_than_its_timeout_and_sees_the_peer_go() -> None:
    ours, theirs = socket.socketpair()
    with theirs:
        with ours, no_fd_left():
            start = time.monotonic()
            with pytest.raises(TimeoutError, match=r"no interface arrived within 0\.2 s"):
                tuntap.receive_interface(theirs, timeout=0.2)
            assert 0.15 < time.monotonic() - start < 2
        with no_fd_left(), pytest.raises(EOFError, match="peer closed the socket"):
            tuntap.receive_interface(theirs, timeout=5)


def test_send_interface_to_a_peer_that_is_gone_names_the_call_and_keeps_the_interface() -> None:
    ours, theirs = socket.socketpair()
    theirs.close()
    with ours, tuntap.open("gone%d") as iface:
        assert iface.mtu == 1500
        with no_fd_left(), pytest.raises(BrokenPipeError, match=f"send_interface on {iface.name}"):
            tuntap.send_interface(ours, iface)
        assert not iface.closed and iface.read_packets(timeout=0) == []


def closed_socket() -> socket.socket:
    sock = socket.socket(socket.AF_UNIX)
    sock.close()
    return sock


def closed_interface() -> tuntap.Interface:
    iface = tuntap.open("shut%d")
    iface.close()
    return iface


BAD_CALLS = [
    ("receive: not a socket", lambda s, i, inet: tuntap.receive_interface(3), TypeError, "not int"),
    (
        "receive: not a Unix socket",
        lambda s, i, inet: tuntap.receive_interface(inet),
        ValueError,
        r"needs a Unix socket \(AF_UNIX\), not AF_INET",
    ),
    (
        "receive: a closed socket",
        lambda s, i, inet: tuntap.receive_interface(closed_socket()),
        OSError,
        "receive_interface: Bad file descriptor .the socket is closed",
    ),
    (
        "receive: negative timeout",
        lambda s, i, inet: tuntap.receive_interface(s, timeout=-1),
        ValueError,
        ">= 0",
    ),
    (
        "receive: timeout a str",
        lambda s, i, inet: tuntap.receive_interface(s, timeout="1"),
        TypeError,
        "number of seconds",
    ),
    (
        "send: not a socket",
        lambda s, i, inet: tuntap.send_interface(None, i),
        TypeError,
        "NoneType",
    ),
    (
        "send: not a Unix socket",
        lambda s, i, inet: tuntap.send_interface(inet, i),
        ValueError,
        "not AF_INET$",
    ),
    (
        "send: a closed socket",
        lambda s, i, inet: tuntap.send_interface(closed_socket(), i),
        OSError,
        "send_interface: Bad file descriptor",
    ),
    (
        "send: not an Interface",
        lambda s, i, inet: tuntap.send_interface(s, 5),
        TypeError,
        "not int",
    ),
    (
        "send: a closed Interface",
        lambda s, i, inet: tuntap.send_interface(s, closed_interface()),
        tuntap.InterfaceClosedError,
        "send_interface on closed interface shut",
    ),
]


@pytest.mark.parametrize("case,call,error,message", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_arguments_are_refused_before_anything_is_sent_or_received(
    case: str, call: Any, error: type, message: str
) -> None:
    ours, theirs = socket.socketpair()
    inet = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with ours, theirs, inet, tuntap.open("args%d") as iface:
        assert iface.mtu  # its netlink socket open before the count
        with no_fd_left(), pytest.raises(error, match=message):
            call(theirs, iface, inet)
        ours.setblocking(False)
        with pytest.raises(BlockingIOError):
            ours.recv(1)  # nothing was sent


def test_send_interface_to_a_full_socket_times_out_as_the_socket_says() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with ours, theirs, tuntap.open("full%d") as iface:
        ours.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            for _ in range(100_000):
                ours.send(b"x" * 1024)
        ours.settimeout(0.1)
        with pytest.raises(TimeoutError, match=f"send_interface on {iface.name}: "):
            tuntap.send_interface(ours, iface)
        assert not iface.closed


VALID = body("hyp0")


def one_byte_changed(index: int, value: int) -> bytes:
    return VALID[:index] + bytes([value]) + VALID[index + 1 :]


MUTATED = st.one_of(
    st.binary(max_size=300),
    st.builds(one_byte_changed, st.integers(0, len(VALID) - 1), st.integers(0, 255)),
    st.builds(lambda n: VALID[:n], st.integers(0, len(VALID) - 1)),
    st.builds(lambda extra: VALID + extra, st.binary(min_size=1, max_size=40)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MUTATED)
def test_any_body_is_refused_unless_it_names_the_device_and_no_fd_is_ever_left(data: bytes) -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with ours, theirs, tuntap.open("hyp0") as tun:
        assert tun.mtu
        with no_fd_left():
            send_raw(ours, data, [tun.fileno()])
            try:
                tuntap.receive_interface(theirs, timeout=5).close()
                adopted = True
            except (ValueError, tuntap.DeviceMismatchError):
                adopted = False
        assert adopted == (data == VALID)
        assert tun.read_packets(timeout=0) == []  # the sender's copy works on
