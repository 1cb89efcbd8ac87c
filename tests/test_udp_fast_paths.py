"""The per-call shortcuts of the batched UDP calls and of a non-waiting read_batch keep
every check of the long way: a socket remembered from the last call is still checked
for being open, another socket is checked anew, and a closed interface still says so."""

from __future__ import annotations

import errno
import gc
import socket

import pytest

import tuntap_cffi as tuntap

pytestmark = pytest.mark.privileged


def udp_pair() -> tuple[socket.socket, socket.socket]:
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    a.bind(("127.0.0.1", 0))
    b.bind(("127.0.0.1", 0))
    a.connect(b.getsockname())
    b.connect(a.getsockname())
    return a, b


def test_a_remembered_socket_that_was_closed_says_so() -> None:
    a, b = udp_pair()
    with b:
        assert tuntap.udp_send_batch(a, [b"x" * 10]) == 1
        batch = tuntap.PacketBatch(8)
        assert tuntap.udp_recv_batch(b, batch, timeout=1) == 1
        a.close()
        with pytest.raises(OSError) as info:
            tuntap.udp_send_batch(a, [b"y"])
        assert info.value.errno == errno.EBADF
        b.close()
        with pytest.raises(OSError) as info:
            tuntap.udp_recv_batch(b, batch, timeout=0)
        assert info.value.errno == errno.EBADF


def test_another_socket_after_a_remembered_one_is_checked() -> None:
    a, b = udp_pair()
    with a, b, socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        assert tuntap.udp_send_batch(a, [b"x"]) == 1
        with pytest.raises(ValueError, match="UDP socket"):
            tuntap.udp_send_batch(tcp, [b"x"])
        assert tuntap.udp_send_batch(a, [b"x"]) == 1


def test_a_batch_sent_whole_twice_and_from_a_start() -> None:
    a, b = udp_pair()
    with a, b:
        frames = [bytes([k]) * 20 for k in (1, 2, 3)]  # long enough for TAP frames
        assert tuntap.udp_send_batch(a, frames) == 3
        batch = tuntap.PacketBatch(8)
        got = 0
        for _ in range(100):
            got += tuntap.udp_recv_batch(b, batch, timeout=1, kind=tuntap.DevKind.TAP)
            if got == 3:
                break
        assert got == 3 and len(batch) == 3
        assert tuntap.udp_send_batch(b, batch) == 3
        assert tuntap.udp_send_batch(b, batch, start=1) == 2
        seen = [a.recv(100) for _ in range(5)]
        assert seen == [*frames, *frames[1:]]


@pytest.mark.parametrize("offload", [False, True])
def test_a_read_batch_that_does_not_wait(offload: bool) -> None:
    iface = tuntap.open("ttfast%d", tuntap.DevKind.TUN, offload=offload)
    batch = tuntap.PacketBatch(4)
    with iface:
        for timeout in (0, 0.0):
            assert iface.read_batch(batch, timeout=timeout) == 0
        with pytest.raises(TypeError):
            iface.read_batch(batch, timeout=False)  # type: ignore[arg-type]
    with pytest.raises(tuntap.InterfaceClosedError):
        iface.read_batch(batch, timeout=0)


def test_a_remembered_socket_that_is_gone_is_not_none() -> None:
    a, b = udp_pair()
    assert tuntap.udp_send_batch(a, [b"x"]) == 1
    a.close()
    b.close()
    del a
    gc.collect()  # the remembered reference is dead now: it gives None
    for call in (tuntap.udp_send_batch, tuntap.udp_recv_batch):
        with pytest.raises(TypeError, match=r"takes a socket\.socket"):
            call(None, tuntap.PacketBatch(1))  # type: ignore[arg-type]
