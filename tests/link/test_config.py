"""Configuration over rtnetlink: each call checked against ip(8) and pyroute2.

Two independent views of the kernel check every configuration call: the JSON
of ``ip -j`` and pyroute2's own netlink parsing. Round trips then prove the
configuration works: after configuring through the library alone (no ``ip``
in the test body), UDP crosses the TUN both ways and a TAP with a set MAC
sends ARP and NDP from it.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import subprocess
import sys
import textwrap
import threading
from typing import Any, Callable

import pytest
from helpers.ip import (
    TUN_ADDR,
    TUN_ADDR6,
    TUN_PEER,
    TUN_PEER6,
    ip,
    ip_addresses,
    ip_json,
    ip_link,
    pyroute2_addresses,
    pyroute2_link,
)
from helpers.packets import ipv4_udp, ipv6_udp, mac_bytes
from helpers.processes import open_fds

import tuntap_cffi as tuntap
from tuntap_cffi import DevKind
from tuntap_cffi.link.netlink import Netlink

pytestmark = pytest.mark.privileged

RTN_LOCAL = 2  # rtm_type of a route that delivers to this host

IFF_UP = 0x1
IFA_F_NODAD = 0x02
IFA_F_TENTATIVE = 0x40
NOBODY = 65534


def conf(name: str, key: str) -> str:
    with open(f"/proc/sys/net/ipv6/conf/{name}/{key}") as f:
        return f.read().strip()


def both_views_have(name: str, address: str) -> bool:
    in_ip = address in ip_addresses(name)
    in_pyroute2 = address in pyroute2_addresses(name)
    assert in_ip == in_pyroute2, f"ip and pyroute2 disagree about {address}"
    return in_ip


# -- addresses --------------------------------------------------------------------

V4_FORMS: list[tuple[Any, Any]] = [
    ("192.0.2.1/24", None),
    (ipaddress.ip_interface("192.0.2.1/24"), None),
    ("192.0.2.1", ipaddress.ip_network("192.0.2.0/24")),
    (ipaddress.ip_address("192.0.2.1"), ipaddress.ip_network("192.0.2.0/24")),
    ("192.0.2.1", 24),
    ("192.0.2.1", "24"),
    ("192.0.2.1", "255.255.255.0"),
    ("192.0.2.1", "192.0.2.0/24"),
    (socket.inet_aton("192.0.2.1"), b"\xff\xff\xff\x00"),
    (bytearray(socket.inet_aton("192.0.2.1")), 24),
]
V6_FORMS: list[tuple[Any, Any]] = [
    ("2001:db8::1/64", None),
    (ipaddress.ip_interface("2001:db8::1/64"), None),
    ("2001:db8::1", ipaddress.ip_network("2001:db8::/64")),
    ("2001:db8::1", 64),
    ("2001:db8::1", "ffff:ffff:ffff:ffff::"),
    (socket.inet_pton(socket.AF_INET6, "2001:db8::1"), b"\xff" * 8 + bytes(8)),
]


@pytest.mark.parametrize("ip,subnet", V4_FORMS)
def test_add_address_go_and_python_forms_ipv4(tun: tuntap.Interface, ip: Any, subnet: Any) -> None:
    tun.add_address(ip, subnet)
    assert both_views_have(tun.name, "192.0.2.1/24")
    assert ipaddress.ip_interface("192.0.2.1/24") in tun.addresses()


@pytest.mark.parametrize("ip,subnet", V6_FORMS)
def test_add_address_go_and_python_forms_ipv6(tun: tuntap.Interface, ip: Any, subnet: Any) -> None:
    tun.set_ipv6(True)
    tun.add_address(ip, subnet, nodad=True)
    assert both_views_have(tun.name, "2001:db8::1/64")
    assert ipaddress.ip_interface("2001:db8::1/64") in tun.addresses()


def test_an_address_alone_gets_a_host_prefix(tun: tuntap.Interface) -> None:
    tun.add_address("192.0.2.7")
    tun.add_address(ipaddress.ip_address("2001:db8::7"))
    assert both_views_have(tun.name, "192.0.2.7/32")
    assert both_views_have(tun.name, "2001:db8::7/128")


def test_address_lists_match_both_views(tun: tuntap.Interface) -> None:
    tun.set_ipv6(True)
    for address in ("192.0.2.1/24", "198.51.100.1/25", "2001:db8::1/64", "2001:db8:1::1/48"):
        tun.add_address(address)
    tun.up()  # the kernel adds a link-local IPv6 address of its own
    ours = {str(a) for a in tun.addresses()}
    assert ours == ip_addresses(tun.name) == set(pyroute2_addresses(tun.name))
    assert any(a.startswith("fe80::") for a in ours)
    raw = tun.get_addr_list()
    assert sorted(raw) == sorted(a.ip.packed for a in tun.addresses())
    assert {len(r) for r in raw} == {4, 16}
    assert socket.inet_aton("192.0.2.1") in raw


def test_empty_address_list(tun: tuntap.Interface) -> None:
    tun.set_ipv6(False)
    assert tun.get_addr_list() == [] and tun.addresses() == []
    assert ip_addresses(tun.name) == set() and pyroute2_addresses(tun.name) == {}


def test_many_addresses_grow_the_dump_buffer(tun: tuntap.Interface) -> None:
    wanted = {f"198.51.100.{i}/32" for i in range(1, 101)}
    for address in wanted:
        tun.add_address(address)
    ours = {str(a) for a in tun.addresses()}
    assert ours == wanted == ip_addresses(tun.name) == set(pyroute2_addresses(tun.name))


def test_nodad_makes_an_ipv6_address_usable_at_once(tap: tuntap.Interface) -> None:
    # A TUN never does DAD (it is NOARP); a TAP does, so the flag shows there.
    tap.set_ipv6(True)
    tap.up()
    tap.add_address("2001:db8::1/64", nodad=True)
    tap.add_address("2001:db8::2/64")
    views = pyroute2_addresses(tap.name)
    assert views["2001:db8::1/64"] & IFA_F_NODAD
    assert not views["2001:db8::1/64"] & IFA_F_TENTATIVE
    assert views["2001:db8::2/64"] & IFA_F_TENTATIVE
    (link,) = ip_json("addr", "show", "dev", tap.name)
    info = {a["local"]: a for a in link["addr_info"]}
    assert info["2001:db8::1"].get("nodad") is True and "tentative" not in info["2001:db8::1"]
    assert info["2001:db8::2"].get("tentative") is True


def pyroute2_route_type(address: str) -> int:
    """The type of the route pyroute2 finds for ``address`` (2: RTN_LOCAL)."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        (route,) = ipr.route("get", dst=address)
    return int(route["type"])


