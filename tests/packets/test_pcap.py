"""PcapWriter and the dump command, checked by an independent reader: tshark."""

from __future__ import annotations

import io
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.ip import TUN_ADDR, TUN_PEER, configure_v4, ip
from helpers.packets import ethernet, ipv4_udp, ipv6_udp
from helpers.skips import require_tool

import tuntap_cffi as tuntap
from tuntap_cffi import DevKind, PcapWriter

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")


def tshark_fields(path: Path, *fields: str) -> list[list[str]]:
    """One row per packet: the asked fields as tshark decodes them."""
    tshark = require_tool("tshark")
    args = [tshark, "-r", str(path), "-T", "fields", "-E", "separator=|"]
    for field in fields:
        args += ["-e", field]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [line.split("|") for line in result.stdout.splitlines()]


def test_tun_packets_decode_as_raw_ip(tmp_path: Path) -> None:
    path = tmp_path / "tun.pcap"
    v4 = ipv4_udp("192.0.2.1", "198.51.100.9", 1111, 2222, b"four")
    v6 = ipv6_udp("2001:db8::1", "2001:db8::2", 3333, 4444, b"six")
    with PcapWriter(path, DevKind.TUN) as writer:
        writer.write(tuntap.parse_packet(v4), timestamp=1700000000.25)
        writer.write(v6, timestamp=1700000001.5)
    rows = tshark_fields(path, "frame.time_epoch", "ip.src", "ipv6.dst", "udp.dstport", "frame.len")
    assert len(rows) == 2
    assert rows[0][1:] == ["192.0.2.1", "", "2222", str(len(v4))]
    assert rows[1][1:] == ["", "2001:db8::2", "4444", str(len(v6))]
    assert float(rows[0][0]) == pytest.approx(1700000000.25, abs=1e-6)
    assert float(rows[1][0]) == pytest.approx(1700000001.5, abs=1e-6)


def test_tap_frames_decode_as_ethernet_with_nanoseconds(tmp_path: Path) -> None:
    path = tmp_path / "tap.pcap"
    frame = ethernet(MAC_A, MAC_B, 0x0800, ipv4_udp("192.0.2.5", "192.0.2.6", 5, 6, b"x"))
    with PcapWriter(path, DevKind.TAP, nanoseconds=True) as writer:
        writer.write(frame, timestamp=1700000000.123456789)
    rows = tshark_fields(path, "eth.src", "eth.type", "ip.dst", "frame.time_epoch")
    assert rows == [["02:00:00:00:00:02", "0x0800", "192.0.2.6", rows[0][3]]]
    assert rows[0][3].startswith("1700000000.1234567")  # nanosecond digits survive


def test_snaplen_cuts_but_records_the_original_length(tmp_path: Path) -> None:
    path = tmp_path / "snap.pcap"
    packet = ipv4_udp("192.0.2.1", "192.0.2.2", 1, 2, bytes(200))
    with PcapWriter(path, DevKind.TUN, snaplen=64) as writer:
        writer.write(packet)
    assert tshark_fields(path, "frame.len", "frame.cap_len") == [["228", "64"]]


def test_header_layout_and_file_objects() -> None:
    buffer = io.BytesIO()
    writer = PcapWriter(buffer, DevKind.TUN)
    writer.write(b"\x45" + bytes(19), timestamp=2.000001)
    writer.close()
    writer.close()  # harmless
    assert not buffer.closed  # a caller's file is left open
    magic, major, minor, _zone, _sigfigs, snaplen, linktype = struct.unpack_from(
        "<IHHiIII", buffer.getvalue()
    )
    assert (magic, major, minor, snaplen, linktype) == (0xA1B2C3D4, 2, 4, 65535, 101)
    assert struct.unpack_from("<IIII", buffer.getvalue(), 24) == (2, 1, 20, 20)
    assert writer.count == 1 and writer.closed


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="kind must be"):
        PcapWriter(tmp_path / "x", 7)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="snaplen"):
        PcapWriter(tmp_path / "x", DevKind.TUN, snaplen=0)
    with pytest.raises(TypeError, match="snaplen"):
        PcapWriter(tmp_path / "x", DevKind.TUN, snaplen="64")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="path or a binary file"):
        PcapWriter(42, DevKind.TUN)  # type: ignore[arg-type]
    with PcapWriter(tmp_path / "y", DevKind.TUN) as writer:
        with pytest.raises(TypeError, match="Packet or bytes"):
            writer.write("text")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="does not fit"):
            writer.write(b"\x45", timestamp=-1)
        with pytest.raises(TypeError, match="timestamp"):
            writer.write(b"\x45", timestamp="now")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="closed"):
        writer.write(b"\x45")
    with pytest.raises(FileNotFoundError):
        PcapWriter(tmp_path / "no" / "such" / "dir", DevKind.TUN)


@pytest.mark.privileged
def test_dump_command_captures_what_crosses_the_device(tmp_path: Path) -> None:
    path = tmp_path / "dump.pcap"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tuntap_cffi",
            "dump",
            "dmp0",
            "--pcap",
            str(path),
            "--count",
            "3",
            "--nanoseconds",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("Listening on dmp0 (TUN)")
        configure_v4("dmp0")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((TUN_ADDR, 0))
            for port in (7001, 7002, 7003):
                sock.sendto(f"to {port}".encode(), (TUN_PEER, port))
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "3 packets written" in out
    printed = [line for line in out.splitlines() if line.startswith("0800 ")]
    assert len(printed) == 3
    rows = tshark_fields(path, "ip.src", "ip.dst", "udp.dstport", "data.data")
    assert [row[:3] for row in rows] == [[TUN_ADDR, TUN_PEER, str(p)] for p in (7001, 7002, 7003)]
    assert bytes.fromhex(rows[2][3]) == b"to 7003"


@pytest.mark.privileged
def test_dump_attaches_to_an_existing_tap_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    ip("tuntap", "add", "dev", "dmptap0", "mode", "tap")
    try:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tuntap_cffi",
                "dump",
                "dmptap0",
                "--pcap",
                str(tmp_path / "t.pcap"),
                "--quiet",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("Listening on dmptap0 (TAP)")
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0 and "Traceback" not in err
        assert "0 packets written" in out
        assert tshark_fields(tmp_path / "t.pcap", "frame.len") == []
    finally:
        ip("link", "del", "dmptap0")


def test_dump_bad_arguments() -> None:
    for args in (["dump"], ["dump", "x", "--count", "0"], ["dump", "x", "--kind", "eth"]):
        result = subprocess.run(
            [sys.executable, "-m", "tuntap_cffi", *args], capture_output=True, text=True, timeout=30
        )
        assert result.returncode == 2 and "usage:" in result.stderr, args
