"""``stats``: the device's counters (IFLA_STATS64), against ``ip -j -s link`` and pyroute2.

Packets written to the TUN are the kernel's rx, packets it sends into the
TUN (read back here) its tx; with nobody reading, a burst beyond
``txqueuelen`` is dropped and counted in ``tx_dropped``.
"""

from __future__ import annotations

import dataclasses
import pickle
import socket
from collections.abc import Iterator

import pytest
from helpers.ip import TUN_ADDR, TUN_PEER, ip_json, pyroute2_link
from helpers.packets import ipv4_udp

import tuntap_cffi as tuntap
from tuntap_cffi import DevKind, LinkStats, _lowlevel

pytestmark = pytest.mark.privileged

N = 25
# ip(8)'s names in "stats64" for the fields it prints.
IP_FIELDS = {
    "rx": {"bytes": "rx_bytes", "packets": "rx_packets", "errors": "rx_errors",
           "dropped": "rx_dropped", "over_errors": "rx_over_errors", "multicast": "multicast"},
    "tx": {"bytes": "tx_bytes", "packets": "tx_packets", "errors": "tx_errors",
           "dropped": "tx_dropped", "carrier_errors": "tx_carrier_errors",
           "collisions": "collisions"},
}  # fmt: skip


@pytest.fixture
def silent_tun() -> Iterator[tuntap.Interface]:
    """A silent TUN (no IPv6), up, with 192.0.2.1 peer 192.0.2.2."""
    with tuntap.open("st%d", DevKind.TUN) as iface:
        iface.set_ipv6(False)
        iface.add_address(f"{TUN_ADDR}/32", peer=TUN_PEER)
        iface.up()
        yield iface


def ip_stats(name: str) -> dict[str, int]:
    (link,) = ip_json("-s", "link", "show", "dev", name)
    shown = link["stats64"]
    return {
        ours: shown[way][theirs]
        for way, names in IP_FIELDS.items()
        for theirs, ours in names.items()
    }


def pyroute2_stats(name: str) -> dict[str, int]:
    stats = pyroute2_link(name).get_attr("IFLA_STATS64")
    return dict(stats)


def assert_views_agree(iface: tuntap.Interface) -> LinkStats:
    """The counters the library reads are those ip(8) and pyroute2 read (no traffic between)."""
    stats = iface.stats
    mine = dataclasses.asdict(stats)
    assert {k: mine[k] for k in ip_stats(iface.name)} == ip_stats(iface.name)
    theirs = pyroute2_stats(iface.name)
    assert {k: mine[k] for k in theirs} == theirs
    return stats


def test_rx_and_tx_move_by_the_packets_written_and_read(silent_tun: tuntap.Interface) -> None:
    before = assert_views_agree(silent_tun)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((TUN_ADDR, 0))
        sock.settimeout(5)
        port = sock.getsockname()[1]
        written = [
            ipv4_udp(TUN_PEER, TUN_ADDR, 4000, port, b"in%03d" % i, ident=i) for i in range(N)
        ]
        for packet in written:
            silent_tun.write_packet(packet)
        for _ in range(N):
            sock.recv(100)  # every one was delivered: no ICMP goes back out
        for i in range(N):
            sock.sendto(b"out%03d" % i, (TUN_PEER, 4000))
        read = [bytes(silent_tun.read_packet(timeout=5).body) for _ in range(N)]
    assert all(pkt[9] == 17 and pkt.endswith(b"out%03d" % i) for i, pkt in enumerate(read))
    after = assert_views_agree(silent_tun)
    assert after.rx_packets - before.rx_packets == N
    assert after.rx_bytes - before.rx_bytes == sum(map(len, written))
    assert after.tx_packets - before.tx_packets == N
    assert after.tx_bytes - before.tx_bytes == sum(map(len, read))
    assert (after.rx_dropped, after.tx_dropped, after.rx_errors) == (0, 0, 0)


def test_a_burst_beyond_txqueuelen_is_tx_dropped(silent_tun: tuntap.Interface) -> None:
    silent_tun.set_txqueuelen(4)
    before = assert_views_agree(silent_tun)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for i in range(40):  # nobody reads: the queue holds 4
            sock.sendto(b"burst%02d" % i, (TUN_PEER, 4000))
    after = assert_views_agree(silent_tun)
    assert after.tx_dropped - before.tx_dropped == 36
    assert after.tx_packets == before.tx_packets  # the TUN counts tx as the reader takes it
    held = [bytes(silent_tun.read_packet(timeout=1).body) for _ in range(4)]
    assert [pkt[-7:] for pkt in held] == [b"burst%02d" % i for i in range(4)]
    assert assert_views_agree(silent_tun).tx_packets - before.tx_packets == 4


def test_a_link_reads_the_counters_too(silent_tun: tuntap.Interface) -> None:
    with tuntap.Link(silent_tun.name) as link:
        assert link.stats == silent_tun.stats


def test_linkstats_is_a_frozen_value_with_every_kernel_field() -> None:
    names = tuple(field.name for field in dataclasses.fields(LinkStats))
    assert names == _lowlevel.LINK_STATS_FIELDS  # the C struct's fields, in its order
    stats = LinkStats(*range(len(names)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.rx_packets = 1  # type: ignore[misc]
    assert not hasattr(stats, "__dict__")
    assert pickle.loads(pickle.dumps(stats)) == stats
    assert tuntap.LinkStats is LinkStats


def test_stats_on_a_closed_interface() -> None:
    iface = tuntap.open("stc%d", DevKind.TUN)
    iface.close()
    with pytest.raises(tuntap.InterfaceClosedError, match="stats on closed interface"):
        iface.stats  # noqa: B018
