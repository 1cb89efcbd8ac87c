"""The Internet checksum the segmenting read, the coalescing check and the UDP paths
share: RFC 1071's on any length, any start and carry-heavy data (the sum runs eight
bytes a step on wide accumulators, whose carries must all come back in)."""

from __future__ import annotations

import dpkt
import pytest
from hypothesis import given, strategies as st

from tuntap_cffi import _lowlevel


def reference(data: bytes) -> int:
    return int(dpkt.in_cksum(data))


@pytest.mark.parametrize("fill", [0xFF, 0x80, 0x01, 0x00])
def test_every_length_up_to_a_few_blocks_and_the_largest_packet(fill: int) -> None:
    for length in [*range(0, 130), 1399, 1400, 1401, 65535, 65536]:
        data = bytes([fill]) * length
        assert _lowlevel.checksum(data) == reference(data), length


def test_every_start_within_a_word() -> None:
    data = bytes(range(256)) * 40
    for start in range(16):
        for length in (7, 8, 9, 31, 32, 33, 1400, 9000):
            part = data[start : start + length]
            assert _lowlevel.checksum(part) == reference(part), (start, length)


@given(
    st.lists(st.sampled_from([0x00, 0xFF, 0xFE, 0x01]), max_size=600).map(bytes)
    | st.binary(min_size=0, max_size=9000)
)
def test_the_checksum_of_any_bytes_is_rfc_1071s(data: bytes) -> None:
    assert _lowlevel.checksum(data) == reference(data)
