"""``LinkStats``: a device's counters, as the kernel keeps them (IFLA_STATS64).

``Link.stats`` asks with one ``RTM_GETLINK`` (the requests that only read the
link's settings leave the counters out); the C shim copies ``struct
rtnl_link_stats64`` field for field, bounds-checked: an older kernel's
shorter struct leaves the missing counters 0, a newer one's extra fields
are not kept.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .channel import Channel

__all__ = ["LinkStats", "link_stats"]


@dataclasses.dataclass(frozen=True)
class LinkStats:
    """A device's counters (``struct rtnl_link_stats64``), read at one moment.

    For a TUN/TAP device, *rx* is what the kernel received from the fd (the
    packets this process wrote) and *tx* what it sent towards the fd and the
    reader took (counted as they are read); ``tx_dropped`` counts the packets
    that found the queue full (``txqueuelen`` of them wait for a reader).
    """

    __slots__ = (
        "collisions",
        "multicast",
        "rx_bytes",
        "rx_compressed",
        "rx_crc_errors",
        "rx_dropped",
        "rx_errors",
        "rx_fifo_errors",
        "rx_frame_errors",
        "rx_length_errors",
        "rx_missed_errors",
        "rx_nohandler",
        "rx_otherhost_dropped",
        "rx_over_errors",
        "rx_packets",
        "tx_aborted_errors",
        "tx_bytes",
        "tx_carrier_errors",
        "tx_compressed",
        "tx_dropped",
        "tx_errors",
        "tx_fifo_errors",
        "tx_heartbeat_errors",
        "tx_packets",
        "tx_window_errors",
    )

    rx_packets: int
    tx_packets: int
    rx_bytes: int
    tx_bytes: int
    rx_errors: int
    tx_errors: int
    rx_dropped: int
    tx_dropped: int
    multicast: int
    collisions: int
    rx_length_errors: int
    rx_over_errors: int
    rx_crc_errors: int
    rx_frame_errors: int
    rx_fifo_errors: int
    rx_missed_errors: int
    tx_aborted_errors: int
    tx_carrier_errors: int
    tx_fifo_errors: int
    tx_heartbeat_errors: int
    tx_window_errors: int
    rx_compressed: int
    tx_compressed: int
    rx_nohandler: int
    rx_otherhost_dropped: int

    def __reduce__(self) -> tuple[Any, ...]:
        # Frozen and slotted: pickle must call __init__ rather than set the slots.
        return type(self), dataclasses.astuple(self)


def link_stats(channel: Channel) -> LinkStats:
    """The device's counters now (``Link.stats``)."""
    operation = "stats"
    channel.lifetime.check_open(operation)
    counters = channel.request(operation, lambda nl, index: nl.link_stats(index, operation))
    return LinkStats(**counters)
