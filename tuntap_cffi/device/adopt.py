"""``from_fd``: wrap an fd of a TUN/TAP device opened elsewhere in an :class:`Interface`.

The fd may come from another process (``receive_interface``), from a parent
that opened it before dropping privileges, or from a raw ``TUNSETIFF`` of
other code. What it is attached to is asked of the kernel, never taken on
trust: the name, kind and flags (``TUNGETIFF``), the virtio-net header size
(``TUNGETVNETHDRSZ``) and the device's network namespace
(``TUNGETDEVNETNS``), all in one C call but the last (``csrc/adopt.c``).
:func:`describe` does the asking and refuses what this library cannot read;
:func:`adopt` makes the Interface ``open`` would have made.
"""

from __future__ import annotations

import errno
import os

from .. import _lowlevel
from ..errors import DeviceMismatchError, hint_for, os_error
from ..link.netlink import Netlink
from ..packets.offload import NONE, VNET_HDR_LEN, Offload
from ..packets.packet import DevKind
from . import attach
from .interface import Interface

__all__ = ["Adoption", "adopt", "check_fd", "describe", "from_fd"]

# What TUNGETDEVNETNS answers when the kernel will not say (no CAP_NET_ADMIN
# in the fd's namespace) or cannot (Linux before 5.2): the caller's is assumed.
_NETNS_UNKNOWN = (errno.EPERM, errno.EINVAL, errno.ENOTTY)


def check_fd(fd: object, operation: str) -> int:
    """An fd number as ``from_fd`` takes it: an int >= 0 (checked before any system call)."""
    if isinstance(fd, bool) or not isinstance(fd, int):
        raise TypeError(f"{operation}: the fd must be an int, not {type(fd).__name__}")
    if fd < 0:
        raise ValueError(f"{operation}: the fd must be >= 0, not {fd}")
    return fd


def _what_it_is(fd: int) -> str:
    """What the fd is open on, as /proc says (``pipe:[123]``, ``socket:[45]``, a path)."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


def _refused(err: int, fd: int, operation: str) -> OSError:
    hint = hint_for(err, "adopt")
    what = _what_it_is(fd) if err == errno.ENOTTY else None
    if what:
        hint = f"not a TUN/TAP device: fd {fd} is {what}, not /dev/net/tun"
    return os_error(err, operation, None, hint=hint)


class Adoption:
    """What :func:`describe` found out about an fd, and the fds it opened to do so.

    ``device`` is the kernel's description (with the packet information
    flag from RTM_GETLINK when the device could be seen there); ``netns_fd``
    the device's namespace when it is not the calling thread's (else -1);
    ``netlink`` the socket that asked, in that namespace. :func:`adopt`
    hands them to the Interface; :meth:`abandon` closes them.
    """

    def __init__(self, device: _lowlevel.FdDevice, netns_fd: int, netlink: Netlink) -> None:
        self.device = device
        self.netns_fd = netns_fd
        self.netlink = netlink

    def abandon(self) -> None:
        """Close what was opened for the description (not the fd described)."""
        self.netlink.close()
        if self.netns_fd >= 0:
            _lowlevel.close_fd(self.netns_fd, self.device.name)
            self.netns_fd = -1


def _same_device(device: _lowlevel.FdDevice, link: _lowlevel.LinkInfo | None) -> bool:
    """Whether the link found by name is the fd's device, as far as both views tell."""
    tun = None if link is None else link.tun
    return tun is not None and (tun.kind, tun.multi_queue, tun.vnet_hdr) == (
        device.kind,
        device.multi_queue,
        device.vnet_hdr,
    )


def _look_up(device: _lowlevel.FdDevice, fd: int, operation: str) -> Adoption:
    """The device's namespace and its RTM_GETLINK view (for the packet information flag).

    When the device is not to be seen (in another namespace that the kernel
    will not name without CAP_NET_ADMIN), TUNGETIFF's flags stand alone.
    """
    nsfd = _device_netns(fd, device.name)
    try:
        netlink = Netlink(device.name, operation, nsfd)
    except BaseException:
        if nsfd >= 0:
            _lowlevel.close_fd(nsfd, device.name)
        raise
    adoption = Adoption(device, nsfd, netlink)
    link = netlink.find(device.name)
    if _same_device(device, link):
        assert link is not None and link.tun is not None
        adoption.device = device._replace(pi=device.pi or link.tun.pi)
    return adoption


