"""``Channel``: how a :class:`~tuntap_cffi.Link` reaches its device.

It holds the rtnetlink socket (opened on first use, in the device's network
namespace), the ifindex (found by name once), the namespace fd, and the
usage count every request holds (an Interface's, or the Link's own), and it
opens the ``/proc/sys/net/ipv6/conf`` files of the device's namespace. The
Link above it validates the arguments and says what each call means.
"""

from __future__ import annotations

import errno
import os
import socket
import threading
import time
from typing import IO, Callable, TypeVar

from . import _lowlevel, netns
from .devices import close_each
from .errors import NO_IPV6_HINT, NamespaceRestoreError, os_error
from .lifetime import Lifetime
from .netlink import Netlink
from .netns import NetnsLike

__all__ = ["IPV6_CONF", "NODAD_WAIT_S", "SYS_NET", "Channel", "find_link"]

# How long up() / add_address(nodad=True) wait for the kernel to finish an address.
NODAD_WAIT_S = 2.0
SYS_NET = "/proc/sys/net"
IPV6_CONF = f"{SYS_NET}/ipv6/conf"
_MAX_IFINDEX = 2**31 - 1

T = TypeVar("T")


def _check_target(name_or_ifindex: object) -> tuple[str, int]:
    """(name, 0) or ("", ifindex) from what ``Link()`` was given, checked before any call."""
    if isinstance(name_or_ifindex, bool) or not isinstance(name_or_ifindex, (str, int)):
        raise TypeError(
            f"Link takes an interface name or an ifindex, not {type(name_or_ifindex).__name__}"
        )
    if isinstance(name_or_ifindex, int):
        if not 1 <= name_or_ifindex <= _MAX_IFINDEX:
            raise ValueError(f"ifindex {name_or_ifindex} is not in 1..{_MAX_IFINDEX}")
        return "", name_or_ifindex
    name = name_or_ifindex
    if not name or len(name) > _lowlevel.IFNAME_MAX:
        raise ValueError(f"interface name {name!r} must have 1..{_lowlevel.IFNAME_MAX} bytes")
    if not name.isascii() or not name.isprintable() or any(c in name for c in " /%:"):
        raise ValueError(f"interface name {name!r} is not a device name")
    return name, 0


def find_link(
    name_or_ifindex: object, netns_target: NetnsLike | None
) -> tuple[_lowlevel.LinkInfo, Netlink, int]:
    """Find a device by name or ifindex (RTM_GETLINK) in its namespace (``Link()``).

    Returns what the kernel says of it, the socket that asked (kept for the
    Link's requests) and the namespace fd (-1 for the caller's).
    """
    name, ifindex = _check_target(name_or_ifindex)
    label = name or f"ifindex {ifindex}"
    nsfd = -1 if netns_target is None else netns.open_target(netns_target)[0]
    netlink: Netlink | None = None
    try:
        netlink = Netlink(label, "find link", nsfd)
        info = netlink.link(ifindex, "find link", area="lookup")
        netlink.rename(info.name)
    except BaseException:
        if netlink is not None:
            netlink.close()
        if nsfd >= 0:
            _lowlevel.close_fd(nsfd, label)
        raise
    return info, netlink, nsfd


