"""Benchmark: tuntap-cffi's single and batched packet I/O against a plain C loop,
``os.read``/``os.write`` and python-pytun, on the interpreter that runs it.

    python benchmarks/bench.py            # about 10 minutes; needs root, gcc, iperf3
    python benchmarks/bench.py --quick    # a smoke run of every workload (about 1 minute)

Three workloads, each in network namespaces of its own (``ip netns add`` with
unique names, deleted at the end; nothing is configured outside them):

1. ingress: a C sender blasts small UDP datagrams that are routed into a TUN;
   one reader at a time drains it. Reported: packets/s, packets per reader
   CPU-second (the reader's own rusage) and the kernel's queue drops. Rows:
   ``read()`` (the bytes path), ``TunTapDevice.read`` of the python-pytun
   drop-in (``tuntap_cffi.pytun``), ``read_packet()``, ``read_packet(buf)``
   (one 64 KiB bytearray reused), ``read_batch`` and a bare loop over
   ``lib.tt_queue_recv`` (the floor that cffi itself sets), beside the C,
   os.read and python-pytun loops.
2. egress: a writer writes small UDP packets into a TUN; a C receiver counts
   those delivered to its socket. Reported: packets/s written, and delivered.
   Rows as for ingress (``write()``, ``TunTapDevice.write``...), with a bare
   loop over ``lib.tt_queue_send``.

Every Python reader and writer (benchmarks/workers.py) first runs its own
measuring loop on warm-up packets that are never counted, so that PyPy is
measured with its JIT warm.
3. relay: iperf3 TCP between two namespaces joined only by a user-space relay
   between two TUNs, 1 and 4 streams; and the same namespaces joined by a veth
   pair (the kernel's ceiling). Then, through the plain and offload relays, UDP
   from 1 and 4 senders that hand the kernel 44 datagrams of 1,400 bytes per
   call (UDP_SEGMENT), to a socket with UDP_GRO: Gbit/s of payload delivered.
4. queues: the batch relay between two multi-queue TUNs (made in the two
   namespaces with ``netns=``), one worker per queue: one queue, two queues
   with a thread each, two queues with a process each; 1 and 4 streams.
5. tunnel (benchmarks/tunnel.py): an IP tunnel over UDP between two
   namespaces joined by a veth: plain and offload C tunnels,
   examples/udp_tunnel.py and the kernel's VXLAN; iperf3 and small UDP.

Each figure is the median of several runs with [min-max]. Every process is
started by this script and killed by its PID; every loop is bounded in count
and time. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from workers import (
    BARE_RECV,
    BARE_SEND,
    DROP_IN_READ,
    DROP_IN_WRITE,
    MARKER,
    MARKER_IP_LEN,
    READ_SIZE,
)

HERE = Path(__file__).resolve().parent
C_PROGRAMS = (
    *("sender", "reader", "writer", "receiver", "relay", "gso_sender", "gro_receiver"),
    *("tunnel_plain", "tunnel_offload"),
)
ADDR, PEER = "198.51.100.1", "198.51.100.2"
PAYLOAD = 18  # small datagrams: 46-byte IP packets
EGRESS_PORT = 9000
RELAY_A, RELAY_B = "192.0.2.1", "192.0.2.2"
VETH_A, VETH_B = "203.0.113.1", "203.0.113.2"

READERS = (
    "C read() loop",
    "os.read",
    "python-pytun",
    BARE_RECV,
    "read()",
    DROP_IN_READ,
    "read_packet",
    "read_packet(buf)",
    "read_batch",
)
WRITERS = (
    "C write() loop",
    "os.write",
    "python-pytun",
    BARE_SEND,
    "write()",
    DROP_IN_WRITE,
    "write_packet",
    "write_batch",
)
RELAYS = ("C relay", "python-pytun relay", "read_batch/write_batch relay")
# Offload rows: devices with virtio-net headers.
C_OFFLOAD = "C offload relay (raw)"
OFFLOAD_RELAYS = (C_OFFLOAD, "offload raw relay", "offload segmenting+coalescing relay")
# The relays that also carry the UDP GSO workload (a plain relay, the offload ones).
UDP_RELAYS = ("C relay", *OFFLOAD_RELAYS)
UDP_PORT, UDP_SEGMENT, UDP_SEGMENTS = 5301, 1400, 44  # 61,600 bytes per send
# (row, queues, processes): each process serves queues // processes queues.
QUEUE_RELAYS = (
    ("batch relay, 1 queue", 1, 1),
    ("batch relay, 2 queues, a thread each", 2, 1),
    ("batch relay, 2 queues, a process each", 2, 2),
)


# -- the harness ------------------------------------------------------------------


class Harness:
    """Namespaces and processes this run made; all removed/killed by ``close``."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.tag = uuid.uuid4().hex[:6]
        self.namespaces: list[str] = []
        self.procs: list[subprocess.Popen[str]] = []

    def netns(self, role: str) -> str:
        name = f"ttbench-{self.tag}-{role}"
        run(["ip", "netns", "add", name])
        self.namespaces.append(name)
        run(["ip", "-n", name, "link", "set", "lo", "up"])
        for key in ("all", "default"):
            run(
                [
                    "ip",
                    "netns",
                    "exec",
                    name,
                    "sysctl",
                    "-qw",
                    f"net.ipv6.conf.{key}.disable_ipv6=1",
                ]
            )
        return name

    def start(self, ns: str, argv: Sequence[str]) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        return proc

    def finish(self, proc: subprocess.Popen[str], timeout: float) -> str:
        """Wait for a process this harness started; its stdout (killed by PID if late)."""
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill(proc)
            raise RuntimeError(f"{proc.args} did not finish in {timeout} s") from None
        if proc.returncode != 0:
            raise RuntimeError(f"{proc.args} failed ({proc.returncode}): {err.strip()}")
        return out

    def command(self, program: str) -> list[str]:
        return [str(self.bindir / program)]

    def close(self) -> None:
        for proc in self.procs:
            kill(proc)
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    # ip netns exec execs the program, so proc.pid is the program itself.


