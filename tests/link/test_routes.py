"""Routes, point-to-point peers and IPv4 forwarding, checked against ip(8) and pyroute2.

Every call is seen by two independent views of the kernel (``ip -j`` and
pyroute2's own netlink parsing); a round trip then shows a route added by
the library alone carrying a UDP datagram into the TUN, and its removal
making the destination unreachable again.
"""

from __future__ import annotations

import dataclasses
import errno
import ipaddress
import pickle
import socket
import time
from collections.abc import Iterator
from typing import Any, Callable

import pytest
from helpers.ip import TUN_ADDR, TUN_PEER, ip, ip_json
from helpers.processes import open_fds

import tuntap_cffi as tuntap
from tuntap_cffi import DevKind, Route, _lowlevel
from tuntap_cffi._native import ffi, lib

pytestmark = pytest.mark.privileged

TABLES = {"main": 254, "local": 255, "default": 253}
PROTOCOLS = {"kernel": 2, "boot": 3, "static": 4}
SCOPES = {"global": 0, "link": 253, "host": 254}
TYPES = {"unicast": 1, "local": 2, "broadcast": 3, "anycast": 4, "multicast": 5}


@pytest.fixture
def routed_tun() -> Iterator[tuntap.Interface]:
    """A TUN, up, with 192.0.2.1 peer 192.0.2.2 and 2001:db8::1/64 (usable at once)."""
    with tuntap.open("rt%d", DevKind.TUN) as iface:
        iface.set_ipv6_slaac(False)
        iface.add_address(f"{TUN_ADDR}/32", peer=TUN_PEER)
        iface.add_address("2001:db8::1/64", nodad=True)
        iface.up()
        # The kernel adds the link-local address (and its local route) after up():
        # wait for it, so that the routes each test sees do not change under it.
        deadline = time.monotonic() + 5
        while not any(
            r.destination.prefixlen == 128 and r.destination.network_address.is_link_local
            for r in iface.routes()
        ):
            assert time.monotonic() < deadline, "no link-local route"
            time.sleep(0.01)
        yield iface


# -- the two views ------------------------------------------------------------------------


def ip_route_json(*args: str) -> Any:
    """``ip -j route ...`` (helpers.ip.ip runs it without the asan env's preload)."""
    return ip_json(*args)


def ip_routes(name: str) -> set[tuple[Any, ...]]:
    """ip(8)'s routes via a device, every table, both families, as Route-like tuples."""
    result = set()
    for family, host in (("-4", 32), ("-6", 128)):
        for r in ip_route_json(family, "route", "show", "table", "all", "dev", name):
            dst = r["dst"]
            if dst == "default":
                dst = "0.0.0.0/0" if host == 32 else "::/0"
            elif "/" not in dst:
                dst = f"{dst}/{host}"
            table = r.get("table", "main")
            result.add(
                (
                    ipaddress.ip_network(dst),
                    None if "gateway" not in r else ipaddress.ip_address(r["gateway"]),
                    r.get("metric"),
                    TABLES.get(table) or int(table),
                    PROTOCOLS.get(r.get("protocol", "boot"), r.get("protocol")),
                    SCOPES[r.get("scope", "global")],
                    TYPES[r.get("type", "unicast")],
                    None if "prefsrc" not in r else ipaddress.ip_address(r["prefsrc"]),
                )
            )
    return result


def pyroute2_routes(name: str) -> set[tuple[Any, ...]]:
    """pyroute2's routes via a device (RTA_OIF), every table, as Route-like tuples."""
    from pyroute2 import IPRoute

    result = set()
    with IPRoute() as ipr:
        (index,) = ipr.link_lookup(ifname=name)
        for msg in ipr.get_routes(oif=index):
            if msg["family"] not in (socket.AF_INET, socket.AF_INET6):
                continue
            dst = msg.get("RTA_DST") or ("0.0.0.0" if msg["family"] == socket.AF_INET else "::")
            gateway, prefsrc = msg.get("RTA_GATEWAY"), msg.get("RTA_PREFSRC")
            result.add(
                (
                    ipaddress.ip_network(f"{dst}/{msg['dst_len']}"),
                    None if gateway is None else ipaddress.ip_address(gateway),
                    msg.get("RTA_PRIORITY"),
                    msg.get("RTA_TABLE") or msg["table"],
                    msg["proto"],
                    msg["scope"],
                    msg["type"],
                    None if prefsrc is None else ipaddress.ip_address(prefsrc),
                )
            )
    return result


