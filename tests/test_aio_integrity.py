"""The asyncio layer keeps the sync layer's guarantees when a write stalls or a device closes.

A write that stops part-way and is resumed sends each packet exactly once and
counts exactly what went (also on an offload device, whose coalescing sends a
flow's packets ahead of the stop, and for a generator of datagrams). A close
of the wrapped Interface (or Link) itself, not through the async wrapper,
ends every pending await at once and leaves no registration of the released
fd number in the event loop.

A write stalls for real: packets written into a TUN stay charged to its send
buffer while they wait in a qdisc, so a TUN whose ingress ``tc`` redirects
into a slow ``tbf`` of another device (or a UDP socket sending out of such a
device) runs out of send buffer and gets EAGAIN until the qdisc lets them go.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from helpers.ip import disable_ipv6, ip
from helpers.packets import interleaved, tcp_packet
from helpers.processes import open_fds
from helpers.skips import require_tool

import tuntap_cffi as tuntap
from tuntap_cffi import AsyncInterface

pytestmark = pytest.mark.privileged

TUNSETSNDBUF = 0x400454D4  # _IOW('T', 212, int)
IP_MTU_DISCOVER, IP_PMTUDISC_DO = 10, 2
# This module's own subnet for the UDP sender (no other module uses it).
UDP_NET, UDP_LOCAL, UDP_PEER = "203.0.113.33/28", "203.0.113.33", "203.0.113.40"


def tc(*args: str) -> None:
    result = subprocess.run(["tc", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"tc {' '.join(args)} failed: {result.stderr.strip()}")


def slow_qdisc(name: str) -> None:
    """A tbf on ``name``'s egress: ~1 Mbit/s, holding what waits (up to 1 MB)."""
    tc(*f"qdisc add dev {name} root tbf rate 1mbit burst 1600 limit 1000000".split())


def up(iface: tuntap.Interface) -> None:
    disable_ipv6(iface.name)
    ip("link", "set", iface.name, "up")


@contextlib.contextmanager
def stalling_offload_tun() -> Iterator[tuple[tuntap.Interface, tuntap.Interface]]:
    """An offload TUN ``a`` whose packets tc redirects out of a plain TUN ``b``
    through a slow qdisc; ``a``'s send buffer holds one super-packet or so."""
    require_tool("tc")
    with tuntap.open("aiw%d", offload=True) as a, tuntap.open("aiv%d") as b:
        up(a)
        up(b)
        slow_qdisc(b.name)
        tc("qdisc", "add", "dev", a.name, "ingress")
        tc(
            "filter", "add", "dev", a.name, "ingress", "protocol", "all", "u32",
            "match", "u32", "0", "0", "action", "mirred", "egress", "redirect", "dev", b.name,
        )  # fmt: skip
        with a.using_fd() as fd:
            fcntl.ioctl(fd, TUNSETSNDBUF, struct.pack("i", 4096))
        yield a, b


def tcp_key(packet: bytes) -> tuple[int, int] | None:
    """(source port, sequence number) of an IPv4 TCP segment; None for anything else."""
    if len(packet) < 40 or packet[0] >> 4 != 4 or packet[9] != 6:
        return None
    sport, _, seq = struct.unpack_from("!HHI", packet, 20)
    return sport, seq


def udp_tag(packet: bytes) -> bytes | None:
    """The first 4 payload bytes of an IPv4 UDP datagram; None for anything else."""
    if len(packet) < 32 or packet[0] >> 4 != 4 or packet[9] != 17:
        return None
    return packet[28:32]


def read_all(iface: tuntap.Interface, want: int, key: Any, seconds: float = 10) -> list[Any]:
    """The keys of the packets that come out of ``iface`` until ``want`` arrived (or
    time ran out), and of any that follow within 0.3 s (a packet sent twice)."""
    got: list[Any] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        quiet = 0.3 if len(got) >= want else 0.1
        packets = iface.read_packets(64, timeout=quiet)
        got += [k for k in (key(bytes(p.body)) for p in packets) if k is not None]
        if len(got) >= want and not packets:
            break
    return got


# -- AsyncInterface.write_batch resumes a coalesced list exactly -----------------------