def run(argv: Sequence[str], timeout: float = 30) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    return result.stdout


def wait_ready(proc: subprocess.Popen[str], timeout: float = 15, word: str = "ready") -> None:
    assert proc.stdout is not None
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    if not box or box[0].split()[:1] != [word]:  # "ready", or "ready" and details
        kill(proc)
        raise RuntimeError(
            f"{proc.args} did not say {word}: {proc.stderr.read() if proc.stderr else ''}"
        )


# The interpreter of python-pytun's rows (``--pytun-python``): this one unless told,
# so that a PyPy run can have CPython's python-pytun beside it, in the same run.
PYTUN_PYTHON = [sys.executable]


def python_worker(*args: object) -> list[str]:
    pytun_row = any(str(arg).startswith("python-pytun") for arg in args)  # the relay's too
    python = PYTUN_PYTHON[0] if pytun_row else sys.executable
    return [python, str(HERE / "workers.py"), *map(str, args)]


def build_c(bindir: Path) -> None:
    for program in C_PROGRAMS:
        run(
            [
                "gcc",
                "-O2",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-o",
                str(bindir / program),
                str(HERE / "c" / f"{program}.c"),
                "-lpthread",
            ],
            timeout=120,
        )


def checksum(data: bytes) -> int:
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp_packet(payload: bytes) -> bytes:
    """IPv4/UDP from PEER to ADDR:EGRESS_PORT (UDP checksum 0: none)."""
    udp = struct.pack("!HHHH", 1234, EGRESS_PORT, 8 + len(payload), 0) + payload
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(udp),
        0,
        0,
        64,
        17,
        0,
        socket.inet_aton(PEER),
        socket.inet_aton(ADDR),
    )
    return header[:10] + struct.pack("!H", checksum(header)) + header[12:] + udp


def link_stat(ns: str, dev: str, direction: str, field: str) -> int:
    (link,) = json.loads(run(["ip", "-n", ns, "-s", "-j", "link", "show", "dev", dev]))
    return int(link["stats64"][direction][field])


def persistent_tun(h: Harness, ns: str, dev: str) -> None:
    run(["ip", "-n", ns, "tuntap", "add", "dev", dev, "mode", "tun"])
    run(["ip", "-n", ns, "addr", "add", f"{ADDR}/24", "dev", dev])
    run(["ip", "-n", ns, "link", "set", dev, "up"])


