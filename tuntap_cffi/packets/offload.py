"""``Offload``: the offload features of a TUN device opened with ``offload=True``.

Such a device speaks virtio-net headers (``IFF_VNET_HDR``): the kernel hands
it TCP and UDP super-packets of up to 64 KiB and takes them back, and
``csrc/segment.c`` and ``csrc/coalesce.c`` split and merge them (see the README, "Offloads").
"""

from __future__ import annotations

import enum

from .. import _lowlevel

__all__ = ["VNET_HDR_LEN", "Offload"]

VNET_HDR_LEN = _lowlevel.VNET_HDR_LEN


class Offload(enum.Flag):
    """What the kernel accepted through ``TUNSETOFFLOAD`` (``Interface.offload``)."""

    CSUM = _lowlevel.TUN_F_CSUM  #: packets may arrive with a checksum still to complete
    TSO4 = _lowlevel.TUN_F_TSO4  #: TCP over IPv4 super-packets
    TSO6 = _lowlevel.TUN_F_TSO6  #: TCP over IPv6 super-packets
    USO4 = _lowlevel.TUN_F_USO4  #: UDP over IPv4 super-packets (Linux 6.2+)
    USO6 = _lowlevel.TUN_F_USO6  #: UDP over IPv6 super-packets (Linux 6.2+)


# What open(offload=True) asks for; the USO bits are dropped by kernels without them.
NONE = Offload(0)
WANTED = Offload.CSUM | Offload.TSO4 | Offload.TSO6 | Offload.USO4 | Offload.USO6
