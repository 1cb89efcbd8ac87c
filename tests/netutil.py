"""Helpers for tests that need the kernel: ip(8) calls, fd counts, packet builders.

Only documentation addresses are used (192.0.2.0/24, 2001:db8::/32), and only
inside the private namespace that conftest.py created.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import time
from types import ModuleType
from typing import Any, NoReturn

import pytest

# Set in CI: a privileged test or a needed tool that is missing fails instead of skipping.
REQUIRE_PRIVILEGED = os.environ.get("TUNTAP_REQUIRE_PRIVILEGED", "").lower() in ("1", "true", "yes")
# tox -e dist (tools/check_dist.py) runs the suite with no compiler on purpose, and says so
# with CC=false: there a test that compiles is skipped, as it runs in the py3x envs.
NEEDS_COMPILER_RUNS_IN = (
    "the py3x envs (tox -e dist runs without a compiler on purpose)"
    if os.environ.get("CC") == "false"
    else None
)

TUN_ADDR = "192.0.2.1"
TUN_PEER = "192.0.2.2"
TUN_ADDR6 = "2001:db8::1"
TUN_PEER6 = "2001:db8::2"


def ip(*args: str) -> str:
    """Run ip(8) in the test namespace; fail loudly with its stderr. Without the
    sanitizer runtimes the asan env preloads: ip(8)'s own route printer trips
    AddressSanitizer (strncpy-param-overlap in print_route, iproute2 6.1)."""
    env = {key: value for key, value in os.environ.items() if key != "LD_PRELOAD"}
    result = subprocess.run(["ip", *args], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise AssertionError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def ip_json(*args: str) -> Any:
    return json.loads(ip("-j", *args) or "[]")


def link_names() -> list[str]:
    return [link["ifname"] for link in ip_json("link", "show")]


def disable_ipv6(name: str) -> None:
    """Keep a device silent: no router solicitations or DAD once it is up."""
    with open(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6", "w") as f:
        f.write("1")


def configure_v4(name: str, address: str = TUN_ADDR, prefix: int = 24) -> None:
    disable_ipv6(name)
    ip("addr", "add", f"{address}/{prefix}", "dev", name)
    ip("link", "set", name, "up")


def open_fds() -> list[int]:
    return sorted(int(fd) for fd in os.listdir("/proc/self/fd"))


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4_udp(
    src: str, dst: str, sport: int, dport: int, payload: bytes, ident: int = 1, tos: int = 0
) -> bytes:
    """A complete IPv4/UDP packet with correct header and UDP checksums."""
    udp_len = 8 + len(payload)
    saddr, daddr = socket.inet_aton(src), socket.inet_aton(dst)
    pseudo = saddr + daddr + struct.pack("!BBH", 0, 17, udp_len)
    udp = struct.pack("!HHHH", sport, dport, udp_len, 0) + payload
    csum = checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", csum) + udp[8:]
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, tos, 20 + udp_len, ident, 0, 64, 17, 0, saddr, daddr
    )
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + udp


def ipv6_udp(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    udp_len = 8 + len(payload)
    saddr = socket.inet_pton(socket.AF_INET6, src)
    daddr = socket.inet_pton(socket.AF_INET6, dst)
    pseudo = saddr + daddr + struct.pack("!I3xB", udp_len, 17)
    udp = struct.pack("!HHHH", sport, dport, udp_len, 0) + payload
    csum = checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", csum) + udp[8:]
    header = struct.pack("!IHBB16s16s", 6 << 28, udp_len, 17, 64, saddr, daddr)
    return header + udp


def ethernet(dst: bytes, src: bytes, ethertype: int, payload: bytes) -> bytes:
    return dst + src + struct.pack("!H", ethertype) + payload


def mac_bytes(mac: str) -> bytes:
    return bytes(int(part, 16) for part in mac.split(":"))


def skip_or_fail(reason: str, *, runs_in: str | None = None) -> NoReturn:
    """Skip the running test with ``reason``: every skip in tests/ comes through here.

    Under ``TUNTAP_REQUIRE_PRIVILEGED`` (set in CI) it fails instead, so that
    CI cannot pass a test it never ran. ``runs_in`` names where in the test
    matrix such a test does run (another interpreter or tox env): a test that
    cannot apply here stays a skip even in CI, and the reason says where.
    """
    __tracebackhide__ = True  # the skip is reported at the test's line, not here
    if runs_in is not None:
        pytest.skip(f"{reason} (it runs in {runs_in})")
    if REQUIRE_PRIVILEGED:
        pytest.fail(f"{reason}, and TUNTAP_REQUIRE_PRIVILEGED is set", pytrace=False)
    pytest.skip(reason)


def require_tool(name: str) -> str:
    """The path of an external tool a test checks against; skip (or fail in CI) without it."""
    __tracebackhide__ = True
    path = shutil.which(name)
    if path is None:
        skip_or_fail(f"{name} is not installed (tools/test-matrix installs it)")
    return path


def import_or_skip(module: str, *, runs_in: str | None = None) -> ModuleType:
    """An optional module a test needs (pytest.importorskip, through :func:`skip_or_fail`)."""
    import importlib

    __tracebackhide__ = True
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        skip_or_fail(f"{module} cannot be imported: {exc}", runs_in=runs_in)


# -- two independent views of the kernel, for checking configuration calls --------


def ip_link(name: str) -> dict[str, Any]:
    """ip(8)'s JSON view of one link."""
    (link,) = ip_json("-d", "link", "show", "dev", name)
    return dict(link)


