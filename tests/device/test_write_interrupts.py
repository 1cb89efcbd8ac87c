"""A batch write interrupted part-way (Ctrl-C, or whatever a signal handler
raises) says exactly what went out: its ``.written``, ``.index`` and
``.unwritten`` agree with what the far side received.

The writes must wait in the middle of a batch. A TUN never makes them: the
kernel gives back a written packet's memory as soon as IP takes it. So the
device is a TAP in a bridge whose other port, a veth, sends through a slow
``tbf`` qdisc: the frames wait there, still charged to the TAP's socket, whose
send buffer (TUNSETSNDBUF) holds about two, so the write waits for room (a
1000-byte frame per 100 ms at 80 kbit/s). UDP goes the same way: a socket with
a small SO_SNDBUF sending through a veth with the same qdisc. The far side is
a packet socket on each veth's peer.

Every check is the same: after the interrupt the link is made fast and the
write resumed from what the exception said; the far side must then have every
frame exactly once, in order (a count too low repeats frames, one too high
loses them).
"""

from __future__ import annotations

import fcntl
import itertools
import json
import signal
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType

import pytest
from helpers.ip import ip
from helpers.processes import interrupt_after_ready
from helpers.skips import require_tool, skip_or_fail
from helpers.threads import waiting_in_poll

import tuntap_cffi as tuntap

pytestmark = pytest.mark.privileged

TAP = "ttwitap0"
BRIDGE = "ttwibr0"
PORT, PORT_PEER = "ttwi0", "ttwi0p"  # the bridge's slow port, and where frames arrive
UDP_DEV, UDP_PEER = "ttwu0", "ttwu0p"  # the UDP socket's slow link
SRC4, DST4 = "198.51.100.1", "198.51.100.2"
DST_PORT = 9999
DST_MAC, SRC_MAC = bytes.fromhex("020000000009"), bytes.fromhex("020000000001")
ETHERTYPE = 0x88B5  # IEEE local experimental: nothing else sends it
TUNSETSNDBUF = 0x400454D4
COUNT = 30
TAGS = itertools.count(1000)  # each test's frames carry a tag of their own
SLOW = ("rate", "80kbit", "burst", "1600", "limit", "10000000")
FAST = ("rate", "1gbit", "burst", "1mb", "limit", "10000000")


