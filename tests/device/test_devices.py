"""Devices as operators run them: persistent and owned devices, multi-queue, and their errors.

Everything happens in the private network namespace made by conftest.py, with
documentation addresses only; devices made persistent are deleted in finally
blocks. Children that drop to another uid get a private mount namespace with
a /dev/net/tun node of their own (the host's is never touched).
"""

from __future__ import annotations

import errno
import grp
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from helpers.ip import TUN_ADDR, TUN_PEER, ip, ip_link, link_names, wait_carrier
from helpers.packets import ipv4_udp
from helpers.processes import NOBODY, open_fds, spawn_with_private_tun, wait_for_line
from helpers.queues import drain, udp_payload

import tuntap_cffi as tuntap
from tuntap_cffi import DevKind, _lowlevel

pytestmark = pytest.mark.privileged

OTHER_UID = NOBODY - 1  # a uid that owns nothing
TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # where helpers/ is


@contextmanager
def deleted_after(name: str) -> Iterator[str]:
    """Delete the (persistent) device ``name`` at the end, whatever happens."""
    try:
        yield name
    finally:
        if name in link_names():
            ip("link", "delete", name)


def tun_data(name: str) -> dict[str, object]:
    """What ip(8) says of a TUN/TAP device: type, pi, persist, user, multi_queue, ..."""
    info: dict[str, object] = ip_link(name)["linkinfo"]["info_data"]
    return info


def configure(iface: tuntap.Interface) -> None:
    """192.0.2.1/24, IPv6 off (no stray solicitations), up: through the library."""
    iface.set_ipv6(False)
    iface.add_address(f"{TUN_ADDR}/24")
    iface.up()


def send_flows(ports: range, packets_per_flow: int, tag: str) -> set[bytes]:
    """UDP from 192.0.2.1 to 192.0.2.2, one socket (source port) per flow; the payloads sent."""
    sent = set()
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((TUN_ADDR, 0))
            for k in range(packets_per_flow):
                payload = f"{tag}:{port}:{k}".encode()
                sock.sendto(payload, (TUN_PEER, port))
                sent.add(payload)
    return sent


def drain_in_threads(queues: list[tuntap.Interface]) -> list[list[bytes]]:
    """Read every queue in a thread of its own at once; each queue's payloads."""
    results: list[list[bytes]] = [[] for _ in queues]

    def work(i: int) -> None:
        results[i] = drain(queues[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(queues))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    return results


# -- persistence ----------------------------------------------------------------------


def test_a_persistent_device_survives_close_and_reopen_until_set_persist_false() -> None:
    before = open_fds()
    with deleted_after("pst0"):
        iface = tuntap.open("pst0", DevKind.TUN, persist=True)
        configure(iface)
        index = iface.ifindex
        iface.close()
        assert "pst0" in link_names() and tun_data("pst0")["persist"] is True
        again = tuntap.open("pst0", DevKind.TUN)  # persist=False leaves it persistent
        assert again.ifindex == index
        assert again.addresses()[0].with_prefixlen == f"{TUN_ADDR}/24"
        again.close()
        assert tun_data("pst0")["persist"] is True
        last = tuntap.open("pst0", DevKind.TUN)
        last.set_persist(False)
        assert tun_data("pst0")["persist"] is False
        last.close()
        assert "pst0" not in link_names()
    assert open_fds() == before


def test_set_persist_true_on_an_open_device() -> None:
    with deleted_after("pst1"):
        with tuntap.open("pst1", DevKind.TAP) as iface:
            iface.set_persist(True)
        data = tun_data("pst1")
        assert data["persist"] is True and data["type"] == "tap"


def test_set_persist_bad_input() -> None:
    iface = tuntap.open("pst%d", DevKind.TUN)
    with pytest.raises(TypeError, match="True or False"):
        iface.set_persist(1)  # type: ignore[arg-type]
    iface.close()
    with pytest.raises(tuntap.InterfaceClosedError):
        iface.set_persist(True)


# -- owner and group ----------------------------------------------------------------------


def test_owner_and_group_by_id_or_name() -> None:
    group_name = grp.getgrgid(NOBODY).gr_name
    with tuntap.open("own%d", owner="nobody", group=group_name) as iface:
        data = tun_data(iface.name)
        assert (data["user"], data["group"]) == ("nobody", group_name)
    with tuntap.open("own%d", owner=1234, group=4321) as iface:
        data = tun_data(iface.name)
        assert (data["user"], data["group"]) == (1234, 4321)  # ip prints ids without names


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"owner": "no-such-user-tt"}, ValueError, "owner 'no-such-user-tt': no such user"),
        ({"group": "no-such-group-tt"}, ValueError, "group 'no-such-group-tt': no such group"),
        ({"owner": -1}, ValueError, "not a valid id"),
        ({"group": 2**32 - 1}, ValueError, "not a valid id"),
        ({"owner": True}, TypeError, "not bool"),
        ({"group": 1.5}, TypeError, "not float"),
        ({"persist": 1}, TypeError, "persist must be True or False"),
    ],
)
def test_bad_owner_group_or_persist_is_refused_before_any_system_call(
    options: dict[str, object], error: type[Exception], message: str
) -> None:
    before = open_fds()
    with pytest.raises(error, match=message):
        tuntap.open("badopt0", DevKind.TUN, **options)  # type: ignore[arg-type]
    with pytest.raises(error, match=message):
        tuntap.open_queues("badopt0", DevKind.TUN, count=2, **options)  # type: ignore[arg-type]
    assert "badopt0" not in link_names()
    assert open_fds() == before


