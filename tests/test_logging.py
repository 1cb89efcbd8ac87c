"""The "tuntap_cffi" logger: what a user debugging a deployment wants to see (a
refused offload or UDP_SEGMENT and the fallback taken, lost link events), silent
unless the application configures logging."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import textwrap

import pytest
from helpers.events import shrink_receive_buffer
from helpers.ip import disable_ipv6

import tuntap_cffi as tuntap
from tuntap_cffi import DevKind, Offload, _lowlevel


def test_the_library_says_nothing_unless_logging_is_configured() -> None:
    code = textwrap.dedent(
        """
        import logging, tuntap_cffi
        logging.getLogger("tuntap_cffi.link.events").warning("lost events")
        """
    )
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert quiet.returncode == 0 and quiet.stderr == ""
    configured = subprocess.run(
        [sys.executable, "-c", "import logging; logging.basicConfig()\n" + code],
        capture_output=True,
        text=True,
    )
    assert "lost events" in configured.stderr


@pytest.mark.privileged
def test_lost_link_events_are_logged_with_the_resync(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tuntap_cffi")
    with tuntap.open("log%d", DevKind.TUN) as iface:
        disable_ipv6(iface.name)
        with iface.link.events(timeout=0.3) as events:
            shrink_receive_buffer(events)
            for mtu in range(1300, 1350):
                iface.set_mtu(mtu)
            assert next(events).kind is tuntap.EventKind.OVERRUN
    (record,) = [r for r in caplog.records if r.name == "tuntap_cffi.link.events"]
    assert record.levelno == logging.WARNING
    assert iface.name in record.getMessage() and "afresh" in record.getMessage()


@pytest.mark.privileged
def test_offloads_the_kernel_refuses_are_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An older kernel without USO, played by asking this one for less: the kernel
    takes what it is asked, the log says what was not taken and the device has it."""
    real = _lowlevel.set_offload
    without_uso = ~(Offload.USO4 | Offload.USO6).value
    monkeypatch.setattr(_lowlevel, "set_offload", lambda fd, bits: real(fd, bits & without_uso))
    caplog.set_level(logging.INFO, logger="tuntap_cffi")
    with tuntap.open("log%d", DevKind.TUN, offload=True) as iface:
        assert not iface.offload & (Offload.USO4 | Offload.USO6)
        (record,) = [r for r in caplog.records if r.name == "tuntap_cffi.device.attach"]
        assert iface.name in record.getMessage() and "USO4" in record.getMessage()
    caplog.clear()
    monkeypatch.undo()
    with tuntap.open("log%d", DevKind.TUN, offload=True):
        assert not [r for r in caplog.records if r.name == "tuntap_cffi.device.attach"]


@pytest.mark.privileged
def test_a_socket_without_udp_segment_is_logged_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A kernel without UDP_SEGMENT, played by clearing the bit the probe found: the
    fallback is logged at the socket's first send, not at every send."""
    real = _lowlevel.udp_setup
    monkeypatch.setattr(_lowlevel, "udp_setup", lambda fd, gro: real(fd, gro) & ~_lowlevel.UDP_GSO)
    caplog.set_level(logging.INFO, logger="tuntap_cffi")
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx,
    ):
        rx.bind(("127.0.0.1", 0))
        for _ in range(3):
            assert tuntap.udp_send_batch(tx, [b"x" * 100] * 4, rx.getsockname()) == 4
        assert [rx.recv(200) for _ in range(12)] == [b"x" * 100] * 12
    records = [r for r in caplog.records if r.name == "tuntap_cffi.udp"]
    assert len(records) == 1 and "UDP_SEGMENT" in records[0].getMessage()