def describe(fd: int, operation: str) -> Adoption:
    """What the kernel says ``fd`` is attached to, or why it is not usable here.

    ``operation`` names the call and the fd in messages (``"from_fd(5)"``).

    Raises:
        OSError: (EBADF) not an open fd; (ENOTTY) not an fd of /dev/net/tun;
            (EBADFD) an fd of /dev/net/tun attached to no device.
        DeviceMismatchError: a device whose headers this library does not
            read (packet information, virtio-net headers on a TAP or of
            another size than 10 bytes).
        ValueError: the fd was not opened for reading and writing.
    """
    result, device = _lowlevel.fd_device(fd)
    if result < 0:
        raise _refused(-result, fd, operation)
    assert device is not None
    where = f"{operation}: {device.name}"
    if device.access != os.O_RDWR:
        mode = "read-only" if device.access == os.O_RDONLY else "write-only"
        raise ValueError(f"{where}: the fd was opened {mode}; a queue needs O_RDWR")
    if device.vnet_hdr and device.kind == DevKind.TAP:
        raise DeviceMismatchError(
            f"{where} is a TAP device with virtio-net headers (IFF_VNET_HDR): "
            "this library takes offloads on TUN devices only",
            device.name,
        )
    if device.vnet_hdr and device.vnet_hdr_size != VNET_HDR_LEN:
        raise DeviceMismatchError(
            f"{where} speaks virtio-net headers of {device.vnet_hdr_size} bytes "
            f"(TUNGETVNETHDRSZ); this library reads {VNET_HDR_LEN}-byte ones "
            "(struct virtio_net_hdr)",
            device.name,
        )
    adoption = _look_up(device, fd, operation)
    if adoption.device.pi:
        adoption.abandon()
        raise DeviceMismatchError(
            f"{where} was attached with packet information headers (without IFF_NO_PI), "
            "which this library does not read",
            device.name,
        )
    return adoption


def _device_netns(fd: int, name: str) -> int:
    """The device's namespace fd when it is not the calling thread's, else -1."""
    nsfd = _lowlevel.device_netns(fd)
    if nsfd < 0:
        if -nsfd in _NETNS_UNKNOWN:
            return -1
        raise os_error(-nsfd, "TUNGETDEVNETNS", name)
    try:
        theirs = os.fstat(nsfd)
        ours = os.stat("/proc/thread-self/ns/net")
    except BaseException:
        _lowlevel.close_fd(nsfd, name)
        raise
    if (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino):
        _lowlevel.close_fd(nsfd, name)
        return -1
    return nsfd


def _offload_of(fd: int, device: _lowlevel.FdDevice) -> Offload:
    """Put the device's offloads in the state ``open`` leaves them in, and say which.

    The features a device has on cannot be read back by ioctl, so they are
    set again: with virtio-net headers, every feature ``open(offload=True)``
    asks for (what the kernel takes is the answer); without, none, or the
    kernel would hand a plain reader 64 KiB super-packets.
    """
    if device.vnet_hdr:
        return Offload(attach.enable_offload(fd, device.name))
    attach.clear_offload(fd, device.name)
    return NONE


def adopt(fd: int, adoption: Adoption) -> Interface:
    """The Interface of ``fd``, as :func:`describe` found it; it owns the fd.

    On failure what ``adoption`` holds is closed, but not ``fd``: it stays
    the caller's.
    """
    device = adoption.device
    name = device.name
    try:
        offload = _offload_of(fd, device)
        _lowlevel.set_nonblocking(fd, name)
        os.set_inheritable(fd, False)
        wakefd = _lowlevel.new_wake_fd(name)
    except BaseException:
        adoption.abandon()
        raise
    return Interface(
        fd,
        wakefd,
        name,
        DevKind(device.kind),
        multi_queue=device.multi_queue,
        netlink=adoption.netlink,
        netns_fd=adoption.netns_fd,
        offload=offload,
    )


def from_fd(fd: int) -> Interface:
    """Adopt an fd of a TUN/TAP device opened elsewhere; the Interface owns it.

    The name, kind, multi-queue flag and virtio-net headers are the
    kernel's (``TUNGETIFF``, ``TUNGETVNETHDRSZ``), and the Interface is the
    one :func:`open` would have made: the fd is made non-blocking and
    close-on-exec, offloads are set as ``open`` sets them (a fd with
    virtio-net headers gets every feature ``offload=True`` asks for, one
    without gets none), and the configuration methods act in the device's
    network namespace (when the kernel says which: with CAP_NET_ADMIN; else
    in the caller's). Closing the Interface closes the fd: pass
    ``os.dup(fd)`` to keep one of your own. O_NONBLOCK and the offloads
    belong to the open file and the device, so another holder of the same
    file or device sees them too.

    Raises:
        TypeError, ValueError: not an int, or a negative one (before any
            system call); a fd not opened read-write.
        OSError: (EBADF) not an open fd; (ENOTTY) not an fd of
            /dev/net/tun (a pipe, a socket, a file); (EBADFD) one attached
            to no device. The message names ``from_fd`` and the fd.
        DeviceMismatchError: a device whose headers this library does not
            read (opened without IFF_NO_PI; virtio-net headers on a TAP or
            not of 10 bytes).
    """
    fd = check_fd(fd, "from_fd")
    return adopt(fd, describe(fd, f"from_fd({fd})"))