# -- workloads --------------------------------------------------------------------


class Figures:
    """Runs of one row: name -> list of values."""

    def __init__(self) -> None:
        self.values: dict[str, list[float]] = {}

    def add(self, key: str, value: float) -> None:
        self.values.setdefault(key, []).append(value)

    def median(self, key: str) -> float:
        values = self.values.get(key)
        return statistics.median(values) if values else float("nan")

    def spread(self, key: str, scale: float = 1.0, digits: int = 0) -> str:
        values = self.values.get(key)
        if not values:
            return "n/a"
        fmt = f"{{:,.{digits}f}}"
        med, low, high = (
            fmt.format(v / scale) for v in (statistics.median(values), min(values), max(values))
        )
        return f"{med} [{low}-{high}]"


def wanted(row: str, args: argparse.Namespace) -> bool:
    """Whether a reader or writer row runs: python-pytun's only when it is installed,
    and with ``--rows``, the C loop (the reference) and the rows named there."""
    if row == "python-pytun" and not args.pytun:
        return False
    if not args.rows or row.startswith("C "):
        return True
    return any(part.strip() and part.strip() in row for part in args.rows.split(","))


def ingress(h: Harness, args: argparse.Namespace) -> dict[str, Figures]:
    ns = h.netns("in")
    persistent_tun(h, ns, "bti")
    results = {r: Figures() for r in READERS if wanted(r, args)}
    # Round robin, so that a burst of load from elsewhere hits every row alike.
    for _ in range(args.runs):
        for reader, figures in results.items():
            if reader.startswith("C "):
                argv = [*h.command("reader"), "bti", str(MARKER_IP_LEN), str(args.max_seconds)]
            else:
                argv = python_worker("read", reader, "bti", args.max_seconds)
            proc = h.start(ns, argv)
            wait_ready(proc)
            if not reader.startswith("C "):
                warm_up_reader(h, ns, proc, args)
            dropped = link_stat(ns, "bti", "tx", "dropped")
            sender = h.start(
                ns,
                [*h.command("sender"), PEER, "9", str(args.seconds), str(PAYLOAD), str(MARKER)],
            )
            sent = int(h.finish(sender, args.seconds + 10).split()[0])
            count, cpu, *warm = h.finish(proc, args.max_seconds + 5).split()
            if warm:
                figures.add("warm", int(warm[0]))
            figures.add("sent", sent)
            figures.add("pps", int(count) / args.seconds)
            figures.add("per_cpu", int(count) / max(float(cpu), 1e-6))
            figures.add("drops", link_stat(ns, "bti", "tx", "dropped") - dropped)
            figures.add("lost", sent - int(count))
    return results


def warm_up_reader(
    h: Harness, ns: str, proc: subprocess.Popen[str], args: argparse.Namespace
) -> None:
    """Blast a Python reader for ``args.warm_seconds`` before its clock starts.

    Its loop stops at the first marker; SIGUSR1, once the sender (and so every
    packet of the warm-up) is done, tells it to discard the rest and say ``warm``.
    """
    sender = h.start(
        ns,
        [*h.command("sender"), PEER, "9", str(args.warm_seconds), str(PAYLOAD), str(MARKER)],
    )
    h.finish(sender, args.warm_seconds + 10)
    os.kill(proc.pid, signal.SIGUSR1)  # ip netns exec execs the worker: this is its PID
    wait_ready(proc, timeout=args.max_seconds, word="warm")


