"""Network namespaces: ``tuntap.netns.create``/``delete`` and ``open(..., netns=...)``.

Every namespace made here has a unique name and is deleted in a finally
block; the test process itself stays in the private namespace conftest.py
made (it is "namespace B" below, the one made here is "A").
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import sys
import threading
import uuid

import pytest
from helpers.ip import TUN_ADDR, TUN_PEER, ip_json, link_names
from helpers.packets import ipv4_udp
from helpers.processes import NOBODY, open_fds, spawn_with_private_tun, wait_for_line

import tuntap_cffi as tuntap
from tuntap_cffi import DevKind

pytestmark = pytest.mark.privileged


def unique_name() -> str:
    return f"tt-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def delete_quietly(name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        tuntap.netns.delete(name)


def in_netns(name: str, *command: str, timeout: float = 30) -> str:
    """Run a command inside the named namespace with ip-netns-exec(8)."""
    result = subprocess.run(
        ["ip", "netns", "exec", name, *command], capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def thread_netns() -> str:
    return os.readlink("/proc/thread-self/ns/net")


# -- named namespaces, interoperable with ip netns ---------------------------------------


def test_create_is_seen_by_ip_netns_and_delete_removes_it() -> None:
    name = unique_name()
    here = thread_netns()
    try:
        assert tuntap.netns.create(name) == f"/run/netns/{name}"
        assert thread_netns() == here
        assert (
            name in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        )
        # A new namespace: only its own loopback, down.
        assert [link["ifname"] for link in ip_json("-n", name, "link")] == ["lo"]
        tuntap.netns.delete(name)
        assert (
            name
            not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        )
        assert not os.path.exists(f"/run/netns/{name}")
    finally:
        delete_quietly(name)


def test_a_namespace_made_by_ip_netns_is_used_and_deleted_here() -> None:
    name = unique_name()
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        with tuntap.open("ipn%d", DevKind.TAP, netns=name) as iface:
            names = [link["ifname"] for link in ip_json("-n", name, "link")]
            assert iface.name in names
        tuntap.netns.delete(name)
        assert (
            name
            not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        )
    finally:
        delete_quietly(name)


# -- devices in another namespace -----------------------------------------------------------

SEND_UDP = """
import socket, sys
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.bind((sys.argv[1], 0))
    s.sendto(sys.argv[3].encode(), (sys.argv[2], 9999))
"""

RECEIVE_UDP = """
import socket, sys
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.bind((sys.argv[1], 9998))
    s.settimeout(20)
    print("listening", flush=True)
    print("got", s.recv(100).decode(), flush=True)