@pytest.mark.parametrize("when", ["added before up", "added after up"])
def test_nodad_addresses_are_local_when_the_call_returns(when: str) -> None:
    # The kernel inserts a NODAD address's local route from a work queue after
    # acknowledging the request (or the link coming up): until then packets to
    # it are dropped. Without the wait in up() and
    # add_address() this failed about one time in 13 on this machine.
    for _ in range(40):
        with tuntap.open("nd%d") as tun:
            tun.set_ipv6(True)
            if when == "added before up":
                tun.add_address("2001:db8::1/64", nodad=True)
                tun.up()
            else:
                tun.up()
                tun.add_address("2001:db8::1/64", nodad=True)
            assert pyroute2_route_type("2001:db8::1") == RTN_LOCAL


@pytest.mark.parametrize(
    "added,deleted",
    [
        ("192.0.2.1/24", "192.0.2.1/24"),
        ("192.0.2.1/24", "192.0.2.1"),
        ("192.0.2.1/24", ("192.0.2.1", 24)),
        ("2001:db8::1/64", "2001:db8::1"),
        ("2001:db8::1/64", ipaddress.ip_interface("2001:db8::1/64")),
    ],
)
def test_del_address(tun: tuntap.Interface, added: str, deleted: Any) -> None:
    tun.set_ipv6(True)
    tun.add_address(added)
    tun.add_address("198.51.100.1/24")
    assert both_views_have(tun.name, added)
    if isinstance(deleted, tuple):
        tun.del_address(*deleted)
    else:
        tun.del_address(deleted)
    assert not both_views_have(tun.name, added)
    assert both_views_have(tun.name, "198.51.100.1/24")
    assert ipaddress.ip_interface(added) not in tun.addresses()


