"""``tuntap_cffi.pytun``, the python-pytun drop-in, on its own (every interpreter).

tests/test_pytun_side_by_side.py compares it with python-pytun observation by
observation; here are what it does better (a close from another thread wakes
a blocked read; the way out to the whole library), what python-pytun's
answers are (written down, so that PyPy checks them too), and bad inputs:
a clear exception, nothing lost, no fd leaked.
"""

from __future__ import annotations

import errno
import gc
import os
import select
import socket
import sys
import threading
import time
import warnings

import pytest
from helpers.ip import TUN_ADDR, TUN_PEER, disable_ipv6, link_names
from helpers.processes import interrupt_after_ready, open_fds
from helpers.threads import close_while_blocked

import tuntap_cffi as tuntap
from tuntap_cffi import pytun

pytestmark = pytest.mark.privileged


def test_the_module_exports_what_python_pytun_does() -> None:
    assert (pytun.IFF_TUN, pytun.IFF_TAP, pytun.IFF_NO_PI, pytun.IFF_ONE_QUEUE) == (
        0x1,
        0x2,
        0x1000,
        0x2000,
    )
    assert (pytun.IFF_VNET_HDR, pytun.IFF_MULTI_QUEUE, pytun.IFF_TUN_EXCL) == (
        0x4000,
        0x100,
        0x8000,
    )
    assert issubclass(pytun.Error, OSError)
    assert pytun.TunTapDevice.__init__.__defaults__ == ("", pytun.IFF_TUN, "/dev/net/tun")


def send(payload: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(payload, (TUN_PEER, 9))


def configured(flags: int = pytun.IFF_TUN | pytun.IFF_NO_PI) -> pytun.TunTapDevice:
    dev = pytun.TunTapDevice(name="pdi%d", flags=flags)
    disable_ipv6(dev.name)
    dev.addr = TUN_ADDR
    dev.netmask = "255.255.255.0"
    dev.up()
    return dev


def test_python_pytuns_answers() -> None:
    dev = pytun.TunTapDevice(name="pda%d", flags=pytun.IFF_TUN | pytun.IFF_NO_PI)
    try:
        with pytest.raises(pytun.Error) as caught:
            dev.addr  # noqa: B018
        assert caught.value.errno == errno.EADDRNOTAVAIL
        dev.addr = TUN_ADDR
        assert (dev.addr, dev.dstaddr, dev.netmask) == (TUN_ADDR, TUN_ADDR, "255.255.255.255")
        dev.dstaddr = TUN_PEER
        assert (dev.addr, dev.dstaddr) == (TUN_ADDR, TUN_PEER)
        assert dev.hwaddr == bytes(6) and dev.mtu == 1500
        with pytest.raises(pytun.Error) as caught:
            dev.mq_attach()
        assert caught.value.errno == errno.EINVAL
    finally:
        dev.close()
    tap = pytun.TunTapDevice(name="pdb%d", flags=pytun.IFF_TAP | pytun.IFF_NO_PI)
    try:
        tap.addr = "198.51.100.7"
        assert tap.netmask == "255.255.255.0"  # the address's class, as SIOCSIFADDR gives
        tap.hwaddr = b"\x02\x00\x5e\x00\x53\x01"
        assert tap.hwaddr == b"\x02\x00\x5e\x00\x53\x01"
    finally:
        tap.close()


def test_close_from_another_thread_wakes_a_blocked_read() -> None:
    """python-pytun's read stays blocked (its issue 18); here it raises EBADF at once."""
    before = open_fds()
    dev = configured()
    woken = close_while_blocked(lambda: dev.read(2048), dev.close)
    assert not woken.alive
    assert woken.seconds < 0.25, f"the blocked read took {woken.seconds:.3f} s to wake"
    assert len(woken.raised) == 1 and isinstance(woken.raised[0], pytun.Error)
    assert woken.raised[0].errno == errno.EBADF
    assert dev.fileno() == -1 and open_fds() == before


def test_the_interface_is_the_same_device() -> None:
    dev = configured()
    iface = dev.interface
    try:
        assert isinstance(iface, tuntap.Interface)
        assert iface.name == dev.name and iface.fileno() == dev.fileno()
        iface.set_ipv6(True)
        iface.add_address("2001:db8::1/64", nodad=True)
        assert any(a.version == 6 for a in (e.ip for e in iface.addresses()))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"one", (TUN_PEER, 9))
            sock.sendto(b"two", (TUN_PEER, 9))
        first = iface.read_packet(timeout=5)
        while first.body[0] >> 4 != 4:  # IPv6 on: the kernel's own packets come too
            first = iface.read_packet(timeout=5)
        assert bytes(first.body).endswith(b"one")
        second = dev.read(2048)  # the same queue, the next packet
        while second[0] >> 4 != 4:
            second = dev.read(2048)
        assert second.endswith(b"two")
    finally:
        iface.close()  # closing either closes both
    assert dev.name not in link_names()
    with pytest.raises(pytun.Error) as caught:
        dev.read(10)
    assert caught.value.errno == errno.EBADF


def test_select_on_the_device_and_reads_that_block_until_a_packet_comes() -> None:
    dev = configured()
    try:
        assert select.select([dev], [], [], 0.05)[0] == []
        timer = threading.Timer(0.2, send, (b"late",))
        start = time.monotonic()
        timer.start()
        assert select.select([dev], [], [], 5)[0] == [dev]
        assert dev.read(2048).endswith(b"late")
        assert time.monotonic() - start >= 0.15
        timer.join()
    finally:
        dev.close()


