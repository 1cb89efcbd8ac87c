"""Routes through one device: the ``Route`` value, argument checks, and the calls.

``Link.add_route`` / ``del_route`` / ``routes`` delegate here. Every
argument is checked (``ValueError`` / ``TypeError`` naming the operation and
the interface) before one rtnetlink request built by the C shim
(``tt_nl_route_change``, ``tt_nl_route_dump``) reaches the kernel.

What a route added here is: ``RTM_NEWROUTE`` with ``NLM_F_CREATE |
NLM_F_EXCL`` (an existing route is ``FileExistsError``), ``RTA_OIF`` = the
device, protocol ``RTPROT_STATIC`` (``proto static`` in ``ip route``: set up
by a program, where ``ip route add`` says ``boot``, which routing daemons
may flush as left over from boot), scope link without a gateway and
universe with one, type unicast, table main unless ``table=`` names
another. A gateway of the other family (RFC 5549's IPv6 next hop for an IPv4
route, RTA_VIA) is refused with a ``ValueError``; the route dump still
reports one that something else added.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
from typing import Any, Union

from .. import _lowlevel
from .addresses import IPAddress, IPNetwork, check_int, parse_ip
from .channel import Channel

__all__ = ["MAX_METRIC", "MAX_TABLE", "Route", "change_route", "list_routes"]

MAX_METRIC = 2**32 - 1
MAX_TABLE = 2**32 - 1
NetworkLike = Union[str, IPNetwork]
GatewayLike = Union[str, bytes, bytearray, IPAddress, None]


@dataclasses.dataclass(frozen=True)
class Route:
    """One route through the device, as the kernel lists it (``Link.routes()``).

    Attributes:
        destination: the network (``ip_network``; ``0.0.0.0/0`` or ``::/0``
            for a default route).
        gateway: the next hop (``ip_address``), None for a route on the link.
        metric: ``RTA_PRIORITY`` (IPv6 routes always have one), or None.
        table: the routing table's id: 254 main, 255 local, 253 default ...
        protocol: who made it (``RTPROT_*``: 2 kernel, 3 boot, 4 static ...).
        scope: ``RT_SCOPE_*``: 0 universe, 253 link, 254 host.
        type: ``RTN_*``: 1 unicast, 2 local, 3 broadcast, 4 anycast, 5 multicast ...
        src: the preferred source address (``RTA_PREFSRC``), or None.
    """

    __slots__ = ("destination", "gateway", "metric", "protocol", "scope", "src", "table", "type")

    destination: IPNetwork
    gateway: IPAddress | None
    metric: int | None
    table: int
    protocol: int
    scope: int
    type: int
    src: IPAddress | None

    def __reduce__(self) -> tuple[Any, ...]:
        # Frozen and slotted: pickle must call __init__ rather than set the slots.
        return type(self), dataclasses.astuple(self)


def _route(entry: _lowlevel.RouteEntry) -> Route:
    return Route(
        ipaddress.ip_network((ipaddress.ip_address(entry.dst), entry.dst_len)),
        None if entry.gateway is None else ipaddress.ip_address(entry.gateway),
        entry.metric,
        entry.table,
        entry.protocol,
        entry.scope,
        entry.type,
        None if entry.prefsrc is None else ipaddress.ip_address(entry.prefsrc),
    )


# -- argument checks ----------------------------------------------------------------


def _destination(destination: object, where: str) -> IPNetwork:
    if isinstance(destination, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return destination
    if not isinstance(destination, str):
        raise TypeError(
            f"{where}: the destination must be a str or an ip_network, "
            f"not {type(destination).__name__}"
        )
    try:
        return ipaddress.ip_network(destination.strip())
    except ValueError as exc:
        raise ValueError(f"{where}: bad destination {destination!r}: {exc}") from None


def _address(value: object, what: str, network: IPNetwork, where: str) -> IPAddress:
    """A gateway or source address of the route's family."""
    address = parse_ip(value, what, where)
    if address.version != network.version:
        if what == "gateway" and network.version == 4:
            raise ValueError(
                f"{where}: an IPv6 gateway ({address}) for an IPv4 route (RFC 5549, "
                "RTA_VIA) is not supported; give an IPv4 gateway"
            )
        raise ValueError(
            f"{where}: the {what} {address} is IPv{address.version}, the route is "
            f"IPv{network.version}"
        )
    return address


def _ranged(value: object, what: str, low: int, high: int, where: str) -> int | None:
    if value is None:
        return None
    number = check_int(value, where, what)
    if not low <= number <= high:
        raise ValueError(f"{where}: {what} {number} is outside {low}..{high}")
    return number


def _spec(
    operation: str,
    name: str,
    destination: object,
    via: object,
    metric: object,
    table: object,
    src: object,
    add: bool,
) -> tuple[_lowlevel.RouteSpec, str]:
    """The request for a route (checked) and the label of its errors."""
    where = f"{operation} on {name}"
    network = _destination(destination, where)
    gateway = None if via is None else _address(via, "gateway", network, where)
    prefsrc = None if src is None else _address(src, "source", network, where)
    # Table 0 is RT_TABLE_UNSPEC, which the kernel would take as main: refuse it,
    # so that a Route's table always names the table it is in.
    table_id = _ranged(table, "table", 1, MAX_TABLE, where)
    if add:
        protocol = _lowlevel.RTPROT_STATIC
        scope = _lowlevel.RT_SCOPE_LINK if gateway is None else _lowlevel.RT_SCOPE_UNIVERSE
        kind = _lowlevel.RTN_UNICAST
    else:  # a delete matches any protocol, scope and type
        protocol, scope, kind = 0, _lowlevel.RT_SCOPE_NOWHERE, 0
    spec = _lowlevel.RouteSpec(
        socket.AF_INET if network.version == 4 else socket.AF_INET6,
        network.network_address.packed,
        network.prefixlen,
        _lowlevel.RT_TABLE_MAIN if table_id is None else table_id,
        protocol,
        scope,
        kind,
        None if gateway is None else gateway.packed,
        None if prefsrc is None else prefsrc.packed,
        _ranged(metric, "metric", 0, MAX_METRIC, where),
    )
    label = f"{operation} {network}" + ("" if gateway is None else f" via {gateway}")
    return spec, label


# -- the calls ------------------------------------------------------------------------


def change_route(
    channel: Channel,
    add: bool,
    destination: NetworkLike,
    via: GatewayLike = None,
    metric: int | None = None,
    table: int | None = None,
    src: GatewayLike = None,
) -> None:
    """Add (``Link.add_route`` says what it takes) or delete a route through the device."""
    operation = "add_route" if add else "del_route"
    channel.lifetime.check_open(operation)
    spec, label = _spec(operation, channel.name, destination, via, metric, table, src, add)
    try:
        channel.request(operation, lambda nl, index: nl.change_route(add, index, spec, label))
    except ProcessLookupError:
        # A delete gets ESRCH also when the device itself is gone: say that instead.
        channel.link(operation)
        raise


def list_routes(channel: Channel) -> list[Route]:
    """Every route of every table whose output interface is the device."""
    operation = "routes"
    channel.lifetime.check_open(operation)
    entries = channel.request(operation, lambda nl, index: nl.routes(index, operation))
    return [_route(entry) for entry in entries]