@pytest.mark.parametrize("address", ["192.0.2.1/24", "2001:db8::1/64"])
def test_duplicate_address_is_file_exists(tun: tuntap.Interface, address: str) -> None:
    tun.set_ipv6(True)
    tun.add_address(address)
    with pytest.raises(FileExistsError) as info:
        tun.add_address(address)
    message = str(info.value)
    assert f"add_address {address} on {tun.name}" in message
    assert "already assigned" in message
    assert info.value.errno == errno.EEXIST


@pytest.mark.parametrize("address", ["192.0.2.9/24", "2001:db8::9/64", "192.0.2.9"])
def test_deleting_an_absent_address_is_a_clear_oserror(tun: tuntap.Interface, address: str) -> None:
    tun.set_ipv6(True)
    tun.add_address("192.0.2.1/24")
    with pytest.raises(OSError, match="not assigned to the interface") as info:
        tun.del_address(address)
    assert info.value.errno == errno.EADDRNOTAVAIL
    assert f"del_address {address.split('/')[0]}" in str(info.value)
    assert tun.name in str(info.value)
    assert both_views_have(tun.name, "192.0.2.1/24")


def test_kernel_extended_ack_text_reaches_the_message(tun: tuntap.Interface) -> None:
    tun.add_address("192.0.2.1/24")
    with pytest.raises(OSError, match=r"kernel: .*\S") as info:
        tun.add_address("192.0.2.1/24")
    assert "kernel: " in str(info.value)


BAD_ADDRESSES: list[tuple[Any, Any, type[Exception], str]] = [
    ("192.0.2.300/24", None, ValueError, "bad address"),
    ("192.0.2.1/33", None, ValueError, "bad address"),
    ("2001:db8::1/129", None, ValueError, "bad address"),
    ("not an address", None, ValueError, "bad address"),
    ("", None, ValueError, "bad address"),
    ("192.0.2.1", 33, ValueError, "not in 0..32"),
    ("192.0.2.1", -1, ValueError, "not in 0..32"),
    ("2001:db8::1", 129, ValueError, "not in 0..128"),
    ("192.0.2.1", "255.0.255.0", ValueError, "not contiguous"),
    ("192.0.2.1", "nonsense", ValueError, "bad subnet"),
    ("192.0.2.1", "192.0.2.0/99", ValueError, "bad subnet"),
    ("192.0.2.1", ipaddress.ip_network("198.51.100.0/24"), ValueError, "not inside"),
    ("192.0.2.1", ipaddress.ip_network("2001:db8::/64"), ValueError, "is IPv6"),
    ("192.0.2.1", b"\xff" * 16, ValueError, "does not fit"),
    ("192.0.2.1/24", 24, ValueError, "already has a prefix"),
    (b"\x01\x02\x03", None, ValueError, "4 or 16 bytes"),
    ("0.0.0.0/8", None, ValueError, "cannot be an interface address"),
    ("::/64", None, ValueError, "cannot be an interface address"),
    # The IPv4 all-hosts multicast group, packed: refused before any request.
    (bytes([224, 0, 0, 1]), 24, ValueError, "cannot be an interface address"),
    ("ff02::1/64", None, ValueError, "cannot be an interface address"),
    (None, None, TypeError, "must be a str"),
    (3232235777, None, TypeError, "must be a str"),
    ("192.0.2.1", True, TypeError, "not bool"),
    ("192.0.2.1", 24.0, TypeError, "subnet must be"),
]


@pytest.mark.parametrize("ip,subnet,error,message", BAD_ADDRESSES)
@pytest.mark.parametrize("method", ["add_address", "del_address"])
def test_bad_addresses_are_refused_before_any_request(
    tun: tuntap.Interface,
    method: str,
    ip: Any,
    subnet: Any,
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message) as info:
        getattr(tun, method)(ip, subnet)
    assert method in str(info.value)
    assert tun.link.netlink is None  # no socket was even opened