def ours(iface: tuntap.Interface) -> set[tuple[Any, ...]]:
    return {dataclasses.astuple(r) for r in iface.routes()}


def assert_views_agree(iface: tuntap.Interface) -> set[tuple[Any, ...]]:
    """The library's routes() is exactly what ip(8) and pyroute2 list; returns it.

    Just after ``up()`` the kernel adds the link-local address and its route
    from a work queue, so three looks may straddle that: look again (a few
    times, briefly) until two rounds see the same routes.
    """
    previous: set[tuple[Any, ...]] | None = None
    for _ in range(20):
        mine = ours(iface)
        if mine == ip_routes(iface.name) == pyroute2_routes(iface.name) == ours(iface):
            return mine
        if previous == mine:
            break  # stable, and still not what the others see
        previous = mine
        time.sleep(0.05)
    assert mine == ip_routes(iface.name)
    assert mine == pyroute2_routes(iface.name)
    return mine


def net(text: str) -> Any:
    return ipaddress.ip_network(text)


def addr(text: str) -> Any:
    return ipaddress.ip_address(text)


# -- routes -------------------------------------------------------------------------------

# (add_route arguments, the Route the kernel then lists)
ADDED: list[tuple[dict[str, Any], tuple[Any, ...]]] = [
    (
        {"destination": "198.51.100.0/24"},
        (net("198.51.100.0/24"), None, None, 254, 4, 253, 1, None),
    ),
    (
        {"destination": "203.0.113.0/24", "via": TUN_PEER, "metric": 50},
        (net("203.0.113.0/24"), addr(TUN_PEER), 50, 254, 4, 0, 1, None),
    ),
    (
        {
            "destination": "203.0.113.128/25",
            "via": b"\xc0\x00\x02\x02",
            "table": 1000,
            "src": TUN_ADDR,
        },
        (net("203.0.113.128/25"), addr(TUN_PEER), None, 1000, 4, 0, 1, addr(TUN_ADDR)),
    ),
    (
        {"destination": ipaddress.ip_network("0.0.0.0/0"), "via": TUN_PEER, "table": 77},
        (net("0.0.0.0/0"), addr(TUN_PEER), None, 77, 4, 0, 1, None),
    ),
    (
        {"destination": "2001:db8:1::/48", "via": "2001:db8::2", "metric": 100},
        (net("2001:db8:1::/48"), addr("2001:db8::2"), 100, 254, 4, 0, 1, None),
    ),
    (
        {"destination": "::/0", "via": ipaddress.ip_address("2001:db8::2"), "table": 2**32 - 1},
        (net("::/0"), addr("2001:db8::2"), 1024, 2**32 - 1, 4, 0, 1, None),
    ),
    (
        {"destination": "2001:db8:2::/64", "table": 300, "metric": 0},
        (net("2001:db8:2::/64"), None, 1024, 300, 4, 0, 1, None),  # IPv6 takes 0 as 1024
    ),
]


@pytest.mark.parametrize(("kwargs", "expected"), ADDED, ids=lambda v: str(v)[:40])
def test_add_route_as_both_views_see_it(
    routed_tun: tuntap.Interface, kwargs: dict[str, Any], expected: tuple[Any, ...]
) -> None:
    before = assert_views_agree(routed_tun)
    routed_tun.add_route(**kwargs)
    after = assert_views_agree(routed_tun)
    assert after - before == {expected}
    (route,) = [r for r in routed_tun.routes() if dataclasses.astuple(r) == expected]
    assert isinstance(route, Route) and route.destination == expected[0]
    routed_tun.del_route(**kwargs)
    assert assert_views_agree(routed_tun) == before


def test_routes_include_the_kernels_own_in_every_table(routed_tun: tuntap.Interface) -> None:
    routes = assert_views_agree(routed_tun)
    tables = {r[3] for r in routes}
    assert {254, 255} <= tables
    assert (net("192.0.2.2/32"), None, None, 254, 2, 253, 1, addr(TUN_ADDR)) in routes  # the peer
    assert (net("192.0.2.1/32"), None, None, 255, 2, 254, 2, addr(TUN_ADDR)) in routes  # local
    assert any(r[0] == net("fe80::/64") and r[3] == 254 for r in routes)
    assert any(r[0] == net("ff00::/8") and r[6] == 5 for r in routes)  # multicast, local table


def test_routes_of_another_device_are_not_listed(routed_tun: tuntap.Interface) -> None:
    with tuntap.open("rto%d", DevKind.TUN) as other:
        other.add_address("198.51.100.1/24")
        other.up()
        assert not any(r.destination == net("198.51.100.0/24") for r in routed_tun.routes())
        assert any(r.destination == net("198.51.100.0/24") for r in other.routes())


