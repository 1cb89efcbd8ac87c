"""``PacketBatch.staged``: whether udp_recv_batch took datagrams from the socket that the
batch holds for its next receive. A receive that stops short of a GRO'd message that
does not fit (it waits for a batch that holds it whole) leaves the socket's fd without
them: a program that waits for the fd asks ``staged`` first."""

from __future__ import annotations

import select

import pytest
from test_udp import local_addresses, pair  # noqa: F401 - the module's fixture

import tuntap_cffi as tuntap

pytestmark = pytest.mark.privileged


def test_staged_says_what_the_fd_no_longer_does() -> None:
    a, b = pair()
    with a, b:
        batch = tuntap.PacketBatch(10)
        assert not batch.staged
        assert tuntap.udp_recv_batch(b, batch, timeout=0) == 0  # UDP_GRO on
        assert not batch.staged
        for r in range(2):
            assert tuntap.udp_send_batch(a, [bytes([r, k]) * 200 for k in range(6)]) == 6
        select.select([b], [], [], 1)
        assert tuntap.udp_recv_batch(b, batch, timeout=1) == 6
        assert batch.staged  # the second run, received and held
        assert select.select([b], [], [], 0)[0] == []
        assert tuntap.udp_recv_batch(b, batch, timeout=0) == 6
        assert not batch.staged
