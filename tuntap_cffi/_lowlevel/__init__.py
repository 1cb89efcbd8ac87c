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

from .._native import ffi as ffi, lib as lib
from .classify import (
    BODY_MASK as BODY_MASK,
    PKT_NOT_IP as PKT_NOT_IP,
    PKT_OK as PKT_OK,
    PKT_SHORT_READ as PKT_SHORT_READ,
    PKT_TRUNCATED as PKT_TRUNCATED,
    PROTO_MASK as PROTO_MASK,
    PROTO_SHIFT as PROTO_SHIFT,
    VERDICT_SHIFT as VERDICT_SHIFT,
    classify as classify,
    classify_raw as classify_raw,
    unpack as unpack,
)
from .common import (
    BUFFER_REFUSED as BUFFER_REFUSED,
    PYPY as PYPY,
    BytesLike as BytesLike,
    StructPtr as StructPtr,
    buffer_refusal as buffer_refusal,
    c_buffer as c_buffer,
    check as check,
    copy_bytes as copy_bytes,
    copy_out as copy_out,
    from_buffer as from_buffer,
    new_buffer as new_buffer,
    packet_view as packet_view,
    resumed_status as resumed_status,
)
from .device import (
    IFF_MULTI_QUEUE as IFF_MULTI_QUEUE,
    IFNAME_MAX as IFNAME_MAX,
    KIND_TAP as KIND_TAP,
    KIND_TUN as KIND_TUN,
    MAX_QUEUES as MAX_QUEUES,
    MSG_CMSG_CLOEXEC as MSG_CMSG_CLOEXEC,
    MSG_NOSIGNAL as MSG_NOSIGNAL,
    FdDevice as FdDevice,
    close_fd as close_fd,
    device_netns as device_netns,
    fd_device as fd_device,
    open_clone as open_clone,
    set_group as set_group,
    set_iff as set_iff,
    set_nonblocking as set_nonblocking,
    set_offload as set_offload,
    set_owner as set_owner,
    set_persist as set_persist,
    set_queue as set_queue,
)
from .events import (
    EVENT_ADDR_DEL as EVENT_ADDR_DEL,
    EVENT_ADDR_NEW as EVENT_ADDR_NEW,
    EVENT_LINK as EVENT_LINK,
    EVENT_LINK_GONE as EVENT_LINK_GONE,
    EVENTS_BUF_SIZE as EVENTS_BUF_SIZE,
    EVENTS_MIN_MESSAGE as EVENTS_MIN_MESSAGE,
    IFF_LOWER_UP as IFF_LOWER_UP,
    EventRecord as EventRecord,
    EventSocket as EventSocket,
    events_parse as events_parse,
    record_of as record_of,
)
from .io import (
    BATCH_MAX_CAPACITY as BATCH_MAX_CAPACITY,
    BATCH_MAX_SLOT as BATCH_MAX_SLOT,
    GSO_MAX as GSO_MAX,
    NULL as NULL,
    RX_PENDING_SIZE as RX_PENDING_SIZE,
    VNET_HDR_LEN as VNET_HDR_LEN,
    WAIT_SLICE_MS as WAIT_SLICE_MS,
    QueueMemory as QueueMemory,
    add_sent_marks as add_sent_marks,
    batch_packets as batch_packets,
    buffer_view as buffer_view,
    joined_packets as joined_packets,
    new_batch as new_batch,
    new_queue as new_queue,
    new_write_status as new_write_status,
    packet_arrays as packet_arrays,
    queue_read as queue_read,
    queue_recv as queue_recv,
    queue_send as queue_send,
    queue_write as queue_write,
    unwritten as unwritten,
    view_of as view_of,
)
from .netlink import (
    HWADDR_MAX as HWADDR_MAX,
    IFA_F_NODAD as IFA_F_NODAD,
    IFA_F_TENTATIVE as IFA_F_TENTATIVE,
    IFF_UP as IFF_UP,
    LINK_STATS_FIELDS as LINK_STATS_FIELDS,
    NL_DUMP_INTR as NL_DUMP_INTR,
    NL_EXPECT_ACK as NL_EXPECT_ACK,
    NL_EXPECT_ADDRS as NL_EXPECT_ADDRS,
    NL_EXPECT_LINK as NL_EXPECT_LINK,
    NL_EXPECT_ROUTE as NL_EXPECT_ROUTE,
    NL_EXPECT_ROUTES as NL_EXPECT_ROUTES,
    RT_SCOPE_LINK as RT_SCOPE_LINK,
    RT_SCOPE_NOWHERE as RT_SCOPE_NOWHERE,
    RT_SCOPE_UNIVERSE as RT_SCOPE_UNIVERSE,
    RT_TABLE_LOCAL as RT_TABLE_LOCAL,
    RT_TABLE_MAIN as RT_TABLE_MAIN,
    RTN_LOCAL as RTN_LOCAL,
    RTN_UNICAST as RTN_UNICAST,
    RTPROT_STATIC as RTPROT_STATIC,
    AddressEntry as AddressEntry,
    LinkInfo as LinkInfo,
    NetlinkReply as NetlinkReply,
    RouteEntry as RouteEntry,
    RouteSpec as RouteSpec,
    TunInfo as TunInfo,
    nl_addr_change as nl_addr_change,
    nl_addr_dump as nl_addr_dump,
    nl_addr_peer_change as nl_addr_peer_change,
    nl_close as nl_close,
    nl_link_get as nl_link_get,
    nl_link_set as nl_link_set,
    nl_link_stats as nl_link_stats,
    nl_new as nl_new,
    nl_open as nl_open,
    nl_parse_reply as nl_parse_reply,
    nl_route_change as nl_route_change,
    nl_route_dump as nl_route_dump,
    nl_route_get as nl_route_get,
    tun_info as tun_info,
)
from .netns import (
    ACCESS_READ as ACCESS_READ,
    ACCESS_READ_WRITE as ACCESS_READ_WRITE,
    ACCESS_WRITE as ACCESS_WRITE,
    netns_check as netns_check,
    netns_create as netns_create,
    netns_delete as netns_delete,
    netns_open as netns_open,
    unshare_netns as unshare_netns,
)
from .offload import (
    ALL_OFFLOADS as ALL_OFFLOADS,
    COALESCE_LOOKAHEAD as COALESCE_LOOKAHEAD,
    COALESCE_MAX as COALESCE_MAX,
    IFF_VNET_HDR as IFF_VNET_HDR,
    TUN_F_CSUM as TUN_F_CSUM,
    TUN_F_TSO4 as TUN_F_TSO4,
    TUN_F_TSO6 as TUN_F_TSO6,
    TUN_F_USO4 as TUN_F_USO4,
    TUN_F_USO6 as TUN_F_USO6,
    checksum as checksum,
    coalesce_build as coalesce_build,
    coalesce_plan as coalesce_plan,
    coalesce_run as coalesce_run,
    segment as segment,
)
from .oserrors import (
    GONE as GONE,
    HINTS as HINTS,
    NO_IPV6_HINT as NO_IPV6_HINT,
    hint_for as hint_for,
    os_error as os_error,
)
from .udp import (
    ORIGIN_UDP as ORIGIN_UDP,
    UDP_GRO as UDP_GRO,
    UDP_GSO as UDP_GSO,
    UDP_MAX_MSGS as UDP_MAX_MSGS,
    UDP_MAX_PAYLOAD as UDP_MAX_PAYLOAD,
    UDP_MSG_MAX as UDP_MSG_MAX,
    UdpRx as UdpRx,
    new_flags as new_flags,
    new_udp_addr as new_udp_addr,
    new_udp_rx as new_udp_rx,
    slot_address as slot_address,
    udp_recv as udp_recv,
    udp_send as udp_send,
    udp_setup as udp_setup,
)
from .wait import (
    new_wake_fd as new_wake_fd,
    wake as wake,
)

if TYPE_CHECKING:
    from .common import CData as CData
