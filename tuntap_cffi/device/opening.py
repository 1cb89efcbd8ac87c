"""``open`` and ``open_queues``: attach to (or create) a device and wrap each of
its queues in an :class:`~tuntap_cffi.Interface`.

Everything is validated before the first system call; ``attach.attach``
opens and configures the fds.
"""

from __future__ import annotations

from ..netns import NetnsLike
from ..packets.offload import Offload
from ..packets.packet import DevKind, as_kind
from . import attach
from .interface import Interface

__all__ = ["open", "open_queues"]


def _check_offload_kind(offload: object, kind: DevKind, name: str) -> None:
    if not isinstance(offload, bool):
        raise TypeError(f"offload must be a bool, not {type(offload).__name__}")
    if offload and kind != DevKind.TUN:
        raise ValueError(f"offload=True is for TUN devices only, not {kind.name} ({name})")


def _interfaces(device: attach.Attached, kind: DevKind, multi_queue: bool) -> list[Interface]:
    """Wrap what attach.attach opened: one Interface per queue."""
    return [
        Interface(
            fd,
            wakefd,
            device.name,
            kind,
            multi_queue=multi_queue,
            netlink=device.netlink if i == 0 else None,
            netns_fd=netns_fd,
            offload=Offload(device.offload),
        )
        for i, (fd, wakefd, netns_fd) in enumerate(
            zip(device.fds, device.wakefds, device.netns_fds)
        )
    ]


def open(  # noqa: A001 - the seed's name
    name: str,
    kind: DevKind = DevKind.TUN,
    *,
    persist: bool = False,
    owner: int | str | None = None,
    group: int | str | None = None,
    netns: NetnsLike | None = None,
    offload: bool = False,
) -> Interface:
    """Create a TUN/TAP device, or attach to a persistent one. Go: Open.

    Args:
        name: an exact name (``"tun42"``) or a pattern with one ``%d``
            (``"tun%d"``) for the kernel to number.
        kind: ``DevKind.TUN`` (IP packets) or ``DevKind.TAP`` (Ethernet frames).
        offload: speak virtio-net headers (``IFF_VNET_HDR``) and take TCP
            and UDP super-packets (TUN only); ``Interface.offload`` says
            which features the kernel accepted.
        persist: make the device persistent: it stays when the last fd
            closes (False leaves a device as it is: a new one is not
            persistent, an existing persistent one stays so).
        owner, group: a uid/gid or a user/group name. Set on the device
            (TUNSETOWNER, TUNSETGROUP), they let that user (and members of
            that group) attach to it later without CAP_NET_ADMIN.
        netns: create (or find) the device in another network namespace: a
            name (``/run/netns/NAME``, as ``ip netns`` makes them), a path
            such as ``/proc/PID/ns/net``, or an open fd of one. The calling
            thread stays in its own namespace; the interface's configuration
            methods act in the device's.

    Raises:
        ValueError, TypeError: a bad name, kind, owner, group or netns
            (checked before any system call; a netns that is not a network
            namespace is a ValueError).
        FileNotFoundError: no /dev/net/tun (the ``tun`` module is not
            loaded), or no such namespace.
        PermissionError: no CAP_NET_ADMIN, or not the device's owner (the
            message says whose it is).
        DeviceBusyError: another process holds the device.
        DeviceMismatchError: the name belongs to another kind of device, or
            to a multi-queue one (the message names the difference).
        ValueError: ``offload=True`` for a TAP device.
        OSError: the kernel refused virtio-net headers or offloads.
    """
    kind = as_kind(kind)
    name = attach.validate_name(name)
    _check_offload_kind(offload, kind, name)
    device = attach.attach(
        name,
        kind,
        1,
        False,
        persist=persist,
        owner=owner,
        group=group,
        netns_target=netns,
        offload=offload,
    )
    return _interfaces(device, kind, False)[0]


def open_queues(
    name: str,
    kind: DevKind = DevKind.TUN,
    *,
    count: int,
    persist: bool = False,
    owner: int | str | None = None,
    group: int | str | None = None,
    netns: NetnsLike | None = None,
    offload: bool = False,
) -> list[Interface]:
    """Open ``count`` queues of a multi-queue device (IFF_MULTI_QUEUE).

    The kernel spreads flows over the queues by their hash, so one reader
    per queue (thread or process) shares the load. Every queue is a full
    :class:`Interface`; the configuration methods of any of them act on the
    one device, and closing one queue leaves the others working. Another
    process can add queues of its own by calling this with the device's name.

    Args:
        count: 1..256 queues (the kernel's limit, MAX_TAP_QUEUES, counts the
            queues other processes have attached too).
        name, kind, persist, owner, group, netns: as for :func:`open`.
        offload: as for :func:`open`, on every queue (each one's ``offload``
            says what the kernel accepted).

    Raises:
        ValueError, TypeError: a bad count, or as for :func:`open`.
        DeviceMismatchError: the device exists without IFF_MULTI_QUEUE, is
            of another kind, or its queues use headers this library does
            not read (or lack the virtio-net headers ``offload=True`` needs).
        OSError: (E2BIG) the device has 256 queues already; or as for :func:`open`.
    """
    kind = as_kind(kind)
    name = attach.validate_name(name)
    count = attach.check_count(count)
    _check_offload_kind(offload, kind, name)
    device = attach.attach(
        name,
        kind,
        count,
        True,
        persist=persist,
        owner=owner,
        group=group,
        netns_target=netns,
        offload=offload,
    )
    return _interfaces(device, kind, True)
