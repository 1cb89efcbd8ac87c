"""Handing a device to another process: ``from_fd``.

The fds adopted here are opened the way other code opens them (``fcntl.ioctl``
TUNSETIFF on /dev/net/tun, with the kernel's own constants); the kernel's
views (``ip -j``, pyroute2's ethtool features) say what the Interface should
be. Everything runs in the private namespace of conftest.py, with
documentation addresses only.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import struct
import subprocess
from collections.abc import Iterator

import pytest
from netutil import (
    TUN_ADDR,
    TUN_PEER,
    ip_json,
    ip_link,
    ipv4_udp,
    link_names,
    open_fds,
)

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