"""


def test_a_device_made_in_namespace_a_is_configured_and_carries_traffic_there(
    named_netns: str,
) -> None:
    here = thread_netns()
    before = link_names()
    with tuntap.open("nsd%d", DevKind.TUN, netns=named_netns) as iface:
        assert thread_netns() == here
        # Configuration acts in A: netlink requests and the /proc/sys/net file.
        iface.set_ipv6(False)
        iface.add_address(f"{TUN_ADDR}/24")
        iface.set_mtu(1400)
        iface.up()
        assert thread_netns() == here
        assert iface.addresses()[0].with_prefixlen == f"{TUN_ADDR}/24" and iface.is_up
        (link,) = ip_json("-n", named_netns, "addr", "show", "dev", iface.name)
        assert link["mtu"] == 1400 and "UP" in link["flags"]
        assert [a["local"] for a in link["addr_info"]] == [TUN_ADDR]
        disable = in_netns(named_netns, "cat", f"/proc/sys/net/ipv6/conf/{iface.name}/disable_ipv6")
        assert disable.strip() == "1"
        # B (this namespace) sees no such device.
        assert link_names() == before and iface.name not in link_names()
        # A packet sent in A is read here ...
        in_netns(named_netns, sys.executable, "-c", SEND_UDP, TUN_ADDR, TUN_PEER, "from-a")
        for _ in range(10):
            pkt = iface.read_packet(timeout=5)
            if bytes(pkt.body).endswith(b"from-a"):
                break
        else:
            raise AssertionError("the datagram sent in A never came")
        assert str(pkt.sip) == TUN_ADDR and str(pkt.dip) == TUN_PEER
        # ... and one written here is received by a socket in A.
        receiver = subprocess.Popen(
            ["ip", "netns", "exec", named_netns, sys.executable, "-c", RECEIVE_UDP, TUN_ADDR],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for_line(receiver, "listening", timeout=30)
            iface.write_packet(ipv4_udp(TUN_PEER, TUN_ADDR, 4242, 9998, b"to-a"))
            assert wait_for_line(receiver, "got", timeout=30) == "got to-a"
        finally:
            receiver.kill()
            receiver.communicate(timeout=30)
    assert not [link for link in ip_json("-n", named_netns, "link") if link["ifname"] != "lo"]


def test_netns_by_path_and_by_fd(named_netns: str) -> None:
    path = f"/run/netns/{named_netns}"
    fd = os.open(path, os.O_RDONLY)
    try:
        with tuntap.open("byp%d", netns=path) as by_path, tuntap.open("byf%d", netns=fd) as by_fd:
            names = {link["ifname"] for link in ip_json("-n", named_netns, "link")}
            assert {by_path.name, by_fd.name} <= names
            assert by_fd.ifindex != by_path.ifindex
        os.fstat(fd)  # the caller's fd is left open
    finally:
        os.close(fd)


def test_queues_in_another_namespace(named_netns: str) -> None:
    queues = tuntap.open_queues("nsq%d", DevKind.TUN, count=3, netns=named_netns)
    try:
        queues[2].set_ipv6(False)  # a queue other than the first opens its own socket there
        queues[1].up()
        (link,) = ip_json("-n", named_netns, "-d", "link", "show", "dev", queues[0].name)
        assert link["linkinfo"]["info_data"]["numqueues"] == 3 and "UP" in link["flags"]
        assert queues[0].name not in link_names()
    finally:
        for queue in queues:
            queue.close()


def test_other_threads_and_the_calling_thread_stay_in_their_namespace(named_netns: str) -> None:
    """While one thread opens devices in A again and again, no thread ever moves."""
    here = thread_netns()
    seen: set[str] = set()
    done = threading.Event()
    errors: list[BaseException] = []

    def opener() -> None:
        try:
            for _ in range(50):
                tuntap.open("thr%d", netns=named_netns).close()
                seen.add(thread_netns())
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=opener)
    thread.start()
    for _ in range(100_000):
        seen.add(thread_netns())
        if done.is_set():
            break
    thread.join(60)
    assert not errors and not thread.is_alive()
    assert seen == {here}


def test_a_deleted_namespace_lives_on_until_the_interface_closes() -> None:
    name = unique_name()
    tuntap.netns.create(name)
    before = open_fds()
    try:
        iface = tuntap.open("gone%d", DevKind.TUN, netns=name)
        tuntap.netns.delete(name)
        assert not os.path.exists(f"/run/netns/{name}")
        iface.set_mtu(1300)  # the namespace is still there for it
        assert iface.mtu == 1300
        iface.set_ipv6(False)
        iface.close()
        iface.close()
    finally:
        delete_quietly(name)
    assert open_fds() == before


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "error", "message"),
    [
        ("no-such-netns-tt", FileNotFoundError, "no such network namespace .*netns.create"),
        ("/run/netns/no-such-netns-tt", FileNotFoundError, "no such network namespace"),
        ("/etc/hostname", ValueError, "is not a network namespace"),
        ("/proc/self/ns/uts", ValueError, "is not a network namespace"),
        ("/tmp", ValueError, "is not a network namespace"),
        (0, ValueError, "fd 0 is not a network namespace"),
        (-1, ValueError, "a file descriptor is >= 0"),
        (987654, OSError, "not an open fd"),
        ("", ValueError, "namespace name is empty"),
        ("..", ValueError, "is not allowed"),
        ("x" * 256, ValueError, "longer than 255 bytes"),
        (True, TypeError, "not bool"),
        (1.5, TypeError, "not float"),
        (b"/run/netns/x", TypeError, "not bytes"),
    ],
)
def test_bad_namespaces_are_clear_errors(
    target: object, error: type[Exception], message: str
) -> None:
    before = open_fds()
    links = link_names()
    with pytest.raises(error, match=message) as info:
        tuntap.open("badns%d", netns=target)  # type: ignore[arg-type]
    if error is OSError:
        assert info.value.errno == errno.EBADF
    with pytest.raises(error, match=message):
        tuntap.open_queues("badns%d", count=2, netns=target)  # type: ignore[arg-type]
    assert open_fds() == before and link_names() == links


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        ("", ValueError, "empty"),
        (".", ValueError, "not allowed"),
        ("..", ValueError, "not allowed"),
        ("a/b", ValueError, "contains '/'"),
        ("a\0b", ValueError, "NUL"),
        ("é" * 128, ValueError, "longer than 255 bytes"),
        (5, TypeError, "must be a str"),
    ],
)
def test_bad_names_for_create_and_delete(
    name: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        tuntap.netns.create(name)  # type: ignore[arg-type]
    with pytest.raises(error, match=message):
        tuntap.netns.delete(name)  # type: ignore[arg-type]


def test_a_name_of_255_bytes_is_allowed() -> None:
    name = unique_name()
    name += "x" * (255 - len(name))
    try:
        tuntap.netns.create(name)
        assert os.path.exists(f"/run/netns/{name}")
    finally:
        delete_quietly(name)


def test_create_existing_and_delete_missing(named_netns: str) -> None:
    with pytest.raises(FileExistsError, match="a namespace of that name exists"):
        tuntap.netns.create(named_netns)
    missing = unique_name()
    with pytest.raises(FileNotFoundError, match="no such namespace"):
        tuntap.netns.delete(missing)


UNPRIVILEGED_NETNS = """
    import os, sys
    import tuntap_cffi as tuntap
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    for call in (lambda: tuntap.netns.create(sys.argv[1] + "-x"),
                 lambda: tuntap.open("unp%d", netns=sys.argv[1]),
                 tuntap.netns.unshare):
        try:
            call()
        except OSError as exc:
            print("refused", type(exc).__name__, exc, flush=True)
