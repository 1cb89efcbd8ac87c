"""ip(8) in the test namespace, the addresses the tests use, and two independent
views of a link (ip(8) and pyroute2) for checking configuration calls.

Only documentation addresses are used (192.0.2.0/24, 2001:db8::/32), and only
inside the private namespace that conftest.py created or namespaces a test made.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from typing import Any

TUN_ADDR = "192.0.2.1"
TUN_PEER = "192.0.2.2"
TUN_ADDR6 = "2001:db8::1"
TUN_PEER6 = "2001:db8::2"


def ip(*args: str) -> str:
    """Run ip(8) in the test namespace; fail loudly with its stderr. Without the
    sanitizer runtimes the asan env preloads: ip(8)'s own route printer trips
    AddressSanitizer (strncpy-param-overlap in print_route, iproute2 6.1)."""
    env = {key: value for key, value in os.environ.items() if key != "LD_PRELOAD"}
    result = subprocess.run(["ip", *args], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise AssertionError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def ip_json(*args: str) -> Any:
    return json.loads(ip("-j", *args) or "[]")


def link_names() -> list[str]:
    return [link["ifname"] for link in ip_json("link", "show")]


def disable_ipv6(name: str) -> None:
    """Keep a device silent: no router solicitations or DAD once it is up."""
    with open(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6", "w") as f:
        f.write("1")


def configure_v4(name: str, address: str = TUN_ADDR, prefix: int = 24) -> None:
    disable_ipv6(name)
    ip("addr", "add", f"{address}/{prefix}", "dev", name)
    ip("link", "set", name, "up")


def wait_carrier(name: str, seconds: float = 5.0) -> None:
    """Wait until the kernel has brought ``name``'s link up after a queue attached.

    A TUN's carrier comes on when a queue attaches, but its qdisc is restored
    later, by the kernel's link-watch work; until then (no time at all on an idle
    machine, more under load) what is sent to the device is dropped, counted in
    its TX dropped. The operational state changes in the same step.
    """
    deadline = time.monotonic() + seconds
    while True:
        state = ip_link(name).get("operstate")
        if state != "DOWN":
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} still {state} {seconds} s after a queue attached")
        time.sleep(0.01)


def netns(name: str, *args: str) -> list[str]:
    """A command line that runs ``args`` in the named namespace (ip-netns-exec(8))."""
    return ["ip", "netns", "exec", name, *args]


# -- two independent views of the kernel, for checking configuration calls --------


def ip_link(name: str) -> dict[str, Any]:
    """ip(8)'s JSON view of one link."""
    (link,) = ip_json("-d", "link", "show", "dev", name)
    return dict(link)


def ip_addresses(name: str) -> set[str]:
    """ip(8)'s view of a link's addresses, as ``"address/prefix"`` strings."""
    (link,) = ip_json("addr", "show", "dev", name)
    return {f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])}


def pyroute2_link(name: str) -> Any:
    """pyroute2's RTM_NEWLINK message for one link (a test-only dependency)."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        (index,) = ipr.link_lookup(ifname=name)
        (link,) = ipr.link("get", index=index)
    return link


def pyroute2_addresses(name: str) -> dict[str, int]:
    """pyroute2's view of a link's addresses: ``"address/prefix"`` -> IFA flags."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        (index,) = ipr.link_lookup(ifname=name)
        messages = ipr.get_addr(index=index)
    result = {}
    for msg in messages:
        address = msg.get("IFA_LOCAL") or msg.get("IFA_ADDRESS")
        result[f"{address}/{msg['prefixlen']}"] = msg.get("IFA_FLAGS") or msg["flags"]
    return result


def rate_of(rate: str) -> tuple[str, ...]:
    """An htb class's rate, with no burst to speak of (one packet)."""
    return ("rate", rate, "burst", "1600", "cburst", "1600", "quantum", "1600")


def shape(tc: str, name: str, rate: str = "100mbit") -> None:
    """Make ``name`` send at ``rate`` with no burst to speak of (htb): what is handed
    to it waits in its queue meanwhile, still charged to the sender's buffer."""
    ip("link", "set", name, "txqueuelen", "20000", "up")
    for args in (
        ["qdisc", "replace", "dev", name, "root", "handle", "1:", "htb", "default", "1"],
        ["class", "add", "dev", name, "parent", "1:", "classid", "1:1", "htb", *rate_of(rate)],
    ):
        subprocess.run([tc, *args], check=True, capture_output=True, timeout=30)
