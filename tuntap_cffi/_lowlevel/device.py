"""Bindings of ``csrc/cdef/device.h``: opening and operating TUN/TAP devices."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, NamedTuple, cast

from .._native import ffi, lib
from .common import check

if TYPE_CHECKING:
    from .._native import TTFdDevice

IFNAME_MAX = lib.TT_IFNAME_MAX
KIND_TUN = lib.TT_KIND_TUN
KIND_TAP = lib.TT_KIND_TAP


def open_clone(path: str) -> int:
    """Open the TUN/TAP clone device; returns the new fd."""
    return lib.tt_open_clone(os.fsencode(path))


def set_iff(fd: int, name: str, kind: int, extra_flags: int) -> tuple[int, str]:
    """TUNSETIFF: attach ``fd`` to device ``name``; returns (-errno or 0, kernel's name)."""
    name_out = ffi.new("char[]", IFNAME_MAX + 1)
    result = lib.tt_set_iff(fd, name.encode("ascii"), kind, extra_flags, name_out, IFNAME_MAX + 1)
    raw = ffi.string(name_out)
    assert isinstance(raw, bytes)
    return result, raw.decode("ascii", "replace")


def set_iff_flags(fd: int, name: bytes, flags: int) -> tuple[int, bytes]:
    """TUNSETIFF with ``flags`` and ``name`` as given (the kernel judges both);
    returns (-errno or 0, the name the kernel chose)."""
    name_out = ffi.new("char[]", IFNAME_MAX + 1)
    result = lib.tt_set_iff_flags(fd, name, flags, name_out, IFNAME_MAX + 1)
    raw = ffi.string(name_out)
    assert isinstance(raw, bytes)
    return result, raw


def set_nonblocking(fd: int, name: str) -> None:
    """Put ``fd`` in non-blocking mode (waits happen in poll, with a wake-up fd)."""
    check(lib.tt_set_nonblocking(fd), "set O_NONBLOCK", name)


def close_fd(fd: int, name: str) -> None:
    """Close an fd (never retried: Linux has released it even on EINTR)."""
    check(lib.tt_close(fd), "close", name)


MAX_QUEUES = lib.TT_MAX_QUEUES
IFF_MULTI_QUEUE = lib.IFF_MULTI_QUEUE


def set_persist(fd: int, persist: bool) -> int:
    """TUNSETPERSIST: keep the device after its last fd closes (or not); 0 or -errno."""
    return lib.tt_set_persist(fd, int(persist))


def set_owner(fd: int, uid: int) -> int:
    """TUNSETOWNER: the uid that may attach without CAP_NET_ADMIN; 0 or -errno."""
    return lib.tt_set_owner(fd, uid)


def set_group(fd: int, gid: int) -> int:
    """TUNSETGROUP: the group whose members may attach without CAP_NET_ADMIN; 0 or -errno."""
    return lib.tt_set_group(fd, gid)


def set_queue(fd: int, attach: bool) -> int:
    """TUNSETQUEUE: attach or detach this queue of a multi-queue device; 0 or -errno."""
    return lib.tt_set_queue(fd, int(attach))


def set_offload(fd: int, wanted: int) -> int:
    """TUNSETVNETHDRSZ + TUNSETOFFLOAD: the TUN_F_* bits the kernel accepted, or -errno."""
    return lib.tt_set_offload(fd, wanted)


class FdDevice(NamedTuple):
    """What an fd of ``/dev/net/tun`` is attached to (TUNGETIFF, TUNGETVNETHDRSZ)."""

    name: str
    kind: int  # KIND_TUN or KIND_TAP
    pi: bool  # packet information headers for sure (see tt_fd_device: False may be wrong)
    vnet_hdr: bool  # virtio-net headers (IFF_VNET_HDR)
    persist: bool
    multi_queue: bool
    vnet_hdr_size: int  # the header size the kernel reads and writes (with vnet_hdr)
    access: int  # os.O_RDONLY, os.O_WRONLY or os.O_RDWR


def fd_device(fd: int) -> tuple[int, FdDevice | None]:
    """The device ``fd`` is attached to: (0, its description) or (-errno, None)."""
    out = cast("TTFdDevice", ffi.new("struct tt_fd_device *"))
    result = lib.tt_fd_device(fd, out)
    if result < 0:
        return result, None
    raw = ffi.string(out.name)
    assert isinstance(raw, bytes)
    flags = out.tun_flags
    return 0, FdDevice(
        raw.decode("ascii", "replace"),
        out.tun_type,
        bool(flags & lib.TT_TUN_PI),
        bool(flags & lib.TT_TUN_VNET_HDR),
        bool(flags & lib.TT_TUN_PERSIST),
        bool(flags & lib.TT_TUN_MULTI_QUEUE),
        out.vnet_hdr_sz,
        out.access,
    )


# The flags send_interface and receive_interface pass (not in PyPy's socket module).
MSG_NOSIGNAL = lib.MSG_NOSIGNAL
MSG_CMSG_CLOEXEC = lib.MSG_CMSG_CLOEXEC


def device_netns(fd: int) -> int:
    """TUNGETDEVNETNS: a new fd of the device's network namespace, or -errno."""
    return lib.tt_device_netns(fd)
