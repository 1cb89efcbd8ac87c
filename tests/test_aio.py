"""AsyncInterface on real devices, on asyncio's own loop and on uvloop where it installs."""

from __future__ import annotations

import asyncio
import socket
import sys
from typing import Any

import pytest
from helpers.ip import TUN_ADDR, TUN_PEER, configure_v4
from helpers.packets import ipv4_udp
from helpers.skips import skip_or_fail

import tuntap_cffi as tuntap
from tuntap_cffi import AsyncInterface, DevKind

pytestmark = pytest.mark.privileged


def send_udp(port: int, payload: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((TUN_ADDR, 0))
        sock.sendto(payload, (TUN_PEER, port))


def udp_payload(pkt: tuntap.Packet) -> bytes | None:
    proto, off, _ = pkt.ip_proto()
    return bytes(pkt.body[off + 8 :]) if proto == 17 else None


def test_read_and_write(run: Any) -> None:
    async def main() -> None:
        async with AsyncInterface.open("aio%d", DevKind.TUN) as aif:
            configure_v4(aif.name)
            assert aif.kind is DevKind.TUN and aif.fileno() >= 0
            asyncio.get_running_loop().call_later(0.05, send_udp, 9000, b"async hello")
            while (payload := udp_payload(await aif.read_packet())) is None:
                pass
            assert payload == b"async hello"
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.bind((TUN_ADDR, 0))
                sock.setblocking(False)
                port = sock.getsockname()[1]
                await aif.write_packet(ipv4_udp(TUN_PEER, TUN_ADDR, 9, port, b"back"))
                loop = asyncio.get_running_loop()
                assert await loop.sock_recv(sock, 100) == b"back"
        assert aif.closed

    run(main())


def test_cancelling_a_read_loses_no_packet(run: Any) -> None:
    async def main() -> None:
        async with AsyncInterface.open("aio%d", DevKind.TUN) as aif:
            configure_v4(aif.name)
            task = asyncio.ensure_future(aif.read_packet())
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            send_udp(9001, b"kept")
            await asyncio.sleep(0.05)
            # The packet that arrived after the cancel is still in the kernel.
            packets = []
            while True:
                try:
                    packets.append(aif.interface.read_packet(timeout=0))
                except TimeoutError:
                    break
            assert b"kept" in [udp_payload(p) for p in packets]

    run(main())


def test_timeouts_leave_the_packet_for_the_next_read(run: Any) -> None:
    async def main() -> None:
        async with AsyncInterface.open("aio%d", DevKind.TUN) as aif:
            configure_v4(aif.name)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(aif.read_packet(), 0.1)
            send_udp(9002, b"after timeout")
            while (payload := udp_payload(await aif.read_packet())) is None:
                pass
            assert payload == b"after timeout"

    run(main())


def test_asyncio_timeout_context(run: Any) -> None:
    if sys.version_info < (3, 11):
        skip_or_fail("asyncio.timeout is Python 3.11+", runs_in="the Python 3.11+ envs")

    async def main() -> None:
        async with AsyncInterface.open("aio%d", DevKind.TUN) as aif:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.1):  # type: ignore[attr-defined]
                    await aif.read_packet()

    run(main())


def test_closing_while_awaited(run: Any) -> None:
    async def main() -> None:
        aif = AsyncInterface.open("aio%d", DevKind.TUN)
        readers = [asyncio.ensure_future(aif.read_packet()) for _ in range(3)]
        await asyncio.sleep(0.05)
        aif.close()
        results = await asyncio.gather(*readers, return_exceptions=True)
        assert all(isinstance(r, tuntap.InterfaceClosedError) for r in results), results
        with pytest.raises(tuntap.InterfaceClosedError):
            await aif.read_packet()
        with pytest.raises(tuntap.InterfaceClosedError):
            await aif.write_packet(b"\x45" + bytes(19))
        aif.close()  # harmless

    run(main())


