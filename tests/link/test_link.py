"""``tuntap.Link``: configuring a device this process holds no fd of, checked against ip(8).

A persistent device is made and its fd closed, so every request here goes
through a Link alone: by name, by ifindex, in another network namespace.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import ipaddress
import json
import os
import platform
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from helpers.ip import ip, ip_addresses, ip_link
from helpers.processes import open_fds

import tuntap_cffi as tuntap
from tuntap_cffi import DevKind

pytestmark = pytest.mark.privileged


@pytest.fixture
def persistent() -> Iterator[str]:
    """A persistent TUN device with no fd open on it."""
    with tuntap.open("lnk%d", DevKind.TUN, persist=True) as iface:
        name = iface.name
    try:
        yield name
    finally:
        ip("link", "delete", name)


def check_configures(link: tuntap.Link, show: Any) -> None:
    """set_mtu, add_address and up through ``link``, each seen by ``ip -j`` (``show``)."""
    assert link.mtu == 1500 == show("link")["mtu"]
    link.set_mtu(4000)
    assert show("link")["mtu"] == 4000 == link.mtu
    link.add_address("192.0.2.1/24")
    link.add_address("2001:db8::1/64", nodad=True)
    shown = {f"{a['local']}/{a['prefixlen']}" for a in show("addr").get("addr_info", [])}
    assert {"192.0.2.1/24", "2001:db8::1/64"} <= shown
    assert ipaddress.ip_interface("192.0.2.1/24") in link.addresses()
    assert link.is_up is False
    link.up()
    assert link.is_up is True and "UP" in show("link")["flags"]
    assert link.ifindex == show("link")["ifindex"]


def local_show(name: str) -> Any:
    return lambda what: ip_link(name) if what == "link" else ip_json_addr(name)


def ip_json_addr(name: str) -> Any:
    (entry,) = json.loads(ip("-j", "addr", "show", "dev", name))
    return entry


def test_link_by_name_on_a_device_with_no_fd(persistent: str) -> None:
    before = open_fds()
    with tuntap.Link(persistent) as link:
        assert link.name == persistent and link.kind == DevKind.TUN
        check_configures(link, local_show(persistent))
        assert repr(link) == f"<Link {persistent} open>"
    assert link.closed and repr(link) == f"<Link {persistent} closed>"
    assert open_fds() == before
    assert ip_link(persistent)["mtu"] == 4000  # the configuration stays with the device


def test_link_by_ifindex(persistent: str) -> None:
    ifindex = ip_link(persistent)["ifindex"]
    with tuntap.Link(ifindex) as link:
        assert link.name == persistent
        check_configures(link, local_show(persistent))
        link.set_txqueuelen(321)
        assert ip_link(persistent)["txqlen"] == 321


def test_a_tap_link_sets_its_mac_and_a_tun_link_has_none() -> None:
    with tuntap.open("lnkp%d", DevKind.TAP, persist=True) as tap:
        name = tap.name
    try:
        with tuntap.Link(name) as link:
            assert link.kind == DevKind.TAP
            link.set_hwaddr("02:00:5e:00:53:07")
            assert link.hwaddr == "02:00:5e:00:53:07" == ip_link(name)["address"]
            with pytest.raises(ValueError, match=r"outside \d+\.\.65521 for a TAP device"):
                link.set_mtu(65522)
    finally:
        ip("link", "delete", name)


def test_a_link_of_another_kind_of_device() -> None:
    ip("link", "add", "lnkveth0", "type", "veth", "peer", "name", "lnkveth1")
    try:
        with tuntap.Link("lnkveth0") as link:
            assert link.kind is None
            link.set_mtu(9000)
            assert ip_link("lnkveth0")["mtu"] == 9000
            link.add_address("198.51.100.1/24")
            assert "198.51.100.1/24" in ip_addresses("lnkveth0")
            assert link.hwaddr == ip_link("lnkveth0")["address"]
    finally:
        ip("link", "delete", "lnkveth0")


def test_on_mtu_change_is_told_every_mtu_read_and_set(persistent: str) -> None:
    seen: list[int] = []
    with tuntap.Link(persistent, on_mtu_change=seen.append) as link:
        link.set_ipv6(False)
        link.set_mtu(1400)
        assert link.mtu == 1400
    assert seen == [1400, 1400]


# -- another namespace -------------------------------------------------------------------


def in_netns_show(netns: str, name: str) -> Any:
    def show(what: str) -> Any:
        (entry,) = json.loads(ip("-n", netns, "-j", what, "show", "dev", name))
        return entry

    return show


@pytest.mark.parametrize("form", ["name", "path", "fd"])
def test_link_in_another_namespace(named_netns: str, form: str) -> None:
    with tuntap.open("lnkns%d", DevKind.TUN, persist=True, netns=named_netns) as iface:
        name = iface.name
    before = open_fds()
    path = f"/run/netns/{named_netns}"
    with contextlib.ExitStack() as stack:
        if form == "fd":
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            stack.callback(os.close, fd)
            target: Any = fd
        else:
            target = named_netns if form == "name" else path
        with tuntap.Link(name, netns=target) as link:
            check_configures(link, in_netns_show(named_netns, name))
            link.set_ipv6_forwarding(True)
            forwarding = f"/proc/sys/net/ipv6/conf/{name}/forwarding"
            assert ip("netns", "exec", named_netns, "cat", forwarding).strip() == "1"
    assert open_fds() == before
    assert name not in json.dumps(json.loads(ip("-j", "link", "show")))  # not here
    with pytest.raises(OSError) as info:
        tuntap.Link(name)  # the caller's namespace has no such device
    assert info.value.errno == errno.ENODEV


# -- bad inputs ----------------------------------------------------------------------------


def test_an_unknown_name_is_the_kernels_error_naming_it() -> None:
    before = open_fds()
    with pytest.raises(OSError, match="find link on nosuch0: No such device") as info:
        tuntap.Link("nosuch0")
    assert info.value.errno == errno.ENODEV and info.value.filename == "nosuch0"
    with pytest.raises(OSError, match="ifindex 987654") as info:
        tuntap.Link(987654)
    assert info.value.errno == errno.ENODEV
    assert open_fds() == before


@pytest.mark.parametrize("bad", [None, b"tun0", True, 1.5, ["tun0"]])
def test_bad_types_are_type_errors(bad: Any) -> None:
    with pytest.raises(TypeError, match="Link takes an interface name or an ifindex"):
        tuntap.Link(bad)


@pytest.mark.parametrize("bad", ["", "x" * 16, "a/b", "tun%d", "a b", "t\u00fcn", 0, -1, 2**31])
def test_bad_values_are_value_errors(bad: Any) -> None:
    with pytest.raises(ValueError):
        tuntap.Link(bad)


def test_a_bad_netns_is_refused(persistent: str) -> None:
    with pytest.raises(TypeError, match="netns must be"):
        tuntap.Link(persistent, netns=1.5)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match="no such network namespace"):
        tuntap.Link(persistent, netns="tt-link-no-such-netns")


def test_use_after_close_is_a_clear_error(persistent: str) -> None:
    link = tuntap.Link(persistent)
    link.close()
    link.close()  # harmless
    for call in (lambda: link.mtu, link.up, lambda: link.set_mtu(1400), link.addresses):
        with pytest.raises(tuntap.InterfaceClosedError, match=f"closed interface {persistent}"):
            call()
    with pytest.raises(tuntap.InterfaceClosedError, match="set_ipv6 on closed"):
        link.set_ipv6(True)


def test_an_unclosed_link_warns(persistent: str) -> None:
    link = tuntap.Link(persistent)
    with pytest.warns(ResourceWarning, match=f"unclosed Link {persistent}"):
        link.__del__()
    assert link.closed


# -- the Link an Interface owns ------------------------------------------------------------


def test_an_interfaces_link_is_closed_with_it() -> None:
    before = open_fds()
    iface = tuntap.open("lnko%d", DevKind.TUN)
    link = iface.link
    assert isinstance(link, tuntap.Link) and link.name == iface.name
    link.set_mtu(3000)
    assert iface.write_limit == 3000  # the interface follows its link's MTU
    link.close()  # the interface's to close: nothing happens
    assert not link.closed and link.is_up is False
    iface.close()
    assert link.closed
    with pytest.raises(tuntap.InterfaceClosedError, match="mtu on closed interface"):
        link.mtu  # noqa: B018
    assert open_fds() == before


def test_an_unreferenced_interface_is_still_collected_at_once() -> None:
    """The MTU callback holds the Interface weakly: no cycle keeps it alive."""
    iface = tuntap.open("lnkw%d", DevKind.TUN)
    iface.set_mtu(2000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del iface
        if platform.python_implementation() == "PyPy":
            gc.collect()  # no reference counts there: "at once" is the next collection
    assert any(issubclass(w.category, ResourceWarning) for w in caught)
