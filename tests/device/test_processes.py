"""Behaviour seen from outside a process: Ctrl-C, the command line, and privileges.

Child processes inherit the test's private network namespace. The privilege
tests give a child a private mount namespace, so that what it sees at
/dev/net/tun can be changed without touching the host.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest
from helpers.ip import TUN_ADDR, TUN_PEER, configure_v4, link_names
from helpers.processes import NOBODY, PRIVATE_NODE, wait_for_line

pytestmark = pytest.mark.privileged


def spawn(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*args, sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def interrupt(proc: subprocess.Popen[str]) -> float:
    """Send SIGINT; return how long the process took to exit."""
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("process ignored SIGINT for 10 s") from None
    return time.monotonic() - start


@pytest.mark.parametrize("call", ["iface.read_packet()", "iface.read_packet(bytearray(64))"])
def test_ctrl_c_interrupts_a_blocked_read(call: str) -> None:
    proc = spawn(f"""
        import tuntap_cffi as tuntap
        iface = tuntap.open("intr%d", tuntap.DevKind.TUN)
        print("ready", flush=True)
        try:
            {call}
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            raise SystemExit(3)
    """)
    wait_for_line(proc, "ready")
    time.sleep(0.2)  # let it block in the wait
    elapsed = interrupt(proc)
    out, err = proc.communicate()
    assert proc.returncode == 3, err
    assert "interrupted" in out
    # The contract is 100 ms; allow for a loaded CI machine, never for a hang.
    assert elapsed < 1.0, f"Ctrl-C took {elapsed:.3f} s"


def test_print_command_prints_packets_and_exits_cleanly_on_ctrl_c() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tuntap_cffi", "print", "tun", "prt0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for_line(proc, "Listening on") == "Listening on prt0"
        configure_v4("prt0")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((TUN_ADDR, 0))
            sock.sendto(b"printed", (TUN_PEER, 7777))
        line = wait_for_line(proc, "0800 ")
        _protocol, body = line.split(" ")
        assert bytes.fromhex(body).endswith(b"printed")
        assert bytes.fromhex(body)[16:20] == socket.inet_aton(TUN_PEER)
    finally:
        interrupt(proc)
    _out, err = proc.communicate()
    assert proc.returncode == 0
    assert "Traceback" not in err
    assert "prt0" not in link_names()


@pytest.mark.parametrize("args", [["--help"], ["print", "--help"]])
def test_help(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tuntap_cffi", *args], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0 and "usage:" in result.stdout


def test_bad_command_line() -> None:
    for args in (["print", "eth", "x"], ["print", "tun"], []):
        result = subprocess.run(
            [sys.executable, "-m", "tuntap_cffi", *args], capture_output=True, text=True, timeout=30
        )
        assert result.returncode == 2 and "usage:" in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "tuntap_cffi", "print", "tun", "bad/name"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1 and "contains '/'" in result.stderr
    assert "Traceback" not in result.stderr


OPEN_AND_REPORT = """
    import os, sys
    import tuntap_cffi as tuntap
    if sys.argv[1:] == ["drop"]:
        # After the import: the interpreter's own files may be unreadable to nobody.
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    try:
        tuntap.open("priv%d", tuntap.DevKind.TUN)
    except OSError as exc:
        print(type(exc).__name__, exc, flush=True)
""".replace("NOBODY", str(NOBODY))


def in_private_mounts(shell: str, drop_privileges: bool) -> list[str]:
    """Run OPEN_AND_REPORT after ``shell`` inside a private mount namespace."""
    code = textwrap.dedent(OPEN_AND_REPORT)
    drop = "drop" if drop_privileges else "keep"
    script = f'{shell}\nexec {sys.executable} -c "$CODE" {drop}'
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-ec", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CODE": code},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split(" ", 1)


def test_unprivileged_user_without_access_to_the_clone_device() -> None:
    kind, message = in_private_mounts(
        PRIVATE_NODE.format(mode="0600"),
        drop_privileges=True,
    )
    assert kind == "PermissionError"
    assert "/dev/net/tun" in message


def test_unprivileged_user_without_cap_net_admin() -> None:
    kind, message = in_private_mounts(
        PRIVATE_NODE.format(mode="0666"),
        drop_privileges=True,
    )
    assert kind == "PermissionError"
    assert "TUNSETIFF on priv%d" in message and "CAP_NET_ADMIN" in message


def test_missing_clone_device_says_to_load_the_module() -> None:
    kind, message = in_private_mounts("mount -t tmpfs none /dev/net", drop_privileges=False)
    assert kind == "FileNotFoundError"
    assert "modprobe tun" in message