""".replace("NOBODY", str(NOBODY))


def test_namespaces_need_cap_sys_admin(named_netns: str) -> None:
    child = spawn_with_private_tun(UNPRIVILEGED_NETNS, named_netns)
    create = wait_for_line(child, "refused")
    enter = wait_for_line(child, "refused")
    unshare = wait_for_line(child, "refused")
    child.communicate(timeout=30)
    assert unshare.startswith("refused PermissionError") and "needs CAP_SYS_ADMIN" in unshare
    assert create.startswith("refused PermissionError") and "needs CAP_SYS_ADMIN" in create
    assert enter.startswith("refused PermissionError")
    assert "entering another network namespace needs CAP_SYS_ADMIN" in enter
    assert not os.path.exists(f"/run/netns/{named_netns}-x")


UNSHARE = """
import json, os, threading
import tuntap_cffi as tuntap
before = os.readlink("/proc/thread-self/ns/net")
other = []
thread = threading.Thread(target=lambda: (threading.Event().wait(0.2),
                                          other.append(os.readlink("/proc/thread-self/ns/net"))))
thread.start()
tuntap.netns.unshare()
after = os.readlink("/proc/thread-self/ns/net")
thread.join(5)
with open("/proc/thread-self/net/dev") as dev:
    links = [line.split(":")[0].strip() for line in list(dev)[2:]]
lo = tuntap.Link("lo")
print(json.dumps([before != after, other == [before], links, lo.is_up]))
lo.up()
print(json.dumps(lo.is_up))
"""


def test_unshare_gives_the_calling_thread_a_network_of_its_own() -> None:
    result = subprocess.run(
        [sys.executable, "-c", UNSHARE], capture_output=True, text=True, timeout=60, check=True
    )
    first, second = result.stdout.splitlines()
    assert first == '[true, true, ["lo"], false]'
    assert second == "true"
