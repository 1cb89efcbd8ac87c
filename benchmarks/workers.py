"""The Python workers of bench.py: each runs in a process of its own, inside a
namespace the harness made, and prints its figures on one line.

    python benchmarks/workers.py read KIND IFNAME MAXSECONDS
    python benchmarks/workers.py write KIND IFNAME COUNT PACKET MARKER BAD WARMUP WARMSECONDS
    python benchmarks/workers.py relay KIND IFNAME_A IFNAME_B MAXSECONDS
    python benchmarks/workers.py relay-queues NS_A NS_B COUNT MAXSECONDS

Every reader and writer first runs its measuring loop, the same function, on
warm-up packets (so that PyPy's JIT has compiled it) before it starts the
clock; warm-up packets are never counted.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import resource
import select
import signal
import struct
import sys
import threading
import time
from typing import Callable

MARKER = 1  # a 29-byte IP packet (1-byte datagram) ends a run
MARKER_IP_LEN = 20 + 8 + MARKER
READ_SIZE = 65536  # every reader asks for (or has room for) this many bytes
TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
BARE_RECV = "lib.tt_queue_recv (bare cffi call)"
BARE_SEND = "lib.tt_queue_send (bare cffi call)"
CHUNK = 64  # packets per write_batch call
DROP_IN = "tuntap_cffi.pytun"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def attach_plain(name: str) -> int:
    """Open TUN ``name`` with the standard library only (for the os.read/os.write rows)."""
    import fcntl

    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def open_pytun(name: str, module: str = "pytun") -> object:
    """A TunTapDevice of python-pytun (``module`` "pytun") or of the drop-in
    (``tuntap_cffi.pytun``), attached to TUN ``name`` without packet information."""
    import importlib

    pytun = importlib.import_module(module)
    return pytun.TunTapDevice(name=name, flags=pytun.IFF_TUN | pytun.IFF_NO_PI)


# The rows of the drop-in (tuntap_cffi.pytun) and of the bytes path.
DROP_IN_READ = "tuntap_cffi.pytun TunTapDevice.read"
DROP_IN_WRITE = "tuntap_cffi.pytun TunTapDevice.write"
PYTUN_MODULES = {"python-pytun": "pytun", DROP_IN_READ: DROP_IN, DROP_IN_WRITE: DROP_IN}


def ready(word: str = "ready") -> None:
    print(word, flush=True)


def raw_queue(iface: object) -> object:
    """The ``struct tt_queue`` of an open Interface: a private attribute, reached
    here only so that the bare-call rows measure the floor cffi itself sets."""
    return iface._q  # type: ignore[attr-defined]


# -- ingress --------------------------------------------------------------------


def counting_loop(kind: str, name: str) -> tuple[int, Callable[[], int]]:
    """Open the device for ``kind``: (its fd, a loop that counts packets until a marker)."""
    if kind in ("os.read", "python-pytun", DROP_IN_READ, "read()"):
        if kind == "os.read":
            fd = attach_plain(name)
            read_one: Callable[[int], bytes] = functools.partial(os.read, fd)
        elif kind == "read()":
            import tuntap_cffi as tuntap

            iface = tuntap.open(name)
            fd, read_one = iface.fileno(), iface.read
        else:
            dev = open_pytun(name, PYTUN_MODULES[kind])
            fd, read_one = dev.fileno(), dev.read  # type: ignore[attr-defined]

        def plain() -> int:
            count = 0
            while len(read_one(READ_SIZE)) != MARKER_IP_LEN:
                count += 1
            return count

        return fd, plain

    import tuntap_cffi as tuntap

    iface = tuntap.open(name)
    if kind == "read_packet" or kind == "read_packet(buf)":
        read_packet = iface.read_packet
        buf = bytearray(READ_SIZE) if kind == "read_packet(buf)" else None

        def packets() -> int:
            count = 0
            while len(read_packet(buf).body) != MARKER_IP_LEN:
                count += 1
            return count

        return iface.fileno(), packets
    if kind == BARE_RECV:
        from tuntap_cffi import _lowlevel
        from tuntap_cffi._native import ffi, lib

        recv, body_mask = lib.tt_queue_recv, _lowlevel.BODY_MASK
        cbuf = ffi.new("char[]", READ_SIZE)

        def bare() -> int:
            queue = raw_queue(iface)  # the closure keeps iface (and so its fd) open
            count = 0
            while True:
                packed = recv(queue, cbuf, READ_SIZE, -1)
                if packed < 0:
                    if packed == -errno.EINTR or packed == -errno.EAGAIN:
                        continue
                    raise OSError(-packed, os.strerror(-packed))
                if packed & body_mask == MARKER_IP_LEN:
                    return count
                count += 1

        return iface.fileno(), bare
    # Slots sized by default (from the MTU): read_batch never cuts a packet either.
    batch = tuntap.PacketBatch(64)
    read_batch = iface.read_batch

    def batches() -> int:
        count = 0
        while True:
            n = read_batch(batch)
            if len(batch[n - 1]) == MARKER_IP_LEN:
                return count + n - 1
            count += n

    return iface.fileno(), batches


def drain(fd: int, go: threading.Event) -> None:
    """Discard what is queued on ``fd`` once ``go`` is set and nothing is left:
    the warm-up blast's later markers, so that none of them is counted."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while True:
        if poller.poll(50):
            with contextlib.suppress(BlockingIOError):
                os.read(fd, READ_SIZE)
        elif go.is_set():
            return