def test_nodad_must_be_a_bool(tun: tuntap.Interface) -> None:
    with pytest.raises(TypeError, match="True or False"):
        tun.add_address("192.0.2.1/24", nodad=1)  # type: ignore[arg-type]


# -- link: MTU, up/down, ifindex, queue length, MAC -----------------------------------


def test_ifindex_matches_both_views(tun: tuntap.Interface, tap: tuntap.Interface) -> None:
    for iface in (tun, tap):
        assert iface.ifindex == ip_link(iface.name)["ifindex"]
        assert iface.ifindex == pyroute2_link(iface.name)["index"]
    assert tun.ifindex != tap.ifindex


@pytest.mark.parametrize("kind,extra", [(DevKind.TUN, 0), (DevKind.TAP, 18)])
def test_set_mtu_and_the_write_limit(kind: DevKind, extra: int) -> None:
    with tuntap.open("mtu%d", kind) as iface:
        assert iface.mtu == 1500 == ip_link(iface.name)["mtu"]
        assert iface.write_limit == 1600
        iface.set_mtu(9000)
        assert ip_link(iface.name)["mtu"] == 9000
        assert pyroute2_link(iface.name).get("IFLA_MTU") == 9000
        assert iface.mtu == 9000
        assert iface.write_limit == 9000 + extra
        iface.set_ipv6(False)
        iface.set_mtu(576)
        assert ip_link(iface.name)["mtu"] == 576 == pyroute2_link(iface.name).get("IFLA_MTU")
        assert iface.write_limit == 1600  # never below the seed's


def test_mtu_read_updates_the_write_limit(tun: tuntap.Interface) -> None:
    with Netlink(tun.name) as netlink:
        netlink.set_link(tun.ifindex, "test", mtu=4000)
    assert tun.write_limit == 1600
    assert tun.mtu == 4000
    assert tun.write_limit == 4000


def test_raised_mtu_lets_bigger_packets_through(tun: tuntap.Interface) -> None:
    tun.set_ipv6(False)
    tun.add_address(TUN_ADDR, 24)
    tun.set_mtu(4000)
    tun.up()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((TUN_ADDR, 0))
        sock.settimeout(5)
        payload = os.urandom(3000)
        tun.write_packet(ipv4_udp(TUN_PEER, TUN_ADDR, 5000, sock.getsockname()[1], payload))
        assert sock.recv(4000) == payload


@pytest.mark.parametrize(
    "kind,ipv6,mtu",
    [
        (DevKind.TUN, False, 67),
        (DevKind.TUN, False, 0),
        (DevKind.TUN, False, -1),
        (DevKind.TUN, False, 65536),
        (DevKind.TUN, True, 1279),
        (DevKind.TAP, True, 1279),
        (DevKind.TAP, False, 65522),
        (DevKind.TAP, False, 67),
    ],
)
def test_mtu_out_of_range_is_refused_before_any_request(
    kind: DevKind, ipv6: bool, mtu: int
) -> None:
    with tuntap.open("mtu%d", kind) as iface:
        iface.set_ipv6(ipv6)
        with pytest.raises(ValueError, match=f"set_mtu on {iface.name}: MTU {mtu} is outside"):
            iface.set_mtu(mtu)
        assert iface.link.netlink is None
        assert ip_link(iface.name)["mtu"] == 1500


@pytest.mark.parametrize("kind,low,high", [(DevKind.TUN, 68, 65535), (DevKind.TAP, 68, 65521)])
def test_mtu_bounds_are_the_kernels(kind: DevKind, low: int, high: int) -> None:
    """Our limits are exactly where the kernel's are (asked directly, past our checks)."""
    with tuntap.open("mtu%d", kind) as iface:
        iface.set_ipv6(False)
        iface.set_mtu(low)
        iface.set_mtu(high)
        assert ip_link(iface.name)["mtu"] == high
        with Netlink(iface.name) as netlink:
            for bad in (low - 1, high + 1):
                with pytest.raises(OSError, match="kernel: mtu") as info:
                    netlink.set_link(iface.ifindex, "set_mtu", mtu=bad)
                assert info.value.errno == errno.EINVAL


