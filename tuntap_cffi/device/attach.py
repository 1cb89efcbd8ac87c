"""Attaching fds to a device as operators run them: owned, persistent, multi-queue, in a namespace.

:func:`attach` is what ``open`` and ``open_queues`` share: it resolves the
options, opens the clone device (inside the target network namespace when
asked, in one C call), attaches every fd with TUNSETIFF, explains a refusal
from what the kernel says of the existing device (RTM_GETLINK with
IFLA_LINKINFO), and sets owner, group and persistence. It hands back plain
fds; ``interface.py`` wraps them in Interfaces.
"""

from __future__ import annotations

import errno
import functools
import grp
import logging
import os
import pwd
from collections.abc import Callable, Iterable
from typing import NamedTuple

from .. import _lowlevel, netns
from ..errors import DeviceBusyError, DeviceMismatchError, os_error
from ..lifetime import chain, close_each
from ..link.netlink import Netlink
from ..packets.offload import NONE as NO_OFFLOAD, WANTED as OFFLOAD_WANTED, Offload
from ..packets.packet import DevKind

__all__ = [
    "CLONE_DEVICE",
    "FULL_HINT",
    "MAX_QUEUES",
    "Attached",
    "attach",
    "chain",
    "check_count",
    "clear_offload",
    "enable_offload",
    "resolve_id",
    "validate_name",
]

_log = logging.getLogger(__name__)

CLONE_DEVICE = "/dev/net/tun"
MAX_QUEUES = _lowlevel.MAX_QUEUES  # the kernel's MAX_TAP_QUEUES
_NO_ID = 2**32 - 1  # (uid_t)-1: "nobody" to the kernel, refused by TUNSETOWNER

FULL_HINT = f"the device has all {MAX_QUEUES} queues the kernel allows"


class Attached(NamedTuple):
    """What :func:`attach` opened: one entry per queue in each list."""

    name: str
    fds: list[int]
    wakefds: list[int]
    netns_fds: list[int]  # each queue's own fd of the device's namespace; -1 when the caller's
    netlink: Netlink | None  # a socket in the device's namespace, for the first queue
    offload: int  # the TUN_F_* bits the kernel accepted (0 without offload=True)


def validate_name(name: object) -> str:
    """Check a device name or ``%d`` pattern the way the kernel would, with clear errors."""
    if not isinstance(name, str):
        raise TypeError(f"interface name must be a str, not {type(name).__name__}")
    if not name:
        raise ValueError("interface name is empty")
    if any(c.isspace() for c in name):
        raise ValueError(f"interface name {name!r} contains whitespace")
    if not name.isascii() or not name.isprintable():
        raise ValueError(f"interface name {name!r} must be printable ASCII")
    if len(name) > _lowlevel.IFNAME_MAX:
        raise ValueError(f"interface name {name!r} is longer than {_lowlevel.IFNAME_MAX} bytes")
    if name in (".", ".."):
        raise ValueError(f"interface name {name!r} is not allowed")
    for bad in ("/", ":"):
        if bad in name:
            raise ValueError(f"interface name {name!r} contains {bad!r}")
    if name.count("%") > 1 or ("%" in name and "%d" not in name):
        raise ValueError(f"interface name {name!r}: only a single %d pattern is allowed")
    return name