def tc(*args: str) -> None:
    result = subprocess.run(["tc", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"tc {' '.join(args)} failed: {result.stderr.strip()}")


def quiet(name: str) -> None:
    with open(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6", "w") as f:
        f.write("1")


@pytest.fixture(scope="module", autouse=True)
def slow_links() -> Iterator[None]:
    require_tool("tc")
    require_tool("bridge")
    ip("tuntap", "add", "mode", "tap", "name", TAP)
    try:
        ip("link", "add", BRIDGE, "type", "bridge")
        ip("link", "add", PORT, "type", "veth", "peer", "name", PORT_PEER)
        ip("link", "add", UDP_DEV, "type", "veth", "peer", "name", UDP_PEER)
        for name in (TAP, PORT):
            ip("link", "set", name, "master", BRIDGE)
        for name in (TAP, BRIDGE, PORT, PORT_PEER, UDP_DEV, UDP_PEER):
            quiet(name)
            ip("link", "set", name, "up")
        ip("addr", "add", f"{SRC4}/24", "dev", UDP_DEV)
        ip("neigh", "add", DST4, "lladdr", "02:00:00:00:00:09", "dev", UDP_DEV)
        subprocess.run(
            ["bridge", "fdb", "add", "02:00:00:00:00:09", "dev", PORT, "master", "static"],
            check=True,
        )
        for dev in (PORT, UDP_DEV):
            added = subprocess.run(
                ["tc", "qdisc", "add", "dev", dev, "root", "tbf", *SLOW],
                capture_output=True,
                text=True,
            )
            if added.returncode != 0:
                skip_or_fail(f"no tbf qdisc in this kernel: {added.stderr.strip()}")
        yield
    finally:
        for name in (BRIDGE, PORT, UDP_DEV, TAP):
            subprocess.run(["ip", "link", "del", name], capture_output=True)


def set_speed(dev: str, speed: tuple[str, ...]) -> None:
    tc("qdisc", "change", "dev", dev, "root", "tbf", *speed)


def tap_forwarding() -> None:
    """Wait until the bridge forwards the TAP's frames (its carrier came with the fd)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        bridge = json.loads(
            subprocess.run(["bridge", "-j", "link"], capture_output=True, text=True).stdout
        )
        ports = {port["ifname"]: port.get("state") for port in bridge}
        if ports.get(TAP) == ports.get(PORT) == "forwarding":
            return
        time.sleep(0.02)
    raise AssertionError(f"the bridge never forwarded: {ports}")


def open_tap() -> tuntap.Interface:
    """The TAP, with a send buffer of about two frames, forwarding."""
    tap = tuntap.open(TAP, tuntap.DevKind.TAP)
    fcntl.ioctl(tap.fileno(), TUNSETSNDBUF, struct.pack("i", 4096))
    tap_forwarding()
    return tap


def frames(tag: int) -> list[bytes]:
    """COUNT frames to the bridge's slow port, each carrying ``tag`` and its position."""
    head = DST_MAC + SRC_MAC + struct.pack("!H", ETHERTYPE)
    return [head + struct.pack("!II", tag, i) + bytes(978) for i in range(COUNT)]


def datagrams(tag: int) -> list[bytes]:
    """COUNT datagrams, each longer than the one before (so each goes as its own
    message, not a UDP_SEGMENT run the qdisc would split and let through)."""
    return [struct.pack("!II", tag, i) + bytes(990 + i) for i in range(COUNT)]


def capture(dev: str, protocol: int) -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(protocol))
    sock.bind((dev, protocol))
    return sock


def positions(sock: socket.socket, tag: int, offset: int, want: int) -> list[int]:
    """The positions of ``tag``'s frames that arrived (at ``offset`` in each), in
    order: until ``want`` came and then 0.3 s passed with nothing more (5 s at most)."""
    got: list[int] = []
    deadline = time.monotonic() + 5
    sock.settimeout(0.3)
    while time.monotonic() < deadline:
        try:
            data = sock.recv(4096)
        except socket.timeout:
            if len(got) >= want:
                break
            continue
        if data[offset : offset + 4] == struct.pack("!I", tag):
            got.append(struct.unpack("!I", data[offset + 4 : offset + 8])[0])
    return got


FRAME_AT = 14  # a frame's tag and position follow its Ethernet header
DATAGRAM_AT = 14 + 20 + 8  # a datagram's, its Ethernet, IPv4 and UDP headers


class Stop(BaseException):
    """What a signal handler of an application might raise to stop everything."""


class Alarm(Exception):
    """What a signal handler might raise as an ordinary error."""


def interrupted(write: Callable[[], int], delay: float, exc: BaseException) -> BaseException:
    """What ``write`` raised when SIGALRM raised ``exc`` ``delay`` s after the write
    first waited in C (a poll of its fd): the signal lands inside the write, not
    in the Python before it, however slow the machine (a timer started before
    the call could fire there under a sanitizer and load)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise exc

    main = threading.main_thread()
    native_id, ident = main.native_id, main.ident
    assert native_id is not None and ident is not None
    done = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + 10
        while not done.is_set() and time.monotonic() < deadline:
            if waiting_in_poll(native_id):
                if not done.wait(delay):
                    signal.pthread_kill(ident, signal.SIGALRM)
                return
            time.sleep(0.001)

    previous = signal.signal(signal.SIGALRM, handler)
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        write()
    except BaseException as caught:
        return caught
    finally:
        done.set()
        watcher.join()
        signal.signal(signal.SIGALRM, previous)
    raise AssertionError("the write ended before the signal")


def check_stopped(exc: BaseException, raised: BaseException) -> None:
    """``exc`` is what the handler raised, with the progress of the write."""
    written = getattr(exc, "written", None)
    assert written is not None, f"{exc!r} does not say what went out"
    assert 0 < written < COUNT, f"{exc!r}: written {written}"  # it went part-way
    assert getattr(exc, "index", None) == written
    assert getattr(exc, "unwritten", None) == tuple(range(written, COUNT))
    assert isinstance(exc, type(raised)), repr(exc)
    assert str(exc) == str(raised)
    assert isinstance(exc, tuntap.BatchWriteStopped), repr(exc)
    # Ctrl-C stays out of reach of ``except Exception``; an Exception stays one.
    assert isinstance(exc, Exception) == isinstance(raised, Exception)
    assert isinstance(exc, tuntap.BatchWriteError) == isinstance(raised, Exception)


RAISED = [
    pytest.param(0.02, KeyboardInterrupt(), id="ctrl-c-in-the-first-wait"),
    pytest.param(0.25, KeyboardInterrupt(), id="ctrl-c-later"),
    pytest.param(0.02, Stop("stop"), id="a-base-exception"),
    pytest.param(0.25, Alarm("alarm"), id="an-exception"),
    pytest.param(0.02, TimeoutError("deadline"), id="an-oserror-in-the-first-wait"),
]


@pytest.mark.parametrize("delay, raised", RAISED)
def test_an_interrupted_list_write_says_exactly_what_went(
    delay: float, raised: BaseException
) -> None:
    tag = next(TAGS)
    packets = frames(tag)
    set_speed(PORT, SLOW)
    with capture(PORT_PEER, ETHERTYPE) as far, open_tap() as tap:
        exc = interrupted(lambda: tap.write_batch(packets), delay, raised)
        check_stopped(exc, raised)
        set_speed(PORT, FAST)
        assert tap.write_batch(packets, start=exc.index) == COUNT - exc.index
        assert positions(far, tag, FRAME_AT, COUNT) == list(range(COUNT))


def test_an_interrupted_generator_write_counts_what_it_yielded() -> None:
    """Positions count the items the iterator gave, so ``unwritten`` picks them out."""
    tag = next(TAGS)
    packets = frames(tag)
    set_speed(PORT, SLOW)
    with capture(PORT_PEER, ETHERTYPE) as far, open_tap() as tap:
        exc = interrupted(lambda: tap.write_batch(p for p in packets), 0.02, KeyboardInterrupt())
        check_stopped(exc, KeyboardInterrupt())
        set_speed(PORT, FAST)
        rest = [packets[i] for i in exc.unwritten]  # type: ignore[attr-defined]
        assert tap.write_batch(iter(rest)) == len(rest)
        assert positions(far, tag, FRAME_AT, COUNT) == list(range(COUNT))


def test_an_interrupted_relay_of_a_batch_says_exactly_what_went() -> None:
    """A PacketBatch goes the relay's way (one C call, then the wait loop)."""
    tag = next(TAGS)
    batch = tuntap.PacketBatch(64)
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx,
    ):
        rx.bind(("127.0.0.1", 0))
        assert tuntap.udp_recv_batch(rx, batch, timeout=0) == 0  # UDP_GRO on
        for frame in frames(tag):
            tx.sendto(frame, rx.getsockname())
        assert tuntap.udp_recv_batch(rx, batch, timeout=2, kind=tuntap.DevKind.TAP) == COUNT
    set_speed(PORT, SLOW)
    with capture(PORT_PEER, ETHERTYPE) as far, open_tap() as tap:
        exc = interrupted(lambda: tap.write_batch(batch), 0.02, KeyboardInterrupt())
        check_stopped(exc, KeyboardInterrupt())
        set_speed(PORT, FAST)
        assert tap.write_batch(batch, start=exc.index) == COUNT - exc.index
        assert positions(far, tag, FRAME_AT, COUNT) == list(range(COUNT))


