"""``open`` and ``open_queues``: attach to (or create) a device and wrap each of
its queues in an :class:`~tuntap_cffi.Interface`.

Everything is validated before the first system call; ``attach.attach``
opens and configures the fds.
"""

from __future__ import annotations

from ..netns import NetnsLike
from ..packets.offload import NONE, WANTED, Offload
from ..packets.packet import DevKind, as_kind
from . import attach
from .interface import Interface

__all__ = ["open", "open_queues"]


def _check_offload_kind(offload: object, kind: DevKind, name: str) -> tuple[Offload, bool]:
    """The offloads to ask the kernel for, and whether exactly those (named ones)."""
    if isinstance(offload, bool):
        wanted, exact = (WANTED if offload else NONE), False
    elif isinstance(offload, Offload):
        # Every offload needs the checksum one: the kernel refuses TSO/USO without it.
        wanted, exact = (offload | Offload.CSUM if offload else NONE), True
        uso = offload & (Offload.USO4 | Offload.USO6)
        if uso and uso != Offload.USO4 | Offload.USO6:
            raise ValueError(
                f"offload={offload!r}: the kernel takes UDP segmentation offload for both "
                "families or neither (Offload.USO4 | Offload.USO6)"
            )
    else:
        raise TypeError(f"offload must be a bool or an Offload, not {type(offload).__name__}")
    if wanted and kind != DevKind.TUN:
        raise ValueError(f"offload={offload!r} is for TUN devices only, not {kind.name} ({name})")
    return wanted, exact


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
    offload: bool | Offload = False,
) -> Interface:
    """Create a TUN/TAP device, or attach to a persistent one. Go: Open.

    Args:
        name: an exact name (``"tun42"``) or a pattern with one ``%d``
            (``"tun%d"``) for the kernel to number.
        kind: ``DevKind.TUN`` (IP packets) or ``DevKind.TAP`` (Ethernet frames).
        offload: speak virtio-net headers (``IFF_VNET_HDR``) and take TCP
            and UDP super-packets (TUN only): True asks for every offload the
            kernel accepts; an :class:`Offload` asks for exactly those (with
            ``Offload.CSUM``, which each needs): ``Offload.TSO4 |
            Offload.TSO6`` for TCP alone, ``Offload.USO4 | Offload.USO6``
            for UDP alone. ``Interface.offload`` says which are on; a write
            merges only what they let the kernel take.
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
        ValueError: ``offload`` for a TAP device, or USO for one family only.
        OSError: the kernel refused virtio-net headers or offloads (one named
            in an :class:`Offload` it does not have: EINVAL).
    """
    kind = as_kind(kind)
    name = attach.validate_name(name)
    wanted, exact = _check_offload_kind(offload, kind, name)
    device = attach.attach(
        name,
        kind,
        1,
        False,
        persist=persist,
        owner=owner,
        group=group,
        netns_target=netns,
        offload=wanted,
        exact_offload=exact,
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
    offload: bool | Offload = False,
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
    wanted, exact = _check_offload_kind(offload, kind, name)
    device = attach.attach(
        name,
        kind,
        count,
        True,
        persist=persist,
        owner=owner,
        group=group,
        netns_target=netns,
        offload=wanted,
        exact_offload=exact,
    )
    return _interfaces(device, kind, True)
