"""Interface configuration: addresses, MTU, link state and IPv6 controls.

The requests are rtnetlink messages built and parsed by the C shim
(``csrc/netlink.c``), on one NETLINK_ROUTE socket per interface that is
opened on first use, in the device's network namespace (the caller's unless
``netns=`` was given), and closed with the interface. The IPv6 controls
write ``/proc/sys/net/ipv6/conf/<name>/...``.
:class:`InterfaceConfig` is the part of :class:`~tuntap_cffi.Interface` that
holds these methods (Go: AddAddress, GetAddrList, SetMTU, Up, IPv6,
IPv6Forwarding, IPv6SLAAC).
"""

from __future__ import annotations

import errno
import ipaddress
import os
import re
import socket
import threading
import time
from types import TracebackType
from typing import IO, TYPE_CHECKING, Callable, TypeVar, Union

from . import _lowlevel, netns
from .errors import InterfaceClosedError, NamespaceRestoreError
from .packet import DevKind

__all__ = ["IPV6_MIN_MTU", "MAX_MTU", "MIN_MTU", "InterfaceConfig", "Netlink"]

IPInterface = Union[ipaddress.IPv4Interface, ipaddress.IPv6Interface]
IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
AddressLike = Union[str, bytes, bytearray, IPAddress, IPInterface]
SubnetLike = Union[int, str, bytes, bytearray, IPNetwork, None]

MIN_MTU = 68  # the kernel's floor for IPv4 (RFC 791)
# How long up() / add_address(nodad=True) wait for the kernel to finish an address.
NODAD_WAIT_S = 2.0
IPV6_MIN_MTU = 1280  # below this the kernel silently drops IPv6 from the device
MAX_MTU = 65535
# TAP devices carry the Ethernet header inside the kernel's 65535 limit.
_MAX_MTU = {DevKind.TUN: MAX_MTU, DevKind.TAP: MAX_MTU - 14}
_MAX_TXQLEN = 0xFFFFFFFF
_IPV6_CONF = "/proc/sys/net/ipv6/conf"
_FIRST_DUMP_ROOM = 64
_DUMP_RESIZES = 4
_MAC_RE = re.compile(r"^[0-9a-fA-F]{1,2}([:-])(?:[0-9a-fA-F]{1,2}\1){4}[0-9a-fA-F]{1,2}$")

T = TypeVar("T")

_HINTS = {
    errno.ENODEV: "the interface is gone",
    errno.ENXIO: "the interface is gone",
    errno.EPERM: "needs CAP_NET_ADMIN",
    errno.EEXIST: "the address is already assigned",
    errno.EADDRNOTAVAIL: "the address is not assigned to the interface",
    errno.EBADMSG: "malformed reply from the kernel",
    errno.EPROTO: "unexpected reply from the kernel",
    errno.ETIMEDOUT: "the kernel did not answer",
    errno.EAGAIN: "the addresses kept changing while they were read; try again",
}


def netlink_error(err: int, operation: str, name: str, ext_ack: str = "") -> OSError:
    """The OSError for a failed request, with our hint and the kernel's own text."""
    hints = [_HINTS[err]] if err in _HINTS else []
    if ext_ack:
        hints.append(f"kernel: {ext_ack}")
    return _lowlevel.os_error(err, operation, name, "; ".join(hints))