# A child that becomes another user after importing, attaches to a device and
# answers one UDP datagram with one of its own (ports swapped).
ATTACH_AND_ECHO = """
    import os, sys
    sys.path.insert(0, sys.argv[1])
    import tuntap_cffi as tuntap
    from helpers.packets import ipv4_udp
    uid, gid, name = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    try:
        iface = tuntap.open(name, tuntap.DevKind.TUN)
    except OSError as exc:
        print("refused", type(exc).__name__, exc, flush=True)
        raise SystemExit(0)
    print("attached", flush=True)
    for _ in range(20):
        pkt = iface.read_packet(timeout=10)
        proto, off, _ = pkt.ip_proto()
        print("read", pkt.sip, "->", pkt.dip, "protocol", proto, flush=True)
        if proto == 17:
            break
    sport = int.from_bytes(pkt.body[off : off + 2], "big")
    dport = int.from_bytes(pkt.body[off + 2 : off + 4], "big")
    payload = bytes(pkt.body[off + 8 :])
    iface.write_packet(ipv4_udp(str(pkt.dip), str(pkt.sip), dport, sport, b"echo:" + payload))
    print("echoed", payload.decode(), flush=True)
    iface.close()
"""


def run_as(uid: int, gid: int, name: str) -> subprocess.Popen[str]:
    return spawn_with_private_tun(ATTACH_AND_ECHO, TESTS, str(uid), str(gid), name)


@pytest.mark.parametrize(
    ("owner", "group", "uid", "gid"),
    [(NOBODY, None, NOBODY, NOBODY), (None, NOBODY, OTHER_UID, NOBODY)],
    ids=["owner", "group"],
)
def test_the_owner_attaches_without_cap_net_admin_and_moves_packets(
    owner: int | None, group: int | None, uid: int, gid: int
) -> None:
    with deleted_after("owned0"):
        with tuntap.open("owned0", DevKind.TUN, persist=True, owner=owner, group=group) as iface:
            configure(iface)
        child = run_as(uid, gid, "owned0")
        try:
            wait_for_line(child, "attached")
            wait_carrier("owned0")
            # Sent again every 0.5 s until the echo comes: under load the kernel
            # has dropped the first datagram to a queue just attached (seen once
            # in CI, counted in the device's TX dropped). A child that never
            # reads still fails the test.
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.bind((TUN_ADDR, 0))
                sock.settimeout(0.5)
                echo: tuple[bytes, tuple[str, int]] | None = None
                sent = 0
                deadline = time.monotonic() + 10
                while echo is None and time.monotonic() < deadline:
                    sock.sendto(b"from-root", (TUN_PEER, 7000))
                    sent += 1
                    try:
                        echo = sock.recvfrom(2048)
                    except socket.timeout:
                        continue
                if echo is None:
                    child.kill()
                    out, err = child.communicate(timeout=30)
                    link = ip("-s", "link", "show", "owned0")
                    raise AssertionError(
                        f"no echo within 10 s of {sent} datagrams; the child said "
                        f"{out!r}, {err!r}; {link}"
                    )
                data, peer = echo
            assert data == b"echo:from-root" and peer == (TUN_PEER, 7000)
            line = wait_for_line(child, "echoed")
            assert line == "echoed from-root"
        finally:
            child.kill()
            _out, err = child.communicate(timeout=30)
        assert "Traceback" not in err


