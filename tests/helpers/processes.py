"""Child processes and this process's fds: other users with a /dev/net/tun of their
own (a private mount namespace), Ctrl-C sent to a child, and the open fd count."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time


def open_fds() -> list[int]:
    return sorted(int(fd) for fd in os.listdir("/proc/self/fd"))


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
