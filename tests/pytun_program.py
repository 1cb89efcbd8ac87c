"""An ordinary python-pytun program, run by tests/test_pytun_side_by_side.py under real
python-pytun and under ``tuntap_cffi.pytun``, each time in a network namespace of its own.

    python tests/pytun_program.py MODULE     # MODULE: pytun, or tuntap_cffi.pytun

It uses nothing but python-pytun's API (plus sockets and ip(8) to make traffic
and look at the device), and prints one JSON line per observation: values
read back, bytes read from the device (with and without packet
information, with virtio-net headers, TUN and TAP), what each write returned,
and every error as its type and errno (messages may differ). The test
compares the two outputs line by line. Documentation addresses only; every
wait is bounded.
"""

from __future__ import annotations

import gc
import importlib
import json
import select
import socket
import struct
import subprocess
import sys
import threading
import time
from typing import Any, Callable

pytun: Any = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else "pytun")

NAME = "ptp0"
ADDR, PEER, OTHER = "192.0.2.1", "192.0.2.2", "198.51.100.7"
ELSEWHERE = "203.0.113.9"  # not on this host, and not forwarded: dropped without a reply
MAC = b"\x02\x00\x5e\x00\x53\x01"
PEER_MAC = b"\x02\x00\x5e\x00\x53\x02"
PORT = 4000
ETH_P_IP, ETH_P_ARP = 0x0800, 0x0806
READ_LIMIT = 2.0  # seconds a read that should find a packet may wait


def emit(label: str, value: object) -> None:
    print(json.dumps([label, value]), flush=True)


def outcome(call: Callable[[], object]) -> object:
    """What a call gave: its value (bytes as hex), or its error's type and errno."""
    try:
        value = call()
    except Exception as exc:
        errno_ = exc.errno if isinstance(exc, OSError) else None
        kind = "Error" if isinstance(exc, pytun.Error) else type(exc).__name__
        return {"error": kind, "errno": errno_}
    if isinstance(value, bytes):
        return {"bytes": value.hex()}
    return value


def observe(label: str, call: Callable[[], object]) -> object:
    result = outcome(call)
    emit(label, result)
    return result


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout


def is_up() -> bool:
    return "UP" in json.loads(ip("-j", "link", "show", "dev", NAME))[0]["flags"]


def exists(name: str = NAME) -> bool:
    return subprocess.run(["ip", "link", "show", "dev", name], capture_output=True).returncode == 0


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4(src: str, dst: str, proto: int, payload: bytes, ident: int = 7) -> bytes:
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(payload),
        ident,
        0,
        64,
        proto,
        0,
        socket.inet_aton(src),
        socket.inet_aton(dst),
    )
    return header[:10] + struct.pack("!H", checksum(header)) + header[12:] + payload


def echo_request(ident: int) -> bytes:
    body = struct.pack("!BBHHH", 8, 0, 0, ident, 1) + b"pytun side by side"
    body = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
    return ipv4(PEER, ADDR, 1, body)


def normalized(data: bytes, ip_at: int) -> str:
    """The bytes read, with the IPv4 identification and header checksum zeroed where
    they were read (the kernel picks the identification of what it sends at random)."""
    out = bytearray(data)
    if len(out) > ip_at and out[ip_at] >> 4 == 4:
        for field in (ip_at + 4, ip_at + 10):
            out[field : field + 2] = bytes(len(out[field : field + 2]))
    return out.hex()


def readable(dev: Any, timeout: float = READ_LIMIT) -> bool:
    return bool(select.select([dev], [], [], timeout)[0])


def next_read(dev: Any, size: int, ip_at: int) -> object:
    """The next packet of interest (IPv4 or ARP; IPv6 is off), read after select()."""
    deadline = time.monotonic() + READ_LIMIT
    while time.monotonic() < deadline:
        if not readable(dev, deadline - time.monotonic()):
            break
        result = outcome(lambda: dev.read(size))
        if not isinstance(result, dict) or "bytes" not in result:
            return result
        data = bytes.fromhex(result["bytes"])
        if len(data) > ip_at and (data[ip_at] >> 4 == 4 or ip_at == 0 or _is_arp(data)):
            return {"bytes": normalized(data, ip_at)}
    return "nothing"