def egress(h: Harness, args: argparse.Namespace) -> dict[str, Figures]:
    ns = h.netns("eg")
    persistent_tun(h, ns, "bte")
    packet, marker = udp_packet(bytes(PAYLOAD)).hex(), udp_packet(bytes(MARKER)).hex()
    # Warm-up packets with a wrong IP header checksum: the kernel drops them
    # before any socket, so the receiver counts only the measured ones.
    good = udp_packet(bytes(PAYLOAD))
    bad = (good[:10] + bytes([good[10] ^ 0xFF]) + good[11:]).hex()
    results = {w: Figures() for w in WRITERS if wanted(w, args)}
    for _ in range(args.runs):
        for writer, figures in results.items():
            receiver = h.start(
                ns,
                [
                    *h.command("receiver"),
                    ADDR,
                    str(EGRESS_PORT),
                    str(MARKER),
                    str(args.max_seconds),
                ],
            )
            wait_ready(receiver)
            if writer.startswith("C "):
                argv = [*h.command("writer"), "bte", str(args.packets), packet, marker]
            else:
                argv = python_worker(
                    "write",
                    writer,
                    "bte",
                    args.packets,
                    packet,
                    marker,
                    bad,
                    args.warm_packets,
                    args.warm_seconds,
                )
            elapsed, cpu, *warm = h.finish(h.start(ns, argv), args.max_seconds).split()
            if warm:
                figures.add("warm", int(warm[0]))
            delivered = int(h.finish(receiver, args.max_seconds + 5).split()[0])
            figures.add("pps", args.packets / float(elapsed))
            figures.add("per_cpu", args.packets / max(float(cpu), 1e-6))
            figures.add("delivered", delivered / args.packets)
    return results


def iperf(h: Harness, ns: str, server: str, streams: int, seconds: float) -> float:
    out = run(
        [
            "ip",
            "netns",
            "exec",
            ns,
            "iperf3",
            "-c",
            server,
            "-t",
            str(seconds),
            "-P",
            str(streams),
            "-J",
        ],
        timeout=seconds + 30,
    )
    return float(json.loads(out)["end"]["sum_received"]["bits_per_second"])


def udp_gso(h: Harness, ns_a: str, ns_b: str, senders: int, seconds: float) -> float:
    """Bits/s of UDP payload delivered to a socket in ns_b from ``senders`` processes
    in ns_a, each sending 44 datagrams of 1,400 bytes per call with UDP_SEGMENT."""
    receiver = h.start(
        ns_b, [*h.command("gro_receiver"), RELAY_B, str(UDP_PORT), str(seconds + 10)]
    )
    wait_ready(receiver)
    argv = [RELAY_B, str(UDP_PORT), str(seconds), str(UDP_SEGMENT), str(UDP_SEGMENTS)]
    procs = [h.start(ns_a, [*h.command("gso_sender"), *argv]) for _ in range(senders)]
    for proc in procs:
        h.finish(proc, seconds + 10)
    received, elapsed = h.finish(receiver, seconds + 15).split()
    return int(received) * 8 / max(float(elapsed), 1e-3)


