"""Workload ``tunnel`` of benchmarks/bench.py: an IP tunnel over UDP between two namespaces.

Namespaces A and B are joined by a veth (the underlay, 203.0.113.1 and
203.0.113.2); the overlay 192.0.2.1 <-> 192.0.2.2 (MTU 1400) goes through a
tunnel at each end. Rows, each with the same underlay:

- the plain C tunnel (c/tunnel_plain.c): a read()/send() per packet;
- the offload C tunnel (c/tunnel_offload.c): TUN offloads, segmentation,
  UDP_SEGMENT and UDP_GRO, TCP coalescing (wireguard-go's design);
- examples/udp_tunnel.py on the interpreter that runs the benchmark;
- the kernel's VXLAN (id 42, port 4789), with no tunnel process at all.

Each row first moves 16 MiB over TCP and compares its SHA-256 at both ends
(a tunnel that corrupts data is reported, not measured silently), then
measures iperf3 TCP with 1 and 4 streams (and the tunnel processes' CPU use)
and small UDP datagrams (64-byte payloads, sendmmsg of 64, counted by a
recvmmsg receiver in B).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence

from bench import (
    HERE,
    VETH_A,
    VETH_B,
    Figures,
    Harness,
    cpu_times,
    iperf,
    kill,
    process_cpu,
    ratio,
    run,
    wait_ready,
)

# Rows: (name, kind); the kind picks how the row is set up.
PLAIN, OFFLOAD, OURS, VXLAN = "plain", "offload", "ours", "vxlan"
ROWS = (
    ("C tunnel, plain (read/send per packet)", PLAIN),
    ("C tunnel, offload (GSO/GRO, TCP coalescing)", OFFLOAD),
    ("examples/udp_tunnel.py", OURS),
    ("kernel VXLAN (no tunnel process)", VXLAN),
)
EXAMPLE = HERE.parent / "examples" / "udp_tunnel.py"
OVERLAY_A, OVERLAY_B = "192.0.2.1", "192.0.2.2"
PORT, VXLAN_PORT, VXLAN_ID = 5555, 4789, 42
MTU = 1400  # 1400 + 28 bytes of underlay headers fit the veth's 1500
UDP_PORT, UDP_PAYLOAD, UDP_MARKER = 9, 64, 65  # the small-datagram blast, and its end
CHECK_PORT, CHECK_BYTES = 9100, 16 << 20
CHECK_RECEIVER = """
import hashlib, socket, sys
server = socket.create_server((sys.argv[1], int(sys.argv[2])))
server.settimeout(30)
print("ready", flush=True)
conn, _ = server.accept()
conn.settimeout(30)
digest, size = hashlib.sha256(), 0
while size <= int(sys.argv[3]):
    data = conn.recv(1 << 20)
    if not data:
        break
    digest.update(data)
    size += len(data)
print(size, digest.hexdigest())
"""
CHECK_SENDER = """
import hashlib, random, socket, sys
data = random.Random(4).randbytes(int(sys.argv[3]))
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30) as conn:
    for start in range(0, len(data), 100_000):  # uneven writes: PSH in mid-stream
        conn.sendall(data[start : start + 100_000])