def test_ctrl_c_stops_a_blocked_read() -> None:
    _status, out, err, elapsed = interrupt_after_ready(
        """
        from tuntap_cffi import pytun
        dev = pytun.TunTapDevice(name="pdc%d")
        print("ready", flush=True)
        try:
            dev.read(2048)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        """
    )
    assert "interrupted" in out, err
    assert elapsed < 1


def test_a_device_dropped_without_close_goes_silently() -> None:
    gc.collect()  # what earlier tests left to the collector goes first
    before = open_fds()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dev = pytun.TunTapDevice(name="pdd0")
        assert "pdd0" in link_names()
        del dev
        for _ in range(3):  # PyPy: the device, then its queue, are collected
            gc.collect()
    assert "pdd0" not in link_names() and open_fds() == before


@pytest.mark.parametrize(
    ("kwargs", "error", "errno_"),
    [
        ({"flags": 0}, pytun.Error, None),
        ({"flags": pytun.IFF_TUN | pytun.IFF_TAP}, pytun.Error, None),
        ({"flags": 2**40}, OverflowError, None),
        ({"flags": "1"}, TypeError, None),
        ({"name": "x" * 16}, pytun.Error, None),
        ({"name": b"tun0"}, TypeError, None),
        ({"name": "a\0b"}, ValueError, None),
        ({"name": "a/b"}, pytun.Error, errno.EINVAL),
        ({"dev": "/nonexistent"}, pytun.Error, errno.ENOENT),
        ({"dev": "/dev/null"}, pytun.Error, errno.ENOTTY),
        ({"dev": 5}, TypeError, None),
    ],
)
def test_bad_construction_raises_and_leaks_nothing(
    kwargs: dict[str, object], error: type, errno_: int | None
) -> None:
    before = open_fds()
    names = link_names()
    with pytest.raises(error) as caught:
        pytun.TunTapDevice(**kwargs)  # type: ignore[arg-type]
    if errno_ is not None:
        assert caught.value.errno == errno_  # type: ignore[attr-defined]
    assert open_fds() == before and link_names() == names


def test_a_busy_device_is_ebusy_and_leaks_nothing() -> None:
    dev = pytun.TunTapDevice(name="pde0")
    try:
        before = open_fds()
        with pytest.raises(pytun.Error) as caught:
            pytun.TunTapDevice(name="pde0")
        assert caught.value.errno == errno.EBUSY and open_fds() == before
    finally:
        dev.close()


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda d: d.read(1.5), TypeError),
        (lambda d: d.read("64"), TypeError),
        (lambda d: d.read(), TypeError),
        (lambda d: d.write(bytearray(20)), TypeError),
        (lambda d: d.write([b"\x45"] * 20), TypeError),
        (lambda d: d.write(None), TypeError),
        (lambda d: d.persist(1), TypeError),
        (lambda d: d.mq_attach("yes"), TypeError),
        (lambda d: setattr(d, "addr", 5), TypeError),
        (lambda d: setattr(d, "addr", "bogus"), pytun.Error),
        (lambda d: setattr(d, "netmask", "255.255.1.0"), pytun.Error),
        (lambda d: setattr(d, "hwaddr", b"\x02"), pytun.Error),
        (lambda d: setattr(d, "hwaddr", "02:00"), TypeError),
        (lambda d: setattr(d, "mtu", 0), pytun.Error),
        (lambda d: setattr(d, "mtu", "1500"), TypeError),
        (lambda d: setattr(d, "name", "other"), AttributeError),
        (lambda d: setattr(d, "unknown", 1), AttributeError),
    ],
)
def test_bad_calls_raise_and_lose_nothing(call: object, error: type) -> None:
    dev = configured()
    try:
        before = open_fds()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"kept", (TUN_PEER, 9))
        assert select.select([dev], [], [], 5)[0]
        with pytest.raises(error):
            call(dev)  # type: ignore[operator]
        assert dev.read(2048).endswith(b"kept")
        assert (dev.addr, dev.netmask, dev.mtu) == (TUN_ADDR, "255.255.255.0", 1500)
        assert open_fds() == before
    finally:
        dev.close()


def test_a_float_mtu_is_taken_as_python_pytun_takes_it_on_this_python() -> None:
    """python-pytun reads the MTU with PyLong_AsLong: before Python 3.10 a float is cut
    to an int, with a DeprecationWarning; from 3.10 it is a TypeError."""
    dev = configured()
    try:
        if sys.version_info < (3, 10):
            with pytest.warns(DeprecationWarning, match="got type float"):
                dev.mtu = 1400.9
            assert dev.mtu == 1400
        else:
            with pytest.raises(TypeError):
                dev.mtu = 1400.9
            assert dev.mtu == 1500
    finally:
        dev.close()


def test_the_fd_is_non_blocking_and_close_on_exec() -> None:
    """The one difference a program can see below the API: select before os.read."""
    dev = pytun.TunTapDevice(name="pdf%d")
    try:
        assert not os.get_blocking(dev.fileno())
        assert not os.get_inheritable(dev.fileno())
        with pytest.raises(BlockingIOError):
            os.read(dev.fileno(), 2048)
    finally:
        dev.close()
