"""The binding tier: the only package that touches the compiled ``lib``.

One small function per C call, in one module per area of the C interface
(``csrc/cdef/<area>.h`` -> ``<area>.py``); ``common`` holds what they share and
``oserrors`` the errno -> ``OSError`` table. Each call turns the shim's ``-errno``
into an ``OSError`` whose builtin subclass Python picks from the errno and whose
message names the operation and the interface. The per-packet calls are bound
straight to ``lib`` so the hot path pays no extra Python frame. This tier imports
nothing from the public one.

Callers use the flat namespace (``_lowlevel.new_queue``), re-exported here by name.
"""

from typing import TYPE_CHECKING

from .._native import ffi as ffi
from .._native import lib as lib
from .common import (
    BytesLike as BytesLike,
)
from .common import (
    StructPtr as StructPtr,
)
from .common import (
    check as check,
)
from .common import (
    copy_bytes as copy_bytes,
)
from .common import (
    copy_out as copy_out,
)
from .common import (
    from_buffer as from_buffer,
)
from .common import (
    new_buffer as new_buffer,
)
from .device import (
    BODY_MASK as BODY_MASK,
)
from .device import (
    IFF_MULTI_QUEUE as IFF_MULTI_QUEUE,
)
from .device import (
    IFNAME_MAX as IFNAME_MAX,
)
from .device import (
    KIND_TAP as KIND_TAP,
)
from .device import (
    KIND_TUN as KIND_TUN,
)
from .device import (
    MAX_QUEUES as MAX_QUEUES,
)
from .device import (
    MSG_CMSG_CLOEXEC as MSG_CMSG_CLOEXEC,
)
from .device import (
    MSG_NOSIGNAL as MSG_NOSIGNAL,
)
from .device import (
    PKT_NOT_IP as PKT_NOT_IP,
)
from .device import (
    PKT_OK as PKT_OK,
)
from .device import (
    PKT_SHORT_READ as PKT_SHORT_READ,
)
from .device import (
    PKT_TRUNCATED as PKT_TRUNCATED,
)
from .device import (
    PROTO_MASK as PROTO_MASK,
)
from .device import (
    PROTO_SHIFT as PROTO_SHIFT,
)
from .device import (
    VERDICT_SHIFT as VERDICT_SHIFT,
)
from .device import (
    FdDevice as FdDevice,
)
from .device import (
    classify as classify,
)
from .device import (
    classify_raw as classify_raw,
)
from .device import (
    close_fd as close_fd,
)
from .device import (
    device_netns as device_netns,
)
from .device import (
    fd_device as fd_device,
)
from .device import (
    new_wake_fd as new_wake_fd,
)
from .device import (
    open_clone as open_clone,
)
from .device import (
    set_group as set_group,
)
from .device import (
    set_iff as set_iff,
)
from .device import (
    set_nonblocking as set_nonblocking,
)
from .device import (
    set_owner as set_owner,
)
from .device import (
    set_persist as set_persist,
)
from .device import (
    set_queue as set_queue,
)
from .device import (
    unpack as unpack,
)
from .device import (
    wake as wake,
)
from .events import (
    EVENT_ADDR_DEL as EVENT_ADDR_DEL,
)
from .events import (
    EVENT_ADDR_NEW as EVENT_ADDR_NEW,
)
from .events import (
    EVENT_LINK as EVENT_LINK,
)
from .events import (
    EVENT_LINK_GONE as EVENT_LINK_GONE,
)
from .events import (
    EVENTS_BUF_SIZE as EVENTS_BUF_SIZE,
)
from .events import (
    EVENTS_MIN_MESSAGE as EVENTS_MIN_MESSAGE,
)
from .events import (
    IFF_LOWER_UP as IFF_LOWER_UP,
)
from .events import (
    EventRecord as EventRecord,
)
from .events import (
    EventSocket as EventSocket,
)
from .events import (
    events_parse as events_parse,
)
from .events import (
    record_of as record_of,
)
from .io import (
    BATCH_MAX_CAPACITY as BATCH_MAX_CAPACITY,
)
from .io import (
    BATCH_MAX_SLOT as BATCH_MAX_SLOT,
)
from .io import (
    GSO_MAX as GSO_MAX,
)
from .io import (
    NULL as NULL,
)
from .io import (
    RX_PENDING_SIZE as RX_PENDING_SIZE,
)
from .io import (
    VNET_HDR_LEN as VNET_HDR_LEN,
)
from .io import (
    WAIT_SLICE_MS as WAIT_SLICE_MS,
)
from .io import (
    QueueMemory as QueueMemory,
)
from .io import (
    add_sent_marks as add_sent_marks,
)
from .io import (
    batch_packets as batch_packets,
)
from .io import (
    buffer_view as buffer_view,
)
from .io import (
    joined_packets as joined_packets,
)
from .io import (
    new_batch as new_batch,
)
from .io import (
    new_queue as new_queue,
)
from .io import (
    new_write_status as new_write_status,
)
from .io import (
    packet_arrays as packet_arrays,
)
from .io import (
    queue_read as queue_read,
)
from .io import (
    queue_recv as queue_recv,
)
from .io import (
    queue_send as queue_send,
)
from .io import (
    queue_write as queue_write,
)
from .io import (
    unwritten as unwritten,
)
from .io import (
    view_of as view_of,
)
from .netlink import (
    HWADDR_MAX as HWADDR_MAX,
)
from .netlink import (
    IFA_F_NODAD as IFA_F_NODAD,
)
from .netlink import (
    IFA_F_TENTATIVE as IFA_F_TENTATIVE,
)
from .netlink import (
    IFF_UP as IFF_UP,
)
from .netlink import (
    LINK_STATS_FIELDS as LINK_STATS_FIELDS,
)
from .netlink import (
    NL_DUMP_INTR as NL_DUMP_INTR,
)
from .netlink import (
    NL_EXPECT_ACK as NL_EXPECT_ACK,
)
from .netlink import (
    NL_EXPECT_ADDRS as NL_EXPECT_ADDRS,
)
from .netlink import (
    NL_EXPECT_LINK as NL_EXPECT_LINK,
)
from .netlink import (
    NL_EXPECT_ROUTE as NL_EXPECT_ROUTE,
)
from .netlink import (
    NL_EXPECT_ROUTES as NL_EXPECT_ROUTES,
)
from .netlink import (
    RT_SCOPE_LINK as RT_SCOPE_LINK,
)
from .netlink import (
    RT_SCOPE_NOWHERE as RT_SCOPE_NOWHERE,
)
from .netlink import (
    RT_SCOPE_UNIVERSE as RT_SCOPE_UNIVERSE,
)
from .netlink import (
    RT_TABLE_LOCAL as RT_TABLE_LOCAL,
)
from .netlink import (
    RT_TABLE_MAIN as RT_TABLE_MAIN,
)
from .netlink import (
    RTN_LOCAL as RTN_LOCAL,
)
from .netlink import (
    RTN_UNICAST as RTN_UNICAST,
)
from .netlink import (
    RTPROT_STATIC as RTPROT_STATIC,
)
from .netlink import (
    AddressEntry as AddressEntry,
)
from .netlink import (
    LinkInfo as LinkInfo,
)
from .netlink import (
    NetlinkReply as NetlinkReply,
)
from .netlink import (
    RouteEntry as RouteEntry,
)
from .netlink import (
    RouteSpec as RouteSpec,
)
from .netlink import (
    TunInfo as TunInfo,
)
from .netlink import (
    nl_addr_change as nl_addr_change,
)
from .netlink import (
    nl_addr_dump as nl_addr_dump,
)
from .netlink import (
    nl_addr_peer_change as nl_addr_peer_change,
)
from .netlink import (
    nl_close as nl_close,
)
from .netlink import (
    nl_link_get as nl_link_get,
)
from .netlink import (
    nl_link_set as nl_link_set,
)
from .netlink import (
    nl_link_stats as nl_link_stats,
)
from .netlink import (
    nl_new as nl_new,
)
from .netlink import (
    nl_open as nl_open,
)
from .netlink import (
    nl_parse_reply as nl_parse_reply,
)
from .netlink import (
    nl_route_change as nl_route_change,
)
from .netlink import (
    nl_route_dump as nl_route_dump,
)
from .netlink import (
    nl_route_get as nl_route_get,
)
from .netlink import (
    tun_info as tun_info,
)
from .netns import (
    ACCESS_READ as ACCESS_READ,
)
from .netns import (
    ACCESS_READ_WRITE as ACCESS_READ_WRITE,
)
from .netns import (
    ACCESS_WRITE as ACCESS_WRITE,
)
from .netns import (
    netns_check as netns_check,
)
from .netns import (
    netns_create as netns_create,
)
from .netns import (
    netns_delete as netns_delete,
)
from .netns import (
    netns_open as netns_open,
)
from .netns import (
    unshare_netns as unshare_netns,
)
from .offload import (
    ALL_OFFLOADS as ALL_OFFLOADS,
)
from .offload import (
    COALESCE_LOOKAHEAD as COALESCE_LOOKAHEAD,
)
from .offload import (
    COALESCE_MAX as COALESCE_MAX,
)
from .offload import (
    IFF_VNET_HDR as IFF_VNET_HDR,
)
from .offload import (
    TUN_F_CSUM as TUN_F_CSUM,
)
from .offload import (
    TUN_F_TSO4 as TUN_F_TSO4,
)
from .offload import (
    TUN_F_TSO6 as TUN_F_TSO6,
)
from .offload import (
    TUN_F_USO4 as TUN_F_USO4,
)
from .offload import (
    TUN_F_USO6 as TUN_F_USO6,
)
from .offload import (
    checksum as checksum,
)
from .offload import (
    coalesce_build as coalesce_build,
)
from .offload import (
    coalesce_plan as coalesce_plan,
)
from .offload import (
    coalesce_run as coalesce_run,
)
from .offload import (
    segment as segment,
)
from .offload import (
    set_offload as set_offload,
)
from .oserrors import (
    GONE as GONE,
)
from .oserrors import (
    HINTS as HINTS,
)
from .oserrors import (
    NO_IPV6_HINT as NO_IPV6_HINT,
)
from .oserrors import (
    hint_for as hint_for,
)
from .oserrors import (
    os_error as os_error,
)
from .udp import (
    ORIGIN_UDP as ORIGIN_UDP,
)
from .udp import (
    UDP_GRO as UDP_GRO,
)
from .udp import (
    UDP_GSO as UDP_GSO,
)
from .udp import (
    UDP_MAX_MSGS as UDP_MAX_MSGS,
)
from .udp import (
    UDP_MAX_PAYLOAD as UDP_MAX_PAYLOAD,
)
from .udp import (
    UDP_MSG_MAX as UDP_MSG_MAX,
)
from .udp import (
    UdpRx as UdpRx,
)
from .udp import (
    new_flags as new_flags,
)
from .udp import (
    new_udp_addr as new_udp_addr,
)
from .udp import (
    new_udp_rx as new_udp_rx,
)
from .udp import (
    slot_address as slot_address,
)
from .udp import (
    udp_recv as udp_recv,
)
from .udp import (
    udp_send as udp_send,
)
from .udp import (
    udp_setup as udp_setup,
)

if TYPE_CHECKING:
    from .common import CData as CData