@pytest.mark.parametrize(
    ("owner", "group", "uid", "gid", "why"),
    [
        (NOBODY, None, OTHER_UID, OTHER_UID, f"this process runs as uid {OTHER_UID}"),
        (None, NOBODY, OTHER_UID, OTHER_UID, f"it is not in gid {NOBODY}"),
        (NOBODY, NOBODY, NOBODY, OTHER_UID, f"it is not in gid {NOBODY}"),
    ],
    ids=["not-the-owner", "not-in-the-group", "owner-but-not-in-the-group"],
)
def test_others_are_refused_by_the_kernels_owner_check_and_told_why(
    owner: int | None, group: int | None, uid: int, gid: int, why: str
) -> None:
    with deleted_after("owned1"):
        tuntap.open("owned1", DevKind.TUN, persist=True, owner=owner, group=group).close()
        child = run_as(uid, gid, "owned1")
        line = wait_for_line(child, "refused")
        child.communicate(timeout=30)
        assert line.startswith("refused PermissionError [Errno 1] TUNSETIFF on owned1")
        assert why in line and "without CAP_NET_ADMIN" in line
        rule = " and ".join(
            part
            for part in (
                None if owner is None else f"uid {owner}",
                None if group is None else f"members of gid {group}",
            )
            if part
        )
        assert f"owned1 may be attached only by {rule}" in line


def test_creating_without_cap_net_admin_says_so() -> None:
    child = run_as(NOBODY, NOBODY, "nocap0")
    line = wait_for_line(child, "refused")
    child.communicate(timeout=30)
    assert "PermissionError" in line and "creating a device needs CAP_NET_ADMIN" in line


# -- mismatches -----------------------------------------------------------------------


def test_mismatches_name_the_difference() -> None:
    before = open_fds()
    single = tuntap.open("mm0", DevKind.TUN)
    try:
        with pytest.raises(tuntap.DeviceMismatchError, match="mm0 is a TUN device, not a TAP"):
            tuntap.open(single.name, DevKind.TAP)
    finally:
        single.close()
    with deleted_after("mm1"):
        tuntap.open("mm1", DevKind.TUN, persist=True).close()
        with pytest.raises(
            tuntap.DeviceMismatchError, match=r"mm1 is a single-queue device .*open_queues"
        ) as info:
            tuntap.open_queues("mm1", DevKind.TUN, count=2)
        assert info.value.errno == errno.EINVAL
    queues = tuntap.open_queues("mm%d", DevKind.TAP, count=2)
    try:
        with pytest.raises(tuntap.DeviceMismatchError, match="multi-queue device: open its queues"):
            tuntap.open(queues[0].name, DevKind.TAP)
        with pytest.raises(tuntap.DeviceMismatchError, match="is a TAP device, not a TUN device"):
            tuntap.open_queues(queues[0].name, DevKind.TUN, count=1)
    finally:
        for queue in queues:
            queue.close()
    with pytest.raises(tuntap.DeviceMismatchError, match="lo is not a TUN/TAP device"):
        tuntap.open("lo", DevKind.TUN)
    ip("link", "add", "mmveth0", "type", "veth", "peer", "name", "mmveth1")
    try:
        with pytest.raises(tuntap.DeviceMismatchError, match="not a TUN/TAP device but a veth"):
            tuntap.open("mmveth0", DevKind.TAP)
    finally:
        ip("link", "delete", "mmveth0")
    assert open_fds() == before


def test_queues_opened_with_other_headers_are_refused() -> None:
    """Another program's queue with IFF_VNET_HDR: the kernel would give ours those headers."""
    fd = _lowlevel.open_clone(tuntap.device.attach.CLONE_DEVICE)
    assert fd >= 0
    try:
        flags = _lowlevel.IFF_MULTI_QUEUE | _lowlevel.lib.IFF_VNET_HDR
        result, name = _lowlevel.set_iff(fd, "hdr%d", _lowlevel.KIND_TUN, flags)
        assert result == 0
        before = open_fds()
        with pytest.raises(tuntap.DeviceMismatchError, match=r"vnet_hdr on"):
            tuntap.open_queues(name, DevKind.TUN, count=2)
        assert open_fds() == before
    finally:
        os.close(fd)


