"""Bindings of ``csrc/cdef/netns.h``: running calls inside another network
namespace, and creating and deleting namespaces (csrc/netns.c)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .._native import ffi, lib

if TYPE_CHECKING:
    from .common import CData

ACCESS_READ = lib.TT_ACCESS_READ
ACCESS_WRITE = lib.TT_ACCESS_WRITE
ACCESS_READ_WRITE = lib.TT_ACCESS_READ_WRITE


def unshare_netns() -> int:
    """Move the calling thread into a new network namespace; 0 or -errno."""
    return lib.tt_unshare_netns()


def netns_check(nsfd: int) -> int:
    """0 when ``nsfd`` is a network namespace, -EINVAL when it is something else."""
    return lib.tt_netns_check(nsfd)


def netns_open(
    nsfd: int, path: str | None, access: int, count: int, nl: CData | None
) -> tuple[int, list[int], int]:
    """Open ``path`` ``count`` times (and ``nl``'s socket) inside namespace ``nsfd``.

    Returns (0 or -errno, the fds, errno of a failed return to the thread's
    own namespace or 0).
    """
    fds = ffi.new("int32_t[]", max(count, 1))
    restore = ffi.new("int32_t *")
    raw_path = ffi.NULL if path is None else os.fsencode(path)
    result = lib.tt_netns_open(
        nsfd, raw_path, access, fds, count, ffi.NULL if nl is None else nl, restore
    )
    return result, [fds[i] for i in range(count)] if result == 0 else [], restore[0]


def netns_create(run_dir: str, path: str) -> tuple[int, int]:
    """A new network namespace bind-mounted on ``path``: (0 or -errno, restore errno)."""
    restore = ffi.new("int32_t *")
    result = lib.tt_netns_create(os.fsencode(run_dir), os.fsencode(path), restore)
    return result, restore[0]


def netns_delete(path: str) -> int:
    """Unmount (lazily) and remove a namespace's bind mount; 0 or -errno."""
    return lib.tt_netns_delete(os.fsencode(path))
