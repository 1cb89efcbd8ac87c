"""Closing several fds: one close that fails must not leak the others.

A close is made to fail for real: the fd is closed behind the library's back
(``os.close``), so the library's own close gets EBADF from the kernel. Every
other fd must still be closed (checked in /proc/self/fd), and the error
raised is the first one. Nothing runs between the ``os.close`` and the
library's close, so the fd number cannot have been re-used meanwhile.
"""

from __future__ import annotations

import errno
import os

import pytest
from helpers.ip import link_names
from helpers.processes import open_fds

import tuntap_cffi as tuntap
from tuntap_cffi import DevKind
from tuntap_cffi.device import attach

pytestmark = pytest.mark.privileged


def _new_fds(count: int) -> list[int]:
    return [os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC) for _ in range(count)]


@pytest.mark.parametrize("victim", [0, 2, 4])
def test_close_all_closes_every_fd_when_one_close_fails(victim: int) -> None:
    before = open_fds()
    fds = _new_fds(5)
    os.close(fds[victim])  # behind the library's back: its close gets EBADF
    with pytest.raises(OSError) as info:
        attach._close_all(fds, "tt-close")
    assert info.value.errno == errno.EBADF
    assert open_fds() == before


def test_close_all_raises_the_first_failure_and_chains_the_others() -> None:
    before = open_fds()
    fds = _new_fds(4)
    os.close(fds[1])
    os.close(fds[3])
    with pytest.raises(OSError) as info:
        attach._close_all(fds, "tt-close")
    assert open_fds() == before
    assert info.value.errno == errno.EBADF
    later = info.value.__context__
    assert isinstance(later, OSError) and later.errno == errno.EBADF


def test_a_failed_attach_closes_every_fd_and_keeps_its_own_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """attach() fails after opening three queues, one of which a close cannot close:
    the attach's own error is the one raised, and the other fds are closed all the same."""
    real = attach.clear_offload

    def fail(fd: int, name: str) -> None:
        real(fd, name)
        os.close(fd)  # behind the library's back
        raise OSError(errno.EIO, "clear_offload failed (the test's)")

    monkeypatch.setattr(attach, "clear_offload", fail)
    before = open_fds()
    with pytest.raises(OSError) as info:
        tuntap.open_queues("ttca%d", DevKind.TUN, count=3)
    assert info.value.errno == errno.EIO, info.value
    assert open_fds() == before
    assert not [name for name in link_names() if name.startswith("ttca")]


def _victim(iface: tuntap.Interface, which: str) -> int:
    if which == "device fd":
        return iface.fileno()
    if which == "eventfd":
        return iface._wakefd
    if which == "netlink socket":
        netlink = iface.link.netlink
        assert netlink is not None
        return netlink.fd
    nsfd = iface.link._channel.netns_fd
    assert nsfd >= 0
    return nsfd


@pytest.mark.parametrize("which", ["device fd", "eventfd", "netlink socket", "namespace fd"])
def test_interface_release_closes_every_fd_when_one_close_fails(
    named_netns: str, which: str
) -> None:
    before = open_fds()
    netns = named_netns if which == "namespace fd" else None
    iface = tuntap.open("ttrel%d", DevKind.TUN, netns=netns)
    assert iface.mtu > 0  # the netlink socket is open now
    assert iface.link.netlink is not None and iface.link.netlink.fd >= 0
    victim = _victim(iface, which)
    os.close(victim)
    with pytest.raises(OSError) as info:
        iface.close()
    assert info.value.errno == errno.EBADF
    assert open_fds() == before
    assert iface.closed


def test_a_link_release_closes_its_namespace_fd_when_the_socket_close_fails(
    named_netns: str,
) -> None:
    with tuntap.open("ttlnk%d", DevKind.TUN, persist=True, netns=named_netns) as iface:
        name = iface.name
    before = open_fds()  # the device goes with the namespace, when the fixture deletes it
    link = tuntap.Link(name, netns=named_netns)
    assert link.netlink is not None
    os.close(link.netlink.fd)
    with pytest.raises(OSError) as info:
        link.close()
    assert info.value.errno == errno.EBADF
    assert open_fds() == before