def _is_arp(frame: bytes) -> bool:
    return len(frame) >= 14 and frame[12:14] == ETH_P_ARP.to_bytes(2, "big")


def send_udp(payload: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((ADDR, PORT))
        sock.sendto(payload, (PEER, 9))


def module_surface() -> None:
    names = ["Error", "TunTapDevice", "IFF_TUN", "IFF_TAP", "IFF_NO_PI", "IFF_ONE_QUEUE"]
    names += ["IFF_VNET_HDR", "IFF_MULTI_QUEUE", "IFF_TUN_EXCL"]
    emit("names", {name: hasattr(pytun, name) for name in names})
    emit("flags", {name: getattr(pytun, name) for name in names if name.startswith("IFF_")})
    emit("Error is OSError", issubclass(pytun.Error, OSError))
    members = ["name", "addr", "dstaddr", "netmask", "mtu", "hwaddr", "read", "write"]
    members += ["fileno", "close", "up", "down", "persist", "mq_attach"]
    emit("members", {m: hasattr(pytun.TunTapDevice, m) for m in members})


def bad_construction() -> None:
    dev = pytun.TunTapDevice
    for label, call in (
        ("no kind", lambda: dev(flags=0)),
        ("both kinds", lambda: dev(flags=pytun.IFF_TUN | pytun.IFF_TAP)),
        ("negative flags", lambda: dev(flags=-1)),
        ("flags too big", lambda: dev(flags=2**40)),
        ("flags not int", lambda: dev(flags="1")),
        ("name too long", lambda: dev(name="x" * 16)),
        ("name bytes", lambda: dev(name=b"tun0")),
        ("name with NUL", lambda: dev(name="a\0b")),
        ("name with slash", lambda: dev(name="a/b")),
        ("two patterns", lambda: dev(name="a%d%d")),
        ("no such dev", lambda: dev(name=NAME, dev="/nonexistent/tun")),
        ("dev not tun", lambda: dev(name=NAME, dev="/dev/null")),
    ):
        observe(label, call)
    emit("leftover devices", exists())


def pattern_and_exclusive() -> None:
    first = pytun.TunTapDevice(name="ptq%d")
    emit("pattern name", first.name)
    observe("busy", lambda: pytun.TunTapDevice(name=first.name))
    observe(
        "exclusive",
        lambda: pytun.TunTapDevice(name=first.name, flags=pytun.IFF_TUN | pytun.IFF_TUN_EXCL),
    )
    observe(
        "other kind while held", lambda: pytun.TunTapDevice(name=first.name, flags=pytun.IFF_TAP)
    )
    first.close()
    emit("gone after close", not exists(first.name))
    observe("positional", lambda: pytun.TunTapDevice("ptr0", pytun.IFF_TAP | pytun.IFF_NO_PI).name)
    gc.collect()  # an interpreter without reference counting (PyPy) collects it here
    emit("positional gone", not exists("ptr0"))  # dropped without close()


def configuration(dev: Any, kind: str) -> None:
    for attr in ("addr", "dstaddr", "netmask", "mtu"):
        observe(f"{kind} {attr} before", lambda attr=attr: getattr(dev, attr))
    if kind == "tun":
        observe("tun hwaddr", lambda: dev.hwaddr)
    steps: list[tuple[str, Callable[[], object]]] = [
        ("hwaddr =", lambda: setattr(dev, "hwaddr", MAC)),
        ("hwaddr multicast", lambda: setattr(dev, "hwaddr", b"\x01" + MAC[1:])),
        ("hwaddr short", lambda: setattr(dev, "hwaddr", MAC[:5])),
        ("hwaddr str", lambda: setattr(dev, "hwaddr", "02:00:5e")),
        ("hwaddr bytearray", lambda: setattr(dev, "hwaddr", bytearray(MAC))),
        ("hwaddr after", lambda: dev.hwaddr),
        ("dstaddr without addr", lambda: setattr(dev, "dstaddr", PEER)),
        ("netmask without addr", lambda: setattr(dev, "netmask", "255.255.255.0")),
        ("addr =", lambda: setattr(dev, "addr", ADDR)),
        ("addr", lambda: dev.addr),
        ("dstaddr", lambda: dev.dstaddr),
        ("netmask", lambda: dev.netmask),
        ("netmask =", lambda: setattr(dev, "netmask", "255.255.0.0")),
        ("netmask after", lambda: dev.netmask),
        ("dstaddr =", lambda: setattr(dev, "dstaddr", PEER)),
        ("addr after dstaddr", lambda: dev.addr),
        ("dstaddr after", lambda: dev.dstaddr),
        ("netmask after dstaddr", lambda: dev.netmask),
        ("addr = other", lambda: setattr(dev, "addr", OTHER)),
        ("addr other", lambda: dev.addr),
        ("dstaddr reset", lambda: dev.dstaddr),
        ("netmask reset", lambda: dev.netmask),
        ("addr = same", lambda: setattr(dev, "addr", OTHER)),
        ("addr bad", lambda: setattr(dev, "addr", "bogus")),
        ("addr short form", lambda: setattr(dev, "addr", "192.0.514")),
        ("addr short read", lambda: dev.addr),
        ("addr int", lambda: setattr(dev, "addr", 5)),
        ("addr bytes", lambda: setattr(dev, "addr", b"192.0.2.1")),
        ("addr with NUL", lambda: setattr(dev, "addr", "192.0.2.9\0x")),
        ("addr nul read", lambda: dev.addr),
        ("netmask bad", lambda: setattr(dev, "netmask", "255.255.1.0")),
        ("netmask zero", lambda: setattr(dev, "netmask", "0.0.0.0")),
        ("netmask zero read", lambda: dev.netmask),
        ("dstaddr zero", lambda: setattr(dev, "dstaddr", "0.0.0.0")),
        ("dstaddr zero read", lambda: dev.dstaddr),
        ("addr = zero", lambda: setattr(dev, "addr", "0.0.0.0")),
        ("addr zero read", lambda: dev.addr),
        ("netmask zero addr", lambda: dev.netmask),
        ("addr = broadcast", lambda: setattr(dev, "addr", "255.255.255.255")),
        ("addr broadcast read", lambda: dev.netmask),
        ("mtu 0", lambda: setattr(dev, "mtu", 0)),
        ("mtu -5", lambda: setattr(dev, "mtu", -5)),
        ("mtu 10", lambda: setattr(dev, "mtu", 10)),
        ("mtu 70000", lambda: setattr(dev, "mtu", 70000)),
        ("mtu wraps", lambda: setattr(dev, "mtu", 2**32 + 1400)),
        ("mtu wrapped", lambda: dev.mtu),
        ("mtu huge", lambda: setattr(dev, "mtu", 2**70)),
        ("mtu float", lambda: setattr(dev, "mtu", 1400.0)),
        ("mtu True", lambda: setattr(dev, "mtu", True)),
        ("mtu 1280", lambda: setattr(dev, "mtu", 1280)),
        ("mtu", lambda: dev.mtu),
        ("name =", lambda: setattr(dev, "name", "x")),
        ("persist int", lambda: dev.persist(1)),
        ("mq_attach single queue", lambda: dev.mq_attach()),
        ("mq_attach int", lambda: dev.mq_attach(1)),
        ("read float", lambda: dev.read(1.0)),
        ("read nothing", lambda: dev.read()),
        ("read 0", lambda: dev.read(0)),
        ("write bytearray", lambda: dev.write(bytearray(20))),
        ("write memoryview", lambda: dev.write(memoryview(bytes(20)))),
        ("write int", lambda: dev.write(5)),
        ("write down", lambda: dev.write(bytes(4) + ipv4(PEER, ADDR, 17, bytes(8)))),
        ("up", lambda: dev.up()),
        ("is up", is_up),
        ("up again", lambda: dev.up()),
        ("down", lambda: dev.down()),
        ("is down", lambda: not is_up()),
        ("down again", lambda: dev.down()),
        ("addr clear", lambda: setattr(dev, "addr", "0.0.0.0")),
    ]
    for label, call in steps:
        observe(f"{kind} {label}", call)
    emit(f"{kind} addresses", ip("-4", "-o", "addr", "show", "dev", NAME).split()[3:] or None)


def traffic(flags: int, label: str) -> None:
    """Reads and writes on a device opened with ``flags``, configured for 192.0.2.1/24."""
    dev = pytun.TunTapDevice(name=NAME, flags=flags)
    tap = bool(flags & pytun.IFF_TAP)
    pi = 0 if flags & pytun.IFF_NO_PI else 4
    vnet = 10 if flags & pytun.IFF_VNET_HDR else 0
    head = pi + vnet
    ip_at = head + (14 if tap else 0)
    with open(f"/proc/sys/net/ipv6/conf/{NAME}/disable_ipv6", "w") as f:
        f.write("1")
    if tap:
        dev.hwaddr = MAC
        ip("neigh", "add", PEER, "lladdr", PEER_MAC.hex(":"), "dev", NAME)
    dev.addr = ADDR
    dev.netmask = "255.255.255.0"
    dev.up()
    emit(f"{label} fileno is an int", isinstance(dev.fileno(), int) and dev.fileno() >= 0)

    # The kernel routes a datagram to PEER into the device.
    send_udp(b"side by side")
    emit(f"{label} readable", readable(dev))
    observe(f"{label} udp out", lambda: next_read(dev, 2048, ip_at))
    send_udp(b"cut")
    observe(f"{label} cut read", lambda: next_read(dev, ip_at + 10, ip_at))
    if head:
        send_udp(b"too small")
        observe(
            f"{label} read smaller than headers", lambda: (readable(dev), dev.read(head - 1))[1]
        )
    observe(f"{label} read 0", lambda: dev.read(0))

    # The kernel answers an echo request written into the device.
    pi_header = (struct.pack("!HH", 0, ETH_P_IP) if pi else b"") + bytes(vnet)
    frame = MAC + PEER_MAC + struct.pack("!H", ETH_P_IP) if tap else b""
    observe(f"{label} write echo", lambda: dev.write(pi_header + frame + echo_request(1)))
    observe(f"{label} echo reply", lambda: next_read(dev, 2048, ip_at))
    observe(f"{label} write str", lambda: dev.write("not a packet"))
    observe(f"{label} write empty", lambda: dev.write(b""))
    observe(f"{label} write short", lambda: dev.write(pi_header[:head] + b"\x45"))
    observe(
        f"{label} write 3000",
        lambda: dev.write(pi_header + frame + ipv4(PEER, ELSEWHERE, 253, bytes(2980))),
    )
    observe(f"{label} write not IP", lambda: dev.write(pi_header + frame + b"\x01" * 40))
    if tap:
        observe(f"{label} write short frame", lambda: dev.write(pi_header + MAC + PEER_MAC))
    if pi:
        observe(
            f"{label} write wrong protocol",
            lambda: dev.write(
                struct.pack("!HH", 0, 0x1234) + bytes(vnet) + frame + echo_request(2)
            ),
        )

    # A read blocks until a packet comes.
    timer = threading.Timer(0.2, send_udp, (b"later",))
    start = time.monotonic()
    timer.start()
    result = outcome(lambda: dev.read(2048))
    emit(f"{label} blocked read waited", time.monotonic() - start > 0.1)
    emit(
        f"{label} blocked read",
        normalized(bytes.fromhex(result["bytes"]), ip_at)
        if isinstance(result, dict) and "bytes" in result
        else result,
    )
    timer.join()

    dev.close()
    emit(f"{label} fileno after close", dev.fileno())
    for name, call in (
        ("read", lambda: dev.read(10)),
        ("write", lambda: dev.write(b"x")),
        ("persist", lambda: dev.persist(True)),
        ("mq_attach", lambda: dev.mq_attach(True)),
        ("addr", lambda: dev.addr),
        ("mtu", lambda: dev.mtu),
        ("hwaddr", lambda: dev.hwaddr),
        ("up", lambda: dev.up()),
        ("close", lambda: dev.close()),
    ):
        observe(f"{label} closed {name}", call)
    emit(f"{label} name after close", dev.name)
    emit(f"{label} gone", not exists())


def persistence() -> None:
    dev = pytun.TunTapDevice(name=NAME, flags=pytun.IFF_TUN | pytun.IFF_NO_PI)
    observe("persist", lambda: dev.persist())
    dev.close()
    emit("persistent stays", exists())
    observe(
        "other kind of a persistent",
        lambda: pytun.TunTapDevice(name=NAME, flags=pytun.IFF_TAP | pytun.IFF_NO_PI),
    )
    observe(
        "multi-queue of a single-queue",
        lambda: pytun.TunTapDevice(name=NAME, flags=pytun.IFF_TUN | pytun.IFF_MULTI_QUEUE),
    )
    again = pytun.TunTapDevice(name=NAME, flags=pytun.IFF_TUN)  # packet information now
    observe("reattached addr", lambda: again.addr)
    observe("persist False", lambda: again.persist(False))
    again.close()
    emit("not persistent goes", not exists())


def multi_queue() -> None:
    flags = pytun.IFF_TUN | pytun.IFF_NO_PI | pytun.IFF_MULTI_QUEUE
    first = pytun.TunTapDevice(name=NAME, flags=flags)
    second = pytun.TunTapDevice(name=NAME, flags=flags)
    observe(
        "single-queue of a multi-queue",
        lambda: pytun.TunTapDevice(name=NAME, flags=pytun.IFF_TUN | pytun.IFF_NO_PI),
    )
    for label, call in (
        ("detach", lambda: second.mq_attach(False)),
        ("detach again", lambda: second.mq_attach(False)),
        ("attach", lambda: second.mq_attach(True)),
        ("attach again", lambda: second.mq_attach()),
        ("first detach", lambda: first.mq_attach(False)),
    ):
        observe(f"mq {label}", call)
    first.close()
    emit("mq stays with one queue", exists())
    second.close()
    emit("mq gone", not exists())


def main() -> None:
    module_surface()
    bad_construction()
    pattern_and_exclusive()
    for flags, kind in ((pytun.IFF_TUN, "tun"), (pytun.IFF_TAP, "tap")):
        dev = pytun.TunTapDevice(name=NAME, flags=flags)
        emit(f"{kind} name", dev.name)
        configuration(dev, kind)
        dev.close()
    for label, flags in (
        ("tun pi", pytun.IFF_TUN),
        ("tun", pytun.IFF_TUN | pytun.IFF_NO_PI),
        ("tap pi", pytun.IFF_TAP),
        ("tap", pytun.IFF_TAP | pytun.IFF_NO_PI),
        ("tun vnet", pytun.IFF_TUN | pytun.IFF_NO_PI | pytun.IFF_VNET_HDR),
        ("tun pi vnet", pytun.IFF_TUN | pytun.IFF_VNET_HDR),
        ("tap vnet", pytun.IFF_TAP | pytun.IFF_NO_PI | pytun.IFF_VNET_HDR),
    ):
        traffic(flags, label)
    persistence()
    multi_queue()
    emit("done", True)


if __name__ == "__main__":
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    main()
