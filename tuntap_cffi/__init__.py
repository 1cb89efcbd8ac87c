"""tuntap-cffi: Linux TUN/TAP interfaces for Python, with a compiled cffi core.

>>> import tuntap_cffi as tuntap
>>> with tuntap.open("tun%d", tuntap.DevKind.TUN) as iface:   # doctest: +SKIP
...     pkt = iface.read_packet(timeout=1.0)
"""

import importlib as _importlib
import logging as _logging
import os as _os

try:  # the compiled core, first: its absence deserves a clearer error than a deep import's
    _importlib.import_module(f"{__name__}._native")
except ModuleNotFoundError as _missing:
    if _missing.name != f"{__name__}._native":
        raise
    _package = _os.path.dirname(_os.path.abspath(__file__))
    _tree = _os.path.dirname(_package)
    if _os.path.exists(_os.path.join(_tree, "build_ffi.py")):
        # `python -m tuntap_cffi` or a script run from a clone puts the clone first
        # on sys.path, and its package (never compiled there) shadows the installed one.
        _advice = (
            f"tuntap_cffi is imported from the source tree at {_tree}, which has no "
            "compiled _native module: run the installed `tuntap-cffi` command or import "
            "from another folder, or build in place with `pip install -e .`"
        )
    else:
        _advice = (
            f"tuntap_cffi at {_package} has no compiled _native module: "
            "reinstall it (`pip install --force-reinstall tuntap-cffi`)"
        )
    raise ImportError(_advice, name=_missing.name, path=_package) from _missing

from . import netns
from .aio import AsyncInterface
from .device.adopt import from_fd
from .device.handoff import receive_interface, send_interface
from .device.interface import Interface
from .device.opening import open, open_queues  # noqa: A004 - the seed's Open
from .device.pair import PairEnd, pair
from .errors import (
    BatchWriteError,
    BatchWriteStopped,
    DeviceBusyError,
    DeviceMismatchError,
    ErrJumboPacket,
    ErrNotIPPacket,
    ErrShortRead,
    ErrTruncatedPacket,
    InterfaceClosedError,
    JumboPacketError,
    NamespaceRestoreError,
    NoDeviceError,
    NotIPPacketError,
    ShortReadError,
    ShortWriteError,
    TruncatedPacketError,
    TunTapError,
)
from .link.addresses import IPv4PeerInterface, IPv6PeerInterface
from .link.events import EventKind, LinkEvent, LinkEvents
from .link.link import Link
from .link.routes import Route
from .link.stats import LinkStats
from .packets.batch import PacketBatch
from .packets.offload import Offload
from .packets.packet import ETH_P_IP, ETH_P_IPV6, DevKind, DevTap, DevTun, Packet, parse_packet
from .packets.pcap import PcapWriter
from .udp import udp_recv_batch, udp_send_batch

# What a user debugging a deployment wants to see (an offload or UDP_SEGMENT the
# kernel refused and the fallback taken, a resync after lost link events) goes
# to the "tuntap_cffi" logger, silent unless the application configures logging.
_logging.getLogger(__name__).addHandler(_logging.NullHandler())

del _importlib, _logging, _os

__version__ = "0.1.0"

__all__ = [
    "ETH_P_IP",
    "ETH_P_IPV6",
    "AsyncInterface",
    "BatchWriteError",
    "BatchWriteStopped",
    "DevKind",
    "DevTap",
    "DevTun",
    "DeviceBusyError",
    "DeviceMismatchError",
    "ErrJumboPacket",
    "ErrNotIPPacket",
    "ErrShortRead",
    "ErrTruncatedPacket",
    "EventKind",
    "IPv4PeerInterface",
    "IPv6PeerInterface",
    "Interface",
    "InterfaceClosedError",
    "JumboPacketError",
    "Link",
    "LinkEvent",
    "LinkEvents",
    "LinkStats",
    "NamespaceRestoreError",
    "NoDeviceError",
    "NotIPPacketError",
    "Offload",
    "Packet",
    "PacketBatch",
    "PairEnd",
    "PcapWriter",
    "Route",
    "ShortReadError",
    "ShortWriteError",
    "TruncatedPacketError",
    "TunTapError",
    "__version__",
    "from_fd",
    "netns",
    "open",
    "open_queues",
    "pair",
    "parse_packet",
    "receive_interface",
    "send_interface",
    "udp_recv_batch",
    "udp_send_batch",
]
