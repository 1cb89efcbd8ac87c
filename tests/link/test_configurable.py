"""The configuration façade: every configuration call of a ``Link`` is reachable, with
the same signature, on an ``Interface`` and on an ``AsyncInterface``, as attributes of
the class (what ``mypy`` sees), not found at run time by a ``__getattr__``."""

from __future__ import annotations

import inspect
import sys
from typing import Any

import pytest
from helpers.ip import ip_addresses, ip_link

from tuntap_cffi import AsyncInterface, DevKind, Interface, Link

# Public attributes of Link that the hosts do not delegate, and why. A new public
# Link attribute is either delegated (link/configurable.py) or listed here.
NOT_DELEGATED = {
    "name": "each host's own: an Interface asks its fd (TUNGETIFF) for the name",
    "kind": "each host's own (never None on an Interface)",
    "closed": "each host's own: whether the Interface is closed",
    "close": "each host's own: closing an Interface closes the device, not just its Link",
    "events": "reached as iface.link.events(); AsyncInterface.events() is awaited",
    "netlink": "the Link's socket itself, internal: reached as iface.link.netlink",
    "of_device": "the constructor an Interface makes its own Link with",
}

# What an AsyncInterface has of its Interface besides the configuration calls
# (and besides the packet calls, which it awaits): the same, synchronous.
ASYNC_SHARES = [
    "name",
    "kind",
    "closed",
    "link",
    "offload",
    "write_limit",
    "multi_queue",
    "fileno",
    "using_fd",
    "set_persist",
    "attach_queue",
    "detach_queue",
]

HOSTS = [Interface, AsyncInterface]


def _signature(function: Any) -> inspect.Signature:
    """The signature with its annotations evaluated where Python can (3.10+); on
    3.9 as written (both sides write them alike, under ``from __future__ import
    annotations``)."""
    if sys.version_info >= (3, 10):
        return inspect.signature(function, eval_str=True)
    return inspect.signature(function)


def public_names(cls: type) -> list[str]:
    """Every public attribute of ``cls``, its bases' included (``object`` has none)."""
    return sorted(name for name in dir(cls) if not name.startswith("_"))


def shape(cls: type, name: str) -> tuple[str, inspect.Signature, bool]:
    """What ``cls.name`` is, as the class itself holds it (no ``__getattr__``): a
    method or a property, its signature with the annotations resolved, and
    whether it can be assigned."""
    attribute: Any = inspect.getattr_static(cls, name)
    if isinstance(attribute, property):
        assert attribute.fget is not None, f"{cls.__name__}.{name}"
        return "property", _signature(attribute.fget), bool(attribute.fset)
    assert inspect.isfunction(attribute), f"{cls.__name__}.{name} is {attribute!r}"
    return "method", _signature(attribute), False


def test_the_exceptions_are_links_own() -> None:
    """Every name listed as not delegated is a public attribute of Link (none stale)."""
    assert set(NOT_DELEGATED) <= set(public_names(Link))


@pytest.mark.parametrize("host", HOSTS, ids=lambda host: host.__name__)
def test_every_configuration_call_of_link_is_on_the_host(host: type) -> None:
    """A Link call that is not delegated (nor listed above) fails here, by name."""
    missing, different = [], []
    for name in public_names(Link):
        if name in NOT_DELEGATED:
            continue
        try:
            got = shape(host, name)
        except AttributeError:
            missing.append(name)
            continue
        if got != shape(Link, name):
            different.append(f"{name}: {got} on {host.__name__}, {shape(Link, name)} on Link")
    assert not missing, f"Link calls missing on {host.__name__}: {missing}"
    assert not different, "\n".join(different)


def test_async_interface_has_its_attributes_statically() -> None:
    """No ``__getattr__``: what an AsyncInterface shares with its Interface is
    declared, with the Interface's signature, so mypy sees (and checks) each."""
    assert not hasattr(AsyncInterface, "__getattr__")
    for name in ASYNC_SHARES:
        assert shape(AsyncInterface, name) == shape(Interface, name), name


@pytest.mark.privileged
def test_the_async_configuration_calls_configure_the_device() -> None:
    """Through an AsyncInterface, synchronously: the calls reach the device (seen by
    ip(8)) and the Interface's write limit follows the MTU."""
    aif = AsyncInterface.open("cfg%d", DevKind.TUN)
    try:
        assert aif.link is aif.interface.link
        aif.set_ipv6(False)
        aif.set_mtu(9000)
        assert aif.mtu == 9000 == ip_link(aif.name)["mtu"]
        assert aif.write_limit == aif.interface.write_limit == 9000
        aif.add_address("192.0.2.1/24")
        assert "192.0.2.1/24" in ip_addresses(aif.name)
        assert [str(a) for a in aif.addresses()] == ["192.0.2.1/24"]
        aif.up()
        assert aif.is_up and "UP" in ip_link(aif.name)["flags"]
        assert aif.ifindex == ip_link(aif.name)["ifindex"]
        aif.add_route("198.51.100.0/24", "192.0.2.2")
        assert any(str(r.destination) == "198.51.100.0/24" for r in aif.routes())
        assert aif.stats.tx_packets >= 0
        with pytest.raises(ValueError, match="TUN device has no hardware address"):
            aif.hwaddr  # noqa: B018
        aif.down()
        assert not aif.is_up
    finally:
        aif.close()
    assert aif.closed
