"""IPv4 IDs of atomic datagrams: DF=1 TCP segments whose IDs do not change merge, as the
kernel's GRO merges them (RFC 6864: the ID of a datagram that may not be fragmented
means nothing; Linux renumbers such IDs itself). A super-packet's IDs follow one rule:
all the same, or each one more; DF=0 keeps the rule of IDs that follow each other."""

from __future__ import annotations

import os

import pytest
from helpers.forward import as_sent_alone, collect, forward_path, merged_into_super_packets
from helpers.packets import atomic_id_free, flows, tcp_packet

from tuntap_cffi import _lowlevel


def segments(ids: list[int], df: bool = True, size: int = 700) -> list[bytes]:
    return [
        tcp_packet(False, 1 + k * size, os.urandom(size), ip_id=ip_id, df=df)
        for k, ip_id in enumerate(ids)
    ]


def plan(packets: list[bytes]) -> list[int]:
    result = _lowlevel.coalesce_plan(packets, 0, group=True)
    assert not isinstance(result, int), result
    return list(result)


@pytest.mark.parametrize(
    "ids,df,members",
    [
        ([7, 7, 7, 7], True, 4),
        ([0, 0, 0, 0, 0, 0], True, 6),
        ([7, 8, 9, 10], True, 4),
        ([7, 7, 8, 9], True, 2),  # constant, then counting: the first rule holds
        ([7, 8, 8, 8], True, 2),  # counting, then constant
        ([7, 7, 7, 7], False, 1),  # DF=0: IDs must follow each other
        ([7, 8, 9, 10], False, 4),
        ([7, 6, 5], True, 1),
    ],
)
def test_a_plan_takes_ids_that_stay_or_count(ids: list[int], df: bool, members: int) -> None:
    assert len(plan(segments(ids, df))) == members


def test_df_segments_with_one_id_reach_the_kernel_as_one_super_packet() -> None:
    assert merged_into_super_packets(segments([9] * 6)) == 1
    assert merged_into_super_packets(segments([9] * 6, df=False)) == 6


@pytest.mark.parametrize("ids", [[5, 5, 5, 5, 5], [5, 5, 6, 7, 7], [0xFFFF, 0xFFFF, 0, 1]])
def test_what_arrives_is_what_would_arrive_alone_but_for_atomic_ids(ids: list[int]) -> None:
    packets = segments(ids)
    with forward_path() as (a, c):
        alone = as_sent_alone(a, c, packets)
        assert a.write_batch(packets) == len(packets)
        coalesced = collect(c, len(alone))
    want = {k: [atomic_id_free(p) for p in v] for k, v in flows(alone).items()}
    got = {k: [atomic_id_free(p) for p in v] for k, v in flows(coalesced).items()}
    assert got == want
