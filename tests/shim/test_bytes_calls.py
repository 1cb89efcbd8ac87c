"""The shim's bytes calls, framed queues and the gate (their usage count, kept in C), on pipes.

A pipe stands in for the device: what is written to it is what a read
gets, what a write sends can be read back, so every byte the shim moves is
checked without the kernel's TUN rules in the way (those are checked on real
devices in tests/device/test_bytes_io.py and tests/device/test_framing.py).
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
import threading
import time
from collections.abc import Iterator

import pytest
from helpers.packets import GSO_TCPV4, check_packet, super_packet, vnet_header

from tuntap_cffi import _lowlevel
from tuntap_cffi._native import ffi, lib

TUN, TAP = _lowlevel.KIND_TUN, _lowlevel.KIND_TAP
PI, VNET = _lowlevel.FRAME_PI, _lowlevel.FRAME_VNET
IP4 = bytes([0x45, 0, 0, 20]) + bytes(16)  # an IPv4 header alone, total length 20


class Pipes:
    """A queue whose fd is a pipe's read end (``w`` feeds it) or write end (``r``
    shows what it wrote), with a wake-up eventfd and a scratch."""

    def __init__(
        self, kind: int = TUN, framing: int = 0, offload: int = 0, write: bool = False
    ) -> None:
        self.r, self.w = os.pipe()
        os.set_blocking(self.r, False)
        os.set_blocking(self.w, False)
        self.wakefd = _lowlevel.new_wake_fd("pipe")
        self.memory = _lowlevel.new_queue(
            self.w if write else self.r, self.wakefd, kind, offload, 1600
        )
        self.q = self.memory.c
        self.q.framing = framing
        self.scratch = _lowlevel.add_scratch(self.q, 65600)

    def feed(self, data: bytes) -> None:
        assert os.write(self.w, data) == len(data)

    def written(self) -> bytes:
        try:
            return os.read(self.r, 1 << 16)
        except BlockingIOError:
            return b""

    def scratch_bytes(self, n: int) -> bytes:
        return bytes(ffi.buffer(self.scratch.c, n))

    def close(self) -> None:
        for fd in (self.r, self.w, self.wakefd):
            if fd >= 0:
                os.close(fd)


@pytest.fixture
def pipes() -> Iterator[Pipes]:
    p = Pipes()
    yield p
    p.close()


def fd_open(fd: int) -> bool:
    try:
        fcntl.fcntl(fd, fcntl.F_GETFD)
    except OSError as exc:
        assert exc.errno == errno.EBADF
        return False
    return True


# -- tt_queue_recv_next: the whole packet into the scratch ----------------------------


def test_recv_next_reads_the_whole_packet_into_the_scratch(pipes: Pipes) -> None:
    pipes.feed(b"\x45" + b"x" * 99)
    n = lib.tt_queue_recv_next(pipes.q)
    assert n == 100 and pipes.scratch_bytes(n) == b"\x45" + b"x" * 99
    if pipes.scratch.data is not None:  # CPython: the scratch is a bytes object's storage
        assert pipes.scratch.data[:n] == pipes.scratch_bytes(n)
    assert lib.tt_queue_recv_next(pipes.q) == -errno.EAGAIN  # waited one slice: nothing


def test_the_scratch_is_the_reading_threads_until_its_next_call(pipes: Pipes) -> None:
    pipes.feed(b"first")
    assert lib.tt_queue_recv_next(pipes.q) == 5
    results: list[int] = []
    other = threading.Thread(target=lambda: results.append(lib.tt_queue_recv_next(pipes.q)))
    other.start()
    other.join(5)
    assert results == [-errno.EBUSY]  # the bytes are still to be copied out: not touched
    assert pipes.scratch_bytes(5) == b"first"
    pipes.feed(b"second")
    assert lib.tt_queue_recv_next(pipes.q) == 6  # the owner's next call takes it again
    assert lib.tt_queue_recv_next(pipes.q) == -errno.EAGAIN  # nothing read: given back
    other = threading.Thread(target=lambda: results.append(lib.tt_queue_recv_next(pipes.q)))
    other.start()
    other.join(5)
    assert results[-1] == -errno.EAGAIN  # free for any thread


def test_recv_next_takes_offload_segments_one_per_call() -> None:
    packet, hlen = super_packet(False, False, b"a" * 1000 + b"b" * 1000 + b"c" * 500)
    p = Pipes(offload=_lowlevel.TUN_F_CSUM)
    try:
        p.feed(vnet_header(GSO_TCPV4, hlen, 1000, 20, 16) + packet)
        payloads = []
        for _ in range(3):
            n = lib.tt_queue_recv_next(p.q)
            assert n > 0
            payloads.append(check_packet(p.scratch_bytes(n)).data)
        assert payloads == [b"a" * 1000, b"b" * 1000, b"c" * 500]
        assert lib.tt_queue_recv_next(p.q) == -errno.EAGAIN
    finally:
        p.close()


def test_a_read_of_nothing_consumes_nothing(pipes: Pipes) -> None:
    pipes.feed(b"\x45kept")
    assert lib.tt_queue_recv_bytes(pipes.q, ffi.NULL, 0, 50) == 0
    buf = ffi.new("char[]", 64)
    assert lib.tt_queue_recv_bytes(pipes.q, buf, 64, 0) == 5


def test_the_bytes_calls_check_their_arguments(pipes: Pipes) -> None:
    buf = ffi.new("char[]", 8)
    assert lib.tt_queue_recv_bytes(ffi.NULL, buf, 8, 0) == -errno.EINVAL
    assert lib.tt_queue_recv_bytes(pipes.q, ffi.NULL, 8, 0) == -errno.EINVAL
    assert lib.tt_queue_send_bytes(pipes.q, ffi.NULL, 8, 0) == -errno.EINVAL
    assert lib.tt_queue_send_now(ffi.NULL, b"x", 1) == -errno.EINVAL
    assert lib.tt_queue_recv_next(ffi.NULL) == -errno.EINVAL
    pipes.q.framing = 4  # no such header
    assert lib.tt_queue_recv_next(pipes.q) == -errno.EINVAL
    assert lib.tt_queue_recv(pipes.q, buf, 8, 0) == -errno.EINVAL
    pipes.q.framing = 0
    pipes.q.scratch = ffi.NULL
    assert lib.tt_queue_recv_next(pipes.q) == -errno.EINVAL
    offload = Pipes(offload=_lowlevel.TUN_F_CSUM, framing=PI)  # an offload queue's headers
    try:
        assert lib.tt_queue_recv_next(offload.q) == -errno.EINVAL
    finally:
        offload.close()


# -- the gate: the usage count of the gated calls, kept in C ------------------------------


def test_a_shut_gate_refuses_every_gated_call_without_touching_the_fd(pipes: Pipes) -> None:
    pipes.feed(b"\x45left unread")
    assert lib.tt_queue_shut(pipes.q) == 0
    assert lib.tt_queue_recv_next(pipes.q) == -errno.ECANCELED
    assert lib.tt_queue_send_now(pipes.q, IP4, len(IP4)) == -errno.ECANCELED
    assert lib.tt_queue_send_bytes(pipes.q, IP4, len(IP4), 0) == -errno.ECANCELED
    assert os.read(pipes.r, 64) == b"\x45left unread"  # the read never happened
    assert (pipes.q.inside, pipes.q.shut) == (0, 1)
    assert lib.tt_queue_drain(pipes.q, 0) == 0
    assert lib.tt_queue_shut(pipes.q) == 0  # twice: harmless


def test_drain_says_ebusy_when_a_call_stays_inside_past_its_timeout(pipes: Pipes) -> None:
    # The count of one call that never leaves (no thread: a real reader leaves the
    # gate for a moment between its calls, where a drain may rightly succeed).
    pipes.q.inside = 1
    started = time.monotonic()
    assert lib.tt_queue_drain(pipes.q, 20) == -errno.EBUSY
    assert time.monotonic() - started >= 0.02, "it waited its whole timeout"
    pipes.q.inside = 0
    assert lib.tt_queue_drain(pipes.q, 0) == 0


def test_drain_waits_for_the_call_inside_until_it_is_woken(pipes: Pipes) -> None:
    results: list[int] = []
    inside = threading.Event()

    def reader() -> None:
        # Each call waits one slice (50 ms) for a packet that never comes, until
        # the shut gate refuses the next one or the wake-up ends the wait.
        for _ in range(200):  # at most 10 s
            inside.set()
            result = lib.tt_queue_recv_next(pipes.q)
            results.append(result)
            if result != -errno.EAGAIN:
                return

    thread = threading.Thread(target=reader)
    thread.start()
    assert inside.wait(5)
    busy = []
    for _ in range(20):  # the reader is inside but for a moment between its calls
        busy.append(lib.tt_queue_drain(pipes.q, 0))
        if busy[-1] == -errno.EBUSY:
            break
        time.sleep(0.01)
    assert busy[-1] == -errno.EBUSY
    assert lib.tt_queue_shut(pipes.q) == 0
    assert lib.tt_wake(pipes.wakefd) == 0
    assert lib.tt_queue_drain(pipes.q, 1000) == 0
    thread.join(5)
    assert not thread.is_alive()
    assert results[-1] == -errno.ECANCELED and pipes.q.inside == 0


def test_the_gate_calls_check_their_arguments(pipes: Pipes) -> None:
    assert lib.tt_queue_shut(ffi.NULL) == -errno.EINVAL
    assert lib.tt_queue_drain(ffi.NULL, 0) == -errno.EINVAL
    assert lib.tt_queue_drain(pipes.q, -1) == -errno.EINVAL
    assert pipes.q.shut == 0


# -- a read's own epoll fd --------------------------------------------------------------


def test_a_read_that_waits_makes_the_epoll_fd_that_close_epoll_closes(pipes: Pipes) -> None:
    """The first read that waits makes the queue's epoll fd; later waits use it and
    see the wake-up fd; the release of the fds closes it once."""
    pipes.q.wait_mode = lib.TT_WAIT_EPOLL
    assert lib.tt_queue_recv_bytes(pipes.q, pipes.scratch.c, 64, 10) == -errno.EAGAIN
    assert pipes.q.wait_mode == lib.TT_WAIT_EPOLL_MADE
    epfd = pipes.q.epfd
    assert os.readlink(f"/proc/self/fd/{epfd}") == "anon_inode:[eventpoll]"
    pipes.feed(b"\x45later")
    assert lib.tt_queue_recv_bytes(pipes.q, pipes.scratch.c, 64, 10) == 6
    assert lib.tt_wake(pipes.wakefd) == 0
    assert lib.tt_queue_recv_bytes(pipes.q, pipes.scratch.c, 64, 1000) == -errno.ECANCELED
    assert pipes.q.epfd == epfd  # made once
    _lowlevel.close_epoll([pipes.q], "pipe")
    assert not fd_open(epfd)
    assert pipes.q.wait_mode == lib.TT_WAIT_POLL
    _lowlevel.close_epoll([pipes.q], "pipe")  # nothing left to close: harmless


def test_a_queue_left_to_poll_makes_no_epoll_fd(pipes: Pipes) -> None:
    assert lib.tt_queue_recv_bytes(pipes.q, pipes.scratch.c, 64, 10) == -errno.EAGAIN
    assert (pipes.q.wait_mode, pipes.q.epfd) == (lib.TT_WAIT_POLL, -1)


# -- framed queues: packet information, raw virtio-net headers --------------------------


def test_packet_calls_take_off_and_put_on_packet_information() -> None:
    reader = Pipes(framing=PI)
    writer = Pipes(framing=PI, write=True)
    try:
        packet = IP4
        reader.feed(struct.pack("=HH", 0, 0x0008) + packet)
        buf = ffi.new("char[]", 64)
        verdict, _proto, length = _lowlevel.unpack(lib.tt_queue_recv(reader.q, buf, 64, 0))
        assert (verdict, length, ffi.unpack(buf, length)) == (_lowlevel.PKT_OK, 20, packet)
        # The kernel cut it (TUN_PKT_STRIP, host order): a truncated packet.
        reader.feed(struct.pack("=HH", 1, 0x0008) + packet)
        verdict, _, _ = _lowlevel.unpack(lib.tt_queue_recv(reader.q, buf, 64, 0))
        assert verdict == _lowlevel.PKT_TRUNCATED
        assert lib.tt_queue_send(writer.q, packet, 20, 0) == 20
        assert writer.written() == b"\0\0\x08\x00" + packet
        v6 = bytes([0x60]) + bytes(39)  # an IPv6 header alone
        assert lib.tt_queue_send(writer.q, v6, 40, 0) == 40
        assert writer.written() == b"\0\0\x86\xdd" + v6
        assert lib.tt_queue_send(writer.q, b"\x01" * 20, 20, 0) == -errno.EINVAL  # still IP only
        assert writer.written() == b""
    finally:
        reader.close()
        writer.close()


def test_batches_on_a_framed_queue() -> None:
    reader = Pipes(framing=PI | VNET)
    writer = Pipes(framing=PI | VNET, write=True)
    try:
        packets = [bytes([0x45, i, 0, 20]) + bytes(16) for i in range(3)]
        batch, _buf, results = _lowlevel.new_batch(4, 256, TUN)
        for p in packets:  # one pipe read per packet: each write is read whole
            reader.feed(b"\0\0\x08\x00" + bytes(10) + p)
            assert lib.tt_queue_read(reader.q, batch, 0, 0) == 1
            assert _lowlevel.unpack(results[0])[2] == 20
            assert ffi.unpack(batch.buf, 20) == p
        arrays = _lowlevel.packet_arrays([ffi.from_buffer(p) for p in packets])
        status = _lowlevel.new_write_status()
        assert lib.tt_queue_write(writer.q, arrays[0], 0, 0, 0, status) == 3
        assert writer.written() == b"".join(b"\0\0\x08\x00" + bytes(10) + p for p in packets)
    finally:
        reader.close()
        writer.close()


@pytest.mark.parametrize(
    ("kind", "framing", "data", "result", "refused"),
    [
        (TUN, PI, b"\0\0\x08\x00" + b"\x01" * 20, 24, 0),  # the header's protocol rules
        (TUN, PI, b"\0\0\x08", -errno.EINVAL, _lowlevel.PKT_TRUNCATED),
        (TUN, VNET, bytes(10) + IP4, 30, 0),
        (TUN, VNET, bytes(10) + b"\x01" * 20, -errno.EINVAL, _lowlevel.PKT_NOT_IP),
        (TAP, PI, b"\0\0\x08\x00" + bytes(14), 18, 0),
        (TAP, PI, b"\0\0\x08\x00" + bytes(13), -errno.EINVAL, _lowlevel.PKT_TRUNCATED),
        (TUN, 0, b"\x01" * 20, -errno.EINVAL, _lowlevel.PKT_NOT_IP),
        (TUN, 0, IP4, 20, 0),
    ],
)
def test_the_bytes_write_rules_look_past_the_headers(
    kind: int, framing: int, data: bytes, result: int, refused: int
) -> None:
    writer = Pipes(kind=kind, framing=framing, write=True)
    try:
        assert lib.tt_queue_send_now(writer.q, data, len(data)) == result
        assert writer.q.refused == refused
        assert writer.written() == (data if result > 0 else b"")
    finally:
        writer.close()


def test_a_bytes_write_over_the_limit_is_emsgsize() -> None:
    writer = Pipes(write=True)
    try:
        big = b"\x45" + bytes(1600)
        assert lib.tt_queue_send_now(writer.q, big, len(big)) == -errno.EMSGSIZE
        assert writer.written() == b""
    finally:
        writer.close()
