"""The binding tier: -errno handling and the C side's own argument checks."""

from __future__ import annotations

import errno
import os
import socket

import pytest
from helpers.processes import open_fds

from tuntap_cffi import _lowlevel
from tuntap_cffi._native import ffi, lib


def test_os_error_picks_the_builtin_subclass_and_names_things() -> None:
    exc = _lowlevel.os_error(errno.EPERM, "TUNSETIFF", "tun7", hint="needs CAP_NET_ADMIN")
    assert type(exc) is PermissionError
    assert exc.errno == errno.EPERM
    assert "TUNSETIFF on tun7" in str(exc) and "CAP_NET_ADMIN" in str(exc)
    assert type(_lowlevel.os_error(errno.ENOENT, "open", "x")) is FileNotFoundError
    assert type(_lowlevel.os_error(errno.EEXIST, "add", "x")) is FileExistsError


def test_check_passes_counts_and_raises_errno() -> None:
    assert _lowlevel.check(5, "op", "dev") == 5
    with pytest.raises(BlockingIOError, match="read on dev"):
        _lowlevel.check(-errno.EAGAIN, "read", "dev")


def test_classify_rejects_bad_arguments_in_c() -> None:
    assert lib.tt_classify(ffi.NULL, 10, 0) == -errno.EINVAL
    assert lib.tt_classify(b"\x45", 1, 7) == -errno.EINVAL
    assert lib.tt_classify(ffi.NULL, 0, 0) >> lib.TT_PACK_VERDICT_SHIFT == lib.TT_PKT_SHORT_READ


def test_open_clone_reports_errno() -> None:
    assert lib.tt_open_clone(b"/nonexistent/tun") == -errno.ENOENT
    assert lib.tt_open_clone(ffi.NULL) == -errno.EINVAL


def test_set_iff_validates_before_the_ioctl() -> None:
    out = ffi.new("char[]", 16)
    r, w = os.pipe()
    try:
        for name in (b"", b"a" * 16, b"a/b", b"a b", b"%s", b"a%d%d", b".."):
            assert lib.tt_set_iff(r, name, 0, 0, out, 16) == -errno.EINVAL, name
        assert lib.tt_set_iff(r, b"ok", 5, 0, out, 16) == -errno.EINVAL
        assert lib.tt_set_iff(r, b"ok", 0, 0, out, 8) == -errno.EINVAL
        assert lib.tt_set_iff(r, b"ok", 0, 0x10000, out, 16) == -errno.EINVAL
        # A valid request on a pipe reaches the ioctl, which the pipe refuses.
        assert lib.tt_set_iff(r, b"ok%d", 0, 0, out, 16) < 0
    finally:
        os.close(r)
        os.close(w)


def test_wait_is_cancelled_by_the_wake_fd_and_times_out() -> None:
    r, w = os.pipe()
    wake = _lowlevel.new_wake_fd("test")
    try:
        assert lib.tt_wait(r, wake, 0, 0) == 0
        assert lib.tt_wait(w, wake, 1, 0) == 1
        _lowlevel.wake(wake, "test")
        assert lib.tt_wait(r, wake, 0, 1000) == -errno.ECANCELED
        _lowlevel.wake(wake, "test")  # firing again stays harmless
    finally:
        for fd in (r, w, wake):
            os.close(fd)


def test_queue_recv_and_send_check_their_buffers() -> None:
    r, w = os.pipe()
    try:
        reader = _lowlevel.new_queue(r, w, lib.TT_KIND_TUN, 0, 1600).c
        writer = _lowlevel.new_queue(w, r, lib.TT_KIND_TUN, 0, 1600).c
        assert lib.tt_queue_recv(reader, ffi.NULL, 10, 0) == -errno.EINVAL
        buf = ffi.new("char[]", 4)
        assert lib.tt_queue_recv(reader, buf, 0, 0) == -errno.EINVAL
        assert lib.tt_queue_recv(ffi.NULL, buf, 4, 0) == -errno.EINVAL
        assert lib.tt_queue_send(writer, ffi.NULL, 3, 0) == -errno.EINVAL
        assert lib.tt_queue_send(ffi.NULL, b"\x45\x00", 2, 0) == -errno.EINVAL
        assert lib.tt_queue_send(writer, b"\x45\x00", 2, 0) == 2
        packed = lib.tt_queue_recv(reader, buf, 4, 0)
        assert _lowlevel.unpack(packed) == (lib.TT_PKT_TRUNCATED, 0x0800, 2)
        os.set_blocking(r, False)
        assert lib.tt_queue_recv(reader, buf, 4, 0) == -errno.EAGAIN
        assert reader.drained == 1
    finally:
        os.close(r)
        os.close(w)


