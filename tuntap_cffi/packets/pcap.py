"""``PcapWriter``: write packets to a classic pcap file that tcpdump, tshark and Wireshark read.

TUN packets are stored as LINKTYPE_RAW (the IP version nibble tells IPv4
from IPv6); TAP frames as LINKTYPE_ETHERNET. Timestamps are microseconds or,
with ``nanoseconds=True``, nanoseconds (the pcap magic number says which).
"""

from __future__ import annotations

import builtins
import os
import struct
import time
from types import TracebackType
from typing import BinaryIO, Union

from .packet import Body, DevKind, Packet, as_kind

__all__ = ["LINKTYPE_ETHERNET", "LINKTYPE_RAW", "PcapWriter"]

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
MAGIC_MICROSECONDS = 0xA1B2C3D4
MAGIC_NANOSECONDS = 0xA1B23C4D
MAX_SNAPLEN = 262144  # what libpcap itself accepts

_FILE_HEADER = struct.Struct("<IHHiIII")
_RECORD_HEADER = struct.Struct("<IIII")

PathOrFile = Union[str, "os.PathLike[str]", BinaryIO]


class PcapWriter:
    """Write packets to a pcap file; a context manager.

    Args:
        path_or_file: a path (created or truncated) or a binary file opened
            for writing (left open on close; only flushed).
        kind: the device kind the packets come from (sets the link type).
        nanoseconds: store nanosecond instead of microsecond timestamps.
        snaplen: the longest stored packet; longer ones are cut, and their
            original length is recorded.
    """

    def __init__(
        self,
        path_or_file: PathOrFile,
        kind: DevKind,
        *,
        nanoseconds: bool = False,
        snaplen: int = 65535,
    ) -> None:
        self._kind = as_kind(kind)
        if isinstance(snaplen, bool) or not isinstance(snaplen, int):
            raise TypeError(f"snaplen must be an int, not {type(snaplen).__name__}")
        if not 0 < snaplen <= MAX_SNAPLEN:
            raise ValueError(f"snaplen must be 1..{MAX_SNAPLEN}, not {snaplen}")
        self._snaplen = snaplen
        self._nanoseconds = bool(nanoseconds)
        self._scale = 1 if self._nanoseconds else 1000
        if isinstance(path_or_file, (str, os.PathLike)):
            self._file: BinaryIO = builtins.open(path_or_file, "wb")  # noqa: SIM115 - closed by close()
            self._owns_file = True
        elif hasattr(path_or_file, "write"):
            self._file = path_or_file
            self._owns_file = False
        else:
            raise TypeError(
                f"PcapWriter needs a path or a binary file, not {type(path_or_file).__name__}"
            )
        self._closed = False
        self.count = 0
        linktype = LINKTYPE_RAW if self._kind == DevKind.TUN else LINKTYPE_ETHERNET
        magic = MAGIC_NANOSECONDS if self._nanoseconds else MAGIC_MICROSECONDS
        self._file.write(_FILE_HEADER.pack(magic, 2, 4, 0, 0, snaplen, linktype))

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._closed

    def write(self, packet: Packet | Body, timestamp: float | None = None) -> None:
        """Append one packet, stamped ``timestamp`` (seconds since the epoch; default now)."""
        if self._closed:
            raise ValueError("write to a closed PcapWriter")
        body = packet.body if isinstance(packet, Packet) else packet
        if not isinstance(body, (bytes, bytearray, memoryview)):
            raise TypeError(f"PcapWriter.write takes a Packet or bytes, not {type(body).__name__}")
        if timestamp is None:
            stamp_ns = time.time_ns()
        elif isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)):
            raise TypeError(f"timestamp must be seconds as a number, not {timestamp!r}")
        elif not 0 <= timestamp < 2**32:
            raise ValueError(f"timestamp {timestamp!r} does not fit a pcap record")
        else:
            stamp_ns = round(timestamp * 1_000_000_000)
        seconds, fraction = divmod(stamp_ns, 1_000_000_000)
        size = len(body)
        kept = min(size, self._snaplen)
        self._file.write(
            _RECORD_HEADER.pack(seconds & 0xFFFFFFFF, fraction // self._scale, kept, size)
        )
        self._file.write(body[:kept] if kept < size else body)
        self.count += 1

    def flush(self) -> None:
        """Push buffered records to the file."""
        self._file.flush()

    def close(self) -> None:
        """Flush, and close the file if this writer opened it. Closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        if self._owns_file:
            self._file.close()
        else:
            self._file.flush()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