# -- multi-queue ---------------------------------------------------------------------


@pytest.fixture
def queues() -> Iterator[list[tuntap.Interface]]:
    queues = tuntap.open_queues("mq%d", DevKind.TUN, count=4)
    try:
        configure(queues[0])
        yield queues
    finally:
        for queue in queues:
            queue.close()


def test_open_queues_makes_one_multi_queue_device(queues: list[tuntap.Interface]) -> None:
    assert len({q.name for q in queues}) == 1 and len({q.fileno() for q in queues}) == 4
    assert all(q.multi_queue and q.kind is DevKind.TUN for q in queues)
    data = tun_data(queues[0].name)
    assert data["multi_queue"] is True and data["numqueues"] == 4
    # The configuration methods of any queue act on the one device.
    queues[3].set_mtu(1400)
    assert queues[1].mtu == 1400 and ip_link(queues[0].name)["mtu"] == 1400
    assert queues[2].ifindex == queues[0].ifindex


def test_flows_are_spread_and_every_packet_is_read_exactly_once(
    queues: list[tuntap.Interface],
) -> None:
    sent = send_flows(range(20000, 20064), 4, "spread")
    per_queue = drain_in_threads(queues)
    everything = [payload for got in per_queue for payload in got]
    assert Counter(everything) == Counter(sent)  # each one, once
    assert sum(1 for got in per_queue if got) >= 2, [len(got) for got in per_queue]


def test_a_detached_queue_receives_nothing_and_the_others_take_its_flows(
    queues: list[tuntap.Interface],
) -> None:
    queues[1].detach_queue()
    assert tun_data(queues[0].name)["numdisabled"] == 1
    sent = send_flows(range(21000, 21064), 3, "detached")
    per_queue = drain_in_threads(queues)
    assert per_queue[1] == []
    assert Counter(p for got in per_queue for p in got) == Counter(sent)
    with pytest.raises(TimeoutError):
        queues[1].read_packet(timeout=0.1)
    queues[1].attach_queue()
    sent = send_flows(range(22000, 22064), 3, "attached")
    per_queue = drain_in_threads(queues)
    assert per_queue[1], "the queue attached again gets its share"
    assert Counter(p for got in per_queue for p in got) == Counter(sent)


def test_closing_one_queue_leaves_the_others_working(queues: list[tuntap.Interface]) -> None:
    name = queues[0].name
    queues[0].close()
    assert name in link_names() and tun_data(name)["numqueues"] == 3
    queues[2].add_address("198.51.100.1/24")
    assert "198.51.100.1/24" in {a.with_prefixlen for a in queues[1].addresses()}
    sent = send_flows(range(23000, 23032), 2, "closed")
    per_queue = drain_in_threads(queues[1:])
    assert Counter(p for got in per_queue for p in got) == Counter(sent)
    written = ipv4_udp(TUN_PEER, TUN_ADDR, 9, 23999, b"from-queue-3")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((TUN_ADDR, 23999))
        sock.settimeout(5)
        queues[3].write_packet(written)
        assert sock.recv(100) == b"from-queue-3"
    for queue in queues[1:]:
        queue.close()
    assert name not in link_names()


# A queue of its own in another process: attach, say so, read until quiet.
QUEUE_IN_A_CHILD = """
    import json, sys
    sys.path.insert(0, sys.argv[1])
    import tuntap_cffi as tuntap
    from helpers.queues import drain
    (queue,) = tuntap.open_queues(sys.argv[2], tuntap.DevKind.TUN, count=1)
    print("attached", flush=True)
    got = drain(queue, quiet=1.0)
    print("got", json.dumps([p.decode() for p in got]), flush=True)
    queue.close()
"""


