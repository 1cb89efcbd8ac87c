"""Network namespaces: named ones as ``ip netns`` keeps them, and the ``netns=`` argument.

:func:`create` and :func:`delete` do what ``ip netns add`` and ``ip netns
delete`` do (a new namespace bind-mounted on ``/run/netns/NAME``, with
``/run/netns`` a shared mount point), so ``ip netns list`` and
``ip netns exec`` see the namespaces made here and this module sees theirs.

Every switch of namespace happens inside one C call (``csrc/netns.c``) that
switches back before it returns, with the GIL released: the calling thread
and the rest of the process stay in their own namespace throughout.
"""

from __future__ import annotations

import errno
import os
from typing import Union

from . import _lowlevel
from .errors import NamespaceRestoreError, hint_for, os_error

__all__ = ["NAME_MAX", "RUN_DIR", "NetnsLike", "create", "delete", "path", "unshare"]

RUN_DIR = "/run/netns"
NAME_MAX = 255  # one file name (the kernel's NAME_MAX), in bytes

# A namespace as ``netns=`` takes it: a name under RUN_DIR, a path, or an open fd.
NetnsLike = Union[str, "os.PathLike[str]", int]


def validate_name(name: object) -> str:
    """Check a namespace name as ``ip netns`` does: one file name inside RUN_DIR."""
    if not isinstance(name, str):
        raise TypeError(f"namespace name must be a str, not {type(name).__name__}")
    if not name:
        raise ValueError("namespace name is empty")
    if "/" in name:
        raise ValueError(f"namespace name {name!r} contains '/'")
    if "\0" in name:
        raise ValueError(f"namespace name {name!r} contains a NUL character")
    if name in (".", ".."):
        raise ValueError(f"namespace name {name!r} is not allowed")
    if len(os.fsencode(name)) > NAME_MAX:
        raise ValueError(f"namespace name {name[:20]!r}... is longer than {NAME_MAX} bytes")
    return name


def path(name: str) -> str:
    """The file a named namespace is mounted on: ``/run/netns/NAME``."""
    return f"{RUN_DIR}/{validate_name(name)}"


def restore_error(err: int, what: str) -> NamespaceRestoreError:
    """The error for a thread that could not switch back to its own namespace."""
    return NamespaceRestoreError(
        err,
        f"{what}: could not return the calling thread to its own network namespace "
        f"({os.strerror(err)}); the thread is left in the other namespace",
    )


def unshare() -> None:
    """Move the calling thread into a new, empty network namespace, for good.

    As ``unshare -n`` does: the namespace has only ``lo``, and it is down.
    Unlike every other call of this library this one does not switch back:
    it is for a program that wants a network of its own for the rest of its
    life (the demo, a test harness); other threads stay where they are, and
    the namespace goes when the last thread or fd in it does.

    Raises:
        PermissionError: no CAP_SYS_ADMIN.
    """
    result = _lowlevel.unshare_netns()
    if result < 0:
        raise os_error(-result, "unshare(CLONE_NEWNET)", None, area="netns-create")


def create(name: str) -> str:
    """Create a network namespace called ``name``, as ``ip netns add`` does.

    The calling thread makes it (``unshare``) and bind-mounts it on
    ``/run/netns/NAME`` inside one C call, then returns to its own namespace.

    Returns:
        The namespace's path, ``/run/netns/NAME``.

    Raises:
        ValueError, TypeError: a bad name (checked before any system call).
        FileExistsError: a namespace of that name exists.
        PermissionError: no CAP_SYS_ADMIN.
        NamespaceRestoreError: the thread could not switch back (nothing was left behind).
    """
    target = path(name)
    result, restore = _lowlevel.netns_create(RUN_DIR, target)
    if restore:
        raise restore_error(restore, f"create network namespace {name}")
    if result < 0:
        raise os_error(-result, f"create network namespace {name!r}", None, area="netns-create")
    return target


def delete(name: str) -> None:
    """Delete the named namespace, as ``ip netns delete`` does (unmount, then remove).

    The namespace itself lives on while anything still uses it, for
    example an interface opened in it.

    Raises:
        ValueError, TypeError: a bad name.
        FileNotFoundError: no namespace of that name.
        PermissionError: no CAP_SYS_ADMIN.
    """
    target = path(name)
    result = _lowlevel.netns_delete(target)
    if result < 0:
        hint = f"no such namespace ({target} does not exist)" if result == -errno.ENOENT else None
        operation = f"delete network namespace {name!r}"
        raise os_error(-result, operation, None, hint=hint, area="netns-delete")


def open_target(netns: object) -> tuple[int, str]:
    """Resolve a ``netns=`` argument to an fd of our own (close-on-exec) and a label.

    Raises:
        TypeError: not a name, path or fd.
        ValueError: a bad name, or a file that is not a network namespace.
        FileNotFoundError: no such namespace.
    """
    if isinstance(netns, bool) or not isinstance(netns, (int, str, os.PathLike)):
        raise TypeError(
            f"netns must be a namespace name, a path or an open fd, not {type(netns).__name__}"
        )
    if isinstance(netns, int):
        label = f"fd {netns}"
        if netns < 0:
            raise ValueError(f"netns {label}: a file descriptor is >= 0")
        try:
            fd = os.dup(netns)
        except OSError as exc:
            err = exc.errno or errno.EBADF
            raise os_error(err, f"netns {label}", None, area="netns-fd") from None
    else:
        where = os.fspath(netns)
        if not isinstance(where, str):
            raise TypeError("netns paths must be str, not bytes")
        named = "/" not in where
        file = path(where) if named else where
        label = f"{where!r} ({file})" if named else repr(where)
        try:
            # O_NONBLOCK: a FIFO given by mistake must not block the open.
            fd = os.open(file, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
        except OSError as exc:
            err = exc.errno or errno.EIO
            hint = None
            if err == errno.ENOENT and named:
                create = "create it with tuntap.netns.create or ip netns add"
                hint = f"{hint_for(err, 'netns-file')} ({create})"
            raise os_error(err, f"netns {label}", None, hint=hint, area="netns-file") from None
    result = _lowlevel.netns_check(fd)
    if result < 0:
        os.close(fd)
        if result == -errno.EINVAL:
            raise ValueError(f"netns {label} is not a network namespace")
        raise os_error(-result, f"netns {label}", None, hint="")
    return fd, label


def open_in(
    nsfd: int,
    file: str | None,
    access: int,
    count: int,
    nl: _lowlevel.CData | None,
    operation: str,
    name: str,
    area: str = "",
) -> list[int]:
    """Open ``file`` ``count`` times, and ``nl``'s socket, inside namespace ``nsfd``.

    One C call switches in, opens and switches back; the fds and the socket
    belong to that namespace for their whole life. ``area``: the
    errors.HINTS that explain an errno of the open itself.
    """
    result, fds, restore = _lowlevel.netns_open(nsfd, file, access, count, nl)
    if restore:
        raise restore_error(restore, f"{operation} on {name}")
    if result < 0:
        # setns says EPERM without CAP_SYS_ADMIN; opening a file says EACCES.
        area = "netns-enter" if result == -errno.EPERM else area
        raise os_error(-result, operation, name, area=area)
    return fds
