"""The programs in examples/, run as a user runs them.

``udp_tunnel.py``: two namespaces of the test's own (``ip netns add``,
unique names, deleted afterwards) joined by a veth, one end of the tunnel in
each under ``ip netns exec``, configured as the program's docstring shows.
TCP goes from one namespace to the other's point-to-point address and, 4 MiB
of it, to an address that only the route the program added reaches; the
receiver's count and SHA-256 must be the sender's. ip(8) is the oracle of the
addresses and routes the program set, and of the far address being
unreachable before the tunnel starts and after it stops.

The file must be here: a missing example fails these tests (MANIFEST.in
puts examples/ in the sdist), it is not skipped.
"""

from __future__ import annotations

import json
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from helpers.ip import ip, link_names
from helpers.packets import ipv4_udp

UDP_TUNNEL = Path(__file__).resolve().parents[2] / "examples" / "udp_tunnel.py"
TRANSFER = 4 * 1024 * 1024
PORT = 5001  # the TCP server's, in the far namespace
FAR = "198.51.100.129"  # behind end b, reached from a only by the route a added

# One end of the tunnel: (local, peer, further address, route, UDP here, UDP there).
ENDS = {
    "a": ("192.0.2.1", "192.0.2.2", "198.51.100.1/32", "198.51.100.128/25", "203.0.113.1"),
    "b": ("192.0.2.2", "192.0.2.1", "198.51.100.129/32", "198.51.100.0/25", "203.0.113.2"),
}

SERVER = """
import hashlib, socket, sys
with socket.socket() as server:
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", int(sys.argv[1])))
    server.listen(4)
    server.settimeout(30)
    print("listening", flush=True)
    for _ in range(int(sys.argv[2])):
        conn, peer = server.accept()
        with conn:
            conn.settimeout(30)
            local = conn.getsockname()[0]
            digest, total = hashlib.sha256(), 0
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                digest.update(data)
                total += len(data)
        print(local, peer[0], total, digest.hexdigest(), flush=True)
"""

# Prints "sent SOURCE COUNT SHA256", or "error ERRNO-NAME" when it cannot connect.
CLIENT = """
import errno, hashlib, os, socket, sys
destination, port, source, size = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
data = os.urandom(size)
try:
    sock = socket.create_connection(
        (destination, port), timeout=10, source_address=None if source == "-" else (source, 0)
    )
except OSError as exc:
    print("error", errno.errorcode.get(exc.errno, exc.errno) if exc.errno else type(exc).__name__)
    sys.exit(0)
with sock:
    sock.settimeout(30)
    here = sock.getsockname()[0]
    sock.sendall(data)
print("sent", here, size, hashlib.sha256(data).hexdigest())
"""


def netns(name: str, *args: str) -> list[str]:
    return ["ip", "netns", "exec", name, *args]


class Program:
    """A child process whose output (stdout and stderr) a thread reads line by
    line, so that every wait for a line is bounded."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.seen: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def wait_for(self, prefix: str, timeout: float) -> str:
        """The next line starting with ``prefix``; fail (saying what came) when none does."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if line.startswith(prefix):
                return line
        raise AssertionError(
            f"no line starting {prefix!r} within {timeout} s (exit status "
            f"{self.proc.poll()}); output: {self.seen}"
        )

    def stop(self, signum: int, timeout: float = 10) -> int:
        """Send ``signum`` and wait for the exit; its status."""
        self.proc.send_signal(signum)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._reader.join(10)


def tunnel_args(end: str, seconds: float = 120) -> list[str]:
    """The command line of one end, as the example's docstring gives it."""
    local, peer, address, route, here = ENDS[end]
    there = ENDS["b" if end == "a" else "a"][4]
    return [
        sys.executable,
        str(UDP_TUNNEL),
        "--name", "tun0",
        "--local", local,
        "--peer", peer,
        "--address", address,
        "--route", route,
        "--listen", f"{here}:5555",
        "--remote", f"{there}:5555",
        "--seconds", str(seconds),
    ]  # fmt: skip


def counters(line: str) -> dict[str, int]:
    """The ``name=number`` fields of the program's summary line."""
    return {name: int(value) for name, value in re.findall(r"(\w+)=(\d+)", line)}