def test_queue_send_applies_the_write_rules() -> None:
    r, w = os.pipe()
    try:
        tun = _lowlevel.new_queue(w, r, lib.TT_KIND_TUN, 0, 20).c
        tap = _lowlevel.new_queue(w, r, lib.TT_KIND_TAP, 0, 20).c
        assert lib.tt_queue_send(tun, b"\x45" * 21, 21, 0) == -errno.EMSGSIZE
        assert tun.refused == 0
        for bad in (b"", b"\x12\x00"):
            assert lib.tt_queue_send(tun, bad, len(bad), 0) == -errno.EINVAL
            assert tun.refused == lib.TT_PKT_NOT_IP
        assert lib.tt_queue_send(tap, b"\x00" * 13, 13, 0) == -errno.EINVAL
        assert tap.refused == lib.TT_PKT_TRUNCATED
        assert lib.tt_queue_send(tun, b"\x60" * 20, 20, 0) == 20
        assert tun.refused == 0
        assert lib.tt_queue_send(tap, b"\x00" * 14, 14, 0) == 14
        assert tap.refused == 0
        assert os.read(r, 100) == b"\x60" * 20 + b"\x00" * 14
    finally:
        os.close(r)
        os.close(w)


def _bad_queues() -> list[tuple[str, _lowlevel.QueueMemory]]:
    """Queues that every I/O call must refuse, each with what is wrong with it."""
    bad = []
    for field, value in (("kind", 9), ("kind", -1), ("offload", 0x8000), ("pair", 2), ("pair", -1)):
        queue = _lowlevel.new_queue(-1, -1, lib.TT_KIND_TUN, 0, 1600)
        setattr(queue.c, field, value)
        bad.append((f"{field}={value}", queue))
    csum = lib.TUN_F_CSUM
    bad.append(("offload on TAP", _lowlevel.new_queue(-1, -1, lib.TT_KIND_TAP, csum, 1600)))
    offload_pair = _lowlevel.new_queue(-1, -1, lib.TT_KIND_TUN, csum, 1600)
    offload_pair.c.pair = 1  # a pair end has no virtio-net headers
    bad.append(("offload on a pair end", offload_pair))
    for field, value in (
        ("rx_buf", ffi.NULL),
        ("rx_buf_len", lib.TT_RX_PENDING_SIZE - 1),
        ("rx_buf_len", lib.TT_QUEUE_MAX_BUF + 1),
        ("rx_len", lib.TT_RX_PENDING_SIZE + 1),
        ("tx_buf", ffi.NULL),
        ("tx_buf_len", 100),
    ):
        queue = _lowlevel.new_queue(-1, -1, lib.TT_KIND_TUN, csum, 1600)
        setattr(queue.c, field, value)
        bad.append((f"{field}={value}", queue))
    return bad


@pytest.mark.parametrize("offload", [0, lib.TUN_F_CSUM])
def test_a_good_queue_reaches_the_system_call(offload: int) -> None:
    queue = _lowlevel.new_queue(-1, -1, lib.TT_KIND_TUN, offload, 1600)
    buf = ffi.new("char[]", 2048)
    batch, _buf, _results = _lowlevel.new_batch(2, 2048, lib.TT_KIND_TUN)
    packets, _bufs, _lens = _lowlevel.packet_arrays([ffi.from_buffer(b"\x45" * 20)])
    status = _lowlevel.new_write_status()
    assert lib.tt_queue_recv(queue.c, buf, 2048, 0) == -errno.EBADF
    assert lib.tt_queue_send(queue.c, b"\x45" * 20, 20, 0) == -errno.EBADF
    assert lib.tt_queue_read(queue.c, batch, 0, 0) == -errno.EBADF
    assert lib.tt_queue_write(queue.c, packets, 0, 0, 0, status) == 0
    assert status.error == -errno.EBADF


@pytest.mark.parametrize("what, queue", _bad_queues())
def test_every_io_call_checks_the_queue(what: str, queue: _lowlevel.QueueMemory) -> None:
    buf = ffi.new("char[]", 2048)
    batch, _buf, _results = _lowlevel.new_batch(
        2, 2048, queue.c.kind if 0 <= queue.c.kind <= 1 else 0
    )
    packets, _bufs, _lens = _lowlevel.packet_arrays([ffi.from_buffer(b"\x45" * 20)])
    status = _lowlevel.new_write_status()
    einval = -errno.EINVAL
    assert lib.tt_queue_recv(queue.c, buf, 2048, 0) == einval, what
    assert lib.tt_queue_send(queue.c, b"\x45" * 20, 20, 0) == einval, what
    assert lib.tt_queue_read(queue.c, batch, 0, 0) == einval, what
    assert lib.tt_queue_write(queue.c, packets, 0, 0, 0, status) == einval, what