class Netlink:
    """One rtnetlink socket, opened in the caller's network namespace (or another).

    Every method raises the ``OSError`` subclass of the kernel's errno, with
    ``operation`` and the interface ``name`` in its message and the kernel's
    extended-ack text when it gave one.
    """

    def __init__(
        self,
        name: str,
        operation: str = "open netlink socket",
        netns_fd: int = -1,
        opened: _lowlevel.StructPtr | None = None,
    ) -> None:
        """Open the socket: in the namespace ``netns_fd`` when it is >= 0, or
        adopt ``opened``, a ``struct tt_nl`` whose socket is already open."""
        self._name = name
        self._reply = _lowlevel.NetlinkReply()
        if opened is not None:
            self._nl = opened
            return
        self._nl = _lowlevel.nl_new()
        if netns_fd >= 0:
            netns.open_in(netns_fd, None, _lowlevel.ACCESS_READ, 0, self._nl, operation, name)
            return
        result = _lowlevel.nl_open(self._nl)
        if result < 0:
            raise netlink_error(-result, operation, name)

    def rename(self, name: str) -> None:
        """Name the interface anew (once the kernel has chosen it from a pattern)."""
        self._name = name

    def find(self, name: str, operation: str) -> _lowlevel.LinkInfo | None:
        """The link called ``name``, or None when there is none (or it cannot be asked)."""
        reply = self._reply
        if _lowlevel.nl_link_get(self._nl, 0, name, reply) < 0:
            return None
        return reply.link()

    def close(self) -> None:
        """Close the socket; harmless when it is closed."""
        _lowlevel.nl_close(self._nl, self._name)

    def __enter__(self) -> Netlink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _check(self, result: int, operation: str, reply: _lowlevel.NetlinkReply) -> int:
        if result < 0:
            raise netlink_error(-result, operation, self._name, reply.ext_ack)
        return result

    def link(self, ifindex: int, operation: str) -> _lowlevel.LinkInfo:
        """The link with ``ifindex``, or (ifindex 0) the one named as this socket's interface."""
        reply = self._reply
        self._check(_lowlevel.nl_link_get(self._nl, ifindex, self._name, reply), operation, reply)
        return reply.link()

    def set_link(
        self,
        ifindex: int,
        operation: str,
        *,
        mtu: int | None = None,
        up: bool | None = None,
        txqlen: int | None = None,
        hwaddr: bytes | None = None,
    ) -> None:
        """Change the given fields of a link (one RTM_NEWLINK request)."""
        reply = self._reply
        result = _lowlevel.nl_link_set(
            self._nl, ifindex, reply, mtu=mtu, up=up, txqlen=txqlen, hwaddr=hwaddr
        )
        self._check(result, operation, reply)

    def change_address(
        self, add: bool, ifindex: int, address: IPInterface, flags: int, operation: str
    ) -> None:
        """Add (exclusively) or delete one address with its prefix length."""
        family = socket.AF_INET if address.version == 4 else socket.AF_INET6
        reply = self._reply
        result = _lowlevel.nl_addr_change(
            self._nl,
            add,
            ifindex,
            family,
            address.ip.packed,
            address.network.prefixlen,
            flags,
            reply,
        )
        self._check(result, operation, reply)

    def is_local(self, family: int, address: bytes, operation: str) -> bool:
        """True when the kernel delivers packets for ``address`` to this host.

        That is, the route lookup (as ``ip route get``) gives a local route;
        an unreachable destination is simply not local.
        """
        reply = self._reply
        result = _lowlevel.nl_route_get(self._nl, family, address, reply)
        if -result in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return False
        self._check(result, operation, reply)
        return bool(reply.c.route_type == _lowlevel.RTN_LOCAL)

    def addresses(self, ifindex: int, operation: str) -> list[_lowlevel.AddressEntry]:
        """Every address of the interface ``ifindex`` (IPv4 first, in the kernel's order)."""
        room = _FIRST_DUMP_ROOM
        for _ in range(_DUMP_RESIZES):
            reply = _lowlevel.NetlinkReply(room)
            found = self._check(_lowlevel.nl_addr_dump(self._nl, ifindex, reply), operation, reply)
            if found <= room:
                return reply.addresses()
            room = found + 16  # more appeared; make room and ask again
        raise netlink_error(errno.EAGAIN, operation, self._name)


# -- argument parsing ----------------------------------------------------------


def _mask_prefix(mask: bytes, operation: str) -> int:
    """The prefix length of a contiguous netmask given as bytes."""
    value = int.from_bytes(mask, "big")
    bits = len(mask) * 8
    prefix = bin(value).count("1")
    if value != ((1 << bits) - 1) ^ ((1 << (bits - prefix)) - 1):
        raise ValueError(f"{operation}: netmask {mask.hex()} is not contiguous")
    return prefix