def resolve_id(value: object, what: str) -> int | None:
    """A uid (``what`` "owner") or gid ("group") from an id or a name; None stays None.

    Names are looked up in the user and group databases; ids are taken as
    they are (the kernel needs no entry for them), within 0..2**32-2.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"{what} must be an id or a name, not bool")
    if isinstance(value, int):
        if not 0 <= value < _NO_ID:
            raise ValueError(f"{what} {value} is not a valid id (0..{_NO_ID - 1})")
        return value
    if isinstance(value, str):
        try:
            if what == "owner":
                return pwd.getpwnam(value).pw_uid
            return grp.getgrnam(value).gr_gid
        except KeyError:
            database = "user" if what == "owner" else "group"
            raise ValueError(f"{what} {value!r}: no such {database}") from None
    raise TypeError(f"{what} must be an id or a name, not {type(value).__name__}")


def check_count(count: object) -> int:
    """The number of queues of open_queues: 1..MAX_QUEUES."""
    if isinstance(count, bool) or not isinstance(count, int):
        raise TypeError(f"count must be an int, not {type(count).__name__}")
    if not 1 <= count <= MAX_QUEUES:
        raise ValueError(
            f"count must be between 1 and {MAX_QUEUES} (the kernel's limit of queues), not {count}"
        )
    return count


def _check_flag(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{what} must be True or False, not {value!r}")
    return value


def _queue_word(multi_queue: bool) -> str:
    return "multi-queue" if multi_queue else "single-queue"


def _mismatch(name: str, kind: DevKind, multi_queue: bool, link: _lowlevel.LinkInfo) -> str:
    """Why the kernel refused to attach to the existing ``link`` (EINVAL), in words."""
    tun = link.tun
    if link.kind != "tun":
        if link.kind:
            return f"{name} is not a TUN/TAP device but a {link.kind} device"
        return f"{name} is not a TUN/TAP device (it has no link kind: loopback or hardware)"
    if tun is None:
        return f"{name} exists but is not a {kind.name} device with these flags"
    if tun.kind != kind:
        return f"{name} is a {DevKind(tun.kind).name} device, not a {kind.name} device"
    if tun.multi_queue and not multi_queue:
        return f"{name} is a multi-queue device: open its queues with tuntap.open_queues()"
    if multi_queue and not tun.multi_queue:
        return (
            f"{name} is a single-queue device (made without IFF_MULTI_QUEUE): open it with "
            "tuntap.open(), or delete it and make it again with tuntap.open_queues()"
        )
    return f"{name} exists but refused a {_queue_word(multi_queue)} {kind.name} attach"


def _permission_hint(name: str, link: _lowlevel.LinkInfo | None) -> str:
    """Why the kernel refused (EPERM), in words: tun_not_capable() or no CAP_NET_ADMIN."""
    if link is None:
        return "creating a device needs CAP_NET_ADMIN"
    tun = link.tun
    if tun is None or (tun.owner is None and tun.group is None):
        return f"attaching to {name} needs CAP_NET_ADMIN"
    uid, gid, groups = os.geteuid(), os.getegid(), os.getgroups()
    rule = " and ".join(
        part
        for part in (
            None if tun.owner is None else f"uid {tun.owner}",
            None if tun.group is None else f"members of gid {tun.group}",
        )
        if part
    )
    reasons = []
    if tun.owner is not None and tun.owner != uid:
        reasons.append(f"this process runs as uid {uid}")
    if tun.group is not None and tun.group != gid and tun.group not in groups:
        reasons.append(f"it is not in gid {tun.group}")
    why = " and ".join(reasons) or "the kernel's owner check failed"
    return (
        f"{name} may be attached only by {rule} (or with CAP_NET_ADMIN): {why}, "
        "without CAP_NET_ADMIN"
    )


def open_error(
    err: int, name: str, kind: DevKind, multi_queue: bool, link: _lowlevel.LinkInfo | None
) -> OSError:
    """Explain a refused TUNSETIFF from the errno and what the kernel says of ``link``."""
    operation = "TUNSETIFF"
    if err in (errno.EPERM, errno.EACCES):
        return os_error(err, operation, name, hint=_permission_hint(name, link))
    if err == errno.EBUSY:
        return DeviceBusyError(
            f"{operation} on {name}: the device is already attached to another file "
            "descriptor (and is not multi-queue)",
            name,
        )
    if err == errno.EINVAL:
        if link is None:
            detail = (
                f"a device of that name exists but is not a {_queue_word(multi_queue)} "
                f"{kind.name} device (another kind, or not TUN/TAP at all)"
            )
        else:
            detail = _mismatch(name, kind, multi_queue, link)
        return DeviceMismatchError(f"{operation} on {name}: {detail}", name)
    return os_error(err, operation, name, hint=FULL_HINT if err == errno.E2BIG else "")


def _check_queue_flags(name: str, netlink: Netlink, offload: bool) -> None:
    """After attaching queues: refuse headers that this library does not read.

    When other queues of a multi-queue device are attached already, the
    kernel keeps their flags (no IFF_NO_PI, IFF_VNET_HDR) for new queues
    without a word; the packets would then carry headers we do not expect
    (virtio-net headers are expected exactly when ``offload`` was asked for).
    """
    link = netlink.find(name)
    tun = None if link is None else link.tun
    if tun is None:
        return
    if offload and not tun.vnet_hdr:
        raise DeviceMismatchError(
            f"TUNSETIFF on {name}: its queues were opened without virtio-net headers "
            "(vnet_hdr off), so they cannot take offload=True",
            name,
        )
    headers = [
        text
        for on, text in (
            (tun.pi, "packet information headers (pi on)"),
            (tun.vnet_hdr and not offload, "virtio-net headers (vnet_hdr on)"),
        )
        if on
    ]
    if headers:
        raise DeviceMismatchError(
            f"TUNSETIFF on {name}: its queues were opened with {' and '.join(headers)}, "
            "which this library does not read",
            name,
        )


def _close_all(fds: list[int], name: str) -> None:
    """Close every fd >= 0 of ``fds``; raise the first failure once all were tried."""
    close_each([functools.partial(_lowlevel.close_fd, fd, name) for fd in fds if fd >= 0])


def _cleanup(error: BaseException, closes: Iterable[Callable[[], None]]) -> None:
    """After ``error``: close everything, keeping a failure to close with ``error``
    (which the caller re-raises), not instead of it."""
    try:
        close_each(closes)
    except BaseException as exc:
        chain(error, exc)


def _open_clones(name: str, count: int) -> list[int]:
    fds: list[int] = []
    try:
        for _ in range(count):
            fd = _lowlevel.open_clone(CLONE_DEVICE)
            if fd < 0:
                raise os_error(-fd, f"open {CLONE_DEVICE}", name, area="clone")
            fds.append(fd)
    except BaseException as exc:
        _cleanup(exc, [lambda: _close_all(fds, name)])
        raise
    return fds


def attach(
    name: str,
    kind: DevKind,
    count: int,
    multi_queue: bool,
    *,
    persist: object = False,
    owner: object = None,
    group: object = None,
    netns_target: object = None,
    offload: Offload = NO_OFFLOAD,
    exact_offload: bool = False,
) -> Attached:
    """Open ``count`` fds attached to the device ``name`` (created when missing).

    ``name`` and ``kind`` are validated by the caller (``offload`` too: the
    offloads to ask for, TUN only; ``exact_offload``: all of them or an
    error); the options here are validated before any system call.
    """
    persist = _check_flag(persist, "persist")
    uid = resolve_id(owner, "owner")
    gid = resolve_id(group, "group")
    nsfd = -1 if netns_target is None else netns.open_target(netns_target)[0]
    fds: list[int] = []
    wakefds: list[int] = []
    netns_fds: list[int] = []
    netlink: Netlink | None = None
    try:
        if nsfd >= 0:
            nl = _lowlevel.nl_new()
            fds = netns.open_in(
                nsfd,
                CLONE_DEVICE,
                _lowlevel.ACCESS_READ_WRITE,
                count,
                nl,
                f"open {CLONE_DEVICE}",
                name,
                "clone",
            )
            netlink = Netlink(name, opened=nl)
        else:
            fds = _open_clones(name, count)
        flags = _lowlevel.IFF_MULTI_QUEUE if multi_queue else 0
        if offload:
            flags |= _lowlevel.IFF_VNET_HDR
        accepted = 0
        real_name = name
        for fd in fds:
            result, got = _lowlevel.set_iff(fd, real_name, kind, flags)
            if result < 0:
                if netlink is None:
                    netlink = Netlink(real_name, "TUNSETIFF")
                link = netlink.find(real_name)
                raise open_error(-result, real_name, kind, multi_queue, link)
            real_name = got
            if offload:
                accepted = enable_offload(fd, real_name, offload, exact_offload)
        if netlink is not None:
            netlink.rename(real_name)
        if multi_queue:
            if netlink is None:
                netlink = Netlink(real_name, "TUNSETIFF")
            _check_queue_flags(real_name, netlink, bool(offload))
        if not offload:
            # A persistent device keeps the offload features of its last user:
            # the kernel would then hand a plain reader 64 KiB super-packets.
            clear_offload(fds[0], real_name)
        if uid is not None:
            _lowlevel.check(_lowlevel.set_owner(fds[0], uid), "TUNSETOWNER", real_name)
        if gid is not None:
            _lowlevel.check(_lowlevel.set_group(fds[0], gid), "TUNSETGROUP", real_name)
        if persist:
            _lowlevel.check(_lowlevel.set_persist(fds[0], True), "TUNSETPERSIST", real_name)
        for fd in fds:
            _lowlevel.set_nonblocking(fd, real_name)
            wakefds.append(_lowlevel.new_wake_fd(real_name))
        if nsfd >= 0:
            netns_fds.append(nsfd)
            for _ in fds[1:]:
                netns_fds.append(os.dup(nsfd))
        else:
            netns_fds = [-1] * len(fds)
    except BaseException as exc:
        _cleanup(
            exc,
            [
                lambda: _close_all(fds + wakefds + netns_fds[1:] + [nsfd], name),
                lambda: None if netlink is None else netlink.close(),
            ],
        )
        raise
    return Attached(real_name, fds, wakefds, netns_fds, netlink, accepted)


def clear_offload(fd: int, name: str) -> None:
    """TUNSETOFFLOAD with no features: the kernel sends only packets that fit the MTU."""
    result = _lowlevel.set_offload(fd, 0)
    if result < 0:
        raise os_error(-result, "TUNSETOFFLOAD (clearing offload features)", name)


def enable_offload(
    fd: int, name: str, wanted: Offload = OFFLOAD_WANTED, exact: bool = False
) -> int:
    """TUNSETVNETHDRSZ + TUNSETOFFLOAD with ``wanted`` (by default every feature we
    handle, the USO ones where the kernel has them): the bits taken. ``exact``:
    all of ``wanted`` or EINVAL."""
    bits = _lowlevel.set_offload(fd, wanted.value)
    if bits < 0:
        raise os_error(-bits, "TUNSETOFFLOAD", name, area="offload")
    if exact and bits != wanted.value:
        missing = wanted & ~Offload(bits)
        raise os_error(
            errno.EINVAL,
            "TUNSETOFFLOAD",
            name,
            hint=f"the kernel does not take {missing!r} (USO: Linux 6.2 and later)",
        )
    refused = wanted & ~Offload(bits)
    if refused:
        _log.info(
            "%s: the kernel refused the offloads %s; packets of those kinds go unsegmented",
            name,
            refused,
        )
    return bits
