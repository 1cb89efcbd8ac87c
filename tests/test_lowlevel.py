"""The binding tier: -errno handling and the C side's own argument checks."""

from __future__ import annotations

import errno
import os

import pytest

from tuntap_cffi import _lowlevel
from tuntap_cffi._native import ffi, lib


def test_os_error_picks_the_builtin_subclass_and_names_things() -> None:
    exc = _lowlevel.os_error(errno.EPERM, "TUNSETIFF", "tun7", "needs CAP_NET_ADMIN")
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


def test_recv_and_send_check_their_buffers() -> None:
    r, w = os.pipe()
    try:
        assert lib.tt_recv_packet(r, w, ffi.NULL, 10, 0, 0) == -errno.EINVAL
        buf = ffi.new("char[]", 4)
        assert lib.tt_recv_packet(r, w, buf, 0, 0, 0) == -errno.EINVAL
        assert lib.tt_send(w, r, ffi.NULL, 3, 0) == -errno.EINVAL
        assert lib.tt_send(w, r, b"\x45\x00", 2, 0) == 2
        packed = lib.tt_recv_packet(r, w, buf, 4, 0, 0)
        assert _lowlevel.unpack(packed) == (lib.TT_PKT_TRUNCATED, 0x0800, 2)
        os.set_blocking(r, False)
        assert lib.tt_recv_packet(r, w, buf, 4, 0, 0) == -errno.EAGAIN
    finally:
        os.close(r)
        os.close(w)


def test_close_reports_a_bad_fd() -> None:
    r, w = os.pipe()
    os.close(w)
    _lowlevel.close_fd(r, "pipe")
    with pytest.raises(OSError, match="close on pipe") as info:
        _lowlevel.close_fd(r, "pipe")
    assert info.value.errno == errno.EBADF
