"""``Channel``: how a :class:`~tuntap_cffi.Link` reaches its device.

It holds the rtnetlink socket (opened on first use, in the device's network
namespace), the ifindex (found by name once: the name the device fd says
for an Interface), the namespace fd, and the usage count every request
holds (an Interface's, or the Link's own), and it opens the
``/proc/sys/net/ipv{4,6}/conf`` files of the device's namespace. The Link
above it validates the arguments and says what each call means.

The ifindex is the device: its name may change (``ip link set NAME name
OTHER``). Requests go by ifindex; the conf files, which are named by name,
are opened under the name the kernel gives that ifindex at the time of the
call, and every name learnt is remembered (:attr:`Channel.name`).
"""

from __future__ import annotations

import errno
import os
import socket
import threading
import time
from typing import IO, Callable, TypeVar

from .. import _lowlevel, netns
from ..errors import NO_IPV6_HINT, InterfaceClosedError, NamespaceRestoreError, os_error
from ..lifetime import Lifetime, close_each
from ..netns import NetnsLike
from .netlink import Netlink

__all__ = ["IPV6_CONF", "NODAD_WAIT_S", "SYS_NET", "Channel", "find_link"]

# How long up() / add_address(nodad=True) wait for the kernel to finish an address.
NODAD_WAIT_S = 2.0
SYS_NET = "/proc/sys/net"
IPV6_CONF = f"{SYS_NET}/ipv6/conf"
_MAX_IFINDEX = 2**31 - 1
# A conf file is opened again when the device was renamed meanwhile; this many times at most.
_CONF_TRIES = 3

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
        fd_name: the device's name now as its fd says it (an Interface's; None
            when the fd cannot say: a detached queue, a deleted device), asked
            with the fds held. The ifindex is found by that name rather than by
            ``name``, which may be old, and :meth:`current_name` asks it first
            (no socket needed).
        on_rename: told every new name learnt (an Interface's messages follow it).
    """

    def __init__(
        self,
        name: str,
        lifetime: Lifetime,
        netlink: Netlink | None = None,
        netns_fd: int = -1,
        ifindex: int = 0,
        *,
        fd_name: Callable[[], str | None] | None = None,
        on_rename: Callable[[str], None] | None = None,
    ) -> None:
        self.name = name
        self.lifetime = lifetime
        self._netlink = netlink
        self._lock = threading.Lock()  # one request at a time on the socket
        self._netns_fd = netns_fd
        self._ifindex = ifindex
        self._fd_name = fd_name
        self._on_rename = on_rename

    def learn_name(self, name: str) -> None:
        """Remember the device's name as the kernel said it (it may have been renamed)."""
        if name == self.name or not name:
            return
        self.name = name
        self.lifetime.name = name
        netlink = self._netlink
        if netlink is not None:
            netlink.rename(name)
        if self._on_rename is not None:
            self._on_rename(name)

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
                    if self._fd_name is not None:
                        self.learn_name(self._fd_name() or self.name)
                    self._ifindex = netlink.link(0, operation).ifindex
                return request(netlink, self._ifindex)
        finally:
            self.lifetime.leave()

    def link(self, operation: str) -> _lowlevel.LinkInfo:
        """The device as RTM_GETLINK describes it now (its name remembered)."""
        info = self.request(operation, lambda nl, index: nl.link(index, operation))
        self.learn_name(info.name)
        return info

    def current_name(self, operation: str) -> str:
        """The device's name now: as its fd says it, else as the kernel names its
        ifindex (RTM_GETLINK)."""
        if self._fd_name is not None:
            self.lifetime.enter(operation)
            try:
                name = self._fd_name()
            finally:
                self.lifetime.leave()
            if name:
                self.learn_name(name)
                return name
        return self.link(operation).name

    def name_now(self) -> str:
        """:meth:`current_name`, or the last name known once closed or when the
        device cannot be asked (it is gone)."""
        if self.lifetime.closed:
            return self.name
        try:
            return self.current_name("name")
        except NamespaceRestoreError:
            raise  # never silent: the thread is in the wrong namespace
        except (OSError, InterfaceClosedError):
            return self.name

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

    def _conf_path(self, key: str, family: str, name: str) -> str:
        # The name came back from the kernel after our own checks; refuse anything
        # that could leave the conf folder all the same.
        if "/" in name or name in (".", ".."):
            raise ValueError(f"interface name {name!r} cannot name a /proc folder")
        return f"{SYS_NET}/{family}/conf/{name}/{key}"

    def _open_conf(self, path: str, write: bool) -> IO[bytes]:
        """Open a /proc/sys/net file of the device's own namespace, unbuffered.

        /proc/sys/net shows the namespace of the thread that opens it, so for
        a device in another namespace the file is opened there (one C call).
        """
        mode = "wb" if write else "rb"
        if self._netns_fd < 0:
            return open(path, mode, buffering=0)
        access = _lowlevel.ACCESS_WRITE if write else _lowlevel.ACCESS_READ
        (fd,) = netns.open_in(self._netns_fd, path, access, 1, None, f"open {path}", self.name)
        return open(fd, mode, buffering=0)

    def ipv6_on(self) -> bool:
        """Whether IPv6 is enabled on the device (False when the kernel has none)."""
        try:
            path = self._conf_path("disable_ipv6", "ipv6", self.current_name("ipv6_on"))
            with self._open_conf(path, write=False) as f:
                return f.read().strip() == b"0"
        except NamespaceRestoreError:
            raise  # never silent: the thread is in the wrong namespace
        except OSError:
            return False

    def write_ipv6_conf(self, key: str, value: bool, operation: str) -> None:
        """Write ``value`` (as 1 or 0) to the device's ``ipv6/conf/<name>/<key>``."""
        self.write_conf("ipv6", key, value, operation)

    def write_conf(self, family: str, key: str, value: bool, operation: str) -> None:
        """Write ``value`` (as 1 or 0) to the device's ``<family>/conf/<name>/<key>``
        (``family``: "ipv4" or "ipv6").

        ``<name>`` is the name of the device's ifindex now. The kernel
        re-registers a device's conf files when it is renamed, and a file
        opened before refuses writes (ENOENT) after; so a file opened while
        the name was still the device's is the device's: the name is asked
        again once the file is open, and on a rename meanwhile it is opened
        anew.
        """
        data = b"1" if value else b"0"
        self.lifetime.enter(operation)
        try:
            for _ in range(_CONF_TRIES):
                name = self.current_name(operation)
                path = self._conf_path(key, family, name)
                try:
                    with self._open_conf(path, write=True) as f:
                        if self.current_name(operation) != name:
                            continue  # renamed: that file may be another device's now
                        f.write(data)
                    return
                except NamespaceRestoreError:
                    raise
                except OSError as exc:
                    if exc.errno != errno.ENOENT or self.current_name(operation) == name:
                        raise self._conf_error(exc, family, path, operation) from None
            raise os_error(
                errno.EAGAIN,
                f"{operation} ({family}/conf/{self.name}/{key})",
                self.name,
                hint=f"the device was renamed again each of {_CONF_TRIES} times it was written",
            )
        finally:
            self.lifetime.leave()

    def _conf_error(self, exc: OSError, family: str, path: str, operation: str) -> OSError:
        err = exc.errno or errno.EIO
        no_ipv6 = family == "ipv6" and not os.path.isdir(IPV6_CONF)
        hint = NO_IPV6_HINT if err == errno.ENOENT and no_ipv6 else None
        return os_error(err, f"{operation} ({path})", self.name, hint=hint, area=f"{family}-conf")