def test_many_routes_grow_the_dump_buffer(routed_tun: tuntap.Interface) -> None:
    for i in range(100):
        routed_tun.add_route(f"198.51.100.{i}/32", table=500)
    routes = assert_views_agree(routed_tun)
    assert sum(1 for r in routes if r[3] == 500) == 100


def test_a_link_routes_too() -> None:
    with tuntap.open("rtl%d", DevKind.TUN, persist=True) as iface:
        name = iface.name
    try:
        with tuntap.Link(name) as link:
            link.add_address(f"{TUN_ADDR}/32", peer=TUN_PEER)
            link.up()
            link.add_route("198.51.100.0/24", via=TUN_PEER)
            assert Route(net("198.51.100.0/24"), addr(TUN_PEER), None, 254, 4, 0, 1, None) in (
                link.routes()
            )
            link.del_route("198.51.100.0/24")
    finally:
        ip("link", "delete", name)


def test_route_is_a_small_frozen_value() -> None:
    route = Route(net("198.51.100.0/24"), addr(TUN_PEER), 5, 254, 4, 0, 1, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        route.metric = 6  # type: ignore[misc]
    assert not hasattr(route, "__dict__")
    assert pickle.loads(pickle.dumps(route)) == route
    assert hash(route) == hash(Route(*dataclasses.astuple(route)))
    assert tuntap.Route is Route


# -- a round trip through a route added by the library alone --------------------------


def send_to(address: str) -> int:
    """Send one datagram to ``address``: 0, or the errno of the refusal."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(b"through the route", (address, 4000))
        except OSError as exc:
            return exc.errno or -1
    return 0


def first_udp(iface: tuntap.Interface, destination: str) -> Any:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        pkt = iface.read_packet(timeout=5)
        if pkt.ip_proto()[0] == 17 and str(pkt.dip) == destination:
            return pkt
    raise AssertionError(f"no UDP packet to {destination}")


@pytest.mark.parametrize("via", [None, TUN_PEER])
def test_udp_reaches_the_tun_only_through_the_added_route(via: str | None) -> None:
    with tuntap.open("rtt%d", DevKind.TUN) as iface:
        iface.set_ipv6(False)
        iface.add_address(f"{TUN_ADDR}/32", peer=TUN_PEER)
        iface.up()
        assert send_to("198.51.100.7") == errno.ENETUNREACH  # no route yet
        iface.add_route("198.51.100.0/24", via=via)
        assert send_to("198.51.100.7") == 0
        pkt = first_udp(iface, "198.51.100.7")
        assert str(pkt.sip) == TUN_ADDR and bytes(pkt.body).endswith(b"through the route")
        iface.del_route("198.51.100.0/24", via=via)
        assert send_to("198.51.100.7") == errno.ENETUNREACH


# -- point-to-point peers -----------------------------------------------------------------


def ip_addr_info(name: str) -> list[dict[str, Any]]:
    (entry,) = ip_json("addr", "show", "dev", name)
    return list(entry.get("addr_info", []))


def pyroute2_addr_pairs(name: str) -> set[tuple[str | None, str | None, int]]:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        (index,) = ipr.link_lookup(ifname=name)
        return {
            (m.get("IFA_LOCAL"), m.get("IFA_ADDRESS"), m["prefixlen"])
            for m in ipr.get_addr(index=index)
        }


@pytest.mark.parametrize(
    ("own", "peer", "local_view"),
    [
        ("192.0.2.1/32", "192.0.2.2", "192.0.2.1"),
        ("192.0.2.1/24", ipaddress.ip_address("192.0.2.9"), "192.0.2.1"),
        ("2001:db8::1/128", "2001:db8::2", "2001:db8::1"),
        ("2001:db8::1/128", socket.inet_pton(socket.AF_INET6, "2001:db8::2"), "2001:db8::1"),
    ],
)
def test_a_peer_address_as_both_views_see_it(own: str, peer: Any, local_view: str) -> None:
    with tuntap.open("rtp%d", DevKind.TUN) as iface:
        iface.add_address(own, peer=peer, nodad=True)
        peer_text = str(ipaddress.ip_address(peer))
        prefix = ipaddress.ip_interface(own).network.prefixlen
        (shown,) = [a for a in ip_addr_info(iface.name) if a["local"] == local_view]
        assert (shown["address"], shown["prefixlen"]) == (peer_text, prefix)
        assert (local_view, peer_text, prefix) in pyroute2_addr_pairs(iface.name)
        (entry,) = [a for a in iface.addresses() if str(a.ip) == local_view]
        assert entry.peer == ipaddress.ip_address(peer_text)
        assert entry != ipaddress.ip_interface(own)  # the peer is part of what it is
        assert str(entry) == str(ipaddress.ip_interface(own))
        assert pickle.loads(pickle.dumps(entry)) == entry and hash(entry) == hash(
            pickle.loads(pickle.dumps(entry))
        )


def test_an_ordinary_address_has_no_peer_and_equals_its_ip_interface(
    routed_tun: tuntap.Interface,
) -> None:
    entries = routed_tun.addresses()
    plain = ipaddress.ip_interface("2001:db8::1/64")
    assert plain in entries
    (entry,) = [a for a in entries if a == plain]
    assert entry.peer is None and hash(entry) == hash(plain)
    assert isinstance(entry, ipaddress.IPv6Interface) and isinstance(
        entry, tuntap.IPv6PeerInterface
    )
    (p2p,) = [a for a in entries if a.version == 4]
    assert isinstance(p2p, tuntap.IPv4PeerInterface) and p2p.peer == addr(TUN_PEER)


@pytest.mark.parametrize(
    "how",
    [
        lambda i: i.del_address("192.0.2.1/32", peer="192.0.2.2"),
        lambda i: i.del_address("192.0.2.1/32"),  # the peer it has
        lambda i: i.del_address("192.0.2.1"),  # the prefix and peer it has
    ],
)
def test_del_address_of_a_peer_address(
    routed_tun: tuntap.Interface, how: Callable[[tuntap.Interface], None]
) -> None:
    how(routed_tun)
    assert not any(a.get("local") == TUN_ADDR for a in ip_addr_info(routed_tun.name))
    assert not any(local == TUN_ADDR for local, _, _ in pyroute2_addr_pairs(routed_tun.name))
    assert all(a.version == 6 for a in routed_tun.addresses())


def test_del_address_with_another_peer_is_the_kernels_refusal(routed_tun: tuntap.Interface) -> None:
    label = r"del_address 192\.0\.2\.1/32 peer 192\.0\.2\.3 on rt"
    with pytest.raises(OSError, match=label) as info:
        routed_tun.del_address("192.0.2.1/32", peer="192.0.2.3")
    assert info.value.errno == errno.EADDRNOTAVAIL and info.value.filename == routed_tun.name


BAD_PEERS: list[tuple[str, Any, type[Exception], str]] = [
    ("192.0.2.1/32", "2001:db8::2", ValueError, "peer 2001:db8::2 is IPv6, address 192.0.2.1/32"),
    ("2001:db8::1/128", "192.0.2.2", ValueError, "is IPv4"),
    ("192.0.2.1/32", "not a peer", ValueError, "is not an IP address"),
    ("192.0.2.1/32", "224.0.0.1", ValueError, "cannot be a peer"),
    ("192.0.2.1/32", "0.0.0.0", ValueError, "cannot be a peer"),
    ("192.0.2.1/32", b"\1\2\3", ValueError, "4 or 16 bytes"),
    ("192.0.2.1/32", 3232235778, TypeError, "must be a str, bytes or ip_address"),
    ("192.0.2.1/32", ipaddress.ip_network("192.0.2.0/24"), TypeError, "not IPv4Network"),
]


@pytest.mark.parametrize(("own", "peer", "error", "message"), BAD_PEERS)
@pytest.mark.parametrize("method", ["add_address", "del_address"])
def test_bad_peers_are_refused_before_any_request(
    method: str, own: str, peer: Any, error: type[Exception], message: str
) -> None:
    with tuntap.open("rtb%d", DevKind.TUN) as iface:
        before = open_fds()
        with pytest.raises(error, match=message) as info:
            getattr(iface, method)(own, peer=peer)
        assert f"{method} on {iface.name}" in str(info.value)
        assert iface.link.netlink is None and open_fds() == before  # no socket was opened


# -- bad route arguments ------------------------------------------------------------------

BAD_ROUTES: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"destination": "198.51.100.1/24"}, ValueError, "198.51.100.1/24 has host bits set"),
    ({"destination": "2001:db8::1/48"}, ValueError, "has host bits set"),
    ({"destination": "198.51.100.0/33"}, ValueError, "bad destination"),
    ({"destination": "default"}, ValueError, "bad destination"),
    ({"destination": 3325256704}, TypeError, "destination must be a str or an ip_network"),
    ({"destination": ipaddress.ip_address("198.51.100.0")}, TypeError, "not IPv4Address"),
    ({"destination": "198.51.100.0/24", "via": "gateway"}, ValueError, "is not an IP address"),
    ({"destination": "198.51.100.0/24", "via": 5}, TypeError, "gateway must be a str"),
    ({"destination": "198.51.100.0/24", "via": "224.0.0.1"}, ValueError, "cannot be a gateway"),
    (
        {"destination": "2001:db8:1::/48", "via": "192.0.2.2"},
        ValueError,
        "is IPv4, the route is IPv6",
    ),
    (
        {"destination": "198.51.100.0/24", "via": "2001:db8::2"},
        ValueError,
        "RFC 5549.*not supported",
    ),
    (
        {"destination": "198.51.100.0/24", "src": "2001:db8::1"},
        ValueError,
        "source 2001:db8::1 is IPv6",
    ),
    (
        {"destination": "198.51.100.0/24", "metric": -1},
        ValueError,
        r"metric -1 is outside 0\.\.4294967295",
    ),
    (
        {"destination": "198.51.100.0/24", "metric": 2**32},
        ValueError,
        "metric 4294967296 is outside",
    ),
    (
        {"destination": "198.51.100.0/24", "metric": "1"},
        TypeError,
        "metric must be an int, not str",
    ),
    (
        {"destination": "198.51.100.0/24", "metric": True},
        TypeError,
        "metric must be an int, not bool",
    ),
    ({"destination": "198.51.100.0/24", "table": 0}, ValueError, r"table 0 is outside 1\.\."),
    ({"destination": "198.51.100.0/24", "table": 2**32}, ValueError, "table 4294967296 is outside"),
    (
        {"destination": "198.51.100.0/24", "table": 1.5},
        TypeError,
        "table must be an int, not float",
    ),
]


@pytest.mark.parametrize(("kwargs", "error", "message"), BAD_ROUTES, ids=lambda v: str(v)[:50])
@pytest.mark.parametrize("method", ["add_route", "del_route"])
def test_bad_routes_are_refused_before_any_request(
    method: str, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with tuntap.open("rtb%d", DevKind.TUN) as iface:
        before = open_fds()
        with pytest.raises(error, match=message) as info:
            getattr(iface, method)(**kwargs)
        assert f"{method} on {iface.name}" in str(info.value)
        assert iface.link.netlink is None and open_fds() == before  # no socket was opened


def test_deleting_an_absent_route_is_a_clear_oserror(routed_tun: tuntap.Interface) -> None:
    with pytest.raises(ProcessLookupError) as info:
        routed_tun.del_route("198.51.100.0/24")
    message = str(info.value)
    assert info.value.errno == errno.ESRCH and info.value.filename == routed_tun.name
    assert (
        f"del_route 198.51.100.0/24 on {routed_tun.name}" in message and "no such route" in message
    )


def test_a_route_that_exists_is_file_exists(routed_tun: tuntap.Interface) -> None:
    routed_tun.add_route("198.51.100.0/24", metric=7)
    with pytest.raises(
        FileExistsError, match=f"add_route 198.51.100.0/24 on {routed_tun.name}: File exists"
    ):
        routed_tun.add_route("198.51.100.0/24", metric=7)
    routed_tun.add_route("198.51.100.0/24", metric=8)  # another metric is another route


def test_the_kernels_extended_ack_text_reaches_the_message(routed_tun: tuntap.Interface) -> None:
    # A gateway the device cannot reach: the kernel refuses it and says why.
    with pytest.raises(
        OSError, match=r"add_route 198.51.100.0/24 via 203.0.113.9 on rt\d+: .*kernel: \S"
    ) as info:
        routed_tun.add_route("198.51.100.0/24", via="203.0.113.9")
    assert info.value.filename == routed_tun.name


def test_route_calls_on_a_deleted_interface() -> None:
    with tuntap.open("rtg%d", DevKind.TUN) as iface:
        iface.ifindex  # noqa: B018 - the socket is open and the index known
        ip("link", "del", iface.name)
        calls: dict[str, Callable[[], object]] = {
            "add_route": lambda: iface.add_route("198.51.100.0/24"),
            "del_route": lambda: iface.del_route("198.51.100.0/24"),
            "routes": lambda: iface.routes(),
            "stats": lambda: iface.stats,
            "set_ipv4_forwarding": lambda: iface.set_ipv4_forwarding(True),
        }
        for name, call in calls.items():
            with pytest.raises(OSError, match="the interface is gone") as info:
                call()
            assert name in str(info.value) and iface.name in str(info.value)


def test_route_calls_on_a_closed_interface() -> None:
    iface = tuntap.open("rtc%d", DevKind.TUN)
    iface.close()
    for name, call in {
        "add_route": lambda: iface.add_route("198.51.100.0/24"),
        "del_route": lambda: iface.del_route("198.51.100.0/24"),
        "routes": lambda: iface.routes(),
        "stats": lambda: iface.stats,
        "set_ipv4_forwarding": lambda: iface.set_ipv4_forwarding(True),
    }.items():
        with pytest.raises(tuntap.InterfaceClosedError, match=f"{name} on closed interface"):
            call()


def test_route_calls_check_their_arguments_in_c() -> None:
    einval = -errno.EINVAL
    reply = _lowlevel.NetlinkReply(routes_max=2)
    nl = _lowlevel.nl_new()
    assert _lowlevel.nl_open(nl) == 0
    try:
        good = {"family": socket.AF_INET, "dst_len": 24, "oif": 1}
        bad = [
            {**good, "oif": 0},
            {**good, "family": 99},
            {**good, "dst_len": 33},
            {**good, "family": socket.AF_INET6, "dst_len": 129},
            {**good, "has": 0x10},
            {**good, "has": lib.TT_ROUTE_HAS_GATEWAY, "gateway_family": socket.AF_INET6},
        ]
        for fields in bad:
            route = ffi.new("struct tt_route *", fields)
            assert lib.tt_nl_route_change(nl, 1, route, reply.c) == einval, fields
        assert lib.tt_nl_route_change(nl, 1, ffi.NULL, reply.c) == einval
        assert lib.tt_nl_route_dump(nl, 0, reply.c) == einval
        broken = ffi.new("struct tt_nl_reply *", {"routes_max": 3})
        assert lib.tt_nl_route_dump(nl, 1, broken) == einval
        assert lib.tt_nl_link_stats(nl, 0, reply.c) == einval
        v4 = bytes(4)
        inet = socket.AF_INET
        assert lib.tt_nl_addr_peer_change(nl, 1, 1, inet, v4, ffi.NULL, 4, 32, 0, reply.c) == einval
        assert (
            _lowlevel.nl_addr_peer_change(nl, True, 1, inet, v4, bytes(16), 32, 0, reply) == einval
        )
        assert lib.tt_nl_route_dump(nl, 1, reply.c) >= 0  # lo: a real dump
    finally:
        _lowlevel.nl_close(nl, "test")


# -- IPv4 forwarding ----------------------------------------------------------------------


def forwarding(name: str) -> str:
    with open(f"/proc/sys/net/ipv4/conf/{name}/forwarding") as f:
        return f.read().strip()


def test_set_ipv4_forwarding(routed_tun: tuntap.Interface) -> None:
    # A new device starts from conf/default, which other tests may have changed.
    for enabled in (False, True, False, True):
        routed_tun.set_ipv4_forwarding(enabled)
        assert forwarding(routed_tun.name) == str(int(enabled))
        views = {v["family"]: v for v in ip_json("netconf", "show", "dev", routed_tun.name)}
        assert views["inet"]["forwarding"] is enabled  # RTM_GETNETCONF: the kernel's view


@pytest.mark.parametrize("value", [1, "yes", None])
def test_set_ipv4_forwarding_takes_a_bool(routed_tun: tuntap.Interface, value: Any) -> None:
    with pytest.raises(TypeError, match="set_ipv4_forwarding takes True or False"):
        routed_tun.set_ipv4_forwarding(value)


def test_forwarding_and_routes_of_a_device_in_another_namespace(
    named_netns: str,
) -> None:
    with tuntap.open("rtn%d", DevKind.TUN, persist=True, netns=named_netns) as iface:
        name = iface.name
    with tuntap.Link(name, netns=named_netns) as link:
        link.set_ipv4_forwarding(True)
        path = f"/proc/sys/net/ipv4/conf/{name}/forwarding"
        assert ip("netns", "exec", named_netns, "cat", path).strip() == "1"
        link.up()
        link.add_route("198.51.100.0/24")
        shown = ip_route_json("-n", named_netns, "route", "show", "dev", name)
        assert any(r["dst"] == "198.51.100.0/24" for r in shown)
        assert any(r.destination == net("198.51.100.0/24") for r in link.routes())
