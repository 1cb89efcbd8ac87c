"""``link.ifreq``: the ``SIOC[GS]IF*`` rules over rtnetlink, checked against the ioctls.

Two twin devices get the same steps: one through the real ioctls (Python's
``fcntl.ioctl`` on a socket, the oracle), the other through ``ifreq``. After
every step both must hold the same addresses (as ``ip -j addr`` shows them),
give the same answers, and refuse with the same errno.
"""

from __future__ import annotations

import fcntl
import socket
import struct
from collections.abc import Callable, Iterator

import pytest
from helpers.ip import disable_ipv6, ip, ip_json

import tuntap_cffi as tuntap
from tuntap_cffi import DevKind
from tuntap_cffi.link import ifreq

pytestmark = pytest.mark.privileged

SIOCGIFADDR, SIOCSIFADDR = 0x8915, 0x8916
SIOCGIFDSTADDR, SIOCSIFDSTADDR = 0x8917, 0x8918
SIOCGIFNETMASK, SIOCSIFNETMASK = 0x891B, 0x891C
SIOCGIFMTU, SIOCGIFHWADDR = 0x8921, 0x8927
GETTERS = {"addr": SIOCGIFADDR, "dstaddr": SIOCGIFDSTADDR, "netmask": SIOCGIFNETMASK}
SETTERS = {"addr": SIOCSIFADDR, "dstaddr": SIOCSIFDSTADDR, "netmask": SIOCSIFNETMASK}


def ioctl_get(name: str, what: str) -> bytes | int:
    """The kernel's own answer (an errno when it refuses)."""
    request = struct.pack("16s24x", name.encode())
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            reply = fcntl.ioctl(sock, GETTERS[what], request)
    except OSError as exc:
        return exc.errno or -1
    return reply[20:24]


def ioctl_set(name: str, what: str, value: bytes) -> int:
    request = struct.pack("16sH2x4s16x", name.encode(), socket.AF_INET, value)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            fcntl.ioctl(sock, SETTERS[what], request)
    except OSError as exc:
        return exc.errno or -1
    return 0


def ours_get(name: str, what: str) -> bytes | int:
    getter: Callable[[str], bytes] = getattr(ifreq, f"get_{what}")
    try:
        return getter(name)
    except OSError as exc:
        return exc.errno or -1


def ours_set(name: str, what: str, value: bytes) -> int:
    try:
        getattr(ifreq, f"set_{what}")(name, value)
    except OSError as exc:
        return exc.errno or -1
    return 0


def state(name: str) -> list[dict[str, object]]:
    """The device's IPv4 addresses as ip(8) shows them, with its name taken out."""
    links = ip_json("-4", "addr", "show", "dev", name)  # [] without an IPv4 address
    lifetimes = ("valid_life_time", "preferred_life_time")
    return [
        {k: str(v).replace(name, "DEV") for k, v in a.items() if k not in lifetimes}
        for link in links
        for a in link.get("addr_info", [])
    ]


@pytest.fixture(params=[DevKind.TUN, DevKind.TAP], ids=["tun", "tap"])
def twins(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    with tuntap.open("ioa%d", request.param) as a, tuntap.open("iob%d", request.param) as b:
        for iface in (a, b):
            disable_ipv6(iface.name)
        yield a.name, b.name


A = socket.inet_aton
STEPS = [
    ("netmask", A("255.255.255.0")),
    ("dstaddr", A("192.0.2.2")),
    ("addr", A("192.0.2.1")),
    ("addr", A("192.0.2.1")),
    ("netmask", A("255.255.0.0")),
    ("dstaddr", A("192.0.2.2")),
    ("dstaddr", A("192.0.2.2")),
    ("netmask", A("255.255.1.0")),
    ("addr", A("198.51.100.7")),
    ("netmask", A("255.255.255.252")),
    ("addr", A("127.0.0.10")),
    ("netmask", A("0.0.0.0")),
    ("dstaddr", A("0.0.0.0")),
    ("addr", A("127.0.0.9")),
    ("addr", A("0.0.0.0")),
    ("addr", A("255.255.255.255")),
    ("addr", A("0.0.0.0")),
    ("addr", A("203.0.113.5")),
]


def test_each_step_leaves_what_the_ioctl_leaves(twins: tuple[str, str]) -> None:
    kernel, ours = twins
    for what, value in STEPS:
        step = f"{what} = {socket.inet_ntoa(value)}"
        assert ours_set(ours, what, value) == ioctl_set(kernel, what, value), step
        assert state(ours) == state(kernel), step
        for getter in GETTERS:
            assert ours_get(ours, getter) == ioctl_get(ours, getter), f"{step}: {getter}"
            assert ours_get(ours, getter) == ioctl_get(kernel, getter), f"{step}: {getter}"


def test_an_alias_is_not_the_devices_address(twins: tuple[str, str]) -> None:
    _kernel, name = twins
    ip("addr", "add", "192.0.2.50/24", "dev", name, "label", f"{name}:1")
    assert ours_get(name, "addr") == ioctl_get(name, "addr")  # EADDRNOTAVAIL both
    ip("addr", "add", "198.51.100.1/24", "dev", name)
    assert ours_get(name, "addr") == A("198.51.100.1") == ioctl_get(name, "addr")
    ifreq.set_addr(name, A("198.51.100.2"))
    addresses = {
        a["local"]: a.get("label")
        for a in ip_json("-4", "addr", "show", "dev", name)[0]["addr_info"]
    }
    assert addresses == {"192.0.2.50": f"{name}:1", "198.51.100.2": name}


def test_mtu_hwaddr_and_flags(twins: tuple[str, str]) -> None:
    _kernel, name = twins
    ifreq.set_mtu(name, 1400)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        mtu = struct.unpack(
            "16si20x", fcntl.ioctl(sock, SIOCGIFMTU, struct.pack("16s24x", name.encode()))
        )[1]
        hw = fcntl.ioctl(sock, SIOCGIFHWADDR, struct.pack("16s24x", name.encode()))[18:24]
    assert ifreq.get_mtu(name) == mtu == 1400
    assert ifreq.get_hwaddr(name) == hw
    ifreq.set_up(name, True)
    ifreq.set_up(name, True)
    assert "UP" in ip_json("link", "show", "dev", name)[0]["flags"]
    ifreq.set_up(name, False)
    assert "UP" not in ip_json("link", "show", "dev", name)[0]["flags"]
    with pytest.raises(OSError) as caught:
        ifreq.get_mtu("nosuchdev0")
    assert caught.value.errno == 19  # ENODEV, by name as the ioctls
