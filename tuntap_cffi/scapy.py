"""``TunTapSocket``: a scapy ``SuperSocket`` on an Interface, a queue or a pair end.

scapy builds, sends and dissects packets; this socket moves them through a
device this library opened and configured (or one end of
:func:`tuntap_cffi.pair`), so ``send``, ``sniff``, ``sr``, ``sr1`` and
``select`` work on it as on scapy's own sockets. An optional extra
(``pip install tuntap-cffi[scapy]``): only this module imports scapy, and
``import tuntap_cffi`` never does.
"""

from __future__ import annotations

import errno
import time

try:
    from scapy.config import conf
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether
    from scapy.packet import Packet as ScapyPacket
    from scapy.supersocket import SuperSocket
except ModuleNotFoundError as missing:
    if missing.name is None or missing.name.split(".")[0] != "scapy":
        raise
    raise ImportError(
        "tuntap_cffi.scapy needs scapy: pip install tuntap-cffi[scapy]", name=missing.name
    ) from missing

from .device.interface import Interface
from .errors import InterfaceClosedError, os_error
from .packets.batch import PacketBatch
from .packets.packet import DevKind

__all__ = ["TunTapSocket"]

_BY_VERSION: dict[int, type[ScapyPacket]] = {4: IP, 6: IPv6}


class TunTapSocket(SuperSocket):
    """A scapy socket on ``iface``: an :class:`~tuntap_cffi.Interface` (from
    ``open``, one queue of ``open_queues``, or an end of ``pair``).

    ``send`` writes ``bytes(pkt)`` with ``write_packet`` (so the device's
    write rules apply: ``NotIPPacketError`` for an Ethernet frame sent to a
    TUN); ``recv`` returns the next packet as ``IP`` or ``IPv6`` (by its
    version) from a TUN and as ``Ether`` from a TAP, with ``.time`` the
    moment it was read; what the device's read rules would refuse is
    dissected as far as it goes (``Raw`` when it is not IP), so a sniff never
    stops at a malformed packet. ``recv`` waits for a packet; after the other
    end of a pair closed, or the interface did, it raises ``EOFError``, which
    ends a ``sniff``. Closing the socket leaves the interface open.

    Raises:
        TypeError: ``iface`` is not an Interface.
        InterfaceClosedError: ``iface`` is closed.
    """

    desc = "a TUN/TAP interface opened by tuntap-cffi"

    def __init__(self, iface: Interface) -> None:
        if not isinstance(iface, Interface):
            raise TypeError(
                f"TunTapSocket takes an Interface (from tuntap.open, open_queues or pair), "
                f"not {type(iface).__name__}"
            )
        iface.fileno()  # InterfaceClosedError when it is closed
        self._interface = iface
        self._batch = PacketBatch(1)
        self.iface = iface.name
        self.closed = False

    @property
    def interface(self) -> Interface:
        """The interface the socket moves packets through (left open by :meth:`close`)."""
        return self._interface

    def _check_open(self, operation: str) -> None:
        if self.closed:
            raise os_error(
                errno.EBADF, operation, self._interface.name, hint="the TunTapSocket is closed"
            )

    def send(self, x: ScapyPacket | bytes) -> int:
        """Write ``bytes(x)`` to the interface (waiting for room); the bytes written."""
        self._check_open("send")
        if not isinstance(x, (ScapyPacket, bytes, bytearray, memoryview)):
            raise TypeError(f"send takes a scapy packet or bytes, not {type(x).__name__}")
        data = bytes(x)
        if isinstance(x, ScapyPacket):
            x.sent_time = time.time()
        self._interface.write_packet(data)
        return len(data)

    def recv_raw(self, x: int = 0) -> tuple[type[ScapyPacket] | None, bytes | None, float | None]:
        """(class, bytes, arrival time) of the next packet, waiting for one.

        ``x`` (scapy's read size) is not used: a whole packet is always read.
        """
        self._check_open("recv")
        try:
            self._interface.read_batch(self._batch)
        except (BrokenPipeError, InterfaceClosedError) as exc:
            raise EOFError(str(exc)) from exc
        arrived = time.time()
        data = bytes(self._batch[0])
        if self._interface.kind == DevKind.TAP:
            return Ether, data, arrived
        version = data[0] >> 4 if data else 0
        return _BY_VERSION.get(version, conf.raw_layer), data, arrived

    def fileno(self) -> int:
        """The interface's fd, for ``select`` (-1 once closed, as a closed socket's)."""
        if self.closed:
            return -1
        return self._interface.fileno()

    def close(self) -> None:
        """Stop using the interface; the interface itself stays open."""
        self.closed = True

    def __repr__(self) -> str:
        state = " closed" if self.closed else ""
        return f"<TunTapSocket {self._interface!r}{state}>"