def test_a_queue_can_be_added_and_read_by_another_process(
    queues: list[tuntap.Interface],
) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", QUEUE_IN_A_CHILD.replace("\n    ", "\n"), TESTS, queues[0].name],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_line(child, "attached", timeout=30)
        assert tun_data(queues[0].name)["numqueues"] == 5
        sent = send_flows(range(24000, 24064), 3, "child")
        here = [p for got in drain_in_threads(queues) for p in got]
        there = [p.encode() for p in json.loads(wait_for_line(child, "got", 30)[4:])]
    finally:
        child.kill()
        child.communicate(timeout=30)
    assert there, "the child's queue got its share of the flows"
    assert Counter(here + there) == Counter(sent)


def test_the_kernels_limit_of_queues() -> None:
    before = open_fds()
    queues = tuntap.open_queues("lim%d", DevKind.TUN, count=tuntap.device.attach.MAX_QUEUES)
    try:
        assert tun_data(queues[0].name)["numqueues"] == 256
        with pytest.raises(OSError, match="the device has all 256 queues") as info:
            tuntap.open_queues(queues[0].name, DevKind.TUN, count=1)
        assert info.value.errno == errno.E2BIG
        queues[0].detach_queue()
        # A detached queue still counts: attaching it again fits, one more does not.
        with pytest.raises(OSError, match="all 256 queues"):
            tuntap.open_queues(queues[0].name, DevKind.TUN, count=1)
        queues[0].attach_queue()
    finally:
        for queue in queues:
            queue.close()
    assert open_fds() == before


@pytest.mark.parametrize(
    ("count", "error", "message"),
    [
        (0, ValueError, "between 1 and 256"),
        (257, ValueError, "between 1 and 256"),
        (-1, ValueError, "between 1 and 256"),
        (True, TypeError, "count must be an int"),
        ("2", TypeError, "count must be an int"),
    ],
)
def test_bad_counts_are_refused_before_any_system_call(
    count: object, error: type[Exception], message: str
) -> None:
    before = open_fds()
    with pytest.raises(error, match=message):
        tuntap.open_queues("badq0", DevKind.TUN, count=count)  # type: ignore[arg-type]
    assert "badq0" not in link_names() and open_fds() == before


def test_queue_calls_on_single_queue_or_closed_interfaces() -> None:
    with tuntap.open("sq%d", DevKind.TUN) as single:
        assert single.multi_queue is False
        for call in (single.detach_queue, single.attach_queue):
            with pytest.raises(ValueError, match="not a queue of a multi-queue device"):
                call()
    queues = tuntap.open_queues("sq%d", DevKind.TUN, count=2)
    with pytest.raises(OSError, match="the queue is attached already") as info:
        queues[0].attach_queue()
    assert info.value.errno == errno.EINVAL
    queues[0].detach_queue()
    with pytest.raises(OSError, match="the queue is detached already"):
        queues[0].detach_queue()
    for queue in queues:
        queue.close()
    with pytest.raises(tuntap.InterfaceClosedError):
        queues[0].attach_queue()


def test_every_queue_reads_and_writes_from_its_own_thread_while_another_closes(
    queues: list[tuntap.Interface],
) -> None:
    """Readers on queues 1..3 go on while queue 0 is closed under its own reader."""
    errors: list[BaseException] = []

    def reader_of_queue_0() -> None:
        try:
            queues[0].read_packet(timeout=30)
        except tuntap.InterfaceClosedError:
            return
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=reader_of_queue_0)
    thread.start()
    time.sleep(0.1)
    queues[0].close()
    thread.join(10)
    assert not thread.is_alive() and not errors
    sent = send_flows(range(25000, 25032), 2, "threads")
    assert Counter(p for got in drain_in_threads(queues[1:]) for p in got) == Counter(sent)


def test_every_queue_reads_and_writes_batches(queues: list[tuntap.Interface]) -> None:
    sent = send_flows(range(26000, 26064), 2, "batch")
    got: list[bytes] = []
    for queue in queues:
        batch = tuntap.PacketBatch(32)
        while queue.read_batch(batch, timeout=0.3):
            got += [p for p in map(udp_payload, batch.packets()) if p is not None]
    assert Counter(got) == Counter(sent)
    replies = [ipv4_udp(TUN_PEER, TUN_ADDR, 9, 26999, f"reply-{i}".encode()) for i in range(8)]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((TUN_ADDR, 26999))
        sock.settimeout(5)
        assert queues[2].write_batch(replies) == 8
        assert sorted(sock.recv(100) for _ in range(8)) == sorted(
            f"reply-{i}".encode() for i in range(8)
        )