def test_a_system_exit_keeps_its_code() -> None:
    tag = next(TAGS)
    set_speed(PORT, SLOW)
    with capture(PORT_PEER, ETHERTYPE) as far, open_tap() as tap:
        exc = interrupted(lambda: tap.write_batch(frames(tag)), 0.02, SystemExit(7))
        check_stopped(exc, SystemExit(7))
        assert isinstance(exc, SystemExit) and exc.code == 7
        set_speed(PORT, FAST)
        assert positions(far, tag, FRAME_AT, exc.written) == list(range(exc.written))


@pytest.fixture
def udp_socket() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        sock.bind((SRC4, 0))
        sock.connect((DST4, DST_PORT))
        yield sock


@pytest.mark.parametrize("delay, raised", RAISED)
def test_an_interrupted_send_says_exactly_what_went(
    udp_socket: socket.socket, delay: float, raised: BaseException
) -> None:
    tag = next(TAGS)
    data = datagrams(tag)
    set_speed(UDP_DEV, SLOW)
    with capture(UDP_PEER, 0x0800) as far:
        exc = interrupted(lambda: tuntap.udp_send_batch(udp_socket, data), delay, raised)
        check_stopped(exc, raised)
        set_speed(UDP_DEV, FAST)
        assert tuntap.udp_send_batch(udp_socket, data, start=exc.index) == COUNT - exc.index
        assert positions(far, tag, DATAGRAM_AT, COUNT) == list(range(COUNT))