def ip_addresses(name: str) -> set[str]:
    """ip(8)'s view of a link's addresses, as ``"address/prefix"`` strings."""
    (link,) = ip_json("addr", "show", "dev", name)
    return {f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])}


def pyroute2_link(name: str) -> Any:
    """pyroute2's RTM_NEWLINK message for one link (a test-only dependency)."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        (index,) = ipr.link_lookup(ifname=name)
        (link,) = ipr.link("get", index=index)
    return link


def pyroute2_addresses(name: str) -> dict[str, int]:
    """pyroute2's view of a link's addresses: ``"address/prefix"`` -> IFA flags."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        (index,) = ipr.link_lookup(ifname=name)
        messages = ipr.get_addr(index=index)
    result = {}
    for msg in messages:
        address = msg.get("IFA_LOCAL") or msg.get("IFA_ADDRESS")
        result[f"{address}/{msg['prefixlen']}"] = msg.get("IFA_FLAGS") or msg["flags"]
    return result


# -- child processes: other users, their own view of /dev/net/tun ----------------

NOBODY = 65534

# A /dev/net/tun of our own, on a tmpfs seen only by the child's mount namespace
# (the host's node is never touched).
PRIVATE_NODE = "mount -t tmpfs none /dev/net; mknod -m {mode} /dev/net/tun c 10 200"


def wait_for_line(proc: subprocess.Popen[str], prefix: str, timeout: float = 10) -> str:
    """The first line of the child's output starting with ``prefix``; kill it if none comes."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith(prefix):
            return line.strip()
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"no line starting {prefix!r}; stderr: {proc.communicate()[1]}")


def spawn_with_private_tun(code: str, *args: str, mode: str = "0666") -> subprocess.Popen[str]:
    """Run Python ``code`` (with ``args`` in sys.argv) in a private mount namespace
    whose /dev/net/tun is a node of mode ``mode`` on a tmpfs of its own."""
    script = f'{PRIVATE_NODE.format(mode=mode)}\nexec {sys.executable} -c "$CODE" "$@"'
    return subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-ec", script, "sh", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CODE": textwrap.dedent(code)},
    )


def interrupt_after_ready(code: str, *args: str) -> tuple[int, str, str, float]:
    """Run ``code`` in a child Python and send it SIGINT 0.2 s after it prints
    "ready": (exit status, stdout, stderr, seconds from the signal to its exit)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.2)
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
        elapsed = time.monotonic() - start
        out, err = proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out, err, elapsed
