"""Reading a device (one queue of it) until it is quiet: the UDP payloads it got."""

from __future__ import annotations

import tuntap_cffi as tuntap


def udp_payload(pkt: tuntap.Packet) -> bytes | None:
    """The payload of a UDP packet (None for anything else, e.g. a stray solicitation)."""
    proto, offset, _later = pkt.ip_proto()
    return bytes(pkt.body[offset + 8 :]) if proto == 17 else None


def drain(queue: tuntap.Interface, quiet: float = 0.3) -> list[bytes]:
    """The UDP payloads a queue reads until it has been quiet for ``quiet`` seconds."""
    got = []
    for _ in range(10_000):
        try:
            pkt = queue.read_packet(timeout=quiet)
        except TimeoutError:
            return got
        payload = udp_payload(pkt)
        if payload is not None:
            got.append(payload)
    raise AssertionError("the queue never went quiet")
