"""A renamed device: its Link and Interface follow the ifindex, not the old name.

The device is renamed from outside (``ip link set OLD name NEW``, while it is
down) and another device then takes the old name. The conf switches
(``/proc/sys/net/ipv{4,6}/conf/<name>/...``, which are named by name) must
reach the renamed device, never the newcomer; ``name`` says the new name.
ip(8) and the /proc files, read here, are the oracle.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator

import pytest
from helpers.ip import ip, ip_json

import tuntap_cffi as tuntap
from tuntap_cffi import DevKind

pytestmark = pytest.mark.privileged

OLD, NEW = "ttrnold", "ttrnnew"

# (call on a Link or an Interface, conf file, the value it must hold afterwards)
SWITCHES: dict[str, tuple[Callable[[object], None], str, str]] = {
    "ipv4 forwarding": (lambda c: c.set_ipv4_forwarding(True), "ipv4/conf/{}/forwarding", "1"),
    "ipv6 forwarding": (lambda c: c.set_ipv6_forwarding(True), "ipv6/conf/{}/forwarding", "1"),
    "ipv6 off": (lambda c: c.set_ipv6(False), "ipv6/conf/{}/disable_ipv6", "1"),
    "slaac off": (lambda c: c.set_ipv6_slaac(False), "ipv6/conf/{}/autoconf", "0"),
}


def ip_in(netns: str | None, *args: str) -> str:
    return ip(*args) if netns is None else ip("-n", netns, *args)


def conf(netns: str | None, path: str) -> str:
    """A /proc/sys/net file as the namespace ``netns`` (None: the test's) shows it."""
    full = f"/proc/sys/net/{path}"
    if netns is None:
        with open(full) as f:
            return f.read().strip()
    result = subprocess.run(
        ["ip", "netns", "exec", netns, "cat", full], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def names(netns: str | None) -> set[str]:
    args = ("link", "show") if netns is None else ("-n", netns, "link", "show")
    return {link["ifname"] for link in ip_json(*args)}


def rename_and_take_the_old_name(netns: str | None) -> None:
    """OLD becomes NEW; a new TUN device is then called OLD (with the defaults)."""
    ip_in(netns, "link", "set", OLD, "name", NEW)
    ip_in(netns, "tuntap", "add", OLD, "mode", "tun")


@pytest.fixture
def cleanup() -> Iterator[None]:
    yield
    for name in (OLD, NEW):
        subprocess.run(["ip", "link", "delete", name], capture_output=True)


def set_conf(netns: str | None, path: str, value: str) -> None:
    full = f"/proc/sys/net/{path}"
    if netns is None:
        with open(full, "w") as f:
            f.write(value)
        return
    command = ["ip", "netns", "exec", netns, "sh", "-c", f"echo {value} > {full}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def check_followed(netns: str | None, switch: str, configured: object) -> None:
    """Set ``switch`` through ``configured``; NEW's file changed and OLD's did not.

    Both files first hold the other value (set here: a device's defaults come
    from the namespace's conf/default, which other tests may have changed).
    """
    call, path, wanted = SWITCHES[switch]
    old_value = "0" if wanted == "1" else "1"
    for name in (OLD, NEW):
        set_conf(netns, path.format(name), old_value)
        assert conf(netns, path.format(name)) == old_value
    call(configured)
    assert conf(netns, path.format(NEW)) == wanted
    assert conf(netns, path.format(OLD)) == old_value


@pytest.mark.usefixtures("cleanup")
@pytest.mark.parametrize("switch", SWITCHES)
@pytest.mark.parametrize("asked_before", [False, True], ids=["fresh", "asked-before"])
def test_an_interfaces_switches_follow_a_rename(switch: str, asked_before: bool) -> None:
    with tuntap.open(OLD, DevKind.TUN) as iface:
        if asked_before:
            assert iface.ifindex > 0 and iface.link.name == OLD
        ifindex = ip_json("link", "show", "dev", OLD)[0]["ifindex"]
        rename_and_take_the_old_name(None)
        assert iface.name == NEW
        assert iface.link.name == NEW
        check_followed(None, switch, iface)
        assert iface.ifindex == ifindex
        assert repr(iface).startswith(f"<Interface {NEW} ")


@pytest.mark.usefixtures("cleanup")
@pytest.mark.parametrize("switch", SWITCHES)
def test_a_links_switches_follow_a_rename(switch: str) -> None:
    ip("tuntap", "add", OLD, "mode", "tun")
    with tuntap.Link(OLD) as link:
        rename_and_take_the_old_name(None)
        assert link.name == NEW
        check_followed(None, switch, link)
        assert link.name == NEW
    assert link.name == NEW  # the last name known, once closed


@pytest.mark.usefixtures("cleanup")
def test_set_mtu_asks_the_renamed_device_whether_ipv6_is_on() -> None:
    """The MTU floor is 1280 while IPv6 is on: asked of NEW (off), not OLD (on)."""
    ip("tuntap", "add", OLD, "mode", "tun")
    with tuntap.Link(OLD) as link:
        link.set_ipv6(False)
        rename_and_take_the_old_name(None)
        assert conf(None, f"ipv6/conf/{OLD}/disable_ipv6") == "0"
        link.set_mtu(1000)
        assert ip_json("link", "show", "dev", NEW)[0]["mtu"] == 1000


def test_a_link_of_a_deleted_device_keeps_its_last_name() -> None:
    ip("tuntap", "add", OLD, "mode", "tun")
    with tuntap.Link(OLD) as link:
        ip("link", "delete", OLD)
        assert link.name == OLD
        with pytest.raises(OSError):
            link.set_ipv4_forwarding(True)


# -- in another namespace ---------------------------------------------------------------


@pytest.mark.parametrize("switch", ["ipv4 forwarding", "ipv6 forwarding"])
def test_a_link_in_another_namespace_follows_a_rename(named_netns: str, switch: str) -> None:
    ip("-n", named_netns, "tuntap", "add", OLD, "mode", "tun")
    with tuntap.Link(OLD, netns=named_netns) as link:
        rename_and_take_the_old_name(named_netns)
        assert link.name == NEW
        check_followed(named_netns, switch, link)
    assert {OLD, NEW} <= names(named_netns)
    assert not {OLD, NEW} & names(None)


@pytest.mark.parametrize("switch", ["ipv4 forwarding", "ipv6 off"])
def test_an_interface_in_another_namespace_follows_a_rename(
    named_netns: str,
    switch: str,
) -> None:
    with tuntap.open(OLD, DevKind.TUN, netns=named_netns) as iface:
        rename_and_take_the_old_name(named_netns)
        assert iface.name == NEW
        check_followed(named_netns, switch, iface)
        assert iface.link.name == NEW


@pytest.mark.usefixtures("cleanup")
def test_a_detached_queue_follows_a_rename_by_its_ifindex() -> None:
    """A detached queue's fd cannot say the name (TUNGETIFF: EBADFD): asked by ifindex."""
    queues = tuntap.open_queues(OLD, DevKind.TUN, count=2)
    try:
        assert queues[1].ifindex > 0
        queues[1].detach_queue()
        rename_and_take_the_old_name(None)
        assert queues[1].name == NEW
        check_followed(None, "ipv4 forwarding", queues[1])
    finally:
        for queue in queues:
            queue.close()
