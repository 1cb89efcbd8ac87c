"""``tuntap.pair()`` and its ends against bad inputs: the exception type and its
message, nothing written or lost, and no fd left behind. Unprivileged."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Callable

import pytest
from helpers.processes import open_fds

import tuntap_cffi as tuntap
from tuntap_cffi import DevKind, PacketBatch

IPV4 = bytes([0x45, 0, 0, 20]) + bytes(16)


@dataclass
class Ends:
    a: tuntap.PairEnd
    b: tuntap.PairEnd
    closed: tuntap.PairEnd
    tap_batch: PacketBatch  # read from a TAP pair


@pytest.fixture
def ends() -> Iterator[Ends]:
    closed, other = tuntap.pair()
    closed.close()
    c, d = tuntap.pair(DevKind.TAP)
    with other, c, d:
        c.write_packet(bytes(14))
        tap_batch = PacketBatch(2)
        assert d.read_batch(tap_batch, timeout=1) == 1
        a, b = tuntap.pair()
        with a, b:
            yield Ends(a, b, closed, tap_batch)


Call = Callable[[Ends], Any]
ROWS: list[tuple[str, Call, type[BaseException], str]] = [
    ("pair: kind a str", lambda e: tuntap.pair("tun"), ValueError, "kind must be"),
    ("pair: kind 2", lambda e: tuntap.pair(2), ValueError, "kind must be"),
    ("pair: kind None", lambda e: tuntap.pair(None), ValueError, "kind must be"),
    ("pair: mtu too small", lambda e: tuntap.pair(mtu=67), ValueError, "outside 68..65535"),
    ("pair: mtu too large", lambda e: tuntap.pair(mtu=65536), ValueError, "outside 68..65535"),
    (
        "pair: TAP mtu too large",
        lambda e: tuntap.pair(DevKind.TAP, mtu=65522),
        ValueError,
        "outside 68..65521 for a TAP",
    ),
    ("pair: mtu a str", lambda e: tuntap.pair(mtu="1500"), TypeError, "mtu must be an int"),
    ("pair: mtu a bool", lambda e: tuntap.pair(mtu=True), TypeError, "mtu must be an int"),
    ("pair: mtu a float", lambda e: tuntap.pair(mtu=1500.0), TypeError, "mtu must be an int"),
    ("pair: mtu None", lambda e: tuntap.pair(mtu=None), TypeError, "mtu must be an int"),
    ("pair: mtu positional", lambda e: tuntap.pair(DevKind.TUN, 1500), TypeError, "positional"),
    ("write_packet: a str", lambda e: e.a.write_packet("x"), TypeError, "bytes-like"),
    ("write_packet: an int", lambda e: e.a.write_packet(7), TypeError, "bytes-like"),
    ("write_packet: timeout -1", lambda e: e.a.write_packet(IPV4, timeout=-1), ValueError, ">= 0"),
    (
        "write_packet: timeout str",
        lambda e: e.a.write_packet(IPV4, timeout="1"),
        TypeError,
        "timeout",
    ),
    ("read_packet: read-only buffer", lambda e: e.a.read_packet(bytes(10)), TypeError, "writable"),
    ("read_packet: empty buffer", lambda e: e.a.read_packet(bytearray()), ValueError, "empty"),
    (
        "read_packet: timeout nan",
        lambda e: e.a.read_packet(timeout=float("nan")),
        ValueError,
        ">= 0",
    ),
    ("read_batch: not a batch", lambda e: e.a.read_batch([]), TypeError, "PacketBatch"),
    (
        "read_batch: segment without offloads",
        lambda e: e.a.read_batch(PacketBatch(2), segment=True),
        ValueError,
        "offload=True",
    ),
    (
        "read_batch: slots too small",
        lambda e: e.a.read_batch(PacketBatch(2, slot_size=1024)),
        ValueError,
        "slot_size 1024",
    ),
    ("read_packets: 0", lambda e: e.a.read_packets(0), ValueError, "between 1 and"),
    ("write_batch: an int in the list", lambda e: e.a.write_batch([IPV4, 7]), TypeError, "item 1"),
    ("write_batch: not iterable", lambda e: e.a.write_batch(7), TypeError, "iterable"),
    (
        "write_batch: coalesce",
        lambda e: e.a.write_batch([IPV4], coalesce=True),
        ValueError,
        "offload=True",
    ),
    ("write_batch: bad start", lambda e: e.a.write_batch([IPV4], start=2), ValueError, "start"),
    (
        "write_batch: a TAP batch to a TUN end",
        lambda e: e.a.write_batch(e.tap_batch),
        ValueError,
        "TAP device cannot be written to a TUN",
    ),
    (
        "closed: read_packet",
        lambda e: e.closed.read_packet(),
        tuntap.InterfaceClosedError,
        "closed",
    ),
    (
        "closed: write_packet",
        lambda e: e.closed.write_packet(IPV4),
        tuntap.InterfaceClosedError,
        "closed",
    ),
    (
        "closed: read_batch",
        lambda e: e.closed.read_batch(PacketBatch(2)),
        tuntap.InterfaceClosedError,
        "closed",
    ),
    (
        "closed: write_batch",
        lambda e: e.closed.write_batch([IPV4]),
        tuntap.InterfaceClosedError,
        "closed",
    ),
    ("closed: fileno", lambda e: e.closed.fileno(), tuntap.InterfaceClosedError, "closed"),
    (
        "closed: AsyncInterface",
        lambda e: tuntap.AsyncInterface(e.closed).fileno(),
        tuntap.InterfaceClosedError,
        "closed",
    ),
    (
        "send_interface: a pair end has no device",
        lambda e: _send(e.a),
        TypeError,
        "end of tuntap.pair\\(\\), which has none",
    ),
]


def _send(end: tuntap.PairEnd) -> None:
    import socket

    ours, theirs = socket.socketpair()
    with ours, theirs:
        tuntap.send_interface(ours, end)


@pytest.mark.parametrize("name, call, exc, match", ROWS, ids=[row[0] for row in ROWS])
def test_bad_input(ends: Ends, name: str, call: Call, exc: type[BaseException], match: str) -> None:
    fds = open_fds()
    with pytest.raises(exc, match=match):
        call(ends)
    assert open_fds() == fds, f"{name}: an fd was left open"
    # Nothing was written to the other end, and it still works.
    with pytest.raises(TimeoutError):
        ends.b.read_packet(timeout=0)
    ends.a.write_packet(IPV4)
    assert bytes(ends.b.read_packet(timeout=1).body) == IPV4


OUT_OF_FDS = """
    import errno, os, resource
    import tuntap_cffi as tuntap

    def open_fds():  # probed one by one: listing /proc/self/fd would open one more
        found = []
        for fd in range(1024):
            try:
                os.fstat(fd)
            except OSError:
                continue
            found.append(fd)
        return found

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    before = open_fds()
    taken = set(before)
    for free in range(5):  # the pair needs 4 fds: 2 sockets, 2 eventfds
        limit, room = 0, 0
        while room < free or limit in taken:
            room += limit not in taken
            limit += 1
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
        try:
            a, b = tuntap.pair()
        except OSError as exc:
            result = errno.errorcode[exc.errno]
        else:
            a.close()
            b.close()
            result = "ok"
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        print(free, result, open_fds() == before, flush=True)
"""


def test_running_out_of_fds_part_way_leaves_none_behind() -> None:
    """With room for 0..3 fds the pair fails at each of its four fds in turn
    (EMFILE) and closes what it had opened; with room for 4 it works."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(OUT_OF_FDS)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "0 EMFILE True",
        "1 EMFILE True",
        "2 EMFILE True",
        "3 EMFILE True",
        "4 ok True",
    ]
