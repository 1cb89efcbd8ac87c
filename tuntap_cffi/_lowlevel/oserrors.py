"""Errno to ``OSError``: the one table of hints and the one function that builds
the exception, so that the binding tier raises what the public tier documents
without importing it (``tuntap_cffi.errors`` re-exports both)."""

from __future__ import annotations

import errno
import os

GONE = "the interface is gone"
NO_IPV6_HINT = "IPv6 is not available in this kernel"

# What an errno means, by the kind of call that got it (``area``): the one
# table of the hints every OSError of this library carries. Key 0 of an area
# stands for any errno it does not list; an area missing an errno falls back
# to the area named in _FALLBACK. Hints that depend on more than the errno
# (who owns a device, the queue limit the C shim reports) are given by the
# caller as ``hint=``.
HINTS: dict[str, dict[int, str]] = {
    # packet I/O and ioctls on an attached fd
    "device": {errno.EBADFD: GONE, errno.ENXIO: GONE, errno.ENODEV: GONE},
    "write": {errno.EIO: "the interface is down"},
    # rtnetlink requests
    "netlink": {
        errno.ENODEV: GONE,
        errno.ENXIO: GONE,
        errno.EPERM: "needs CAP_NET_ADMIN",
        errno.EEXIST: "the address is already assigned",
        errno.EADDRNOTAVAIL: "the address is not assigned to the interface",
        errno.EBADMSG: "malformed reply from the kernel",
        errno.EPROTO: "unexpected reply from the kernel",
        errno.ETIMEDOUT: "the kernel did not answer",
        errno.EAGAIN: "the addresses kept changing while they were read; try again",
    },
    # adding, deleting and listing routes
    "route": {
        errno.EEXIST: "the route exists already",
        errno.ESRCH: "no such route",
        errno.EAGAIN: "the routes kept changing while they were read; try again",
    },
    # finding a link by name or index (tuntap.Link)
    "lookup": {errno.ENODEV: "no such interface (see ip link show)"},
    # the /proc/sys/net/ipv6/conf files
    "ipv6-conf": {errno.ENOENT: GONE, errno.EACCES: "needs root", errno.EPERM: "needs root"},
    # opening /dev/net/tun
    "clone": {
        errno.ENOENT: "load the tun kernel module: modprobe tun",
        errno.ENODEV: "load the tun kernel module: modprobe tun",
        errno.EACCES: "needs read-write access to it (root or CAP_NET_ADMIN and its mode)",
    },
    "offload": {0: "the kernel does not support virtio-net header offloads on TUN"},
    "detach-queue": {errno.EINVAL: "the queue is detached already"},
    "attach-queue": {errno.EINVAL: "the queue is attached already"},
    # entering another network namespace (setns says EPERM without CAP_SYS_ADMIN)
    "netns-enter": {errno.EPERM: "entering another network namespace needs CAP_SYS_ADMIN"},
    "netns-create": {
        errno.EEXIST: "a namespace of that name exists (ip netns list)",
        errno.EPERM: "needs CAP_SYS_ADMIN",
        errno.EACCES: "needs CAP_SYS_ADMIN and write access to /run/netns",
    },
    "netns-delete": {errno.EPERM: "needs CAP_SYS_ADMIN"},
    "netns-fd": {0: "not an open fd"},
    "netns-file": {errno.ENOENT: "no such network namespace"},
    # adopting an fd opened elsewhere (from_fd, receive_interface)
    "adopt": {
        errno.EBADF: "not an open fd",
        errno.ENOTTY: "not a TUN/TAP device: the fd is not open on /dev/net/tun",
        errno.EBADFD: (
            "an fd of /dev/net/tun attached to no device: TUNSETIFF was never called "
            "on it, its device was deleted, or it is a detached queue"
        ),
    },
}
_FALLBACK = {"write": "device", "lookup": "netlink", "route": "netlink", "ipv4-conf": "ipv6-conf"}


def hint_for(err: int, area: str) -> str:
    """What ``err`` means for a call of kind ``area`` (a key of :data:`HINTS`), or ''."""
    while True:
        hints = HINTS.get(area, {})
        hint = hints.get(err, hints.get(0))
        if hint is not None:
            return hint
        if area not in _FALLBACK:
            return ""
        area = _FALLBACK[area]


def os_error(
    err: int,
    operation: str,
    name: str | None,
    *,
    hint: str | None = None,
    area: str = "",
    ext_ack: str = "",
) -> OSError:
    """The builtin ``OSError`` subclass for a positive errno, naming what failed.

    The message is ``"<operation> on <name>: <strerror> (<hint>; kernel: <ext_ack>)"``
    and ``filename`` is ``name`` (the interface), as ``open()`` names its path.
    ``name`` None: the operation names its object itself (a namespace).

    Args:
        hint: how to read or fix the failure; None looks it up in :data:`HINTS`
            under ``area``, '' gives none.
        ext_ack: the kernel's extended-ack text of a refused netlink request.
    """
    if hint is None:
        hint = hint_for(err, area)
    notes = [text for text in (hint, f"kernel: {ext_ack}" if ext_ack else "") if text]
    where = operation if name is None else f"{operation} on {name}"
    message = f"{where}: {os.strerror(err)}"
    if notes:
        message = f"{message} ({'; '.join(notes)})"
    if name is None:
        return OSError(err, message)
    return OSError(err, message, name)