def test_a_stalled_coalescing_write_is_resumed_with_each_packet_once(run: Any) -> None:
    # Flow A's 20 segments go out as one super-packet ahead of flow B's first, which finds
    # the send buffer full: the sync call says so (the setup really stops part-way) ...
    probe = interleaved(False, 2, 20)
    packets = [  # the same, in two other flows
        tcp_packet(False, 1 + k * 100, bytes([65 + f]) * 100, sport=4100 + f, ip_id=10 + k)
        for k in range(20)
        for f in range(2)
    ]
    with stalling_offload_tun() as (a, b):
        with pytest.raises(tuntap.BatchWriteError) as stopped:
            a.write_batch(probe, timeout=0)
        assert isinstance(stopped.value, TimeoutError)
        assert stopped.value.index == 1 and stopped.value.unwritten == tuple(range(1, 40, 2))
        assert sorted(read_all(b, 20, tcp_key)) == sorted(map(tcp_key, probe[0::2]))

        # ... and the awaited write of the whole list, which stalls the same way and
        # waits for room each time, sends each of its 40 packets exactly once.
        async def main() -> int:
            return await AsyncInterface(a).write_batch(packets)

        assert run(main()) == len(packets)
        got = read_all(b, len(packets), tcp_key)
        assert sorted(got) == sorted(map(tcp_key, packets))


# -- aio.udp_send_batch of a generator -------------------------------------------------


@contextlib.contextmanager
def stalling_udp_socket() -> Iterator[tuple[socket.socket, tuntap.Interface]]:
    """A UDP socket with the smallest send buffer, sending to UDP_PEER out of a TUN
    (returned, to read what went) through a slow qdisc."""
    require_tool("tc")
    with tuntap.open("aiu%d") as tun:
        disable_ipv6(tun.name)
        ip("addr", "add", UDP_NET, "dev", tun.name)
        ip("link", "set", tun.name, "up")
        slow_qdisc(tun.name)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1)  # the kernel's minimum
            sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
            sock.bind((UDP_LOCAL, 0))
            sock.connect((UDP_PEER, 9))
            sock.setblocking(False)
            yield sock, tun


def datagrams(tag: bytes, count: int) -> list[bytes]:
    """Tagged datagrams of alternating sizes (so that they go in many messages, not one)."""
    return [tag + b"%03d" % i + bytes(996 - i % 2) for i in range(count)]


def test_a_generator_stalled_part_way_is_sent_whole_once(run: Any) -> None:
    data = datagrams(b"g", 48)
    with stalling_udp_socket() as (sock, tun):
        with pytest.raises(tuntap.BatchWriteError) as stopped:
            tuntap.udp_send_batch(sock, list(data), timeout=0)  # the setup stops part-way
        assert isinstance(stopped.value, TimeoutError) and 0 < stopped.value.index < len(data)
        first = stopped.value.index
        read_all(tun, first, udp_tag)  # what went, and room again

        async def main() -> int:
            return await tuntap.aio.udp_send_batch(sock, (d for d in data))

        assert run(main()) == len(data)
        assert sorted(read_all(tun, len(data), udp_tag)) == sorted(d[:4] for d in data)


def test_a_generator_that_finds_no_room_at_first_is_sent_whole(run: Any) -> None:
    filler, data = datagrams(b"f", 48), datagrams(b"h", 24)
    with stalling_udp_socket() as (sock, tun):
        with pytest.raises(tuntap.BatchWriteError) as stopped:
            tuntap.udp_send_batch(sock, filler, timeout=0)  # the buffer is full now
        sent = stopped.value.written

        async def main() -> int:
            return await tuntap.aio.udp_send_batch(sock, iter(data))

        assert run(main()) == len(data)
        got = read_all(tun, sent + len(data), udp_tag)
        assert sorted(got) == sorted(d[:4] for d in filler[:sent] + data)


def test_a_generator_stopped_after_a_stall_counts_from_its_start(run: Any) -> None:
    # Datagram 40 is over the path MTU with fragmentation forbidden: EMSGSIZE, after stalls.
    data = datagrams(b"m", 48)
    data[40] = data[40] + bytes(1000)
    with stalling_udp_socket() as (sock, tun):

        async def main() -> None:
            await tuntap.aio.udp_send_batch(sock, (d for d in data))

        with pytest.raises(tuntap.BatchWriteError) as stopped:
            run(main())
        exc = stopped.value
        assert isinstance(exc, OSError) and exc.errno == 90  # EMSGSIZE
        assert (exc.written, exc.index, exc.unwritten) == (40, 40, tuple(range(40, 48)))
        assert sorted(read_all(tun, 40, udp_tag)) == sorted(d[:4] for d in data[:40])


# -- a close of the Interface itself ends every await and unregisters its fd -----------


def take_number(number: int) -> tuple[int, int]:
    """Make ``number`` (which must be free) the read end of a new pipe: (number, write end)."""
    with pytest.raises(OSError):
        os.fstat(number)  # released, not held open by anyone
    read_end, write_end = os.pipe()
    if read_end != number:  # the lowest free number may be it already
        os.dup2(read_end, number)
        os.close(read_end)
    return number, write_end


