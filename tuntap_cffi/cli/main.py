"""Command line: ``print`` (the seed's print_tuntap), ``dump`` (print and/or pcap capture)
and ``demo`` (a TUN that answers pings, in a namespace of its own)."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from .. import __version__
from ..device.interface import Interface
from ..device.opening import open as open_interface
from ..errors import DeviceMismatchError, TunTapError
from ..packets.packet import DevKind, Packet
from ..packets.pcap import PcapWriter
from .demo import run_demo


def format_packet(packet: Packet) -> str:
    """One line per packet, as the seed prints it: ``<protocol hex> <body hex>``."""
    return f"{packet.protocol:04x} {bytes(packet.body).hex()}"


def run_print(kind: DevKind, name: str, out: TextIO) -> int:
    """Open the device, then print every packet until Ctrl-C."""
    with open_interface(name, kind) as iface:
        print(f"Listening on {iface.name}", file=out, flush=True)
        try:
            while True:
                try:
                    packet = iface.read_packet()
                except TunTapError as exc:
                    print(f"Read error: {exc}", file=out, flush=True)
                    continue
                print(format_packet(packet), file=out, flush=True)
        except KeyboardInterrupt:
            return 0


def open_any_kind(name: str, kind: DevKind | None) -> Interface:
    """Open ``name`` as ``kind``; with no kind, as a TUN, or as a TAP if it exists as one."""
    if kind is not None:
        return open_interface(name, kind)
    try:
        return open_interface(name, DevKind.TUN)
    except DeviceMismatchError:
        return open_interface(name, DevKind.TAP)


def run_dump(
    name: str,
    kind: DevKind | None,
    pcap_path: str | None,
    count: int | None,
    quiet: bool,
    nanoseconds: bool,
    out: TextIO,
) -> int:
    """Print and/or capture packets until ``count`` of them, or Ctrl-C."""
    with open_any_kind(name, kind) as iface:
        writer = PcapWriter(pcap_path, iface.kind, nanoseconds=nanoseconds) if pcap_path else None
        try:
            print(f"Listening on {iface.name} ({iface.kind.name})", file=out, flush=True)
            seen = 0
            while count is None or seen < count:
                try:
                    packet = iface.read_packet()
                except TunTapError as exc:
                    if not quiet:
                        print(f"Read error: {exc}", file=out, flush=True)
                    bad = getattr(exc, "packet", None)
                    if writer is None or bad is None:
                        continue
                    packet = bad
                seen += 1
                if writer is not None:
                    writer.write(packet)
                    writer.flush()
                if not quiet:
                    print(format_packet(packet), file=out, flush=True)
        except KeyboardInterrupt:
            pass
        finally:
            if writer is not None:
                writer.close()
        if writer is not None:
            print(f"{writer.count} packets written to {pcap_path}", file=out, flush=True)
    return 0


def positive_int(text: str) -> int:
    """argparse type: an int >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with a sub-command per tool."""
    parser = argparse.ArgumentParser(
        prog="tuntap-cffi", description="Linux TUN/TAP tools built on tuntap-cffi."
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}", help="print the version"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    printer = commands.add_parser(
        "print",
        help="open a device and print every packet it receives",
        description="Open (or create) a TUN/TAP device and print each packet as "
        "'<protocol hex> <body hex>' until Ctrl-C.",
    )
    printer.add_argument("kind", choices=["tun", "tap"], help="device kind")
    printer.add_argument("name", help="device name, or a pattern such as tun%%d")

    dump = commands.add_parser(
        "dump",
        help="print packets and/or capture them to a pcap file",
        description="Attach to a persistent device (or create one) and print each packet "
        "as 'print' does and/or write it to a pcap file (LINKTYPE_RAW for TUN, "
        "LINKTYPE_ETHERNET for TAP), until --count packets or Ctrl-C.",
    )
    dump.add_argument("name", help="device name, or a pattern such as tun%%d")
    dump.add_argument(
        "--kind",
        choices=["tun", "tap"],
        help="device kind (default: TUN, or TAP if the device is one)",
    )
    dump.add_argument("--pcap", metavar="FILE", help="write the packets to this pcap file")
    dump.add_argument("--count", type=positive_int, metavar="N", help="stop after N packets")
    dump.add_argument("--quiet", action="store_true", help="do not print packets")
    dump.add_argument(
        "--nanoseconds", action="store_true", help="nanosecond pcap timestamps (default: µs)"
    )

    demo = commands.add_parser(
        "demo",
        help="as root: a TUN in a private namespace answers pings from Python",
        description="Create a private network namespace, open a TUN there with "
        "192.0.2.1/24 and 2001:db8::1/64, and answer ICMP/ICMPv6 echo requests for "
        "192.0.2.2 and 2001:db8::2 by reading them from the TUN and writing replies, "
        "while the demo's own ICMP and ICMPv6 sockets ping both peers and time each "
        "round trip. Prints each packet and a summary, exits 0 when every request was "
        "answered; leaves nothing behind. Needs root, nothing else.",
    )
    demo.add_argument(
        "--count", type=_count, default=3, help="echo requests per peer (1-100, default 3)"
    )
    return parser


def _count(text: str) -> int:
    """argparse type: an echo request count from 1 to 100."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{value} is not in 1..100")
    return value


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "print":
            kind = DevKind.TUN if args.kind == "tun" else DevKind.TAP
            return run_print(kind, args.name, sys.stdout)
        if args.command == "dump":
            dump_kind = None if args.kind is None else DevKind[args.kind.upper()]
            return run_dump(
                args.name,
                dump_kind,
                args.pcap,
                args.count,
                args.quiet,
                args.nanoseconds,
                sys.stdout,
            )
        if args.command == "demo":
            return run_demo(sys.stdout, count=args.count)
    except KeyboardInterrupt:
        return 0
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 2