def test_ipv6_floor_applies_only_while_ipv6_is_on(tun: tuntap.Interface) -> None:
    tun.set_ipv6(True)
    with pytest.raises(ValueError, match="with IPv6 on"):
        tun.set_mtu(1000)
    tun.set_ipv6(False)
    tun.set_mtu(1000)
    assert ip_link(tun.name)["mtu"] == 1000


@pytest.mark.parametrize("mtu", ["1500", 1500.0, None, True])
def test_mtu_must_be_an_int(tun: tuntap.Interface, mtu: Any) -> None:
    with pytest.raises(TypeError, match="mtu must be an int"):
        tun.set_mtu(mtu)


def test_up_down_and_is_up(tun: tuntap.Interface) -> None:
    assert tun.is_up is False
    assert "UP" not in ip_link(tun.name)["flags"]
    tun.up()
    assert tun.is_up is True
    assert "UP" in ip_link(tun.name)["flags"]
    assert pyroute2_link(tun.name)["flags"] & IFF_UP
    tun.up()  # already up: harmless
    tun.down()
    assert tun.is_up is False
    assert "UP" not in ip_link(tun.name)["flags"]
    assert not pyroute2_link(tun.name)["flags"] & IFF_UP


def test_txqueuelen(tun: tuntap.Interface) -> None:
    assert (
        tun.txqueuelen == ip_link(tun.name)["txqlen"] == pyroute2_link(tun.name).get("IFLA_TXQLEN")
    )
    tun.set_txqueuelen(4321)
    assert tun.txqueuelen == 4321
    assert ip_link(tun.name)["txqlen"] == 4321
    assert pyroute2_link(tun.name).get("IFLA_TXQLEN") == 4321


@pytest.mark.parametrize(
    "length,error", [(-1, ValueError), (2**32, ValueError), ("5", TypeError), (False, TypeError)]
)
def test_bad_txqueuelen(tun: tuntap.Interface, length: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="set_txqueuelen"):
        tun.set_txqueuelen(length)
    assert tun.link.netlink is None


def test_hwaddr_of_a_tap(tap: tuntap.Interface) -> None:
    assert tap.hwaddr == ip_link(tap.name)["address"]
    tap.set_hwaddr("02:00:5e:00:53:01")
    assert tap.hwaddr == "02:00:5e:00:53:01"
    assert ip_link(tap.name)["address"] == "02:00:5e:00:53:01"
    assert pyroute2_link(tap.name).get("IFLA_ADDRESS") == "02:00:5e:00:53:01"
    tap.set_hwaddr(b"\x02\x00\x5e\x00\x53\x02")
    tap.set_hwaddr("2-0-5E-0-53-3")
    assert tap.hwaddr == "02:00:5e:00:53:03" == pyroute2_link(tap.name).get("IFLA_ADDRESS")


def test_a_tun_has_no_hwaddr(tun: tuntap.Interface) -> None:
    with pytest.raises(ValueError, match=f"hwaddr on {tun.name}: a TUN device has no hardware"):
        tun.hwaddr  # noqa: B018
    with pytest.raises(ValueError, match=r"set_hwaddr on .*: a TUN device has no hardware"):
        tun.set_hwaddr("02:00:5e:00:53:01")


@pytest.mark.parametrize(
    "mac,error,message",
    [
        ("01:00:5e:00:00:01", ValueError, "multicast"),
        ("ff:ff:ff:ff:ff:ff", ValueError, "multicast"),
        ("00:00:00:00:00:00", ValueError, "all-zero"),
        ("02:00:5e:00:53", ValueError, "bad MAC"),
        ("02:00:5e:00:53:01:02", ValueError, "bad MAC"),
        ("02:00:5e-00:53:01", ValueError, "bad MAC"),
        ("02:00:5e:00:53:0g", ValueError, "bad MAC"),
        ("020:00:5e:00:53:01", ValueError, "bad MAC"),
        (b"\x02\x00\x5e", ValueError, "6 bytes"),
        (None, TypeError, "str or bytes"),
        (0x02005E005301, TypeError, "str or bytes"),
    ],
)
def test_bad_macs(tap: tuntap.Interface, mac: Any, error: type[Exception], message: str) -> None:
    before = ip_link(tap.name)["address"]
    with pytest.raises(error, match=message):
        tap.set_hwaddr(mac)
    assert ip_link(tap.name)["address"] == before