print(len(data), hashlib.sha256(data).hexdigest())
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The workload's options, on the benchmark's parser."""
    parser.add_argument(
        "--tunnel-seconds",
        type=int,
        default=None,
        help="seconds of each tunnel iperf3 run and UDP blast (default 3, --quick 1)",
    )
    parser.add_argument(
        "--tunnel-warm",
        type=int,
        default=None,
        help="seconds of an uncounted iperf3 run first in each tunnel row (default 1, --quick 0)",
    )


def settings(args: argparse.Namespace) -> tuple[int, int]:
    """(seconds, warm-up seconds) of the tunnel runs, after --quick."""
    seconds = args.tunnel_seconds or (1 if args.quick else 3)
    warm = args.tunnel_warm if args.tunnel_warm is not None else (0 if args.quick else 1)
    return max(seconds, 1), max(warm, 0)  # iperf3 -t 0 would mean "forever"


# -- setting up ---------------------------------------------------------------------


def underlay(h: Harness) -> tuple[str, str]:
    """Namespaces A and B joined by a veth with the underlay's addresses."""
    ns_a, ns_b = h.netns("ta"), h.netns("tb")
    veth = ["type", "veth", "peer", "name", "tvb", "netns", ns_b]
    run(["ip", "-n", ns_a, "link", "add", "tva", *veth])
    for ns, dev, addr in ((ns_a, "tva", VETH_A), (ns_b, "tvb", VETH_B)):
        run(["ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev])
        run(["ip", "-n", ns, "link", "set", dev, "up"])
    return ns_a, ns_b


def ends(ns_a: str, ns_b: str) -> list[tuple[str, str, str, str, str]]:
    """(namespace, overlay address, its peer, underlay address, its peer) of each end."""
    return [
        (ns_a, OVERLAY_A, OVERLAY_B, VETH_A, VETH_B),
        (ns_b, OVERLAY_B, OVERLAY_A, VETH_B, VETH_A),
    ]


def start_row(
    h: Harness, kind: str, ns_a: str, ns_b: str, max_seconds: float
) -> list[subprocess.Popen[str]]:
    """Bring the overlay up for one row; the tunnel processes (none for VXLAN)."""
    procs = []
    for ns, local, peer, under, remote in ends(ns_a, ns_b):
        dev = f"tn{kind[0]}"
        if kind == VXLAN:
            dev = "vx42"
            vxlan = ["type", "vxlan", "id", str(VXLAN_ID), "dstport", str(VXLAN_PORT)]
            where = ["local", under, "remote", remote, "dev", "tva" if ns == ns_a else "tvb"]
            run(["ip", "-n", ns, "link", "add", dev, *vxlan, *where])
        elif kind == OURS:
            argv = [sys.executable, str(EXAMPLE), "--name", dev, "--local", local]
            argv += ["--peer", peer, "--listen", f"{under}:{PORT}", "--remote", f"{remote}:{PORT}"]
            procs.append(h.start(ns, [*argv, "--mtu", str(MTU), "--seconds", str(max_seconds)]))
            wait_ready(procs[-1])  # it has made and configured its TUN
            continue
        else:
            program = "tunnel_plain" if kind == PLAIN else "tunnel_offload"
            argv = [dev, f"{under}:{PORT}", f"{remote}:{PORT}", str(max_seconds)]
            procs.append(h.start(ns, [*h.command(program), *argv]))
            wait_ready(procs[-1])  # its TUN exists
        run(["ip", "-n", ns, "link", "set", dev, "mtu", str(MTU), "up"])
        run(["ip", "-n", ns, "addr", "add", local, "peer", f"{peer}/32", "dev", dev])
    return procs


def stop_row(
    h: Harness, kind: str, ns_a: str, ns_b: str, procs: Sequence[subprocess.Popen[str]]
) -> None:
    for proc in procs:
        kill(proc)  # a TUN goes with its process
    if kind == VXLAN:
        for ns in (ns_a, ns_b):
            run(["ip", "-n", ns, "link", "del", "vx42"])


# -- measuring ----------------------------------------------------------------------


def byte_check(h: Harness, ns_a: str, ns_b: str) -> bool:
    """Whether 16 MiB sent over TCP from A arrive in B byte for byte (in time)."""
    receiver = h.start(
        ns_b, [sys.executable, "-c", CHECK_RECEIVER, OVERLAY_B, str(CHECK_PORT), str(CHECK_BYTES)]
    )
    wait_ready(receiver)
    sender = h.start(
        ns_a, [sys.executable, "-c", CHECK_SENDER, OVERLAY_B, str(CHECK_PORT), str(CHECK_BYTES)]
    )
    try:
        sent = h.finish(sender, 60).split()
        got = h.finish(receiver, 60).split()
    except RuntimeError as exc:  # a tunnel that stalls: the row is reported as failed
        print(f"tunnel byte check: {exc}", file=sys.stderr)
        kill(receiver)
        return False
    return sent == got and sent[0] == str(CHECK_BYTES)


def small_udp(h: Harness, ns_a: str, ns_b: str, seconds: float) -> float:
    """Datagrams/s of 64-byte payloads that cross the overlay, A to B."""
    receiver = h.start(
        ns_b, [*h.command("receiver"), OVERLAY_B, str(UDP_PORT), str(UDP_MARKER), str(seconds + 5)]
    )
    wait_ready(receiver)
    argv = [OVERLAY_B, str(UDP_PORT), str(seconds), str(UDP_PAYLOAD), str(UDP_MARKER)]
    h.finish(h.start(ns_a, [*h.command("sender"), *argv]), seconds + 10)
    return int(h.finish(receiver, seconds + 10).split()[0]) / seconds


def measure(
    h: Harness,
    f: Figures,
    ns_a: str,
    ns_b: str,
    pids: Sequence[int],
    runs: int,
    seconds: int,
    warm: int,
) -> None:
    """iperf3 with 1 and 4 streams (tunnel CPUs and machine busy for each), then small UDP."""
    server = h.start(ns_b, ["iperf3", "-s", "-B", OVERLAY_B])
    time.sleep(0.3)
    if warm:  # not counted: ARP, caches, and PyPy's JIT warm
        iperf(h, ns_a, OVERLAY_B, 1, warm)
    for streams in (1, 4):
        for _ in range(runs):
            busy0, total0 = cpu_times()
            cpu0, start = process_cpu(pids), time.monotonic()
            f.add(f"p{streams}", iperf(h, ns_a, OVERLAY_B, streams, seconds))
            busy1, total1 = cpu_times()
            if pids:
                f.add(f"cpu{streams}", (process_cpu(pids) - cpu0) / (time.monotonic() - start))
            f.add(f"busy{streams}", (busy1 - busy0) / max(total1 - total0, 1))
    kill(server)
    for _ in range(runs):
        f.add("pps", small_udp(h, ns_a, ns_b, seconds))


def tunnel(h: Harness, args: argparse.Namespace) -> dict[str, Figures]:
    seconds, warm = settings(args)
    ns_a, ns_b = underlay(h)
    results: dict[str, Figures] = {}
    for name, kind in ROWS:
        f = results[name] = Figures()
        procs = start_row(h, kind, ns_a, ns_b, args.max_seconds * 8)
        try:
            f.add("check", 1.0 if byte_check(h, ns_a, ns_b) else 0.0)
            if f.median("check") != 1.0:
                continue  # figures of a tunnel that corrupts or stalls would mislead
            pids = [proc.pid for proc in procs]  # ip netns exec execs the program
            measure(h, f, ns_a, ns_b, pids, args.runs, seconds, warm)
        finally:
            stop_row(h, kind, ns_a, ns_b, procs)
    return results


# -- the table ----------------------------------------------------------------------


def cells(f: Figures) -> str:
    cpus = " / ".join(f"{f.median(k):.2f}" for k in ("cpu1", "cpu4")) if "cpu1" in f.values else "-"
    busy = " / ".join(f"{f.median(k) * 100:.0f}%" for k in ("busy1", "busy4"))
    check = "ok" if f.median("check") == 1.0 else "FAILED"
    return (
        f"{f.spread('p1', 1e9, 2)} | {f.spread('p4', 1e9, 2)} | {f.spread('pps', 1e3, 0)} | "
        f"{cpus} | {busy} | {check}"
    )


def table(results: dict[str, Figures], args: argparse.Namespace) -> list[str]:
    """The workload's section of the benchmark's output."""
    seconds, warm = settings(args)
    by_kind = {kind: results[name] for name, kind in ROWS}
    ours = by_kind[OURS]
    lines = [
        "### Tunnel (TCP and small UDP through a tunnel over UDP between two namespaces)",
        "",
        f"iperf3 {seconds} s per run, {args.runs} runs each (median [min-max]), after an "
        f"uncounted {warm} s run; small UDP: {UDP_PAYLOAD}-byte payloads for {seconds} s, "
        f"delivered per second; overlay MTU {MTU} over a veth. 'ours' is examples/udp_tunnel.py "
        f"on this interpreter. Tunnel CPUs: CPU-s per second of both tunnel processes; machine "
        f"busy: both CPUs, iperf3 included. Byte check: 16 MiB over TCP, SHA-256 compared at "
        f"both ends (a row that fails it is not measured).",
        "",
        "| tunnel | 1 stream Gbit/s | 4 streams Gbit/s | small UDP kpps | tunnel CPUs (1 / 4) "
        "| machine busy (1 / 4) | byte check |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    lines += [f"| {name} | {cells(results[name])} |" for name, _kind in ROWS]
    lines += [
        "",
        "| ours vs | 1 stream | 4 streams | small UDP | target |",
        "|---|---:|---:|---:|---|",
    ]
    offload = ">= 1.0x TCP (PyPy 0.9x), small UDP >= 1.5x"
    for kind, target in ((PLAIN, ">= 2x"), (OFFLOAD, offload), (VXLAN, "-")):
        ref = by_kind[kind]
        name = next(n for n, k in ROWS if k == kind)
        row = " | ".join(ratio(ours.median(k), ref.median(k)) for k in ("p1", "p4", "pps"))
        lines.append(f"| {name} | {row} | {target} |")
    return [*lines, ""]
