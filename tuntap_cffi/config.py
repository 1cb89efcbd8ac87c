"""The configuration names under their first module's name (import them from their own).

The configuration methods live in :class:`~tuntap_cffi.Link` (``link.py``);
the rtnetlink socket is :class:`~tuntap_cffi.netlink.Netlink`.
"""

from __future__ import annotations

from .addresses import format_mac, parse_address, parse_mac
from .link import IPV6_MIN_MTU, MAX_MTU, MIN_MTU
from .netlink import Netlink

__all__ = [
    "IPV6_MIN_MTU",
    "MAX_MTU",
    "MIN_MTU",
    "Netlink",
    "format_mac",
    "parse_address",
    "parse_mac",
]
