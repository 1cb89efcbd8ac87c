"""A TCP transfer between two namespaces of a test's own, joined only by a relay
between two TUNs: the server and client programs, and the byte-exact check."""

from __future__ import annotations

import hashlib
import subprocess
import threading
import time

import tuntap_cffi as tuntap
from helpers.ip import ip
from tuntap_cffi import PacketBatch

SERVER = """
import hashlib, socket, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("192.0.2.2", 5001))
srv.listen(1)
print("listening", flush=True)
srv.settimeout(20)
conn, _ = srv.accept()
conn.settimeout(20)
digest, total = hashlib.sha256(), 0
while True:
    data = conn.recv(65536)
    if not data:
        break
    digest.update(data)
    total += len(data)
print(total, digest.hexdigest(), flush=True)
"""


CLIENT = """
import socket, sys
data = bytes.fromhex(sys.stdin.readline().strip()) * int(sys.argv[1])
sock = socket.create_connection(("192.0.2.2", 5001), timeout=20)
sock.sendall(data)
sock.close()
"""


def join_namespaces(ns_a: str, ns_b: str, tun_a: tuntap.Interface, tun_b: tuntap.Interface) -> None:
    """Move tun_a into ns_a as 192.0.2.1/24 and tun_b into ns_b as 192.0.2.2/24, up."""
    for ns, iface, addr in ((ns_a, tun_a, "192.0.2.1"), (ns_b, tun_b, "192.0.2.2")):
        ip("link", "set", iface.name, "netns", ns)  # the fd keeps working
        ip("-n", ns, "addr", "add", f"{addr}/24", "dev", iface.name)
        ip("-n", ns, "link", "set", iface.name, "up")
        ip("-n", ns, "link", "set", "lo", "up")


def check_transfer(
    server: subprocess.Popen[str],
    client_args: list[str],
    block: bytes,
    repeat: int,
    timeouts: tuple[float, float],
) -> None:
    """Run the client against a listening server; the server must have received
    ``block * repeat`` exactly (count and SHA-256)."""
    client = subprocess.run(
        client_args,
        input=block.hex() + "\n",
        capture_output=True,
        text=True,
        timeout=timeouts[0],
    )
    assert client.returncode == 0, client.stderr
    out, _ = server.communicate(timeout=timeouts[1])
    total, digest = out.split()
    assert int(total) == len(block) * repeat
    assert digest == hashlib.sha256(block * repeat).hexdigest()


def relay_forever(src: tuntap.Interface, dst: tuntap.Interface, stop: threading.Event) -> None:
    """Forward batches from src to dst until stopped (at most a minute)."""
    batch = PacketBatch(64)
    deadline = time.monotonic() + 60
    while not stop.is_set() and time.monotonic() < deadline:
        if src.read_batch(batch, timeout=0.1):
            dst.write_batch(batch)