def connect(ns: str, destination: str, source: str = "-", size: int = 0) -> str:
    result = subprocess.run(
        netns(ns, sys.executable, "-c", CLIENT, destination, str(PORT), source, str(size)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def ip_json_in(ns: str, *args: str) -> Any:
    return json.loads(ip("-n", ns, "-j", *args) or "[]")


def make_underlay(ns_a: str, ns_b: str) -> None:
    """A veth from ns_a (203.0.113.1/24) to ns_b (203.0.113.2/24), both ends and lo up."""
    ip("-n", ns_a, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns", ns_b)
    for ns, dev, address in ((ns_a, "veth0", "203.0.113.1/24"), (ns_b, "veth1", "203.0.113.2/24")):
        ip("-n", ns, "addr", "add", address, "dev", dev)
        ip("-n", ns, "link", "set", dev, "up")
        ip("-n", ns, "link", "set", "lo", "up")


def check_configuration(ns: str, end: str) -> None:
    """What ip(8) sees of the TUN the program configured in ``ns``."""
    local, peer, address, route, _ = ENDS[end]
    (link,) = ip_json_in(ns, "addr", "show", "dev", "tun0")
    assert link["mtu"] == 1400
    assert "UP" in link["flags"] and "POINTOPOINT" in link["flags"]
    found = {(a["local"], a.get("address"), a["prefixlen"]) for a in link["addr_info"]}
    assert found == {(local, peer, 32), (address.split("/")[0], None, 32)}
    routes = ip_json_in(ns, "route", "show", "dev", "tun0")
    added = [r for r in routes if r["dst"] == route]
    assert added == [{"dst": route, "protocol": "static", "scope": "link", "flags": []}], routes
    assert any(r["dst"] == peer and r["protocol"] == "kernel" for r in routes), routes


@pytest.mark.privileged
def test_udp_tunnel_carries_tcp_byte_exact_through_its_route() -> None:
    assert UDP_TUNNEL.is_file(), f"{UDP_TUNNEL} is missing"
    tag = uuid.uuid4().hex[:8]
    ns = {"a": f"tt-tunnel-a-{tag}", "b": f"tt-tunnel-b-{tag}"}
    programs: list[Program] = []
    ip("netns", "add", ns["a"])
    try:
        ip("netns", "add", ns["b"])
        make_underlay(ns["a"], ns["b"])
        # Before the tunnel: the underlay alone knows no route to the overlay.
        assert connect(ns["a"], FAR) == "error ENETUNREACH"
        assert connect(ns["a"], ENDS["b"][0]) == "error ENETUNREACH"

        ends = {end: Program(netns(ns[end], *tunnel_args(end))) for end in ("a", "b")}
        programs += ends.values()
        for end, program in ends.items():
            program.wait_for("ready tun0", timeout=20)
            check_configuration(ns[end], end)

        server = Program(netns(ns["b"], sys.executable, "-c", SERVER, str(PORT), "2"))
        programs.append(server)
        server.wait_for("listening", timeout=20)
        # Over the point-to-point pair (the kernel's peer route), then through the route.
        sent_peer = connect(ns["a"], ENDS["b"][0], size=65536).split()
        sent_far = connect(ns["a"], FAR, source=ENDS["a"][2].split("/")[0], size=TRANSFER).split()
        assert sent_peer[:3] == ["sent", "192.0.2.1", "65536"]
        assert sent_far[:3] == ["sent", "198.51.100.1", str(TRANSFER)]
        got_peer = server.wait_for("192.0.2.2 ", timeout=30).split()
        got_far = server.wait_for(f"{FAR} ", timeout=60).split()
        assert got_peer == ["192.0.2.2", "192.0.2.1", "65536", sent_peer[3]]
        assert got_far == [FAR, "198.51.100.1", str(TRANSFER), sent_far[3]]

        summaries = {}
        for end, program in ends.items():
            assert program.stop(signal.SIGTERM) == 0, program.seen
            summaries[end] = program.wait_for("stopped (SIGTERM):", timeout=10)
        for summary in summaries.values():
            count = counters(summary)
            # The TUN's counters count super-packets: each read gave one packet or
            # more (segmented), each write took one datagram or more (coalesced).
            assert count["tun_tx_packets"] <= count["sent"] + count["send_dropped"], summary
            assert count["tun_rx_packets"] <= count["received"], summary
            assert count["refused"] == 0, summary
        a, b = counters(summaries["a"]), counters(summaries["b"])
        assert b["received"] <= a["sent"] and a["received"] <= b["sent"], summaries
        # 4 MiB in segments of at most 1360 bytes (MTU 1400) went from a to b, as
        # TCP super-packets that a's TUN segmented and b's TUN took coalesced.
        assert a["sent"] > TRANSFER // 1360 and b["received"] > TRANSFER // 1360
        assert a["tun_tx_packets"] < a["sent"] // 4, summaries
        assert b["tun_rx_packets"] < b["received"] // 4, summaries

        # The device went with the program, and its routes with it.
        for end in ("a", "b"):
            assert "tun0" not in [link["ifname"] for link in ip_json_in(ns[end], "link")]
        assert connect(ns["a"], FAR) == "error ENETUNREACH"
    finally:
        for program in programs:
            program.kill()
        for name in ns.values():
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


@pytest.mark.privileged
@pytest.mark.parametrize("how", ["SIGINT", "seconds"])
def test_udp_tunnel_stops_cleanly(how: str) -> None:
    # One end alone, in the test namespace, on loopback: nothing answers, nothing needs to.
    seconds = 1 if how == "seconds" else 60
    args = [
        sys.executable,
        str(UDP_TUNNEL),
        "--name", "ttstop0",
        "--local", "192.0.2.1",
        "--peer", "192.0.2.2",
        "--listen", "127.0.0.1:5556",
        "--remote", "127.0.0.1:5557",
        "--seconds", str(seconds),
    ]  # fmt: skip
    program = Program(args)
    try:
        program.wait_for("ready ttstop0", timeout=20)
        assert "ttstop0" in link_names()
        if how == "SIGINT":
            assert program.stop(signal.SIGINT) == 0, program.seen
            program.wait_for("stopped (SIGINT):", timeout=10)
        else:
            program.wait_for("stopped (1 s):", timeout=10)
            assert program.proc.wait(10) == 0
        assert not any("Traceback" in line for line in program.seen), program.seen
        assert "ttstop0" not in link_names()
    finally:
        program.kill()


@pytest.mark.privileged
def test_udp_tunnel_drops_the_datagrams_its_tun_refuses_and_writes_the_rest() -> None:
    # One end in the test namespace; this test is the other, on loopback.
    args = [
        sys.executable,
        str(UDP_TUNNEL),
        "--name", "ttdrop0",
        "--local", "192.0.2.1",
        "--peer", "192.0.2.2",
        "--listen", "127.0.0.1:5560",
        "--remote", "127.0.0.1:5561",
        "--seconds", "60",
    ]  # fmt: skip
    program = Program(args)
    try:
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as remote,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener,
        ):
            remote.bind(("127.0.0.1", 5561))
            program.wait_for("ready ttdrop0", timeout=20)
            listener.bind(("192.0.2.1", 7000))
            listener.settimeout(10)
            good = [ipv4_udp("192.0.2.2", "192.0.2.1", 7001, 7000, b"%d" % i) for i in range(3)]
            # Stopped, the program finds all five in one readiness round: the
            # refused ones are in the middle of one write_batch list.
            program.proc.send_signal(signal.SIGSTOP)
            for datagram in (good[0], b"\0 not IP", good[1], b"\x45" * 2000, good[2]):
                remote.sendto(datagram, ("127.0.0.1", 5560))
            program.proc.send_signal(signal.SIGCONT)
            assert [listener.recv(100) for _ in good] == [b"0", b"1", b"2"]
        assert program.stop(signal.SIGTERM) == 0, program.seen
        count = counters(program.wait_for("stopped (SIGTERM):", timeout=10))
        assert (count["received"], count["refused"], count["tun_rx_packets"]) == (3, 2, 3)
    finally:
        program.kill()


BASE = ["--local", "192.0.2.1", "--peer", "192.0.2.2", "--listen", "127.0.0.1:5558",
        "--remote", "127.0.0.1:5559", "--seconds", "5"]  # fmt: skip


def run_tunnel(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(UDP_TUNNEL), *args], capture_output=True, text=True, timeout=30
    )


@pytest.mark.parametrize(
    "args,message",
    [
        (["--route", "198.51.100.1/24"], "has host bits set"),
        (["--address", "198.51.100.300/32"], "does not appear to be an IPv4 or IPv6 interface"),
        (["--listen", "203.0.113.1"], "is not ADDRESS:PORT"),
        (["--remote", "203.0.113.2:70000"], "port 70000 is outside 1..65535"),
        (["--remote", "[2001:db8::2]:5555"], "are of different families"),
        (["--peer", "2001:db8::2"], "are of different families"),
        (["--mtu", "40"], "--mtu 40 is outside 68..65507"),
        (["--seconds", "0"], "--seconds 0.0 is outside"),
    ],
)
def test_udp_tunnel_refuses_bad_arguments_before_opening_anything(
    args: list[str], message: str
) -> None:
    # argparse takes the last of a repeated option, so each case overrides BASE.
    result = run_tunnel("--name", "ttargs0", *BASE, *args)
    assert result.returncode == 2, result
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.privileged
@pytest.mark.parametrize(
    "args,message",
    [
        (["--name", "lo"], "lo"),
        (["--name", "ttbad0", "--route", "198.51.100.0/24", "--route", "198.51.100.0/24"],
         "File exists"),
        (["--name", "ttbad0", "--listen", "203.0.113.9:5558"], "UDP 203.0.113.9:5558"),
    ],
)  # fmt: skip
def test_udp_tunnel_reports_a_refusal_and_leaves_no_device(args: list[str], message: str) -> None:
    result = run_tunnel(*BASE, *args)
    assert result.returncode == 1, result
    assert result.stderr.startswith("udp_tunnel: ") and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert "ttbad0" not in link_names()