def test_close_reports_a_bad_fd() -> None:
    r, w = os.pipe()
    os.close(w)
    _lowlevel.close_fd(r, "pipe")
    with pytest.raises(OSError, match="close on pipe") as info:
        _lowlevel.close_fd(r, "pipe")
    assert info.value.errno == errno.EBADF


# -- netlink.c: the C side's own checks --------------------------------------------


def test_netlink_calls_check_their_arguments_in_c() -> None:
    einval = -errno.EINVAL
    reply = _lowlevel.NetlinkReply(4)
    nl = _lowlevel.nl_new()
    assert lib.tt_nl_open(ffi.NULL) == einval
    assert lib.tt_nl_link_get(nl, 1, b"lo", reply.c) == einval  # not open yet
    assert _lowlevel.nl_open(nl) == 0
    try:
        assert nl.fd >= 0 and nl.portid != 0
        assert lib.tt_nl_link_get(nl, -1, b"lo", reply.c) == einval
        assert lib.tt_nl_link_get(nl, 0, ffi.NULL, reply.c) == einval
        assert lib.tt_nl_link_get(nl, 0, b"", reply.c) == einval
        assert lib.tt_nl_link_get(nl, 0, b"x" * 16, reply.c) == einval
        assert lib.tt_nl_link_get(nl, 1, b"lo", ffi.NULL) == einval

        change = ffi.new("struct tt_link_change *", {"ifindex": 1, "set": 0x10})
        assert lib.tt_nl_link_set(nl, change, reply.c) == einval
        change = ffi.new("struct tt_link_change *", {"ifindex": 0, "set": 1, "mtu": 1500})
        assert lib.tt_nl_link_set(nl, change, reply.c) == einval
        change = ffi.new("struct tt_link_change *", {"ifindex": 1, "set": 8, "hwaddr_len": 33})
        assert lib.tt_nl_link_set(nl, change, reply.c) == einval
        change = ffi.new("struct tt_link_change *", {"ifindex": 1, "set": 8, "hwaddr_len": 0})
        assert lib.tt_nl_link_set(nl, change, reply.c) == einval
        assert lib.tt_nl_link_set(nl, ffi.NULL, reply.c) == einval

        v4, v6 = bytes(4), bytes(16)
        inet, inet6 = socket.AF_INET, socket.AF_INET6
        for family, addr, prefix in ((inet, v6, 24), (inet, v4, 33), (inet6, v6, 129), (99, v4, 8)):
            assert lib.tt_nl_addr_change(nl, 1, 1, family, addr, len(addr), prefix, 0, reply.c) == (
                einval
            )
        assert lib.tt_nl_addr_change(nl, 1, 0, inet, v4, 4, 24, 0, reply.c) == einval
        assert lib.tt_nl_addr_change(nl, 1, 1, inet, ffi.NULL, 4, 24, 0, reply.c) == einval
        assert lib.tt_nl_addr_dump(nl, 0, reply.c) == einval
        broken = ffi.new("struct tt_nl_reply *", {"addrs_max": 3})
        assert lib.tt_nl_addr_dump(nl, 1, broken) == einval
        for family, addr in ((inet, v6), (inet6, v4), (99, v4)):
            assert lib.tt_nl_route_get(nl, family, addr, len(addr), reply.c) == einval
        assert lib.tt_nl_route_get(nl, inet6, ffi.NULL, 16, reply.c) == einval
        assert lib.tt_nl_route_get(nl, inet6, v6, 16, ffi.NULL) == einval
        # A real lookup: the loopback address is local.
        loopback = socket.inet_pton(inet6, "::1")
        assert lib.tt_nl_route_get(nl, inet6, loopback, 16, reply.c) == 0
        assert reply.c.route_type == lib.RTN_LOCAL
    finally:
        _lowlevel.nl_close(nl, "test")
        _lowlevel.nl_close(nl, "test")  # twice is harmless
    assert nl.fd == -1


def test_netlink_requests_count_their_sequence_numbers() -> None:
    reply = _lowlevel.NetlinkReply()
    nl = _lowlevel.nl_new()
    assert _lowlevel.nl_open(nl) == 0
    try:
        for expected in (1, 2, 3):
            assert _lowlevel.nl_link_get(nl, 0, "lo", reply) == 0
            assert nl.seq == reply.c.seq == expected and reply.c.portid == nl.portid
        assert reply.link().name == "lo" and reply.link().ifindex == 1
        assert _lowlevel.nl_link_get(nl, 0, "nonexistent0", reply) == -errno.ENODEV
    finally:
        _lowlevel.nl_close(nl, "test")


# -- devctl.c and netns.c: the C side's own checks ---------------------------------------