def worker_read(kind: str, name: str, max_seconds: int) -> None:
    """Warm up on one blast, then count the next; print ``count cpu_seconds warm_count``.

    The harness sends SIGUSR1 once the warm-up sender has exited (all its
    packets are queued by then); the reader drains them and prints ``warm``,
    and only then does the harness start the measured blast.
    """

    def give_up(signum: int, frame: object) -> None:
        raise TimeoutError("reader ran out of time")

    go = threading.Event()
    signal.signal(signal.SIGALRM, give_up)
    signal.signal(signal.SIGUSR1, lambda signum, frame: go.set())
    signal.siginterrupt(signal.SIGUSR1, False)  # a blocking read (pytun's) restarts
    signal.alarm(max_seconds)
    fd, count_until_marker = counting_loop(kind, name)
    ready()
    warm = count_until_marker()
    drain(fd, go)
    cpu0 = cpu_seconds()
    ready("warm")
    count = count_until_marker()
    print(count, cpu_seconds() - cpu0, warm, flush=True)


# -- egress ---------------------------------------------------------------------


def writing_loop(kind: str, name: str) -> tuple[Callable[[bytes], object], Callable[..., None]]:
    """Open the device for ``kind``: (write one packet, a loop ``(packet, count)``)."""
    if kind == "os.write":
        write_one: Callable[[bytes], object] = functools.partial(os.write, attach_plain(name))
    elif kind in ("python-pytun", DROP_IN_WRITE):
        write_one = open_pytun(name, PYTUN_MODULES[kind]).write  # type: ignore[attr-defined]
    else:
        import tuntap_cffi as tuntap

        iface = tuntap.open(name)
        write_one = iface.write if kind == "write()" else iface.write_packet
        if kind == "write_batch":
            write_batch = iface.write_batch

            def batches(packet: bytes, count: int) -> None:
                chunk = [packet] * CHUNK
                for _ in range(count // CHUNK):
                    write_batch(chunk)
                if count % CHUNK:
                    write_batch(chunk[: count % CHUNK])

            return write_one, batches
        if kind == BARE_SEND:
            from tuntap_cffi._native import lib

            send = lib.tt_queue_send

            def bare(packet: bytes, count: int) -> None:
                queue = raw_queue(iface)  # the closure keeps iface (and so its fd) open
                size = len(packet)
                for _ in range(count):
                    result = send(queue, packet, size, -1)
                    if result < 0 and result != -errno.EINTR and result != -errno.EAGAIN:
                        raise OSError(-result, os.strerror(-result))

            return write_one, bare

    def single(packet: bytes, count: int) -> None:
        for _ in range(count):
            write_one(packet)

    return write_one, single


def worker_write(
    kind: str,
    name: str,
    count: int,
    packet: bytes,
    marker: bytes,
    bad: bytes,
    warmup: int,
    warm_seconds: float,
) -> None:
    """Warm up on ``bad`` packets (a wrong IP checksum: the kernel drops them, so
    the receiver never counts them), up to ``warmup`` of them or
    ``warm_seconds``; then write ``count`` packets and the markers; print
    ``seconds cpu_seconds warm_count``."""
    write_one, write_many = writing_loop(kind, name)
    warm, warm_end = 0, time.monotonic() + warm_seconds
    while warm < warmup and time.monotonic() < warm_end:
        step = min(CHUNK * 16, warmup - warm)
        write_many(bad, step)
        warm += step
    cpu0, start = cpu_seconds(), time.monotonic()
    write_many(packet, count)
    elapsed, cpu = time.monotonic() - start, cpu_seconds() - cpu0
    for _ in range(10):
        time.sleep(0.05)
        write_one(marker)
    print(elapsed, cpu, warm, flush=True)


# -- relays ---------------------------------------------------------------------


def worker_relay(kind: str, name_a: str, name_b: str, max_seconds: int) -> None:
    """Copy packets both ways between two new TUNs, one thread per direction."""
    if kind == "python-pytun relay":
        dev_a, dev_b = open_pytun(name_a), open_pytun(name_b)

        def pump(src: object, dst: object) -> None:
            read, write = src.read, dst.write  # type: ignore[attr-defined]
            while True:
                with contextlib.suppress(OSError):
                    write(read(READ_SIZE))

    else:
        import tuntap_cffi as tuntap

        offload = kind.startswith("offload")
        # Raw slots are 64 KiB each: fewer of them. Segmenting reads never split a
        # super-packet (about 45 segments at MTU 1500) across batches: room for several.
        capacity, segment = (16, False) if kind == "offload raw relay" else (64, True)
        if offload and segment:
            capacity = 256
        dev_a = tuntap.open(name_a, offload=offload)
        dev_b = tuntap.open(name_b, offload=offload)
        options = {"segment": segment} if offload else {}
        pump = functools.partial(pump_batches, capacity=capacity, options=options)

    for src, dst in ((dev_a, dev_b), (dev_b, dev_a)):
        threading.Thread(target=pump, args=(src, dst), daemon=True).start()
    ready()
    time.sleep(max_seconds)


def pump_batches(
    src: object, dst: object, capacity: int = 64, options: dict[str, bool] | None = None
) -> None:
    """The batch relay of one direction: read what is ready, write it all on.

    ``options``: read_batch keywords (``segment`` on offload devices).
    """
    import tuntap_cffi as tuntap

    batch = tuntap.PacketBatch(capacity)
    read_batch, write_batch = src.read_batch, dst.write_batch  # type: ignore[attr-defined]
    options = options or {}
    while True:
        if read_batch(batch, timeout=1.0, **options):
            with contextlib.suppress(OSError):
                write_batch(batch)


def worker_relay_queues(ns_a: str, ns_b: str, count: int, max_seconds: int) -> None:
    """Attach ``count`` queues of the multi-queue TUNs rqa (in ns_a) and rqb (in ns_b),
    made by the first worker; relay queue i of one with queue i of the other, one
    thread per direction. The thread of this process never leaves its namespace."""
    import tuntap_cffi as tuntap

    queues_a = tuntap.open_queues("rqa", count=count, netns=ns_a)
    queues_b = tuntap.open_queues("rqb", count=count, netns=ns_b)
    for qa, qb in zip(queues_a, queues_b):
        for src, dst in ((qa, qb), (qb, qa)):
            threading.Thread(target=pump_batches, args=(src, dst), daemon=True).start()
    ready()
    time.sleep(max_seconds)


def main(argv: list[str]) -> None:
    role, rest = argv[0], argv[1:]
    if role == "read":
        worker_read(rest[0], rest[1], int(rest[2]))
    elif role == "write":
        packet, marker, bad = (bytes.fromhex(x) for x in rest[3:6])
        worker_write(
            rest[0], rest[1], int(rest[2]), packet, marker, bad, int(rest[6]), float(rest[7])
        )
    elif role == "relay-queues":
        worker_relay_queues(rest[0], rest[1], int(rest[2]), int(rest[3]))
    else:
        worker_relay(rest[0], rest[1], rest[2], int(rest[3]))


if __name__ == "__main__":
    main(sys.argv[1:])
