"""tuntap-cffi: Linux TUN/TAP interfaces for Python, with a compiled cffi core.

>>> import tuntap_cffi as tuntap
>>> with tuntap.open("tun%d", tuntap.DevKind.TUN) as iface:   # doctest: +SKIP
...     pkt = iface.read_packet(timeout=1.0)
"""

from . import netns
from .aio import AsyncInterface
from .batch import PacketBatch
from .errors import (
    DeviceBusyError,
    DeviceMismatchError,
    ErrJumboPacket,
    ErrNotIPPacket,
    ErrShortRead,
    ErrTruncatedPacket,
    InterfaceClosedError,
    JumboPacketError,
    NamespaceRestoreError,
    NotIPPacketError,
    ShortReadError,
    ShortWriteError,
    TruncatedPacketError,
    TunTapError,
)
from .interface import Interface, open, open_queues  # noqa: A004 - the seed's Open
from .link import Link
from .offload import Offload
from .packet import ETH_P_IP, ETH_P_IPV6, DevKind, DevTap, DevTun, Packet, parse_packet
from .pcap import PcapWriter

__version__ = "0.1.0"

__all__ = [
    "ETH_P_IP",
    "ETH_P_IPV6",
    "AsyncInterface",
    "DevKind",
    "DevTap",
    "DevTun",
    "DeviceBusyError",
    "DeviceMismatchError",
    "ErrJumboPacket",
    "ErrNotIPPacket",
    "ErrShortRead",
    "ErrTruncatedPacket",
    "Interface",
    "InterfaceClosedError",
    "JumboPacketError",
    "Link",
    "NamespaceRestoreError",
    "NotIPPacketError",
    "Offload",
    "Packet",
    "PacketBatch",
    "PcapWriter",
    "ShortReadError",
    "ShortWriteError",
    "TruncatedPacketError",
    "TunTapError",
    "__version__",
    "netns",
    "open",
    "open_queues",
    "parse_packet",
]
