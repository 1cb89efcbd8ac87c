"""A point-to-point IP tunnel over UDP: a TUN device at each end, one packet per datagram.

Run one at each end of a network that joins two hosts (the "underlay"); each
makes a TUN device, gives it a point-to-point address whose peer is the other
end's, adds any further addresses and the routes to the networks behind the
other end, and then carries packets both ways: every IP packet the kernel
routes into the TUN goes to the other end in a UDP datagram, and every
datagram from the other end is written to the TUN, so the kernel receives it
as if it had arrived on a wire. Between two network namespaces joined by a
veth (203.0.113.1 and 203.0.113.2)::

    ip netns exec a python examples/udp_tunnel.py --name tun0 \\
        --local 192.0.2.1 --peer 192.0.2.2 \\
        --address 198.51.100.1/32 --route 198.51.100.128/25 \\
        --listen 203.0.113.1:5555 --remote 203.0.113.2:5555
    ip netns exec b python examples/udp_tunnel.py --name tun0 \\
        --local 192.0.2.2 --peer 192.0.2.1 \\
        --address 198.51.100.129/32 --route 198.51.100.0/25 \\
        --listen 203.0.113.2:5555 --remote 203.0.113.1:5555

after which ``a`` reaches ``b``'s 192.0.2.2 through the peer route, and
198.51.100.129 (from 198.51.100.1) only through the route the tunnel added.
``tests/test_examples.py`` runs exactly this, with a TCP transfer through it.

What it shows:

- Configuration with this library alone: ``add_address(..., peer=...)``
  (IFA_LOCAL and IFA_ADDRESS), ``set_mtu``, ``up``, ``add_route`` (after
  ``up``: the kernel takes no route through a device that is down), and
  ``set_ipv6(False)`` when the overlay is IPv4 only, so that no router
  solicitation or DAD probe crosses the tunnel. The device, its addresses
  and its routes go when the program exits and its fd closes.
- Both halves by batches, with no Python object per packet and no payload
  copied in user space: the TUN is opened with offloads, so a raw
  ``read_batch`` (``segment=False``) takes the kernel's TCP/UDP
  super-packets whole, one per slot, and ``udp_send_batch`` segments each on
  the way out as one ``UDP_SEGMENT`` message of [headers, payload slice]
  pieces (headers built in C, payload read where it lies), many per
  ``sendmmsg``; ``udp_recv_batch`` fills a batch with ``recvmmsg`` and
  ``UDP_GRO``, one datagram per slot where it landed, and ``write_batch``
  merges each flow's packets back into super-packets.
- One selector over the TUN's fd (``fileno()``, non-blocking), the socket
  and a signal wake-up socket: a bounded run (``--seconds``) and a clean
  stop on SIGTERM or SIGINT, with a summary of what went through.

The MTU (``--mtu``, 1400 by default) must leave room for the underlay's IP
and UDP headers (28 bytes over IPv4, 48 over IPv6) and be the same at both
ends: a datagram too large for the TUN is refused and counted. The socket is
connected to ``--remote``, so the kernel drops datagrams from anyone else,
but nothing is encrypted or authenticated: anyone who can send from that
address and port can inject packets. It is a showcase, not a VPN.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import ipaddress
import selectors
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import tuntap_cffi as tuntap

# Slots per crossing into C, each way: TUN -> socket, one (super-)packet a
# slot (a 64 KiB one is about 47 packets at MTU 1400); socket -> TUN, one
# datagram a slot, room for several GRO'd runs, which a receive keeps
# together. Every crossing costs the same Python, whatever it carries.
BATCH = 256
# Batches taken in a row while they come back full (what is staged in a batch
# or pending in the TUN's queue does not make its fd readable), before the
# other direction has its turn.
ROUNDS = 8
SOCKET_BUFFER = 4 * 1024 * 1024  # asked for; the kernel caps it at net.core.[rw]mem_max
UNDERLAY_HEADERS = {4: 20 + 8, 6: 40 + 8}
# A datagram the TUN refuses is dropped, as a router drops a bad packet.
REFUSED = (tuntap.NotIPPacketError, tuntap.JumboPacketError)
# A send that finds the socket's buffer full, or follows an ICMP "port
# unreachable" (the other end is not running yet), loses one packet: TCP
# above resends it.
SEND_DROPS = (errno.EAGAIN, errno.ENOBUFS, errno.ECONNREFUSED)

Endpoint = tuple[str, int]
T = TypeVar("T")


@dataclass
class Counters:
    """What went through, for the summary line."""

    sent: int = 0  # packets read from the TUN and sent to the other end
    received: int = 0  # datagrams received and written to the TUN
    send_dropped: int = 0  # lost on the way out (SEND_DROPS)
    refused: int = 0  # datagrams the TUN refused (REFUSED)


class Tunnel:
    """The data path between one TUN device (with offloads) and one connected UDP socket."""

    def __init__(self, tun: tuntap.Interface, sock: socket.socket) -> None:
        self.tun = tun
        self.sock = sock
        self.counters = Counters()
        # TUN -> socket: a slot per (super-)packet, sized at the first read.
        self.outgoing = tuntap.PacketBatch(BATCH)
        # Socket -> TUN: slots one byte larger than the TUN takes (write_limit,
        # which follows the MTU), so a datagram too large for it is refused by
        # write_batch or, longer still, cut and reported by the batch.
        self.incoming = tuntap.PacketBatch(BATCH, slot_size=tun.write_limit + 1)

    def tun_to_socket(self) -> None:
        """Send what the TUN has ready: its super-packets are read whole (a raw read,
        virtio-net headers kept) and segmented on the way out without a copy, each
        as one UDP_SEGMENT message of [headers, payload slice] pieces."""
        for _ in range(ROUNDS):
            count = self.tun.read_batch(self.outgoing, segment=False, timeout=0)
            start = 0
            while start < count:
                try:
                    tuntap.udp_send_batch(self.sock, self.outgoing, start=start)
                    self.counters.sent += self.outgoing.segments(start, count)
                    break
                except tuntap.BatchWriteError as exc:
                    # Also an instance of what stopped it: an OSError, for a send.
                    if not isinstance(exc, OSError) or exc.errno not in SEND_DROPS:
                        raise
                    self.counters.sent += self.outgoing.segments(start, exc.index)
                    self.counters.send_dropped += 1
                    start = exc.index + 1  # the rest of the batch, after the lost one
            if count < BATCH and not self.tun.pending:
                break  # drained: nothing left in the device, nor a super-packet begun

    def socket_to_tun(self) -> None:
        """Receive the datagrams that are ready (GRO'd ones split) and write them to the
        TUN in one call, which merges each TCP flow's segments into super-packets."""
        for _ in range(ROUNDS):
            try:
                count = tuntap.udp_recv_batch(self.sock, self.incoming, timeout=0)
            except ConnectionRefusedError:
                return  # an earlier send's ICMP error, reported here; no datagram taken
            refused = len(self.incoming.errors())  # cut, or not IP: not written
            start = 0
            while start < count:
                try:
                    self.tun.write_batch(self.incoming, start=start)
                except tuntap.BatchWriteError as exc:
                    if not isinstance(exc, REFUSED):
                        raise
                    refused += 1
                    start = exc.index + 1  # the rest of the batch, after the refused one
                else:
                    break
            self.counters.received += count - refused
            self.counters.refused += refused
            if count < BATCH and not self.incoming.staged:
                break  # drained: nothing left in the socket, nor held by the batch


# -- setting up ------------------------------------------------------------------------


def argument(parse: Callable[[str], T]) -> Callable[[str], T]:
    """``parse`` for argparse, which shows the ValueError's own message (not just "invalid")."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__
    return convert


def endpoint(text: str) -> Endpoint:
    """``ADDRESS:PORT`` or ``[IPV6]:PORT``, for argparse."""
    host, colon, port = text.rpartition(":")
    try:
        if not colon:
            raise ValueError("no port")
        address = ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
        number = int(port)
        if not 0 < number < 65536:
            raise ValueError(f"port {number} is outside 1..65535")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not ADDRESS:PORT ({exc})") from None
    return str(address), number


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="A point-to-point IP tunnel over UDP between two TUN devices."
    )
    parser.add_argument("--name", default="tun%d", help="the TUN's name (default: tun%%d)")
    parser.add_argument(
        "--local",
        type=argument(ipaddress.ip_address),
        required=True,
        help="this end's overlay address",
    )
    parser.add_argument(
        "--peer",
        type=argument(ipaddress.ip_address),
        required=True,
        help="the other end's overlay address",
    )
    parser.add_argument(
        "--address",
        type=argument(ipaddress.ip_interface),
        action="append",
        default=[],
        help="a further address of the TUN, ADDRESS/PREFIX (repeatable)",
    )
    parser.add_argument(
        "--route",
        type=argument(ipaddress.ip_network),
        action="append",
        default=[],
        help="a network to reach through the tunnel (repeatable)",
    )
    parser.add_argument(
        "--listen", type=endpoint, required=True, help="the UDP address and port of this end"
    )
    parser.add_argument(
        "--remote", type=endpoint, required=True, help="the UDP address and port of the other end"
    )
    parser.add_argument("--mtu", type=int, default=1400, help="the TUN's MTU (default: 1400)")
    parser.add_argument(
        "--seconds", type=float, default=3600.0, help="stop after this long at most (default: 3600)"
    )
    args = parser.parse_args(argv)
    if args.local.version != args.peer.version:
        parser.error(f"--local {args.local} and --peer {args.peer} are of different families")
    listen, remote = (ipaddress.ip_address(host) for host, _ in (args.listen, args.remote))
    if listen.version != remote.version:
        parser.error(f"--listen {listen} and --remote {remote} are of different families")
    if not 68 <= args.mtu <= 65535 - UNDERLAY_HEADERS[remote.version]:
        parser.error(f"--mtu {args.mtu} is outside 68..{65535 - UNDERLAY_HEADERS[remote.version]}")
    if not 0 < args.seconds <= 86400:
        parser.error(f"--seconds {args.seconds} is outside (0, 86400]")
    return args


def open_tun(args: argparse.Namespace) -> tuntap.Interface:
    """Create the TUN and configure it: MTU, addresses, up, routes."""
    tun = tuntap.open(args.name, tuntap.DevKind.TUN, offload=True)
    try:
        if all(a.version == 4 for a in [args.local, *args.address]):
            tun.set_ipv6(False)
        tun.set_mtu(args.mtu)
        tun.add_address(args.local, peer=args.peer)
        for address in args.address:
            tun.add_address(address)
        tun.up()
        for network in args.route:
            tun.add_route(network)
    except BaseException:
        tun.close()
        raise
    return tun


def open_socket(listen: Endpoint, remote: Endpoint) -> socket.socket:
    """A non-blocking UDP socket bound to ``listen`` and connected to ``remote``."""
    family = socket.AF_INET if ipaddress.ip_address(remote[0]).version == 4 else socket.AF_INET6
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
        sock.bind(listen)
        sock.connect(remote)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


@contextlib.contextmanager
def signal_socket(*signals: signal.Signals) -> Iterator[socket.socket]:
    """A socket that becomes readable when one of ``signals`` arrives.

    Python's C-level handler writes the signal's number to the wake-up fd
    (``signal.set_wakeup_fd``), so the selector wakes at once; the Python
    handlers do nothing, and SIGINT raises no KeyboardInterrupt mid-batch.
    """
    receiver, sender = socket.socketpair()
    previous: dict[signal.Signals, Any] = {}
    try:
        receiver.setblocking(False)
        sender.setblocking(False)
        previous_fd = signal.set_wakeup_fd(sender.fileno(), warn_on_full_buffer=False)
        try:
            for signum in signals:
                previous[signum] = signal.signal(signum, lambda number, frame: None)
            yield receiver
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            signal.set_wakeup_fd(previous_fd)
    finally:
        receiver.close()
        sender.close()


def run(tunnel: Tunnel, seconds: float) -> str:
    """Carry packets until ``seconds`` have passed or a signal came; say which."""
    deadline = time.monotonic() + seconds
    with (
        signal_socket(signal.SIGTERM, signal.SIGINT) as stop,
        selectors.DefaultSelector() as selector,
    ):
        selector.register(tunnel.tun.fileno(), selectors.EVENT_READ, tunnel.tun_to_socket)
        selector.register(tunnel.sock, selectors.EVENT_READ, tunnel.socket_to_tun)
        selector.register(stop, selectors.EVENT_READ, None)
        while (remaining := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(remaining):
                if key.data is None:
                    return signal.Signals(stop.recv(1)[0]).name
                key.data()
    return f"{seconds:g} s"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        tun = open_tun(args)
    except (OSError, tuntap.TunTapError, ValueError) as exc:
        print(f"udp_tunnel: {exc}", file=sys.stderr)
        return 1
    with tun:
        try:
            sock = open_socket(args.listen, args.remote)
        except OSError as exc:
            print(f"udp_tunnel: UDP {args.listen[0]}:{args.listen[1]}: {exc}", file=sys.stderr)
            return 1
        with sock:
            tunnel = Tunnel(tun, sock)
            print(
                f"ready {tun.name} {args.local} peer {args.peer} over "
                f"{args.listen[0]}:{args.listen[1]} -> {args.remote[0]}:{args.remote[1]}",
                flush=True,
            )
            why = run(tunnel, args.seconds)
            stats = tun.stats
    counters = tunnel.counters
    print(
        f"stopped ({why}): sent={counters.sent} received={counters.received} "
        f"send_dropped={counters.send_dropped} refused={counters.refused} "
        f"tun_rx_packets={stats.rx_packets} tun_tx_packets={stats.tx_packets}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