def relay(h: Harness, args: argparse.Namespace) -> dict[str, Figures]:
    ns_r, ns_a, ns_b = h.netns("rr"), h.netns("ra"), h.netns("rb")
    results: dict[str, Figures] = {}
    for kind in RELAYS + OFFLOAD_RELAYS:
        if kind.startswith("python-pytun") and not args.pytun:
            continue
        figures = results[kind] = Figures()
        if kind == "C relay":
            argv = [*h.command("relay"), "rla", "rlb", str(args.max_seconds * 4)]
        elif kind == C_OFFLOAD:
            argv = [*h.command("relay"), "rla", "rlb", str(args.max_seconds * 4), "offload"]
        else:
            argv = python_worker("relay", kind, "rla", "rlb", args.max_seconds * 4)
        proc = h.start(ns_r, argv)
        wait_ready(proc)
        for ns, dev, addr in ((ns_a, "rla", RELAY_A), (ns_b, "rlb", RELAY_B)):
            run(["ip", "-n", ns_r, "link", "set", dev, "netns", ns])  # the fds keep working
            run(["ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev])
            run(["ip", "-n", ns, "link", "set", dev, "up"])
        server = h.start(ns_b, ["iperf3", "-s", "-B", RELAY_B])
        time.sleep(0.3)
        for streams in (1, 4):
            for _ in range(args.runs):
                figures.add(f"p{streams}", iperf(h, ns_a, RELAY_B, streams, args.iperf_seconds))
        kill(server)
        if kind in UDP_RELAYS:
            for senders in (1, 4):
                for _ in range(args.runs):
                    bits = udp_gso(h, ns_a, ns_b, senders, args.iperf_seconds)
                    figures.add(f"u{senders}", bits)
        kill(proc)  # its TUNs go with it
    figures = results["veth (kernel ceiling)"] = Figures()
    run(
        [
            "ip",
            "-n",
            ns_a,
            "link",
            "add",
            "vta",
            "type",
            "veth",
            "peer",
            "name",
            "vtb",
            "netns",
            ns_b,
        ]
    )
    for ns, dev, addr in ((ns_a, "vta", VETH_A), (ns_b, "vtb", VETH_B)):
        run(["ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev])
        run(["ip", "-n", ns, "link", "set", dev, "up"])
    server = h.start(ns_b, ["iperf3", "-s", "-B", VETH_B])
    time.sleep(0.3)
    for streams in (1, 4):
        for _ in range(args.runs):
            figures.add(f"p{streams}", iperf(h, ns_a, VETH_B, streams, args.iperf_seconds))
    kill(server)
    return results


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def process_cpu(pids: Sequence[int]) -> float:
    """CPU seconds (user + system) the processes ``pids`` have used so far."""
    ticks = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def relay_queues(h: Harness, args: argparse.Namespace) -> dict[str, Figures]:
    ns_r, ns_a, ns_b = h.netns("qr"), h.netns("qa"), h.netns("qb")
    results = {row: Figures() for row, _queues, _processes in QUEUE_RELAYS}
    # Round robin over the rows, fresh devices for each, so that load from
    # elsewhere hits every row alike.
    for _ in range(args.runs):
        for row, queues, processes in QUEUE_RELAYS:
            workers = []
            for _ in range(processes):
                argv = python_worker(
                    "relay-queues", ns_a, ns_b, queues // processes, args.max_seconds * 4
                )
                workers.append(h.start(ns_r, argv))
                wait_ready(workers[-1])
            for ns, dev, addr in ((ns_a, "rqa", RELAY_A), (ns_b, "rqb", RELAY_B)):
                run(["ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev])
                run(["ip", "-n", ns, "link", "set", dev, "up"])
            server = h.start(ns_b, ["iperf3", "-s", "-B", RELAY_B])
            time.sleep(0.3)
            pids = [worker.pid for worker in workers]  # ip netns exec execs the worker
            for streams in (1, 4):
                busy0, total0 = cpu_times()
                cpu0, start = process_cpu(pids), time.monotonic()
                results[row].add(
                    f"p{streams}", iperf(h, ns_a, RELAY_B, streams, args.iperf_seconds)
                )
                busy1, total1 = cpu_times()
                elapsed = time.monotonic() - start
                results[row].add(f"busy{streams}", (busy1 - busy0) / max(total1 - total0, 1))
                results[row].add(f"relay{streams}", (process_cpu(pids) - cpu0) / elapsed)
            kill(server)
            for worker in workers:
                kill(worker)  # the last queue closed takes its devices with it
    return results


# -- the tables -------------------------------------------------------------------


def ratio(value: float, reference: float) -> str:
    if not reference or reference != reference or value != value:
        return "-"
    return f"{value / reference:.2f}x"


def ratios(value: float, references: Sequence[Figures | None], key: str) -> str:
    """``| a | b |`` cells: ``value`` over each reference row's median of ``key``."""
    return " | ".join(ratio(value, r.median(key)) if r else "-" for r in references)


def warm_up_note(results: dict[str, Figures], what: str) -> str:
    """How long the Python rows warmed up: the median warm-up packet count per row."""
    counts = [f.median("warm") for f in results.values() if f.values.get("warm")]
    if not counts:
        return ""
    return (
        f"Python rows warm up first on {what} ({min(counts):,.0f} to "
        f"{max(counts):,.0f} packets per row, median of runs; never counted); the C loop does not."
    )


def ingress_table(results: dict[str, Figures], warm_seconds: float) -> str:
    refs = [results[READERS[0]], results.get("python-pytun"), results.get("os.read")]
    lines = [
        warm_up_note(results, f"a {warm_seconds} s blast"),
        "",
        "| reader | packets/s | packets per reader CPU-s | kernel drops/run | "
        "vs C (per CPU-s) | vs python-pytun (per CPU-s) | vs os.read (per CPU-s) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, f in results.items():
        lines.append(
            f"| {name} | {f.spread('pps')} | {f.spread('per_cpu')} | {f.median('drops'):,.0f} | "
            f"{ratios(f.median('per_cpu'), refs, 'per_cpu')} |"
        )
    return "\n".join(lines)


def egress_table(results: dict[str, Figures], warm_packets: int, warm_seconds: float) -> str:
    refs = [results[WRITERS[0]], results.get("python-pytun"), results.get("os.write")]
    what = f"up to {warm_packets:,} packets or {warm_seconds} s of dropped (bad-checksum) packets"
    lines = [
        warm_up_note(results, what),
        "",
        "| writer | packets/s | packets per writer CPU-s | delivered | vs C (packets/s) | "
        "vs python-pytun (packets/s) | vs os.write (packets/s) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, f in results.items():
        lines.append(
            f"| {name} | {f.spread('pps')} | {f.spread('per_cpu')} | "
            f"{f.median('delivered') * 100:.1f}% | {ratios(f.median('pps'), refs, 'pps')} |"
        )
    return "\n".join(lines)


def pair_ratio(row: Figures, reference: Figures) -> str:
    """Single- and 4-stream ratios of a relay row to a reference row."""
    return " / ".join(ratio(row.median(k), reference.median(k)) for k in ("p1", "p4"))


def relay_table(results: dict[str, Figures]) -> str:
    c, pytun = results[RELAYS[0]], results.get(RELAYS[1])
    c_offload = results.get(C_OFFLOAD)
    lines = [
        "| relay | 1 stream Gbit/s | 4 streams Gbit/s | vs C (1 / 4) | vs python-pytun (1 / 4) "
        "| vs C offload (1 / 4) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, f in results.items():
        vs_c = f"{pair_ratio(f, c)}"
        vs_p = pair_ratio(f, pytun) if pytun else "-"
        vs_o = pair_ratio(f, c_offload) if c_offload else "-"
        lines.append(
            f"| {name} | {f.spread('p1', 1e9, 2)} | {f.spread('p4', 1e9, 2)} | {vs_c} | {vs_p} "
            f"| {vs_o} |"
        )
    return "\n".join(lines)


def udp_table(results: dict[str, Figures]) -> str:
    c, c_offload = results[RELAYS[0]], results.get(C_OFFLOAD)
    lines = [
        "| relay | 1 sender Gbit/s | 4 senders Gbit/s | vs C (1 / 4) | vs C offload (1 / 4) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, f in results.items():
        if not f.values.get("u1"):
            continue
        vs_c = " / ".join(ratio(f.median(k), c.median(k)) for k in ("u1", "u4"))
        vs_o = (
            " / ".join(ratio(f.median(k), c_offload.median(k)) for k in ("u1", "u4"))
            if c_offload
            else "-"
        )
        lines.append(
            f"| {name} | {f.spread('u1', 1e9, 2)} | {f.spread('u4', 1e9, 2)} | {vs_c} | {vs_o} |"
        )
    return "\n".join(lines)


def queues_table(results: dict[str, Figures]) -> str:
    one = results[QUEUE_RELAYS[0][0]]
    lines = [
        "| relay (one worker per queue) | 1 stream Gbit/s | 4 streams Gbit/s | "
        "vs 1 queue (1 / 4) | relay CPUs used (1 / 4) | machine busy (1 / 4) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, f in results.items():
        busy = " / ".join(f"{f.median(k) * 100:.0f}%" for k in ("busy1", "busy4"))
        relay = " / ".join(f"{f.median(k):.2f}" for k in ("relay1", "relay4"))
        lines.append(
            f"| {name} | {f.spread('p1', 1e9, 2)} | {f.spread('p4', 1e9, 2)} | "
            f"{pair_ratio(f, one)} | {relay} | {busy} |"
        )
    return "\n".join(lines)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (the machine's first CPU)."""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Processor", "cpu model"):
                return " ".join(value.split())
    return platform.processor() or platform.machine()


def describe(args: argparse.Namespace) -> str:
    impl = platform.python_implementation()
    version = platform.python_version()
    if impl == "PyPy":
        version += f" (PyPy {'.'.join(map(str, sys.pypy_version_info[:3]))})"  # type: ignore[attr-defined]
    # PyPy's os has no sched_getaffinity.
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    return (
        f"{datetime.datetime.now().astimezone().isoformat(timespec='minutes')}, {impl} "
        f"{version} ({sys.executable}), Linux {platform.release()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs ({usable} usable), {cpu_model()}; {args.runs} runs each "
        f"(median [min-max]), ingress {args.seconds} s blasts of {20 + 8 + PAYLOAD}-byte "
        f"packets, egress {args.packets:,} packets, every Python reader and writer warmed up "
        f"first (ingress: a {args.warm_seconds} s blast; egress: up to {args.warm_packets:,} "
        f"packets or {args.warm_seconds} s), reads of {READ_SIZE} bytes, iperf3 "
        f"{args.iperf_seconds} s"
        + (
            f"; python-pytun rows under {PYTUN_PYTHON[0]}"
            if PYTUN_PYTHON[0] != sys.executable
            else ""
        )
    )


def main(argv: list[str] | None = None) -> int:
    import tunnel  # here: it imports this module's harness

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one short run of everything")
    parser.add_argument(
        "--only", default="ingress,egress,relay,queues,tunnel", help="workloads to run"
    )
    parser.add_argument("--runs", type=int, default=None, help="runs per figure (default 5)")
    parser.add_argument(
        "--pytun-python",
        default="",
        help="the interpreter python-pytun's rows run under (e.g. a CPython, when this "
        "run is PyPy's); this one unless told",
    )
    parser.add_argument(
        "--rows",
        default="",
        help="ingress/egress rows to run, by part of their name, comma-separated "
        "(the C loop always runs)",
    )
    tunnel.add_arguments(parser)
    args = parser.parse_args(argv)
    args.runs = args.runs or (1 if args.quick else 5)
    args.seconds = 0.5 if args.quick else 2.0
    args.packets = 50_000 if args.quick else 500_000
    args.iperf_seconds = 1 if args.quick else 3
    args.max_seconds = 30 if args.quick else 60
    # Long enough for PyPy's JIT to compile each loop (it does after about a
    # thousand iterations), short enough for --quick to stay about a minute.
    args.warm_seconds = 0.2 if args.quick else 1.0
    args.warm_packets = 20_000 if args.quick else 100_000
    if os.geteuid() != 0:
        parser.error("needs root (it creates network namespaces and TUN devices)")
    needs_iperf = any(w in args.only for w in ("relay", "queues", "tunnel"))
    for tool in ("ip", "gcc") + (("iperf3",) if needs_iperf else ()):
        if shutil.which(tool) is None:
            parser.error(f"needs {tool} (apt-get install iproute2 gcc iperf3)")
    PYTUN_PYTHON[0] = args.pytun_python or sys.executable
    probe = subprocess.run([PYTUN_PYTHON[0], "-c", "import pytun"], capture_output=True)
    args.pytun = probe.returncode == 0
    if not args.pytun:
        print(
            f"python-pytun is not installed for {PYTUN_PYTHON[0]}: its rows are left out",
            file=sys.stderr,
        )
    tables = [f"Benchmark: {describe(args)}", ""]
    with tempfile.TemporaryDirectory(prefix="ttbench-") as tmp:
        bindir = Path(tmp)
        build_c(bindir)
        h = Harness(bindir)
        tables[0] += f"; namespaces ttbench-{h.tag}-*"
        try:
            if "ingress" in args.only:
                tables += [
                    "### Ingress (TUN -> reader)",
                    "",
                    ingress_table(ingress(h, args), args.warm_seconds),
                    "",
                ]
            if "egress" in args.only:
                tables += [
                    "### Egress (writer -> TUN -> UDP socket)",
                    "",
                    egress_table(egress(h, args), args.warm_packets, args.warm_seconds),
                    "",
                ]
            if "relay" in args.only:
                relays = relay(h, args)
                tables += [
                    "### Relay (TCP through TUN -> relay -> TUN)",
                    "",
                    relay_table(relays),
                    "",
                    "### Relay, UDP (UDP_SEGMENT sender through TUN -> relay -> TUN)",
                    "",
                    udp_table(relays),
                    "",
                ]
            if "queues" in args.only:
                tables += [
                    "### Multi-queue relay (TCP through two multi-queue TUNs)",
                    "",
                    queues_table(relay_queues(h, args)),
                    "",
                ]
            if "tunnel" in args.only:
                tables += tunnel.table(tunnel.tunnel(h, args), args)
        finally:
            h.close()
    print("\n".join(tables))
    return 0


if __name__ == "__main__":
    sys.exit(main())