# -- Ctrl-C, as a user presses it: SIGINT to a child process --------------------------

CHILD = """
    import fcntl, json, struct, socket, subprocess, sys, time
    import tuntap_cffi as tuntap
    what, tag, target = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    count, ethertype, sndbuf, port = map(int, sys.argv[4:])
    if what == "tap":
        tap = tuntap.open(target, tuntap.DevKind.TAP)
        fcntl.ioctl(tap.fileno(), sndbuf, struct.pack("i", 4096))
        for _ in range(250):  # until the bridge forwards (the carrier came with the fd)
            ports = json.loads(subprocess.run(["bridge", "-j", "link"], capture_output=True).stdout)
            if {p["ifname"]: p.get("state") for p in ports}.get(target) == "forwarding":
                break
            time.sleep(0.02)
        head = bytes.fromhex("020000000009020000000001") + struct.pack("!H", ethertype)
        items = [head + struct.pack("!II", tag, i) + bytes(978) for i in range(count)]
        write = lambda: tap.write_batch(items)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        sock.connect((target, port))
        items = [struct.pack("!II", tag, i) + bytes(990 + i) for i in range(count)]
        write = lambda: tuntap.udp_send_batch(sock, items)
    print("ready", flush=True)
    try:
        write()
    except KeyboardInterrupt as exc:
        print(json.dumps({
            "type": type(exc).__name__,
            "stopped": isinstance(exc, getattr(tuntap, "BatchWriteStopped", ())),
            "written": getattr(exc, "written", None),
            "index": getattr(exc, "index", None),
            "unwritten": getattr(exc, "unwritten", None),
        }), flush=True)
        raise SystemExit(3)
    print("not interrupted", flush=True)
"""


@pytest.mark.parametrize("what", ["tap", "udp"])
def test_ctrl_c_in_a_child_says_exactly_what_went(what: str) -> None:
    tag = next(TAGS)
    dev, peer, protocol, at = (
        (PORT, PORT_PEER, ETHERTYPE, FRAME_AT)
        if what == "tap"
        else (UDP_DEV, UDP_PEER, 0x0800, DATAGRAM_AT)
    )
    set_speed(dev, SLOW)
    with capture(peer, protocol) as far:
        args = (COUNT, ETHERTYPE, TUNSETSNDBUF, DST_PORT)
        returncode, out, err, elapsed = interrupt_after_ready(
            CHILD, what, str(tag), TAP if what == "tap" else DST4, *map(str, args)
        )
        assert returncode == 3, (out, err)
        report = json.loads(out.splitlines()[-1])
        assert report["type"] == "BatchWriteKeyboardInterrupt" and report["stopped"], report
        written, index, unwritten = report["written"], report["index"], report["unwritten"]
        assert 0 < written == index < COUNT and unwritten == list(range(index, COUNT)), report
        assert elapsed < 1.0, f"Ctrl-C took {elapsed:.3f} s"
        set_speed(dev, FAST)
        # What the child said went is exactly what arrived; the rest, sent now, follows.
        if what == "tap":
            with open_tap() as tap:
                assert tap.write_batch(frames(tag), start=index) == COUNT - index
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.connect((DST4, DST_PORT))
                assert tuntap.udp_send_batch(sock, datagrams(tag), start=index) == COUNT - index
        assert positions(far, tag, at, COUNT) == list(range(COUNT))