# -- IPv6 controls -------------------------------------------------------------------


def devconf(name: str) -> Any:
    """pyroute2's view of the device's IPv6 settings (IFLA_AF_SPEC/AF_INET6)."""
    return pyroute2_link(name).get("IFLA_AF_SPEC").get("AF_INET6").get("IFLA_INET6_CONF")


@pytest.mark.parametrize(
    "method,key,inverted",
    [
        ("set_ipv6", "disable_ipv6", True),
        ("set_ipv6_forwarding", "forwarding", False),
        ("set_ipv6_slaac", "autoconf", False),
    ],
)
def test_ipv6_controls(tun: tuntap.Interface, method: str, key: str, inverted: bool) -> None:
    tun.set_ipv6(True)
    for enabled in (True, False, True):
        getattr(tun, method)(enabled)
        expected = int(enabled != inverted)
        assert conf(tun.name, key) == str(expected)
        assert devconf(tun.name)[key] == expected


def test_set_ipv6_adds_and_removes_the_ipv6_addresses(tun: tuntap.Interface) -> None:
    tun.set_ipv6(True)
    tun.add_address("2001:db8::1/64")
    assert both_views_have(tun.name, "2001:db8::1/64")
    tun.set_ipv6(False)
    assert not both_views_have(tun.name, "2001:db8::1/64")
    assert all(a.version == 4 for a in tun.addresses())


def test_ipv6_forwarding_shows_in_netconf(tun: tuntap.Interface) -> None:
    tun.set_ipv6(True)
    tun.set_ipv6_forwarding(True)
    views = {v["family"]: v for v in ip_json("netconf", "show", "dev", tun.name)}
    assert views["inet6"]["forwarding"] is True
    tun.set_ipv6_forwarding(False)
    views = {v["family"]: v for v in ip_json("netconf", "show", "dev", tun.name)}
    assert views["inet6"]["forwarding"] is False


@pytest.mark.parametrize("method", ["set_ipv6", "set_ipv6_forwarding", "set_ipv6_slaac"])
@pytest.mark.parametrize("value", [1, "1", None])
def test_ipv6_controls_take_bools(tun: tuntap.Interface, method: str, value: Any) -> None:
    before = conf(tun.name, "disable_ipv6")
    with pytest.raises(TypeError, match=f"{method} takes True or False"):
        getattr(tun, method)(value)
    assert conf(tun.name, "disable_ipv6") == before


# -- failures --------------------------------------------------------------------------

CALLS: dict[str, Callable[[tuntap.Interface], object]] = {
    "add_address": lambda i: i.add_address("192.0.2.1/24"),
    "del_address": lambda i: i.del_address("192.0.2.1/24"),
    "get_addr_list": lambda i: i.get_addr_list(),
    "addresses": lambda i: i.addresses(),
    "mtu": lambda i: i.mtu,
    "set_mtu": lambda i: i.set_mtu(1400),
    "up": lambda i: i.up(),
    "down": lambda i: i.down(),
    "is_up": lambda i: i.is_up,
    "ifindex": lambda i: i.ifindex,
    "txqueuelen": lambda i: i.txqueuelen,
    "set_txqueuelen": lambda i: i.set_txqueuelen(10),
    "set_ipv6": lambda i: i.set_ipv6(True),
    "set_ipv6_forwarding": lambda i: i.set_ipv6_forwarding(True),
    "set_ipv6_slaac": lambda i: i.set_ipv6_slaac(True),
}
TAP_CALLS: dict[str, Callable[[tuntap.Interface], object]] = {
    "hwaddr": lambda i: i.hwaddr,
    "set_hwaddr": lambda i: i.set_hwaddr("02:00:5e:00:53:01"),
}


