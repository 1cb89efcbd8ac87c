"""What the bytes calls of :class:`~.queue.Queue` (``read``, ``readinto``, ``write``)
share with the python-pytun drop-in: a read's size, the cut of a packet read whole
and the exception of bytes the write rules refused.

A queue whose fd puts headers before every packet (packet information, a
virtio-net header: only ``tuntap_cffi.pytun`` opens one) reads and writes
them as they are; these helpers say how long they are and mark a packet the
kernel would have cut.
"""

from __future__ import annotations

import errno
import operator
import sys
from typing import SupportsIndex, cast

from .. import _lowlevel
from ..errors import JumboPacketError, NotIPPacketError, TruncatedPacketError
from ..packets.packet import ETH_HEADER_LEN, DevKind, Packet

__all__ = ["READ_SIZE", "check_size", "cut", "frame_len", "refusal"]

# What read() asks for unless told: room for any IP packet.
READ_SIZE = 65536


def frame_len(framing: int) -> int:
    """How many bytes of headers a queue of ``framing`` has before each packet."""
    return (_lowlevel.PI_LEN if framing & _lowlevel.FRAME_PI else 0) + (
        _lowlevel.VNET_HDR_LEN if framing & _lowlevel.FRAME_VNET else 0
    )


def check_size(size: object) -> int:
    """read()'s size: an int >= 0 (or any integer type's value, as ``os.read`` takes)."""
    try:
        value = operator.index(cast(SupportsIndex, size))
    except TypeError:
        raise TypeError(f"read size must be an int, not {type(size).__name__}") from None
    if value < 0:
        raise ValueError(f"read size must be >= 0, not {value}")
    return value


def cut(data: bytes, size: int, framing: int) -> bytes | None:
    """What a read of ``size`` bytes gives of a packet read whole: the bytes the
    kernel would have put in ``size`` bytes; None where it would have refused
    (room for less than the headers of a framed queue: EINVAL)."""
    if len(data) <= size:
        return data
    if size < frame_len(framing):
        return None  # the kernel drops the packet too
    if framing & _lowlevel.FRAME_PI:
        # The packet information says the kernel cut the packet (TUN_PKT_STRIP,
        # in its flags' host byte order).
        flags = int.from_bytes(data[:2], sys.byteorder) | _lowlevel.PI_STRIP
        return flags.to_bytes(2, sys.byteorder) + data[2:size]
    return data[:size]


def refusal(
    err: int, refused: int, framing: int, body: bytes | memoryview, limit: int, name: str
) -> Exception:
    """The exception for bytes the write rules refused (``refused``: the queue's
    TT_PKT_* verdict of them); ``err`` -EMSGSIZE or -EINVAL."""
    size = len(body)
    if err == -errno.EMSGSIZE:
        return JumboPacketError(
            f"jumbo packet too large for /dev/tun: {size} bytes > {limit} ({name})"
        )
    if refused == _lowlevel.PKT_NOT_IP:
        return NotIPPacketError()
    head = frame_len(framing)
    if size < head:
        return TruncatedPacketError(
            f"write on {name}: {size} bytes, shorter than the {head} bytes of "
            "headers each packet carries on this queue"
        )
    return TruncatedPacketError(
        f"Ethernet frame is truncated: {size - head} bytes < {ETH_HEADER_LEN}",
        Packet(bytes(body[head:]), 0, DevKind.TAP),
    )