async def fires_on(number: int, write_end: int) -> None:
    """Register a reader of our own on ``number`` and see it fire when written to."""
    loop = asyncio.get_running_loop()
    fired: asyncio.Future[None] = loop.create_future()
    loop.add_reader(number, lambda: fired.done() or fired.set_result(None))
    try:
        os.write(write_end, b"x")
        await asyncio.wait_for(fired, 2)
    finally:
        loop.remove_reader(number)


def registered(number: int) -> bool:
    """Whether the running loop watches ``number`` (asyncio's loop; uvloop: unknown, False)."""
    selector = getattr(asyncio.get_running_loop(), "_selector", None)
    return selector is not None and number in selector.get_map()


@pytest.mark.parametrize("closer", ["same-thread", "other-thread"])
def test_closing_the_interface_ends_a_pending_read(run: Any, closer: str) -> None:
    async def main() -> None:
        with tuntap.open("aic%d") as iface:
            aif = AsyncInterface(iface)
            reading = asyncio.ensure_future(aif.read_packet())
            await asyncio.sleep(0.05)
            start = time.monotonic()
            if closer == "same-thread":
                iface.close()
            else:
                threading.Timer(0.01, iface.close).start()
            with pytest.raises(tuntap.InterfaceClosedError):
                await asyncio.wait_for(reading, 1)
            assert time.monotonic() - start < 0.5

    run(main())


@pytest.mark.parametrize("closer", ["same-thread", "other-thread"])
def test_a_closed_interface_leaves_no_registration_of_its_fd(run: Any, closer: str) -> None:
    async def main() -> None:
        before = open_fds()
        iface = tuntap.open("aic%d")
        aif = AsyncInterface(iface)
        number = aif.fileno()
        reading = asyncio.ensure_future(aif.read_packet())
        await asyncio.sleep(0.05)
        if closer == "same-thread":
            iface.close()
        else:  # the loop lets go of the fd (which is then released) while it awaits this
            await asyncio.get_running_loop().run_in_executor(None, iface.close)
        assert not registered(number)
        number, write_end = take_number(number)
        try:
            # Our own reader on the number: neither the ended read (cancelled in case it
            # did not end) nor anything else of the closed interface touches it.
            await fires_on(number, write_end)
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
            await fires_on(number, write_end)
        finally:
            os.close(number)
            os.close(write_end)
        assert open_fds() == before

    run(main())


def test_closing_the_interface_ends_a_stalled_write_with_its_count(run: Any) -> None:
    packets = interleaved(False, 2, 20)
    with stalling_offload_tun() as (a, _b):
        aif = AsyncInterface(a)
        number = a.fileno()

        async def main() -> None:
            writing = asyncio.ensure_future(aif.write_batch(packets * 20))
            await asyncio.sleep(0.05)
            assert not writing.done()  # waiting for room
            a.close()
            with pytest.raises(tuntap.InterfaceClosedError) as stopped:
                await asyncio.wait_for(writing, 1)
            assert isinstance(stopped.value, tuntap.BatchWriteError)
            assert 0 < stopped.value.written < len(packets) * 20
            assert not registered(number)

        run(main())


def test_link_events_end_when_the_interface_closes(run: Any) -> None:
    async def main() -> None:
        before = open_fds()
        # Persistent: the close deletes no device, so no RTM_DELLINK can end the wait.
        with tuntap.open("aie%d", persist=True) as iface:
            try:
                disable_ipv6(iface.name)
                events = AsyncInterface(iface).events()
                with events.events.held_fds() as fds:
                    pass  # the socket's and the wake-up eventfd's numbers
                waiting = asyncio.ensure_future(events.__anext__())
                await asyncio.sleep(0.05)
                start = time.monotonic()
                iface.close()
                with pytest.raises(StopAsyncIteration):
                    await asyncio.wait_for(waiting, 1)
                assert time.monotonic() - start < 0.5
                assert not any(registered(fd) for fd in fds)
                assert open_fds() == before
            finally:
                ip("link", "delete", iface.name)

    run(main())


def test_every_wait_for_link_events_ends_when_a_standalone_link_closes(run: Any) -> None:
    async def main() -> None:
        with tuntap.open("aie%d") as iface:
            disable_ipv6(iface.name)
            link = tuntap.Link(iface.name)
            events = tuntap.aio.AsyncLinkEvents(link.events(), None)
            # Two tasks await the same reader: both are woken, not just the last to register.
            waiting = [asyncio.ensure_future(events.__anext__()) for _ in range(2)]
            await asyncio.sleep(0.05)
            start = time.monotonic()
            link.close()
            for task in waiting:
                with pytest.raises(StopAsyncIteration):
                    await asyncio.wait_for(task, 1)
            assert time.monotonic() - start < 0.5

    run(main())