def _prefix_of(subnet: object, address: IPAddress, operation: str) -> int:
    """The prefix length a Go-style ``subnet`` (network, prefix or mask) gives ``address``."""
    max_prefix = address.max_prefixlen
    if isinstance(subnet, bool):
        raise TypeError(f"{operation}: subnet must be a network, prefix length or mask, not bool")
    if isinstance(subnet, int):
        if not 0 <= subnet <= max_prefix:
            raise ValueError(f"{operation}: prefix length {subnet} is not in 0..{max_prefix}")
        return subnet
    if isinstance(subnet, (bytes, bytearray)):
        if len(subnet) * 8 != max_prefix:
            raise ValueError(
                f"{operation}: a {len(subnet)}-byte mask does not fit IPv{address.version} "
                f"address {address}"
            )
        return _mask_prefix(bytes(subnet), operation)
    if isinstance(subnet, str):
        text = subnet.strip()
        if text.isdigit():
            return _prefix_of(int(text), address, operation)
        if "/" not in text:
            try:
                mask = ipaddress.ip_address(text)
            except ValueError:
                raise ValueError(f"{operation}: bad subnet or mask {subnet!r}") from None
            return _prefix_of(mask.packed, address, operation)
        try:
            subnet = ipaddress.ip_network(text, strict=False)
        except ValueError as exc:
            raise ValueError(f"{operation}: bad subnet {subnet!r}: {exc}") from None
    if isinstance(subnet, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        if subnet.version != address.version:
            raise ValueError(
                f"{operation}: subnet {subnet} is IPv{subnet.version}, address {address} "
                f"is IPv{address.version}"
            )
        if address not in subnet:
            raise ValueError(f"{operation}: address {address} is not inside subnet {subnet}")
        return subnet.prefixlen
    raise TypeError(
        f"{operation}: subnet must be an ip_network, prefix length or mask, "
        f"not {type(subnet).__name__}"
    )


def _address_of(ip: object, operation: str) -> IPAddress | IPInterface:
    """An address (no prefix given) or an interface (prefix given) from any accepted form."""
    if isinstance(ip, (ipaddress.IPv4Interface, ipaddress.IPv6Interface)):
        return ip
    if isinstance(ip, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return ip
    if isinstance(ip, (bytes, bytearray)):
        if len(ip) not in (4, 16):
            raise ValueError(f"{operation}: a raw address has 4 or 16 bytes, not {len(ip)}")
        return ipaddress.ip_address(bytes(ip))
    if isinstance(ip, str):
        try:
            return ipaddress.ip_interface(ip) if "/" in ip else ipaddress.ip_address(ip)
        except ValueError as exc:
            raise ValueError(f"{operation}: bad address {ip!r}: {exc}") from None
    raise TypeError(
        f"{operation}: address must be a str, bytes or ipaddress object, not {type(ip).__name__}"
    )


def parse_address(ip: object, subnet: object, operation: str) -> tuple[IPInterface, bool]:
    """Turn Go-style ``(ip, subnet)`` or Python-style ``"a/len"`` into an interface address.

    Returns (the address with its prefix, whether a prefix was given); with
    no prefix it is a host route (/32, /128).
    """
    value = _address_of(ip, operation)
    if isinstance(value, (ipaddress.IPv4Interface, ipaddress.IPv6Interface)):
        if subnet is not None:
            raise ValueError(f"{operation}: {value} already has a prefix; give no subnet")
        result, given = value, True
    elif subnet is None:
        result, given = ipaddress.ip_interface(value), False
    else:
        result = ipaddress.ip_interface((value, _prefix_of(subnet, value, operation)))
        given = True
    if result.ip.is_unspecified or result.ip.is_multicast:
        raise ValueError(f"{operation}: {result.ip} cannot be an interface address")
    return result, given


def parse_mac(mac: object, operation: str) -> bytes:
    """A unicast Ethernet address from ``"02:00:5e:00:53:01"`` (or ``-``) or 6 bytes."""
    if isinstance(mac, str):
        if not _MAC_RE.match(mac):
            raise ValueError(f"{operation}: bad MAC address {mac!r} (want 6 hex octets)")
        raw = bytes(int(part, 16) for part in re.split("[:-]", mac))
    elif isinstance(mac, (bytes, bytearray)):
        if len(mac) != 6:
            raise ValueError(f"{operation}: a MAC address has 6 bytes, not {len(mac)}")
        raw = bytes(mac)
    else:
        raise TypeError(
            f"{operation}: MAC address must be a str or bytes, not {type(mac).__name__}"
        )
    if raw[0] & 1:
        raise ValueError(f"{operation}: {format_mac(raw)} is a multicast address")
    if raw == bytes(6):
        raise ValueError(f"{operation}: the all-zero MAC address is not allowed")
    return raw


def format_mac(raw: bytes) -> str:
    """``aa:bb:cc:dd:ee:ff``, as ip(8) prints it."""
    return ":".join(f"{octet:02x}" for octet in raw)


def _check_flag(value: object, operation: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{operation} takes True or False, not {value!r}")
    return value


def _check_int(value: object, operation: str, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{operation}: {what} must be an int, not {type(value).__name__}")
    return value


# -- the Interface part ----------------------------------------------------------


class InterfaceConfig:
    """The configuration methods of :class:`~tuntap_cffi.Interface`."""

    _name: str
    _kind: DevKind
    _closing: bool
    _netlink: Netlink | None
    _netlink_lock: threading.Lock
    _ifindex: int
    _netns_fd: int  # the device's namespace when it is not the caller's, else -1

    if TYPE_CHECKING:

        def _enter(self, operation: str) -> None: ...
        def _leave(self) -> None: ...
        def _mtu_changed(self, mtu: int) -> None: ...

    def _init_config(self, netlink: Netlink | None = None, netns_fd: int = -1) -> None:
        """``netlink``: a socket opened already (it is adopted); ``netns_fd``: the
        namespace the device lives in, when not the caller's (it is adopted too)."""
        self._netlink = netlink
        self._netlink_lock = threading.Lock()
        self._ifindex = 0
        self._netns_fd = netns_fd

    def _close_netlink(self) -> None:
        """Close the netlink socket and the namespace fd (by whoever releases the fds)."""
        netlink, self._netlink = self._netlink, None
        if netlink is not None:
            netlink.close()
        nsfd, self._netns_fd = self._netns_fd, -1
        if nsfd >= 0:
            _lowlevel.close_fd(nsfd, self._name)

    def _check_open(self, operation: str) -> None:
        if self._closing:
            raise InterfaceClosedError(self._name, operation)

    def _configure(self, operation: str, request: Callable[[Netlink, int], T]) -> T:
        """Run ``request(netlink, ifindex)`` with the socket opened (once) and the fds held."""
        self._enter(operation)
        try:
            with self._netlink_lock:
                netlink = self._netlink
                if netlink is None:
                    netlink = self._netlink = Netlink(self._name, operation, self._netns_fd)
                if not self._ifindex:
                    self._ifindex = netlink.link(0, operation).ifindex
                return request(netlink, self._ifindex)
        finally:
            self._leave()

    def _link(self, operation: str) -> _lowlevel.LinkInfo:
        return self._configure(operation, lambda nl, index: nl.link(index, operation))

    # -- addresses -----------------------------------------------------------------

    def add_address(
        self, ip: AddressLike, subnet: SubnetLike = None, *, nodad: bool = False
    ) -> None:
        """Assign an address to the interface. Go: AddAddress.

        Args:
            ip: ``"192.0.2.1/24"``, ``"2001:db8::1/64"``, an ``ip_interface``,
                or (Go style) an address (str, 4 or 16 bytes, ``ip_address``)
                with ``subnet``; an address alone gets a host prefix.
            subnet: an ``ip_network`` holding ``ip``, a prefix length, or a
                netmask (``"255.255.255.0"`` or raw bytes).
            nodad: skip duplicate address detection (``IFA_F_NODAD``), so
                an IPv6 address is usable at once.

        Raises:
            ValueError, TypeError: a bad address, prefix or mask.
            FileExistsError: the address is already assigned.
            PermissionError: no CAP_NET_ADMIN.
            OSError: the interface is gone, or the kernel refused.
        """
        operation = "add_address"
        self._check_open(operation)
        address, _given = parse_address(ip, subnet, operation)
        flags = _lowlevel.IFA_F_NODAD if _check_flag(nodad, "add_address nodad") else 0
        label = f"{operation} {address}"
        self._configure(
            operation, lambda nl, index: nl.change_address(True, index, address, flags, label)
        )
        if flags:
            self._await_nodad(operation)

    def del_address(self, ip: AddressLike, subnet: SubnetLike = None) -> None:
        """Remove an address; without a prefix, whatever prefix it has.

        Takes the same forms as :meth:`add_address`.

        Raises:
            OSError: (EADDRNOTAVAIL) the address is not assigned; or as add_address.
        """
        operation = "del_address"
        self._check_open(operation)
        address, given = parse_address(ip, subnet, operation)

        def delete(nl: Netlink, index: int) -> None:
            target = address
            if not given:
                for entry in nl.addresses(index, operation):
                    if entry.address == address.ip.packed:
                        target = ipaddress.ip_interface((address.ip, entry.prefixlen))
                        break
            nl.change_address(False, index, target, 0, f"{operation} {target}")

        self._configure(operation, delete)

    def get_addr_list(self) -> list[bytes]:
        """Every address of the interface as raw bytes (4 IPv4, 16 IPv6). Go: GetAddrList."""
        return [entry.address for entry in self._address_entries("get_addr_list")]

    def addresses(self) -> list[IPInterface]:
        """Every address of the interface with its prefix, as ``ip_interface`` objects."""
        return [
            ipaddress.ip_interface((ipaddress.ip_address(entry.address), entry.prefixlen))
            for entry in self._address_entries("addresses")
        ]

    def _address_entries(self, operation: str) -> list[_lowlevel.AddressEntry]:
        self._check_open(operation)
        return self._configure(operation, lambda nl, index: nl.addresses(index, operation))

    # -- link ------------------------------------------------------------------------

    @property
    def ifindex(self) -> int:
        """The interface index the kernel gave the device (asked afresh: it may be gone)."""
        self._check_open("ifindex")
        return self._link("ifindex").ifindex

    @property
    def mtu(self) -> int:
        """The link MTU (also sets :attr:`write_limit` to match it)."""
        self._check_open("mtu")
        mtu = self._link("mtu").mtu
        self._mtu_changed(mtu)
        return mtu

    def set_mtu(self, mtu: int) -> None:
        """Set the link MTU; raises the write limit with it. Go: SetMTU.

        Raises:
            ValueError: out of range for this kind of device (68..65535 for
                TUN, 68..65521 for TAP; at least 1280 while IPv6 is on),
                checked before any request.
        """
        operation = "set_mtu"
        self._check_open(operation)
        mtu = _check_int(mtu, operation, "mtu")
        low = IPV6_MIN_MTU if self._ipv6_on() else MIN_MTU
        high = _MAX_MTU[self._kind]
        if not low <= mtu <= high:
            ipv6 = " with IPv6 on" if low == IPV6_MIN_MTU else ""
            raise ValueError(
                f"{operation} on {self._name}: MTU {mtu} is outside {low}..{high} "
                f"for a {self._kind.name} device{ipv6}"
            )
        self._configure(operation, lambda nl, index: nl.set_link(index, operation, mtu=mtu))
        self._mtu_changed(mtu)

    def up(self) -> None:
        """Set the link up. Go: Up."""
        self._set_up(True, "up")

    def down(self) -> None:
        """Set the link down."""
        self._set_up(False, "down")

    def _set_up(self, up: bool, operation: str) -> None:
        self._check_open(operation)
        self._configure(operation, lambda nl, index: nl.set_link(index, operation, up=up))
        if up:
            self._await_nodad(operation)

    def _await_nodad(self, operation: str) -> None:
        """Wait (briefly) until every IFA_F_NODAD IPv6 address is usable.

        A NODAD address is never flagged tentative, but the kernel inserts
        its local route from a work queue after the request is acknowledged
        (and after the link comes up): until then a packet sent to it is
        dropped. Waiting for that route keeps
        the promise that the address is usable at once.
        """
        pending = [
            e.address
            for e in self._address_entries(operation)
            if e.family == socket.AF_INET6 and e.flags & _lowlevel.IFA_F_NODAD
        ]
        deadline = time.monotonic() + NODAD_WAIT_S
        pause = 0.0005
        while pending:
            pending = [a for a in pending if not self._is_local6(a, operation)]
            if not pending or time.monotonic() >= deadline or not self._is_up_now(operation):
                return
            time.sleep(pause)
            pause = min(pause * 2, 0.02)

    def _is_local6(self, address: bytes, operation: str) -> bool:
        return self._configure(
            operation, lambda nl, index: nl.is_local(socket.AF_INET6, address, operation)
        )

    def _is_up_now(self, operation: str) -> bool:
        return bool(self._link(operation).flags & _lowlevel.IFF_UP)

    @property
    def is_up(self) -> bool:
        """True when the link is administratively up (IFF_UP)."""
        self._check_open("is_up")
        return bool(self._link("is_up").flags & _lowlevel.IFF_UP)

    @property
    def txqueuelen(self) -> int:
        """The transmit queue length: packets the kernel holds for us before dropping."""
        self._check_open("txqueuelen")
        return self._link("txqueuelen").txqlen

    def set_txqueuelen(self, length: int) -> None:
        """Set the transmit queue length (0..2**32-1 packets)."""
        operation = "set_txqueuelen"
        self._check_open(operation)
        length = _check_int(length, operation, "length")
        if not 0 <= length <= _MAX_TXQLEN:
            raise ValueError(f"{operation} on {self._name}: {length} is outside 0..{_MAX_TXQLEN}")
        self._configure(operation, lambda nl, index: nl.set_link(index, operation, txqlen=length))

    def _check_tap(self, operation: str) -> None:
        self._check_open(operation)
        if self._kind != DevKind.TAP:
            raise ValueError(
                f"{operation} on {self._name}: a TUN device has no hardware address "
                "(only TAP devices have one)"
            )

    @property
    def hwaddr(self) -> str:
        """The TAP device's MAC address, ``"aa:bb:cc:dd:ee:ff"``."""
        self._check_tap("hwaddr")
        return format_mac(self._link("hwaddr").hwaddr)

    def set_hwaddr(self, mac: str | bytes) -> None:
        """Set the TAP device's MAC address (``"02:00:5e:00:53:01"`` or 6 bytes)."""
        operation = "set_hwaddr"
        self._check_tap(operation)
        raw = parse_mac(mac, operation)
        self._configure(operation, lambda nl, index: nl.set_link(index, operation, hwaddr=raw))

    # -- IPv6 controls ------------------------------------------------------------

    def _ipv6_conf_path(self, key: str) -> str:
        # The name came back from the kernel after our own checks; refuse anything
        # that could leave the conf folder all the same.
        if "/" in self._name or self._name in (".", ".."):
            raise ValueError(f"interface name {self._name!r} cannot name a /proc folder")
        return f"{_IPV6_CONF}/{self._name}/{key}"

    def _open_conf(self, path: str, write: bool) -> IO[str]:
        """Open a /proc/sys/net file of the device's own namespace.

        /proc/sys/net shows the namespace of the thread that opens it, so for
        a device in another namespace the file is opened there (one C call).
        """
        if self._netns_fd < 0:
            return open(path, "w" if write else "r")
        access = _lowlevel.ACCESS_WRITE if write else _lowlevel.ACCESS_READ
        (fd,) = netns.open_in(self._netns_fd, path, access, 1, None, f"open {path}", self._name)
        return open(fd, "w" if write else "r")

    def _ipv6_on(self) -> bool:
        """Whether IPv6 is enabled on the device (False when the kernel has none)."""
        try:
            with self._open_conf(self._ipv6_conf_path("disable_ipv6"), write=False) as f:
                return f.read().strip() == "0"
        except NamespaceRestoreError:
            raise  # never silent: the thread is in the wrong namespace
        except OSError:
            return False

    def _write_ipv6_conf(self, key: str, value: bool, operation: str) -> None:
        self._check_open(operation)
        text = "1" if _check_flag(value, operation) else "0"
        path = self._ipv6_conf_path(key)
        self._enter(operation)
        try:
            with self._open_conf(path, write=True) as f:
                f.write(text)
        except NamespaceRestoreError:
            raise
        except FileNotFoundError:
            gone = os.path.isdir(_IPV6_CONF)
            hint = "the interface is gone" if gone else "IPv6 is not available in this kernel"
            raise _lowlevel.os_error(
                errno.ENOENT, f"{operation} ({path})", self._name, hint
            ) from None
        except PermissionError as exc:
            raise _lowlevel.os_error(
                exc.errno or errno.EACCES, f"{operation} ({path})", self._name, "needs root"
            ) from None
        except OSError as exc:
            raise _lowlevel.os_error(
                exc.errno or errno.EIO, f"{operation} ({path})", self._name
            ) from None
        finally:
            self._leave()

    def set_ipv6(self, enabled: bool) -> None:
        """Enable or disable IPv6 on the device (``disable_ipv6``, inverted). Go: IPv6."""
        self._write_ipv6_conf("disable_ipv6", not _check_flag(enabled, "set_ipv6"), "set_ipv6")

    def set_ipv6_forwarding(self, enabled: bool) -> None:
        """Enable or disable IPv6 forwarding on the device. Go: IPv6Forwarding."""
        self._write_ipv6_conf("forwarding", enabled, "set_ipv6_forwarding")

    def set_ipv6_slaac(self, enabled: bool) -> None:
        """Enable or disable stateless address autoconfiguration. Go: IPv6SLAAC."""
        self._write_ipv6_conf("autoconf", enabled, "set_ipv6_slaac")
