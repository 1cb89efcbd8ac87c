"""``tuntap-cffi demo``: every echo request answered and timed, replies correct, no ``ping``
needed, nothing left behind."""

from __future__ import annotations

import os
import re
import socket
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers.ip import link_names
from helpers.packets import checksum

from tuntap_cffi import ETH_P_IP, DevKind, Packet, parse_packet
from tuntap_cffi.cli.demo import echo_reply, icmp_description, inet_checksum

NOBODY = 65534


def icmp_echo_request(src: str, dst: str, ident: int = 0x1234, seq: int = 1) -> bytes:
    body = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + b"demo payload"
    body = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(body),
        7,
        0,
        64,
        1,
        0,
        socket.inet_aton(src),
        socket.inet_aton(dst),
    )
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + body


def icmpv6_echo_request(src: str, dst: str, ident: int = 0x4321, seq: int = 1) -> bytes:
    saddr = socket.inet_pton(socket.AF_INET6, src)
    daddr = socket.inet_pton(socket.AF_INET6, dst)
    body = struct.pack("!BBHHH", 128, 0, 0, ident, seq) + b"demo payload v6"
    pseudo = saddr + daddr + struct.pack("!I3xB", len(body), 58)
    body = body[:2] + struct.pack("!H", checksum(pseudo + body)) + body[4:]
    return struct.pack("!IHBB", 6 << 28, len(body), 58, 64) + saddr + daddr + body


def test_ipv4_echo_reply_is_correct() -> None:
    request = icmp_echo_request("192.0.2.1", "192.0.2.2")
    reply = echo_reply(parse_packet(request))
    assert reply is not None
    packet = parse_packet(reply)
    assert (str(packet.sip), str(packet.dip)) == ("192.0.2.2", "192.0.2.1")
    assert packet.icmp_type() == (1, 0, 0)
    assert checksum(reply[:20]) == 0  # header checksum
    assert checksum(reply[20:]) == 0  # ICMP checksum
    assert reply[24:] == request[24:]  # identifier, sequence and data echoed
    assert len(reply) == len(request)


def test_ipv6_echo_reply_checksum_covers_the_pseudo_header() -> None:
    request = icmpv6_echo_request("2001:db8::1", "2001:db8::2")
    reply = echo_reply(parse_packet(request))
    assert reply is not None
    packet = parse_packet(reply)
    assert (str(packet.sip), str(packet.dip)) == ("2001:db8::2", "2001:db8::1")
    assert packet.icmp_type() == (58, 129, 0)
    pseudo = reply[8:40] + struct.pack("!I3xB", len(reply) - 40, 58)
    assert checksum(pseudo + reply[40:]) == 0
    assert checksum(reply[40:]) != 0  # so the pseudo-header really counts
    assert reply[44:] == request[44:]


def test_only_echo_requests_to_the_peers_are_answered() -> None:
    assert echo_reply(parse_packet(icmp_echo_request("192.0.2.1", "192.0.2.9"))) is None
    reply = echo_reply(parse_packet(icmp_echo_request("192.0.2.1", "192.0.2.2")))
    assert reply is not None
    assert echo_reply(parse_packet(reply)) is None  # a reply is not answered
    assert echo_reply(parse_packet(icmpv6_echo_request("2001:db8::1", "2001:db8::3"))) is None
    udp = bytearray(icmp_echo_request("192.0.2.1", "192.0.2.2"))
    udp[9] = 17
    assert echo_reply(parse_packet(bytes(udp))) is None
    short = icmp_echo_request("192.0.2.1", "192.0.2.2")[:24]  # half an ICMP header
    assert echo_reply(Packet(short, ETH_P_IP)) is None


def test_checksum_and_descriptions() -> None:
    assert inet_checksum(b"") == 0xFFFF
    assert inet_checksum(b"\x01") == checksum(b"\x01")
    data = os.urandom(101)
    assert inet_checksum(data) == checksum(data)
    request = parse_packet(icmp_echo_request("192.0.2.1", "192.0.2.2"), DevKind.TUN)
    assert icmp_description(request) == "ICMP echo request (type 8, code 0)"


@pytest.mark.privileged
def test_demo_answers_every_ping_and_leaves_nothing_behind() -> None:
    before = link_names()
    result = subprocess.run(
        [sys.executable, "-m", "tuntap_cffi", "demo", "--count", "3"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "summary: 6 sent, 6 answered (6 replies written), 0 lost; rtt min/avg/max = " in out
    assert "ping 192.0.2.2: 3 sent, 3 answered" in out
    assert "ping 2001:db8::2: 3 sent, 3 answered" in out
    assert re.search(r"addresses 192\.0\.2\.1/24, 2001:db8::1/64", out)
    requests4 = out.count("read  192.0.2.1 -> 192.0.2.2  ICMP echo request (type 8, code 0)")
    replies4 = out.count("wrote 192.0.2.2 -> 192.0.2.1  ICMP echo reply (type 0, code 0)")
    requests6 = out.count("read  2001:db8::1 -> 2001:db8::2  ICMPv6 echo request (type 128")
    replies6 = out.count("wrote 2001:db8::2 -> 2001:db8::1  ICMPv6 echo reply (type 129")
    assert requests4 == replies4 == requests6 == replies6 == 3
    for peer in ("192.0.2.2", "2001:db8::2"):
        sequences = re.findall(
            rf"^reply from {re.escape(peer)}: seq=(\d+) time=[0-9.]+ ms$", out, re.M
        )
        assert sequences == ["1", "2", "3"], out
    assert "Traceback" not in result.stderr
    assert link_names() == before  # the demo's namespace and TUN went with it


@pytest.mark.privileged
def test_demo_needs_no_ping_program(tmp_path: Path) -> None:
    """Nothing on PATH at all: the demo sends its own echo requests."""
    empty = tmp_path / "bin"
    empty.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "tuntap_cffi", "demo", "--count", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PATH": str(empty)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "summary: 4 sent, 4 answered (4 replies written), 0 lost; rtt" in result.stdout


@pytest.mark.privileged
def test_demo_fails_when_requests_go_unanswered() -> None:
    """A loop that answers nothing: every request is lost, the exit status says so."""
    code = """
        import sys
        from tuntap_cffi.cli import demo
        demo.echo_reply = lambda packet, peers=(): None
        sys.exit(demo.run_demo(sys.stdout, count=2, timeout=20.0))
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "summary: 4 sent, 0 answered (0 replies written), 4 lost; no round trips" in out
    assert "ping 192.0.2.2: 2 sent, 0 answered" in out
    assert "no reply from 2001:db8::2: seq=2" in out
    assert out.count("read  192.0.2.1 -> 192.0.2.2  ICMP echo request") == 2


def test_demo_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tuntap_cffi", "demo", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0 and "usage:" in result.stdout and "--count" in result.stdout


@pytest.mark.parametrize("count", ["0", "101", "x"])
def test_demo_bad_count(count: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tuntap_cffi", "demo", "--count", count],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "--count" in result.stderr


@pytest.mark.privileged
def test_demo_without_root_says_what_it_needs() -> None:
    code = f"""
        # argparse loads locale and shutil lazily, and nobody may not read the stdlib
        import locale, os, shutil, sys
        from tuntap_cffi import cli
        os.setgroups([])
        os.setgid({NOBODY})
        os.setuid({NOBODY})
        sys.exit(cli.main(["demo"]))
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "CAP_SYS_ADMIN" in result.stderr and "unshare" in result.stderr
    assert "Traceback" not in result.stderr