def test_device_ioctls_check_their_arguments_in_c() -> None:
    einval = -errno.EINVAL
    r, w = os.pipe()
    try:
        assert lib.tt_set_persist(-1, 1) == einval
        assert lib.tt_set_persist(r, 2) == einval
        assert lib.tt_set_owner(r, 0xFFFFFFFF) == einval  # (uid_t)-1 is nobody's
        assert lib.tt_set_group(r, 0xFFFFFFFF) == einval
        assert lib.tt_set_queue(r, 7) == einval
        assert lib.tt_set_queue(-3, 1) == einval
        # Valid requests on a pipe reach the ioctl, which a pipe does not know.
        for result in (
            lib.tt_set_persist(r, 1),
            lib.tt_set_owner(r, 0),
            lib.tt_set_group(r, 0),
            lib.tt_set_queue(r, 0),
        ):
            assert result == -errno.ENOTTY
    finally:
        os.close(r)
        os.close(w)


def test_netns_check_tells_network_namespaces_from_anything_else() -> None:
    assert lib.tt_netns_check(-1) == -errno.EINVAL
    for path, expected in (
        ("/proc/self/ns/net", 0),
        ("/proc/self/ns/uts", -errno.EINVAL),
        ("/proc/self/ns/mnt", -errno.EINVAL),
        ("/dev/null", -errno.EINVAL),
        ("/proc/self/status", -errno.EINVAL),
    ):
        fd = os.open(path, os.O_RDONLY)
        try:
            assert lib.tt_netns_check(fd) == expected, path
        finally:
            os.close(fd)


def test_netns_calls_check_their_arguments_in_c() -> None:
    einval = -errno.EINVAL
    restore = ffi.new("int32_t *", 99)
    fds = ffi.new("int32_t[]", 2)
    nl = _lowlevel.nl_new()
    here = os.open("/proc/self/ns/net", os.O_RDONLY)
    r, w = os.pipe()
    try:
        assert lib.tt_netns_open(here, b"/dev/null", 0, fds, 1, ffi.NULL, ffi.NULL) == einval
        cases = [
            (here, b"/dev/null", 3, fds, 1, ffi.NULL),  # unknown access
            (here, b"/dev/null", 0, fds, 257, ffi.NULL),  # more than TT_MAX_QUEUES
            (here, ffi.NULL, 0, ffi.NULL, 0, ffi.NULL),  # nothing to open
            (here, ffi.NULL, 0, fds, 1, ffi.NULL),  # count without a path
            (here, b"/dev/null", 0, ffi.NULL, 1, ffi.NULL),  # count without room
            (here, b"/" * 5000, 0, fds, 1, ffi.NULL),  # longer than PATH_MAX
            (r, b"/dev/null", 0, fds, 1, ffi.NULL),  # a pipe is no namespace
        ]
        for args in cases:
            assert lib.tt_netns_open(*args, restore) == einval, args
            assert restore[0] == 0
        nl.fd = 5  # "already open"
        assert lib.tt_netns_open(here, ffi.NULL, 0, ffi.NULL, 0, nl, restore) == einval
        assert lib.tt_netns_create(ffi.NULL, b"/run/netns/x", restore) == einval
        assert lib.tt_netns_create(b"/run/netns", ffi.NULL, restore) == einval
        for run_dir, path in (
            (b"", b"/x"),
            (b"/run/netns", b"/run/netns"),
            (b"/run/netns", b"/run/netns/"),
            (b"/run/netns", b"/run/netnsx/y"),
            (b"/run/netns", b"/run/netns/a/b"),
            (b"/run/netns", b"/etc/passwd"),
        ):
            assert lib.tt_netns_create(run_dir, path, restore) == einval, (run_dir, path)
        assert lib.tt_netns_create(b"/run/netns", b"/run/netns/x", ffi.NULL) == einval
        assert lib.tt_netns_delete(ffi.NULL) == einval
        assert lib.tt_netns_delete(b"") == einval
    finally:
        nl.fd = -1
        for fd in (here, r, w):
            os.close(fd)


@pytest.mark.privileged
def test_netns_open_gives_back_everything_when_an_open_fails() -> None:
    restore = ffi.new("int32_t *")
    fds = ffi.new("int32_t[]", [7, 7, 7])
    nl = _lowlevel.nl_new()
    here = os.open("/proc/self/ns/net", os.O_RDONLY)
    before = open_fds()
    try:
        result = lib.tt_netns_open(here, b"/nonexistent/x", 0, fds, 3, nl, restore)
        assert result == -errno.ENOENT and restore[0] == 0
        assert list(fds) == [-1, -1, -1] and nl.fd == -1
        assert open_fds() == before
        # And when it works, every fd and the socket are open, once each.
        assert lib.tt_netns_open(here, b"/dev/null", 1, fds, 3, nl, restore) == 0
        opened = [*fds, nl.fd]
        assert len(set(opened)) == 4 and set(opened) == set(open_fds()) - set(before)
        for fd in fds:
            os.close(fd)
        _lowlevel.nl_close(nl, "test")
        assert open_fds() == before
    finally:
        os.close(here)
