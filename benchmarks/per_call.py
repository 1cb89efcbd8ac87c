"""Benchmark: what one read or write costs, call for call, with no waiting in it.

    python benchmarks/per_call.py               # about 20 s; needs root and the
                                                # library installed (or on PYTHONPATH)
    python benchmarks/per_call.py --rounds 3    # fewer rounds, rougher figures

bench.py measures packets per CPU-second with a sender on the other side, so
its reads include the sleeps and wake-ups of a queue that runs dry, and its
figures move by 10 % or more between runs on a shared machine. This one
takes those out: every read finds a packet already queued (the device's
queue is filled first, by datagrams routed into it), and every write goes
to a device whose kernel drops the packet on input (a wrong IPv4 header
checksum), so each figure is the cost of the call itself: the system call
plus what Python, cffi or the C extension adds. Rows: ``os.read``/``os.write``
on the device's fd, python-pytun (when installed for this interpreter), the
bare cffi calls (``lib.tt_queue_recv_next``, ``lib.tt_queue_send_now``), the
bytes path (``Interface.read``/``write``) and the python-pytun drop-in.

The process moves itself into a network namespace of its own first
(``unshare(CLONE_NEWNET)``); its devices and addresses (192.0.2.0/24) exist
only there, and go with it. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

CLONE_NEWNET = 0x40000000
# An IPv4/UDP packet 192.0.2.2 -> 192.0.2.1 whose header checksum (0x1234) is wrong:
# the kernel drops it on input, after the write has done all its work.
DROPPED = bytes.fromhex("4500002e0000000040111234c0000202c0000201") + bytes(26)
READ_SIZE = 65536


def enter_own_netns() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        sys.exit(f"unshare(CLONE_NEWNET): {os.strerror(ctypes.get_errno())} (run as root)")


def configure(name: str, index: int) -> str:
    """Give TUN ``name`` the ``index``-th /28 of 192.0.2.0/24, a long queue, and
    bring it up; the address a datagram is sent to for it to arrive on the TUN."""
    base = 16 * index
    subprocess.run(["ip", "addr", "add", f"192.0.2.{base + 1}/28", "dev", name], check=True)
    subprocess.run(["ip", "link", "set", name, "up", "txqueuelen", "100000"], check=True)
    return f"192.0.2.{base + 2}"


def timed(call: Callable[..., object], args: tuple[object, ...], count: int) -> float:
    """ns per call of ``call(*args)``, over ``count`` calls, made as a program
    makes them (arguments spelled out: a C function given ``*args`` would get
    its argument tuple for free)."""
    start = time.perf_counter()
    if len(args) == 1:
        (a,) = args
        for _ in range(count):
            call(a)
    elif len(args) == 2:
        a, b = args
        for _ in range(count):
            call(a, b)
    else:
        a, b, c = args
        for _ in range(count):
            call(a, b, c)
    return (time.perf_counter() - start) / count * 1e9


def row_table(title: str, results: dict[str, list[float]], ref: str | None) -> list[str]:
    lines = [
        f"### {title}",
        "",
        f"| call | ns per call, min | median | vs {ref or '-'} (min) |",
        "|---|---:|---:|---:|",
    ]
    for name, times in results.items():
        ratio = f"{min(results[ref]) / min(times):.2f}x" if ref else "-"
        lines.append(f"| {name} | {min(times):,.0f} | {statistics.median(times):,.0f} | {ratio} |")
    return [*lines, ""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="rounds per row (default 7)")
    parser.add_argument("--calls", type=int, default=50_000, help="calls per round")
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= 100 or not 1_000 <= args.calls <= 1_000_000:
        parser.error("--rounds 1..100, --calls 1,000..1,000,000")
    if os.geteuid() != 0:
        parser.error("needs root (a network namespace and TUN devices of its own)")
    enter_own_netns()

    import tuntap_cffi as tuntap
    from tuntap_cffi import pytun as drop_in
    from tuntap_cffi._native import lib

    try:
        import pytun  # type: ignore[import-not-found]
    except ImportError:
        pytun = None

    flags = drop_in.IFF_TUN | drop_in.IFF_NO_PI
    iface = tuntap.open("pc%d")
    device = drop_in.TunTapDevice(name="pcdrop%d", flags=flags)
    peer = pytun.TunTapDevice(name="pcpytun%d", flags=flags) if pytun else None
    fd, q = iface.fileno(), iface._q  # the struct, for the bare calls only

    # Reads: (name, device name, call, its arguments).
    size = (READ_SIZE,)
    readers: list[tuple[str, str, Callable[..., object], tuple[object, ...]]] = [
        ("os.read", iface.name, os.read, (fd, READ_SIZE)),
        ("lib.tt_queue_recv_next (bare cffi call)", iface.name, lib.tt_queue_recv_next, (q,)),
        ("Interface.read()", iface.name, iface.read, size),
        ("tuntap_cffi.pytun TunTapDevice.read", device.name, device.read, size),
    ]
    if peer is not None:
        readers.insert(1, ("python-pytun read", peer.name, peer.read, size))
    devices = sorted({r[1] for r in readers})
    sinks = {name: configure(name, i) for i, name in enumerate(devices)}
    iface.scratch()  # the scratch the bare call reads into (read() makes it at its first call)

    packet = (DROPPED,)
    writers: list[tuple[str, Callable[..., object], tuple[object, ...]]] = [
        ("os.write", os.write, (fd, DROPPED)),
        ("lib.tt_queue_send_now (bare cffi call)", lib.tt_queue_send_now, (q, DROPPED, 46)),
        ("Interface.write()", iface.write, packet),
        ("tuntap_cffi.pytun TunTapDevice.write", device.write, packet),
    ]
    if peer is not None:
        writers.insert(1, ("python-pytun write", peer.write, packet))

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 24)
    reads: dict[str, list[float]] = {name: [] for name, *_ in readers}
    writes: dict[str, list[float]] = {name: [] for name, *_ in writers}
    for _ in range(args.rounds):
        for name, dev, call, arg in readers:
            for _ in range(args.calls):  # queued first: no read waits
                sock.sendto(b"per-call", (sinks[dev], 9))
            reads[name].append(timed(call, arg, args.calls))
        for name, call, arg in writers:
            writes[name].append(timed(call, arg, args.calls))
    sock.close()
    iface.close()
    device.close()
    if peer is not None:
        peer.close()

    ref_read = "python-pytun read" if peer is not None else "os.read"
    ref_write = "python-pytun write" if peer is not None else "os.write"
    lines = [
        f"Per call: {time.strftime('%Y-%m-%dT%H:%M%z')}, {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs; "
        f"{args.rounds} rounds of {args.calls:,} calls per row",
        "",
        *row_table("Reads of a queued 36-byte packet", reads, ref_read),
        *row_table("Writes of a 46-byte packet the kernel drops", writes, ref_write),
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