class Channel:
    """The socket, ifindex and namespace of one device, used under a :class:`Lifetime`.

    Args:
        name: the device's name (for messages and the /proc paths).
        lifetime: every request enters and leaves it (InterfaceClosedError
            once it is closed).
        netlink: a socket already open (adopted), or None to open one on first use.
        netns_fd: the device's namespace when it is not the caller's (adopted), else -1.
        ifindex: the device's index when known, else 0 (found by name on first use).
    """

    def __init__(
        self,
        name: str,
        lifetime: Lifetime,
        netlink: Netlink | None = None,
        netns_fd: int = -1,
        ifindex: int = 0,
    ) -> None:
        self.name = name
        self.lifetime = lifetime
        self._netlink = netlink
        self._lock = threading.Lock()  # one request at a time on the socket
        self._netns_fd = netns_fd
        self._ifindex = ifindex

    @property
    def netlink(self) -> Netlink | None:
        """The rtnetlink socket, or None while no request has needed one yet."""
        return self._netlink

    @property
    def netns_fd(self) -> int:
        """The device's namespace (an fd held until :meth:`release`), -1 for the caller's."""
        return self._netns_fd

    def release(self) -> None:
        """Close the socket and the namespace fd (by whoever releases the device): both,
        even when the first close fails (then raised, once both were tried)."""
        netlink, self._netlink = self._netlink, None
        nsfd, self._netns_fd = self._netns_fd, -1
        close_each(
            [
                lambda: None if netlink is None else netlink.close(),
                lambda: None if nsfd < 0 else _lowlevel.close_fd(nsfd, self.name),
            ]
        )

    def request(self, operation: str, request: Callable[[Netlink, int], T]) -> T:
        """Run ``request(netlink, ifindex)`` with the socket opened (once) and the fds held."""
        self.lifetime.enter(operation)
        try:
            with self._lock:
                netlink = self._netlink
                if netlink is None:
                    netlink = self._netlink = Netlink(self.name, operation, self._netns_fd)
                if not self._ifindex:
                    self._ifindex = netlink.link(0, operation).ifindex
                return request(netlink, self._ifindex)
        finally:
            self.lifetime.leave()

    def link(self, operation: str) -> _lowlevel.LinkInfo:
        """The device as RTM_GETLINK describes it now."""
        return self.request(operation, lambda nl, index: nl.link(index, operation))

    def addresses(self, operation: str) -> list[_lowlevel.AddressEntry]:
        """Every address of the device, as the kernel lists them."""
        return self.request(operation, lambda nl, index: nl.addresses(index, operation))

    def await_nodad(self, operation: str) -> None:
        """Wait (briefly) until every IFA_F_NODAD IPv6 address is usable.

        A NODAD address is never flagged tentative, but the kernel inserts
        its local route from a work queue after the request is acknowledged
        (and after the link comes up): until then a packet sent to it is
        dropped. Waiting for that route keeps the promise that the address
        is usable at once.
        """
        pending = [
            e.address
            for e in self.addresses(operation)
            if e.family == socket.AF_INET6 and e.flags & _lowlevel.IFA_F_NODAD
        ]
        deadline = time.monotonic() + NODAD_WAIT_S
        pause = 0.0005
        while pending:
            pending = [a for a in pending if not self._is_local6(a, operation)]
            if not pending or time.monotonic() >= deadline:
                return
            if not self.link(operation).flags & _lowlevel.IFF_UP:
                return
            time.sleep(pause)
            pause = min(pause * 2, 0.02)

    def _is_local6(self, address: bytes, operation: str) -> bool:
        return self.request(
            operation, lambda nl, index: nl.is_local(socket.AF_INET6, address, operation)
        )

    # -- /proc/sys/net/ipv4/conf, /proc/sys/net/ipv6/conf ----------------------------

    def _conf_path(self, key: str, family: str = "ipv6") -> str:
        # The name came back from the kernel after our own checks; refuse anything
        # that could leave the conf folder all the same.
        if "/" in self.name or self.name in (".", ".."):
            raise ValueError(f"interface name {self.name!r} cannot name a /proc folder")
        return f"{SYS_NET}/{family}/conf/{self.name}/{key}"

    def _open_conf(self, path: str, write: bool) -> IO[str]:
        """Open a /proc/sys/net file of the device's own namespace.

        /proc/sys/net shows the namespace of the thread that opens it, so for
        a device in another namespace the file is opened there (one C call).
        """
        if self._netns_fd < 0:
            return open(path, "w" if write else "r")
        access = _lowlevel.ACCESS_WRITE if write else _lowlevel.ACCESS_READ
        (fd,) = netns.open_in(self._netns_fd, path, access, 1, None, f"open {path}", self.name)
        return open(fd, "w" if write else "r")

    def ipv6_on(self) -> bool:
        """Whether IPv6 is enabled on the device (False when the kernel has none)."""
        try:
            with self._open_conf(self._conf_path("disable_ipv6"), write=False) as f:
                return f.read().strip() == "0"
        except NamespaceRestoreError:
            raise  # never silent: the thread is in the wrong namespace
        except OSError:
            return False

    def write_ipv6_conf(self, key: str, value: bool, operation: str) -> None:
        """Write ``value`` (as 1 or 0) to the device's ``ipv6/conf/<name>/<key>``."""
        self.write_conf("ipv6", key, value, operation)

    def write_conf(self, family: str, key: str, value: bool, operation: str) -> None:
        """Write ``value`` (as 1 or 0) to the device's ``<family>/conf/<name>/<key>``
        (``family``: "ipv4" or "ipv6")."""
        path = self._conf_path(key, family)
        self.lifetime.enter(operation)
        try:
            with self._open_conf(path, write=True) as f:
                f.write("1" if value else "0")
        except NamespaceRestoreError:
            raise
        except OSError as exc:
            err = exc.errno or errno.EIO
            no_ipv6 = family == "ipv6" and not os.path.isdir(IPV6_CONF)
            hint = NO_IPV6_HINT if err == errno.ENOENT and no_ipv6 else None
            raise os_error(
                err, f"{operation} ({path})", self.name, hint=hint, area=f"{family}-conf"
            ) from None
        finally:
            self.lifetime.leave()
