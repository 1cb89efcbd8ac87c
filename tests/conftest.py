"""Test harness: every test runs inside a private network namespace.

Before any test is collected the test process moves itself into a fresh
network namespace (``unshare(CLONE_NEWNET)``) and brings ``lo`` up, so
nothing a test does can touch the host's network. Tests marked
``privileged`` need that namespace and the right to create TUN/TAP devices:
without them they skip with the reason, and with
``TUNTAP_REQUIRE_PRIVILEGED=1`` (set in CI) such a skip is a failure.

The fixtures more than one test module uses are defined here, once; the
helpers they share are in ``helpers/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Iterator
from typing import Callable, TypeVar

import pytest
from helpers.ip import configure_v4
from helpers.skips import REQUIRE_PRIVILEGED, import_or_skip, skip_or_fail

import tuntap_cffi

CLONE_NEWNET = 0x40000000
T = TypeVar("T")


def _unshare_net() -> None:
    if hasattr(os, "unshare"):
        os.unshare(CLONE_NEWNET)
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _enter_private_netns() -> str | None:
    """Move this process into a new network namespace; return why not, or None."""
    try:
        _unshare_net()
    except OSError as exc:
        return f"cannot create a private network namespace (needs CAP_SYS_ADMIN): {exc}"
    try:
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"cannot bring lo up in the private namespace: {exc}"
    return None


def _probe_tun() -> str | None:
    import tuntap_cffi

    try:
        tuntap_cffi.open("probe%d", tuntap_cffi.DevKind.TUN).close()
    except OSError as exc:
        return f"cannot create TUN devices (needs CAP_NET_ADMIN and /dev/net/tun): {exc}"
    return None


def _children_without_leak_checks() -> None:
    """Under the asan env, check leaks in this process only: the tools the tests
    run (ip, tshark...) inherit the preloaded runtime and have leaks of their own."""
    options = os.environ.get("ASAN_OPTIONS")
    if options is not None:
        os.environ["ASAN_OPTIONS"] = options.replace("detect_leaks=1", "detect_leaks=0")


def _children_take_ctrl_c() -> None:
    """Started in the background by a non-interactive shell (``cmd &``), this
    process inherits SIGINT ignored, and so would every child: Python then
    installs no KeyboardInterrupt handler, and the Ctrl-C tests (which send
    SIGINT to a child) would test nothing. Handle it here, so children start
    with SIGINT at its default, as under a terminal."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


_children_without_leak_checks()
_children_take_ctrl_c()
NETNS_HOST = os.readlink("/proc/self/ns/net")
PRIVILEGE_PROBLEM = _enter_private_netns()
if PRIVILEGE_PROBLEM is None:
    PRIVILEGE_PROBLEM = _probe_tun()
NETNS_TESTS = os.readlink("/proc/self/ns/net")


def pytest_report_header() -> str:
    state = "available" if PRIVILEGE_PROBLEM is None else f"unavailable: {PRIVILEGE_PROBLEM}"
    return (
        f"privileged tests: {state}; TUNTAP_REQUIRE_PRIVILEGED={int(REQUIRE_PRIVILEGED)}; "
        f"netns {NETNS_HOST} -> {NETNS_TESTS}"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("privileged") is None or PRIVILEGE_PROBLEM is None:
        return
    skip_or_fail(f"privileged test cannot run: {PRIVILEGE_PROBLEM}")


@pytest.fixture
def tun() -> Iterator[tuntap_cffi.Interface]:
    """A TUN, down and without addresses."""
    with tuntap_cffi.open("tun%d", tuntap_cffi.DevKind.TUN) as iface:
        yield iface


@pytest.fixture
def tap() -> Iterator[tuntap_cffi.Interface]:
    """A TAP, down and without addresses."""
    with tuntap_cffi.open("tap%d", tuntap_cffi.DevKind.TAP) as iface:
        yield iface


@pytest.fixture
def tun_v4() -> Iterator[tuntap_cffi.Interface]:
    """A TUN, up, with 192.0.2.1/24 (``helpers.ip.configure_v4``)."""
    with tuntap_cffi.open("tun%d", tuntap_cffi.DevKind.TUN) as iface:
        configure_v4(iface.name)
        yield iface


@pytest.fixture
def named_netns() -> Iterator[str]:
    """A named network namespace (``/run/netns/NAME``, as ``ip netns add`` makes),
    deleted afterwards unless the test deleted it."""
    name = f"tt-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tuntap_cffi.netns.create(name)
    try:
        yield name
    finally:
        with contextlib.suppress(FileNotFoundError):
            tuntap_cffi.netns.delete(name)


# uvloop is CPython's (the "test" extra installs it there): missing on CPython, the
# uvloop runs skip, or fail in CI.
LOOPS = ["asyncio", "uvloop"] if sys.implementation.name == "cpython" else ["asyncio"]


@pytest.fixture(params=LOOPS)
def run(request: pytest.FixtureRequest) -> Callable[[Awaitable[T]], T]:
    """Run a coroutine to completion on a fresh loop of the parametrized kind."""
    new_loop = asyncio.new_event_loop
    if request.param == "uvloop":
        new_loop = import_or_skip("uvloop").new_event_loop

    def runner(coro: Awaitable[T]) -> T:
        loop = new_loop()
        try:
            return loop.run_until_complete(asyncio.wait_for(coro, 30))
        finally:
            loop.close()

    return runner