def test_concurrent_readers_read_every_packet_exactly_once(run: Any) -> None:
    count = 40

    async def main() -> None:
        async with AsyncInterface.open("aio%d", DevKind.TUN) as aif:
            configure_v4(aif.name)
            seen: list[bytes] = []

            async def reader() -> None:
                while len(seen) < count:
                    payload = udp_payload(await aif.read_packet())
                    if payload is not None:
                        seen.append(payload)

            tasks = [asyncio.ensure_future(reader()) for _ in range(4)]
            await asyncio.sleep(0.05)
            for i in range(count):
                send_udp(9003, b"%d" % i)
            _done, pending = await asyncio.wait(
                tasks, timeout=10, return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            assert sorted(seen) == sorted(b"%d" % i for i in range(count))

    run(main())


def test_readers_on_every_queue_of_a_multi_queue_device(run: Any) -> None:
    """Two reader tasks per queue, four queues, on one loop: every datagram of
    60 flows is read exactly once, and the flows are spread over the queues."""
    count = 240

    async def main() -> None:
        queues = [AsyncInterface(q) for q in tuntap.open_queues("amq%d", count=4)]
        try:
            configure_v4(queues[0].name)
            seen: dict[int, list[bytes]] = {i: [] for i in range(len(queues))}

            async def reader(index: int) -> None:
                batch = tuntap.PacketBatch(8)
                while True:
                    await queues[index].read_batch(batch)
                    for pkt in batch.packets():
                        payload = udp_payload(pkt)
                        if payload is not None:
                            seen[index].append(payload)

            tasks = [asyncio.ensure_future(reader(i)) for i in range(len(queues)) for _ in "ab"]
            await asyncio.sleep(0.05)
            for i in range(count):
                send_udp(9100 + i % 60, b"%d" % i)
            for _ in range(200):
                if sum(map(len, seen.values())) >= count:
                    break
                await asyncio.sleep(0.025)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            everything = [payload for payloads in seen.values() for payload in payloads]
            assert sorted(everything) == sorted(b"%d" % i for i in range(count))
            assert sum(1 for payloads in seen.values() if payloads) >= 2, seen.keys()
        finally:
            for aif in queues:
                aif.close()

    run(main())


def test_async_for_ends_when_closed(run: Any) -> None:
    async def main() -> None:
        aif = AsyncInterface.open("aio%d", DevKind.TUN)
        configure_v4(aif.name)
        loop = asyncio.get_running_loop()
        for i in range(3):
            loop.call_later(0.02 * (i + 1), send_udp, 9004, b"it%d" % i)
        loop.call_later(0.3, aif.close)
        payloads = [udp_payload(pkt) async for pkt in aif]
        assert [p for p in payloads if p is not None] == [b"it0", b"it1", b"it2"]

    run(main())


def test_configuration_stays_synchronous_and_bad_input(run: Any) -> None:
    with pytest.raises(ValueError, match="kind must be"):
        AsyncInterface.open("aio%d", 5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="longer than 15"):
        AsyncInterface.open("x" * 20)
    aif = AsyncInterface.open("aio%d", DevKind.TUN)
    try:
        assert aif.write_limit == 1600  # an Interface attribute, reached directly
        with pytest.raises(AttributeError):
            aif.no_such_method  # noqa: B018
        assert "AsyncInterface" in repr(aif)
    finally:
        aif.close()


def test_batches(run: Any) -> None:
    async def main() -> None:
        async with AsyncInterface.open("aio%d", DevKind.TUN) as aif:
            configure_v4(aif.name)
            batch = tuntap.PacketBatch(capacity=16)
            loop = asyncio.get_running_loop()
            loop.call_later(0.05, lambda: [send_udp(9005, b"b%d" % i) for i in range(5)])
            payloads: list[bytes | None] = []
            while len([p for p in payloads if p is not None]) < 5:
                count = await aif.read_batch(batch)
                assert 1 <= count <= 16
                payloads += [udp_payload(p) for p in batch.packets()]
            assert [p for p in payloads if p is not None] == [b"b%d" % i for i in range(5)]

            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.bind((TUN_ADDR, 0))
                sock.setblocking(False)
                port = sock.getsockname()[1]
                packets = [ipv4_udp(TUN_PEER, TUN_ADDR, 9, port, b"w%d" % i) for i in range(8)]
                assert await aif.write_batch(packets) == 8
                got = [await loop.sock_recv(sock, 100) for _ in range(8)]
                assert got == [b"w%d" % i for i in range(8)]

            loop.call_later(0.05, send_udp, 9006, b"one")
            while b"one" not in [udp_payload(p) for p in await aif.read_packets(4)]:
                pass

    run(main())


def test_write_batch_stops_at_a_refused_packet_with_the_exact_count(run: Any) -> None:
    async def main() -> None:
        async with AsyncInterface.open("aio%d", DevKind.TUN) as aif:
            configure_v4(aif.name)
            good = ipv4_udp(TUN_PEER, TUN_ADDR, 9, 9, b"x")
            with pytest.raises(tuntap.NotIPPacketError) as info:
                await aif.write_batch([good, good, b"\x12\x34", good])
            assert info.value.written == 2  # type: ignore[attr-defined]

    run(main())
