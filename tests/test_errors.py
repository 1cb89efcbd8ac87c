"""errno to exception in one place: ``errors.os_error`` and its table of hints.

Every OSError about an interface names the operation and the interface in
its message and carries the interface's name in ``filename`` (as ``open()``
names its path): checked here for a netlink failure, open failures and
packet I/O failures, each caused for real.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap

import pytest
from helpers.ip import TUN_ADDR, TUN_PEER, ip
from helpers.packets import ipv4_udp

import tuntap_cffi as tuntap
from tuntap_cffi import DevKind
from tuntap_cffi.errors import HINTS, hint_for, os_error

NOBODY = 65534


def test_os_error_picks_the_subclass_and_names_the_operation_and_interface() -> None:
    exc = os_error(errno.EEXIST, "add_address 192.0.2.1/24", "tun3", area="netlink")
    assert type(exc) is FileExistsError
    assert exc.errno == errno.EEXIST and exc.filename == "tun3"
    assert (
        exc.strerror
        == "add_address 192.0.2.1/24 on tun3: File exists (the address is already assigned)"
    )
    assert "add_address 192.0.2.1/24 on tun3" in str(exc) and "'tun3'" in str(exc)


def test_hints_come_from_the_table_or_the_caller() -> None:
    assert hint_for(errno.ENODEV, "device") == "the interface is gone"
    assert hint_for(errno.EIO, "write") == "the interface is down"
    assert hint_for(errno.ENXIO, "write") == "the interface is gone"  # falls back to "device"
    assert hint_for(errno.E2BIG, "offload") == HINTS["offload"][0]  # any errno there
    assert hint_for(errno.EINVAL, "netlink") == ""
    assert "(" not in os_error(errno.ENODEV, "op", "x", hint="").strerror
    given = os_error(errno.ENODEV, "op", "x", hint="mine", area="device")
    assert given.strerror.endswith("(mine)")
    acked = os_error(errno.EINVAL, "set_mtu", "x", area="netlink", ext_ack="mtu less than 68")
    assert acked.strerror.endswith(": Invalid argument (kernel: mtu less than 68)")
    both = os_error(errno.EPERM, "up", "x", area="netlink", ext_ack="no")
    assert both.strerror.endswith("(needs CAP_NET_ADMIN; kernel: no)")


def test_an_error_about_no_interface_has_no_filename() -> None:
    exc = os_error(errno.EEXIST, "create network namespace 'a'", None, area="netns-create")
    assert exc.filename is None and str(exc).startswith("[Errno 17] create network namespace 'a'")


def test_the_library_builds_oserrors_only_through_os_error() -> None:
    """Every OSError the package builds goes through errors.os_error (defined in the
    binding tier's oserrors.py) or a subclass of ours."""
    package = os.path.dirname(tuntap.__file__)
    builders = {"errors.py", os.path.join("_lowlevel", "oserrors.py")}
    for folder, _dirs, files in os.walk(package):
        for file in sorted(files):
            path = os.path.relpath(os.path.join(folder, file), package)
            if file.endswith(".py") and path not in builders:
                with open(os.path.join(folder, file)) as f:
                    assert "OSError(" not in f.read(), os.path.join(folder, file)


# -- real failures ---------------------------------------------------------------------------


def assert_names(exc: OSError, operation: str, name: str) -> None:
    assert exc.filename == name
    assert f"{operation} on {name}" in str(exc)


@pytest.mark.privileged
def test_a_netlink_failure_names_the_interface(tun: tuntap.Interface) -> None:
    tun.add_address("192.0.2.1/24")
    with pytest.raises(FileExistsError) as info:
        tun.add_address("192.0.2.1/24")
    assert_names(info.value, "add_address 192.0.2.1/24", tun.name)
    assert "the address is already assigned" in str(info.value)


@pytest.mark.privileged
def test_packet_io_failures_name_the_interface(tun: tuntap.Interface) -> None:
    packet = ipv4_udp(TUN_PEER, TUN_ADDR, 1, 2, b"")
    with pytest.raises(OSError) as info:
        tun.write_packet(packet)  # the link is down
    assert info.value.errno == errno.EIO
    assert_names(info.value, "write_packet", tun.name)
    with pytest.raises(OSError) as info:
        tun.write_batch([packet])
    assert_names(info.value, "write_batch", tun.name)
    ip("link", "del", tun.name)
    with pytest.raises(OSError, match="the interface is gone") as info:
        tun.read_packet(timeout=1)
    assert_names(info.value, "read_packet", tun.name)


@pytest.mark.privileged
def test_an_open_refused_by_tunsetiff_names_the_device(tun: tuntap.Interface) -> None:
    with pytest.raises(tuntap.DeviceMismatchError) as info:
        tuntap.open(tun.name, DevKind.TAP)
    assert_names(info.value, "TUNSETIFF", tun.name)
    with pytest.raises(tuntap.DeviceBusyError) as busy:
        tuntap.open(tun.name, DevKind.TUN)
    assert_names(busy.value, "TUNSETIFF", tun.name)


OPEN_AND_REPORT = """
    import os, sys
    import tuntap_cffi as tuntap
    if sys.argv[1:] == ["drop"]:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    try:
        tuntap.open("err%d", tuntap.DevKind.TUN)
    except OSError as exc:
        print(type(exc).__name__, repr(exc.filename), exc, flush=True)
""".replace("NOBODY", str(NOBODY))


@pytest.mark.privileged
@pytest.mark.parametrize(
    "shell,drop,kind,operation",
    [
        ("mount -t tmpfs none /dev/net", "keep", "FileNotFoundError", "open /dev/net/tun"),
        (
            "mount -t tmpfs none /dev/net\nmknod -m 0666 /dev/net/tun c 10 200",
            "drop",
            "PermissionError",
            "TUNSETIFF",
        ),
    ],
)
def test_open_failures_name_the_device(shell: str, drop: str, kind: str, operation: str) -> None:
    script = f'{shell}\nexec {sys.executable} -c "$CODE" {drop}'
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-ec", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CODE": textwrap.dedent(OPEN_AND_REPORT)},
    )
    assert result.returncode == 0, result.stderr
    got_kind, filename, message = result.stdout.split(" ", 2)
    assert got_kind == kind and filename == "'err%d'", result.stdout
    assert f"{operation} on err%d" in message