@pytest.mark.parametrize("call", sorted({**CALLS, **TAP_CALLS}))
@pytest.mark.parametrize("used_before", [False, True])
def test_interface_deleted_behind_our_back(call: str, used_before: bool) -> None:
    with tuntap.open("gone%d", DevKind.TAP) as iface:
        if used_before:
            iface.ifindex  # noqa: B018 - the socket is open and the index known
        ip("link", "del", iface.name)
        with pytest.raises(OSError, match="the interface is gone") as info:
            {**CALLS, **TAP_CALLS}[call](iface)
        assert f"{call}" in str(info.value) and iface.name in str(info.value)


@pytest.mark.parametrize("call", sorted({**CALLS, **TAP_CALLS}))
def test_calls_on_a_closed_interface(call: str) -> None:
    iface = tuntap.open("cl%d", DevKind.TAP)
    iface.ifindex  # noqa: B018
    iface.close()
    with pytest.raises(tuntap.InterfaceClosedError, match=f"{call} on closed interface"):
        {**CALLS, **TAP_CALLS}[call](iface)


DROPPED = """
    import json, os, sys
    import tuntap_cffi as tuntap
    iface = tuntap.open(sys.argv[1], tuntap.DevKind.TAP)
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    results = {}
    calls = {
        "add_address": lambda: iface.add_address("192.0.2.1/24"),
        "set_mtu": lambda: iface.set_mtu(1400),
        "up": lambda: iface.up(),
        "set_txqueuelen": lambda: iface.set_txqueuelen(10),
        "set_hwaddr": lambda: iface.set_hwaddr("02:00:5e:00:53:01"),
        "set_ipv6": lambda: iface.set_ipv6(False),
        "mtu": lambda: iface.mtu,
    }
    for name, call in calls.items():
        try:
            results[name] = ["ok", repr(call())]
        except Exception as exc:
            results[name] = [type(exc).__name__, str(exc)]
    print(json.dumps(results), flush=True)
""".replace("NOBODY", str(NOBODY))


def test_without_cap_net_admin_changes_are_permission_errors() -> None:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(DROPPED), "perm0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    import json

    results = json.loads(result.stdout)
    for call in ("add_address", "set_mtu", "up", "set_txqueuelen", "set_hwaddr"):
        kind, message = results[call]
        assert kind == "PermissionError", (call, message)
        assert f"{call}" in message and "perm0" in message and "CAP_NET_ADMIN" in message
    kind, message = results["set_ipv6"]
    assert kind == "PermissionError" and "set_ipv6" in message and "perm0" in message
    assert results["mtu"] == ["ok", "1500"]  # reading needs no privilege


# -- the socket itself ---------------------------------------------------------------


def test_netlink_socket_is_opened_lazily_and_closed_with_the_interface() -> None:
    before = open_fds()
    iface = tuntap.open("lz%d", DevKind.TUN)
    with_device = len(open_fds())
    assert iface.link.netlink is None
    iface.up()
    netlink = iface.link.netlink
    assert netlink is not None
    fd = netlink.fd
    assert len(open_fds()) == with_device + 1
    assert os.get_inheritable(fd) is False
    assert os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    iface.is_up  # noqa: B018 - the same socket again
    assert iface.link.netlink is netlink
    iface.close()
    assert open_fds() == before


def test_concurrent_calls_on_one_interface(tun: tuntap.Interface) -> None:
    tun.set_ipv6(False)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(25):
                tun.add_address(f"198.51.100.{n * 25 + i + 1}/32")
                assert tun.mtu == 1500
                assert len(tun.get_addr_list()) >= i + 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert len(tun.addresses()) == 100 == len(ip_addresses(tun.name))


# -- round trips after configuring through the library alone --------------------------


