"""``ConfControls``: a device's IPv4 and IPv6 switches, written under
``/proc/sys/net/ipv{4,6}/conf/<name>/`` in the device's namespace (a
:class:`~tuntap_cffi.Link`'s)."""

from __future__ import annotations

from .addresses import check_flag
from .channel import Channel

__all__ = ["ConfControls"]


class ConfControls:
    """The ``conf`` switches of the device whose channel is ``self._channel``."""

    _channel: Channel

    def _write_conf(self, family: str, key: str, value: bool, operation: str) -> None:
        self._channel.lifetime.check_open(operation)
        self._channel.write_conf(family, key, check_flag(value, operation), operation)

    def set_ipv4_forwarding(self, enabled: bool) -> None:
        """Enable or disable IPv4 forwarding on the device (``ipv4/conf/<name>/forwarding``)."""
        self._write_conf("ipv4", "forwarding", enabled, "set_ipv4_forwarding")

    def set_ipv6(self, enabled: bool) -> None:
        """Enable or disable IPv6 on the device (``disable_ipv6``, inverted). Go: IPv6."""
        self._write_conf("ipv6", "disable_ipv6", not check_flag(enabled, "set_ipv6"), "set_ipv6")

    def set_ipv6_forwarding(self, enabled: bool) -> None:
        """Enable or disable IPv6 forwarding on the device. Go: IPv6Forwarding."""
        self._write_conf("ipv6", "forwarding", enabled, "set_ipv6_forwarding")

    def set_ipv6_slaac(self, enabled: bool) -> None:
        """Enable or disable stateless address autoconfiguration. Go: IPv6SLAAC."""
        self._write_conf("ipv6", "autoconf", enabled, "set_ipv6_slaac")
