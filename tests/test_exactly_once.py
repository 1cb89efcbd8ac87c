"""Exactly once, in order: what a batched write hands over is what the far side gets.

The property, driven by hypothesis over packet counts, sizes, interleaved TCP
and UDP flows over IPv4 and IPv6, start positions, offload on or off, and
stops: for ``write_batch`` on a TUN and ``udp_send_batch`` on a UDP socket,
sync and awaited, given a list, a generator or a ``PacketBatch``, the far side
receives every packet that the calls say went out exactly once and no other,
each flow in its order, and the counts (returned, ``.written``,
``.unwritten``) agree with what arrived. A sync call stopped part-way is
resumed as the docs say (a batch with ``start=exc.index``, a list or a
generator with the items at ``exc.unwritten``) or its round abandoned; an
awaited write resumes by itself while the far side cannot take more.

The far side is stalled, so that writes stop part-way:

- TUN: the device's send buffer is small (``TUNSETSNDBUF``) and what is
  written waits before the kernel takes it (redirected on ingress through a
  rate-limited ifb device, which hands it back): each packet holds the buffer
  until then, so writes find it full (EAGAIN) again and again. The kernel
  forwards what was written out of a plain TUN, which is read only after the
  writes (a reader that pauses, then drains); an offload TUN's super-packets
  come out of it split again, so what arrives is compared packet by packet
  with what was given (but for the TTL: ``helpers.packets.ttl_free``).
- UDP: the socket's send buffer is small and its datagrams leave through a
  rate-limited qdisc on a plain TUN, which is read after the sends.

Stops come from that stall (EAGAIN: a sync call with ``timeout=0`` raises,
an awaited one waits), from a packet the write rules refuse (not IP), and
from ``close()`` at a random moment (of the interface; of the socket, sync);
meanwhile signals interrupt the waits at random moments (their handler
returns: the calls must go on as if nothing happened). A ``PacketBatch`` may
come from a relay's earlier use: a coalescing write to an offload TUN that
stopped part-way and was not resumed.

Each example is bounded (EXAMPLE_SECONDS for its writes, a watchdog that
closes, the same for its drain); hypothesis runs 12 examples per case in the
matrix and 60 in ``tox -e gauntlet``, without shrinking.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import signal
import socket
import struct
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Union

import pytest
from helpers.counts import count
from helpers.forward import OUT6_NET, OUT_NET
from helpers.ip import ip, shape
from helpers.packets import tcp_packet, ttl_free, udp_packet
from helpers.skips import require_tool
from hypothesis import HealthCheck, Phase, given, settings, strategies as st

import tuntap_cffi as tuntap
from tuntap_cffi import AsyncInterface, BatchWriteError, PacketBatch, aio

pytestmark = pytest.mark.privileged

TUNSETSNDBUF = 0x400454D4  # _IOW('T', 212, int)
SOURCES = ("list", "generator", "batch")
MODES = ("sync", "async")
PORT = 4100  # flow f goes from source port PORT + f
MAX_FLOWS = 4
SIZES = (8, 200, 600, 600, 600, 1200)  # payload bytes: equal sizes merge
NOT_IP = b"\x00" * 40  # refused by a TUN's write rules; a bad slot in a batch
UDP_NET, UDP6_NET = "192.0.2.129/25", "2001:db8:e1::1/64"
UDP_PORT = 5999
UDP_TO = {socket.AF_INET: ("192.0.2.200", UDP_PORT), socket.AF_INET6: ("2001:db8:e1::9", UDP_PORT)}
EXAMPLE_SECONDS = 4.0  # the writes of one example, then its drain, are each bounded by this
EBADF = 9
_tags = itertools.count(1)

Source = Union[list[bytes], Iterator[bytes], PacketBatch]
Plan = tuple[list[tuple[int, bool]], list[tuple[list[Any], int]]]


# -- what is given ----------------------------------------------------------------------


@dataclass
class Given:
    """Every packet of one example, in the order given (all rounds), by id."""

    tag: int
    packets: list[bytes] = field(default_factory=list)
    good: list[bool] = field(default_factory=list)  # False: refused, or a bad slot
    flow: list[int] = field(default_factory=list)


@dataclass
class Round:
    """One write of a fresh set of packets (their ids), from position ``start``."""

    ids: list[int]
    start: int


@st.composite
def plans(draw: Any) -> Plan:
    """Flows (protocol, IPv6, usual payload size) and 1-2 rounds of (packets, start);
    a packet is (flow, payload size), or None for one that is not IP (one in ten).
    Most of a flow's packets have its usual size, so that an offload TUN merges them."""
    flows = draw(
        st.lists(
            st.tuples(st.sampled_from((6, 17)), st.booleans(), st.sampled_from(SIZES)),
            min_size=1,
            max_size=MAX_FLOWS,
        )
    )
    rounds = []
    for _ in range(draw(st.integers(1, 2))):
        specs: list[tuple[int, int] | None] = []
        for _ in range(draw(st.integers(1, 40))):
            f = draw(st.integers(0, len(flows) - 1))
            odd = draw(st.integers(0, 9))
            size = draw(st.sampled_from(SIZES)) if odd == 1 else flows[f][2]
            specs.append(None if odd == 0 else (f, size))
        n = len(specs)
        start = draw(st.one_of(st.just(0), st.integers(1, max(1, n // 2)), st.integers(0, n)))
        rounds.append((specs, start))
    return [(proto, v6) for proto, v6, _ in flows], rounds


def build(plan: Plan, not_ip: bool) -> tuple[Given, list[Round]]:
    """The packets of a plan (without those that are not IP unless ``not_ip``). Each
    flow's TCP sequence numbers and IPv4 IDs follow each other, so that an offload TUN
    merges them; each payload starts with the example's tag and the packet's id."""
    flows, planned = plan
    given = Given(next(_tags))
    seq = [1000] * MAX_FLOWS
    ids = [100] * MAX_FLOWS
    rounds = []
    for specs, start in planned:
        first = len(given.packets)
        for spec in specs:
            index = len(given.packets)
            if spec is None:
                if not_ip:
                    given.packets.append(NOT_IP)
                    given.good.append(False)
                    given.flow.append(-1)
                continue
            f, size = spec
            proto, v6 = flows[f]
            payload = struct.pack("!IHH", given.tag, index, f) + bytes([index & 0xFF]) * (size - 8)
            if proto == 6:
                packet = tcp_packet(v6, seq[f], payload, sport=PORT + f, ip_id=ids[f])
                seq[f] += size
            else:
                packet = udp_packet(v6, payload, sport=PORT + f, ip_id=ids[f])
            ids[f] = (ids[f] + 1) & 0xFFFF
            given.packets.append(packet)
            given.good.append(True)
            given.flow.append(f)
        count = len(given.packets) - first
        rounds.append(Round(list(range(first, len(given.packets))), min(start, count)))
    return given, rounds


def headers(packet: bytes) -> tuple[int, int]:
    """(offset of the transport header, protocol) of an IPv4 or IPv6 packet."""
    if packet[0] >> 4 == 6:
        return 40, packet[6]
    return (packet[0] & 0xF) * 4, packet[9]


def tagged(packet: bytes, tag: int) -> int | None:
    """The id in a packet of this module's flows that carries ``tag``; None for any other."""
    if len(packet) < 20:
        return None
    l3, proto = headers(packet)
    if proto not in (6, 17) or len(packet) < l3 + (20 if proto == 6 else 8):
        return None
    if not PORT <= struct.unpack("!H", packet[l3 : l3 + 2])[0] < PORT + MAX_FLOWS:
        return None
    l4 = (packet[l3 + 12] >> 4) * 4 if proto == 6 else 8
    head = packet[l3 + l4 : l3 + l4 + 8]
    if len(head) < 8:
        return None
    got_tag, index, _ = struct.unpack("!IHH", head)
    return index if got_tag == tag else None


# -- what the calls say --------------------------------------------------------------


@dataclass
class Ledger:
    """What the calls said went out: ids, and the sum of their counts."""

    went: list[int] = field(default_factory=list)
    counted: int = 0
    complete: bool = True  # False once a close or an abandoned stop ended a round early
    stops: list[str] = field(default_factory=list)


@dataclass
class Call:
    """One call: its items (as ids), where it starts, the positions it is to send."""

    ids: list[int]
    start: int
    pending: set[int]


def completed(ledger: Ledger, given: Given, call: Call, count: int) -> None:
    """A call that returned ``count``: every well-formed pending packet went."""
    went = [call.ids[p] for p in sorted(call.pending) if given.good[call.ids[p]]]
    assert count == len(went), f"returned {count}, but {len(went)} were to go ({ledger.stops})"
    ledger.went += went
    ledger.counted += count


def stopped(ledger: Ledger, given: Given, call: Call, exc: BatchWriteError) -> None:
    """A call that stopped: its counts must be consistent, and say what went."""
    index, unwritten = exc.index, set(exc.unwritten)
    ledger.stops.append(f"{type(exc).__name__} at {index} of {len(call.ids)}")
    left = {p for p in call.pending if p >= index}
    assert unwritten <= left, (
        f".unwritten {sorted(unwritten)} names positions this call was not to send "
        f"(those from .index {index}: {sorted(left)})"
    )
    if not is_closed(exc):  # closed, it may stop where nothing is left (index: its start)
        assert index in call.pending, f"stopped at {index}, not one of {sorted(call.pending)}"
        assert index in unwritten, f".unwritten {sorted(unwritten)} lacks .index {index}"
    went = [
        call.ids[p]
        for p in sorted(call.pending)
        if given.good[call.ids[p]] and (p < index or p not in unwritten)
    ]
    assert exc.written == len(went), (
        f".written {exc.written}, but .index {index} and .unwritten {sorted(unwritten)} "
        f"say {len(went)} went"
    )
    ledger.went += went
    ledger.counted += exc.written


def resumed(call: Call, exc: BatchWriteError, batch: bool, refused: bool) -> Call:
    """The call that resumes a stopped one, as the docs say: a batch from ``.index``
    (it passes over what went ahead), a list with the items at ``.unwritten``."""
    rest = set(exc.unwritten) - ({exc.index} if refused else set())
    if batch:
        return Call(call.ids, exc.index + (1 if refused else 0), rest)
    ids = [call.ids[p] for p in sorted(rest)]
    return Call(ids, 0, set(range(len(ids))))


def is_closed(exc: BaseException) -> bool:
    if isinstance(exc, tuntap.InterfaceClosedError):
        return True
    return isinstance(exc, OSError) and exc.errno == EBADF  # the socket was closed


# -- stops at random moments ----------------------------------------------------------


@dataclass
class Stops:
    """When to close (seconds after the writes begin; None: never), how often a signal
    interrupts (seconds; None: never), and for each stop that can be resumed, whether
    to resume it or to abandon the rest of its round."""

    close_after: float | None
    signal_every: float | None
    resume: list[bool]

    def resumes(self) -> bool:
        return self.resume.pop(0) if self.resume else True


stops_strategy = st.builds(
    Stops,
    close_after=st.one_of(st.none(), st.none(), st.floats(0, 0.004)),
    signal_every=st.one_of(st.none(), st.floats(0.0002, 0.002)),
    resume=st.lists(st.sampled_from([True, True, True, False]), max_size=4),
)


class Interrupts:
    """SIGALRM every ``every`` seconds while entered, with a handler that returns."""

    def __init__(self, every: float | None) -> None:
        self.every = every
        self.count = 0
        self.old: Any = None

    def _handler(self, signum: int, frame: Any) -> None:
        self.count += 1

    def __enter__(self) -> Interrupts:
        if self.every is not None:
            self.old = signal.signal(signal.SIGALRM, self._handler)
            signal.setitimer(signal.ITIMER_REAL, self.every, self.every)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.every is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.old)


def closer(after: float | None, close: Callable[[], None]) -> threading.Timer | None:
    """A thread that calls ``close`` after ``after`` seconds (None: no thread)."""
    if after is None:
        return None
    timer = threading.Timer(after, close)
    timer.start()
    return timer


def cancel(timer: threading.Timer | None) -> None:
    if timer is not None:
        timer.cancel()
        timer.join()


def run_sync(
    driver: Driver,
    write: SyncWrite,
    rounds: list[Round],
    close: Callable[[], None],
    close_after: float | None,
) -> None:
    """The rounds through a sync call, with ``close`` after ``close_after`` seconds, and
    after EXAMPLE_SECONDS whatever happens: a write that never ends fails the example."""
    stuck = threading.Event()

    def watchdog() -> None:
        stuck.set()
        close()

    timers = [closer(close_after, close), closer(EXAMPLE_SECONDS, watchdog)]
    try:
        driver.run(write, rounds)
    finally:
        for timer in timers:
            cancel(timer)
    assert not stuck.is_set(), f"the writes did not end in {EXAMPLE_SECONDS} s"


# -- the stalled far side ------------------------------------------------------------


REDIRECT = ("u32", "match", "u32", "0", "0", "action", "mirred", "egress", "redirect", "dev")


def slow_receive(tc: str, name: str, ifb: str) -> None:
    """Make what is written to TUN ``name`` wait before the kernel takes it: every
    packet goes through ``ifb`` (an ifb device, shaped), which hands it back to
    ``name``'s receive path, so each written packet holds the TUN's send buffer
    until then."""
    for args in (
        ["qdisc", "replace", "dev", name, "handle", "ffff:", "ingress"],
        ["filter", "add", "dev", name, "parent", "ffff:", "protocol", "all", *REDIRECT, ifb],
    ):
        subprocess.run([tc, *args], check=True, capture_output=True, timeout=30)


# -- sources and the driver -----------------------------------------------------------


class BatchFiller:
    """Fills a PacketBatch with exactly the given packets, as udp_recv_batch does in
    a tunnel (a datagram that is not IP becomes a bad slot)."""

    def __init__(self) -> None:
        self.rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.rx.bind(("127.0.0.1", 0))
        self.tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def fill(self, batch: PacketBatch, packets: list[bytes]) -> None:
        for packet in packets:
            self.tx.sendto(packet, self.rx.getsockname())
        got = tuntap.udp_recv_batch(self.rx, batch, timeout=2)
        assert got == len(packets) and [bytes(p) for p in batch] == packets, "batch not filled"

    def close(self) -> None:
        self.rx.close()
        self.tx.close()


SyncWrite = Callable[[Source, int], int]
AsyncWrite = Callable[[Source, int], Awaitable[int]]


class Driver:
    """Writes the rounds of an example, resuming or abandoning each stop, and keeps the
    ledger of what the calls said."""

    def __init__(
        self, kind: str, given: Given, filler: BatchFiller, batch: PacketBatch, stops: Stops
    ) -> None:
        self.kind, self.given, self.filler, self.batch = kind, given, filler, batch
        self.stops = stops
        self.ledger = Ledger()
        self.until = time.monotonic() + EXAMPLE_SECONDS
        self.closed = False

    def first_call(self, round_: Round) -> Call:
        if self.kind == "batch":
            self.filler.fill(self.batch, [self.given.packets[i] for i in round_.ids])
        return Call(round_.ids, round_.start, set(range(round_.start, len(round_.ids))))

    def source(self, call: Call) -> Source:
        assert time.monotonic() < self.until, f"no end in {EXAMPLE_SECONDS} s: {self.ledger.stops}"
        items = [self.given.packets[i] for i in call.ids]
        if self.kind == "list":
            return items
        if self.kind == "generator":
            return (item for item in items)
        return self.batch  # filled once per round: a resumed call writes it again

    def after(self, call: Call, exc: BaseException) -> Call | None:
        """What follows a stop: the call that resumes it, or None (closed, abandoned)."""
        ledger = self.ledger
        if not isinstance(exc, BatchWriteError):
            if not is_closed(exc):
                raise exc
            # Without counts it says that nothing went (what arrives may say otherwise).
            ledger.stops.append(f"{type(exc).__name__} without counts: {exc}")
            ledger.complete, self.closed = False, True
            return None
        stopped(ledger, self.given, call, exc)
        if is_closed(exc):
            ledger.complete, self.closed = False, True
            return None
        refused = isinstance(exc, tuntap.NotIPPacketError)
        if not refused and not isinstance(exc, TimeoutError):
            raise exc
        if not self.stops.resumes():
            ledger.complete = False
            return None
        return resumed(call, exc, self.kind == "batch", refused)

    def run(self, write: SyncWrite, rounds: list[Round]) -> None:
        for round_ in rounds:
            call: Call | None = self.first_call(round_)
            while call is not None:
                try:
                    count = write(self.source(call), call.start)
                except (BatchWriteError, tuntap.InterfaceClosedError, OSError) as exc:
                    call = self.after(call, exc)
                else:
                    completed(self.ledger, self.given, call, count)
                    call = None
            if self.closed:
                return

    async def run_async(self, write: AsyncWrite, rounds: list[Round]) -> None:
        for round_ in rounds:
            call: Call | None = self.first_call(round_)
            while call is not None:
                try:
                    count = await write(self.source(call), call.start)
                except (BatchWriteError, tuntap.InterfaceClosedError, OSError) as exc:
                    call = self.after(call, exc)
                else:
                    completed(self.ledger, self.given, call, count)
                    call = None
            if self.closed:
                return


def run_async(coro: Awaitable[None]) -> None:
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(coro, EXAMPLE_SECONDS + 1))
    finally:
        loop.close()


# -- the far side ---------------------------------------------------------------------


def underlay_payload(packet: bytes) -> bytes | None:
    """The payload of a datagram that udp_send_batch sent (to UDP_PORT); None for another."""
    l3, proto = headers(packet)
    if proto != 17 or packet[l3 + 2 : l3 + 4] != struct.pack("!H", UDP_PORT):
        return None
    return packet[l3 + 8 :]


def drain(
    out: tuntap.Interface, given: Given, expected: int, underlay: bool
) -> list[tuple[int, bytes]]:
    """(id, packet) of every packet of this example out of ``out``, in order of arrival:
    until ``expected`` came, then whatever follows within 100 ms (one that came twice,
    or was not counted). ``underlay``: the packets are the payloads of datagrams."""
    got: list[tuple[int, bytes]] = []
    deadline = time.monotonic() + EXAMPLE_SECONDS
    quiet_from: float | None = None
    while time.monotonic() < deadline:
        if quiet_from is None and len(got) >= expected:
            quiet_from = time.monotonic()
        if quiet_from is not None and time.monotonic() - quiet_from >= 0.1:
            break
        for packet in out.read_packets(64, timeout=0.02):
            body: bytes | None = bytes(packet.body)
            if underlay:
                body = underlay_payload(body)  # type: ignore[arg-type]
            found = None if body is None else tagged(body, given.tag)
            if found is not None:
                assert body is not None
                got.append((found, body))
    return got


def check(
    given: Given,
    rounds: list[Round],
    ledger: Ledger,
    got: list[tuple[int, bytes]],
    one_flow: bool,
) -> None:
    """Exactly once, in order (each flow, or everything when ``one_flow``), and the
    counts agree with what arrived."""
    arrived = [i for i, _ in got]
    said = f"(stops: {ledger.stops})"
    twice = sorted(i for i, n in Counter(arrived).items() if n > 1)
    assert not twice, f"arrived more than once: {twice} {said}"
    assert len(set(ledger.went)) == len(ledger.went), f"counted twice: {ledger.went} {said}"
    missing = sorted(set(ledger.went) - set(arrived))
    assert not missing, f"counted as written, never arrived: {missing} {said}"
    extra = sorted(set(arrived) - set(ledger.went))
    assert not extra, f"arrived, but not counted as written: {extra} {said}"
    assert ledger.counted == len(arrived), f"counted {ledger.counted}, {len(arrived)} arrived"
    if ledger.complete:
        everything = [i for r in rounds for i in r.ids[r.start :] if given.good[i]]
        lost = sorted(set(everything) - set(arrived))
        assert not lost, f"every call completed, but these never went: {lost} {said}"
    flows = [-1] if one_flow else sorted(set(given.flow) - {-1})
    for f in flows:
        order = [i for i in arrived if one_flow or given.flow[i] == f]
        assert order == sorted(order), f"out of order (flow {f}): {order} {said}"
    for i, packet in got:
        assert ttl_free(packet) == ttl_free(given.packets[i]), f"packet {i} changed on the way"


# Every example is real I/O of up to a few seconds: no shrinking (it could take minutes),
# so a failure reports the example as it was generated.
EXAMPLES = settings(
    max_examples=count(12, 60),
    deadline=timedelta(seconds=3 * EXAMPLE_SECONDS),
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


@pytest.fixture(scope="module")
def filler() -> Iterator[BatchFiller]:
    made = BatchFiller()
    try:
        yield made
    finally:
        made.close()


# -- TUN: write_batch ---------------------------------------------------------------


@dataclass
class TunPath:
    """Two persistent input TUNs (by offload), whose packets the kernel forwards out of
    a plain TUN that this test reads."""

    inputs: dict[bool, str]
    out: tuntap.Interface


def _enable_ipv6(name: str) -> None:
    with open(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6", "w") as f:
        f.write("0")


@pytest.fixture(scope="module")
def tun_path() -> Iterator[TunPath]:
    tc = require_tool("tc")
    inputs: dict[bool, str] = {}
    ifb = "xoifb0"
    with tuntap.open("xoout%d") as out:
        try:
            ip("link", "add", ifb, "type", "ifb")
            shape(tc, ifb)
            _enable_ipv6(out.name)
            ip("addr", "add", OUT_NET, "dev", out.name)
            ip("addr", "add", OUT6_NET, "dev", out.name, "nodad")
            ip("link", "set", out.name, "txqueuelen", "20000", "up")
            for offload in (False, True):
                with tuntap.open("xoin%d", offload=offload, persist=True) as a:
                    inputs[offload] = a.name
                _enable_ipv6(a.name)
                ip("link", "set", a.name, "up")
                slow_receive(tc, a.name, ifb)
            for path in ("/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"):
                with open(path, "w") as f:
                    f.write("1")
            yield TunPath(inputs, out)
        finally:
            for name in [*inputs.values(), ifb]:
                subprocess.run(["ip", "link", "del", name], capture_output=True)


def stop_a_coalescing_write(path: TunPath, filler: BatchFiller, batch: PacketBatch) -> None:
    """Use ``batch`` as a relay may have used it last: for a coalescing write of four
    interleaved flows to the offload TUN, which found the device full after two flows'
    super-packets and was not resumed (its packets are not of this module's flows, so
    no drain counts them)."""
    packets = [
        tcp_packet(False, 1 + k * 600, bytes(600), sport=PORT + MAX_FLOWS + f, ip_id=k)
        for k in range(8)
        for f in range(4)
    ]
    filler.fill(batch, packets)
    with tuntap.open(path.inputs[True], offload=True) as iface:
        fcntl.ioctl(iface.fileno(), TUNSETSNDBUF, struct.pack("i", 2500))
        with contextlib.suppress(BatchWriteError):
            iface.write_batch(batch, timeout=0)


@pytest.mark.parametrize("kind", SOURCES)
@pytest.mark.parametrize("mode", MODES)
@EXAMPLES
@given(
    plan=plans(),
    offload=st.booleans(),
    timeout=st.sampled_from([0, 0, 0, None]),
    sndbuf=st.sampled_from([2500, 3000, 8000, 1 << 20]),
    stops=stops_strategy,
    reused=st.sampled_from([True, True, False]),
)
def test_write_batch_delivers_each_packet_once_in_order(
    tun_path: TunPath,
    filler: BatchFiller,
    mode: str,
    kind: str,
    plan: Plan,
    offload: bool,
    timeout: float | None,
    sndbuf: int,
    stops: Stops,
    reused: bool,
) -> None:
    given, rounds = build(plan, not_ip=True)
    if mode == "async":  # AsyncInterface.write_batch has no start=
        rounds = [Round(r.ids, 0) for r in rounds]
    batch = PacketBatch(64)
    if kind == "batch" and reused:
        stop_a_coalescing_write(tun_path, filler, batch)
    driver = Driver(kind, given, filler, batch, stops)
    iface = tuntap.open(tun_path.inputs[offload], offload=offload)  # attach again
    try:
        fcntl.ioctl(iface.fileno(), TUNSETSNDBUF, struct.pack("i", sndbuf))
        with Interrupts(stops.signal_every):
            if mode == "sync":

                def write(source: Source, start: int) -> int:
                    return iface.write_batch(source, timeout=timeout, start=start)

                run_sync(driver, write, rounds, iface.close, stops.close_after)
            else:
                aif = AsyncInterface(iface)

                async def awrite(source: Source, start: int) -> int:
                    return await aif.write_batch(source)

                async def main() -> None:
                    if stops.close_after is not None:
                        asyncio.get_running_loop().call_later(stops.close_after, aif.close)
                    await driver.run_async(awrite, rounds)

                run_async(main())
    finally:
        iface.close()
    got = drain(tun_path.out, given, len(driver.ledger.went), underlay=False)
    check(given, rounds, driver.ledger, got, one_flow=False)


# -- UDP: udp_send_batch -------------------------------------------------------------


@pytest.fixture(scope="module")
def udp_path() -> Iterator[tuntap.Interface]:
    """A plain TUN whose datagrams leave through a slow qdisc: a socket sending to it
    finds its send buffer full part-way."""
    tc = require_tool("tc")
    with tuntap.open("xoudp%d") as out:
        _enable_ipv6(out.name)
        ip("addr", "add", UDP_NET, "dev", out.name)
        ip("addr", "add", UDP6_NET, "dev", out.name, "nodad")
        shape(tc, out.name)
        yield out


@pytest.mark.parametrize("kind", SOURCES)
@pytest.mark.parametrize("mode", MODES)
@EXAMPLES
@given(
    plan=plans(),
    v6=st.booleans(),
    timeout=st.sampled_from([0, 0, 0, None]),
    sndbuf=st.sampled_from([1, 1, 4096, 1 << 20]),
    stops=stops_strategy,
    reused=st.sampled_from([True, True, False]),
)
def test_udp_send_batch_delivers_each_datagram_once_in_order(
    udp_path: tuntap.Interface,
    tun_path: TunPath,
    filler: BatchFiller,
    mode: str,
    kind: str,
    plan: Plan,
    v6: bool,
    timeout: float | None,
    sndbuf: int,
    stops: Stops,
    reused: bool,
) -> None:
    # A datagram that is not IP is sent like any other; only a batch leaves it out.
    given, rounds = build(plan, not_ip=kind == "batch")
    family = socket.AF_INET6 if v6 else socket.AF_INET
    to = UDP_TO[family]
    batch = PacketBatch(64)
    if kind == "batch" and reused:
        stop_a_coalescing_write(tun_path, filler, batch)
    driver = Driver(kind, given, filler, batch, stops)
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        with Interrupts(stops.signal_every):
            if mode == "sync":

                def write(source: Source, start: int) -> int:
                    return tuntap.udp_send_batch(sock, source, to, timeout=timeout, start=start)

                run_sync(driver, write, rounds, sock.close, stops.close_after)
            else:

                async def awrite(source: Source, start: int) -> int:
                    return await aio.udp_send_batch(sock, source, to, start=start)

                # No close here: a socket closed under a pending await is the caller's
                # error (asyncio's own sock_sendall then waits for ever too).
                run_async(driver.run_async(awrite, rounds))
    finally:
        sock.close()
    got = drain(udp_path, given, len(driver.ledger.went), underlay=True)
    check(given, rounds, driver.ledger, got, one_flow=True)