@pytest.mark.parametrize("version", [4, 6])
def test_udp_through_a_tun_configured_by_the_library_alone(
    tun: tuntap.Interface, version: int
) -> None:
    family, local, peer = (
        (socket.AF_INET, TUN_ADDR, TUN_PEER)
        if version == 4
        else (socket.AF_INET6, TUN_ADDR6, TUN_PEER6)
    )
    build = ipv4_udp if version == 4 else ipv6_udp
    tun.set_ipv6(version == 6)
    tun.set_ipv6_slaac(False)
    tun.add_address(local, 24 if version == 4 else 64, nodad=True)
    tun.up()
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind((local, 0))
        sock.settimeout(5)
        sock.sendto(b"out", (peer, 4000))
        for _ in range(20):
            pkt = tun.read_packet(timeout=5)
            if pkt.ip_proto()[0] == 17:
                break
        assert bytes(pkt.body).endswith(b"out") and str(pkt.dip) == peer
        tun.write_packet(build(peer, local, 4000, sock.getsockname()[1], b"in"))
        data, source = sock.recvfrom(100)
        assert data == b"in" and source[:2] == (peer, 4000)


MAC = "02:00:5e:00:53:aa"


def first_frame(tap: tuntap.Interface, match: Callable[[bytes], bool]) -> bytes:
    for _ in range(30):
        frame = bytes(tap.read_packet(timeout=5).body)
        if match(frame):
            return frame
    raise AssertionError("no matching frame in 30")


def test_arp_from_a_tap_with_a_set_mac(tap: tuntap.Interface) -> None:
    tap.set_ipv6(False)
    tap.set_hwaddr(MAC)
    tap.add_address(TUN_ADDR, 24)
    tap.up()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((TUN_ADDR, 0))
        sock.sendto(b"needs arp", (TUN_PEER, 4001))
        frame = first_frame(tap, lambda f: f[12:14] == b"\x08\x06")
    assert frame[:6] == b"\xff" * 6 and frame[6:12] == mac_bytes(MAC)
    assert frame[20:22] == b"\x00\x01"  # request
    assert frame[22:28] == mac_bytes(MAC)  # sender hardware address
    assert socket.inet_ntoa(frame[28:32]) == TUN_ADDR
    assert socket.inet_ntoa(frame[38:42]) == TUN_PEER


def test_ndp_from_a_tap_with_a_set_mac(tap: tuntap.Interface) -> None:
    tap.set_ipv6(True)
    tap.set_ipv6_slaac(False)
    tap.set_hwaddr(MAC)
    tap.add_address(f"{TUN_ADDR6}/64", nodad=True)
    tap.up()
    target = socket.inet_pton(socket.AF_INET6, TUN_PEER6)

    def solicitation(f: bytes) -> bool:
        return f[12:14] == b"\x86\xdd" and f[20] == 58 and f[54] == 135 and f[62:78] == target

    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.bind((TUN_ADDR6, 0))
        sock.sendto(b"needs ndp", (TUN_PEER6, 4001))
        frame = first_frame(tap, solicitation)
    assert frame[6:12] == mac_bytes(MAC)
    assert frame[:2] == b"\x33\x33"  # to the solicited-node multicast group
    assert frame[22:38] == socket.inet_pton(socket.AF_INET6, TUN_ADDR6)
    # Option 1, source link-layer address: our MAC.
    assert frame[78:80] == b"\x01\x01" and frame[80:86] == mac_bytes(MAC)


def test_an_mtu_raised_outside_the_library_raises_the_write_limit(tun: tuntap.Interface) -> None:
    tun.set_ipv6(False)
    tun.add_address(f"{TUN_ADDR}/24")
    tun.up()
    ip("link", "set", "dev", tun.name, "mtu", "9000")  # behind the library's back
    assert tun.write_limit == 1600
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((TUN_ADDR, 0))
        sock.settimeout(5)
        port = sock.getsockname()[1]
        big = ipv4_udp(TUN_PEER, TUN_ADDR, 1, port, bytes(5000))
        tun.write_packet(big)
        assert tun.write_limit == 9000
        assert len(sock.recv(9000)) == 5000
        ip("link", "set", "dev", tun.name, "mtu", "12000")
        assert tun.write_batch([ipv4_udp(TUN_PEER, TUN_ADDR, 1, port, bytes(11000))]) == 1
        assert len(sock.recv(12000)) == 11000
        with pytest.raises(tuntap.JumboPacketError):
            tun.write_packet(ipv4_udp(TUN_PEER, TUN_ADDR, 1, port, bytes(12001)))
