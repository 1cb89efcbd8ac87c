/*
 * nlmsg.c - the parsers of one link, one address and one route message.
 *
 * Every header and attribute is copied out with memcpy after checking that
 * it lies inside the message, so a malformed one is -EBADMSG, never an
 * out-of-bounds (or unaligned) read.
 */
#define _GNU_SOURCE
#include "nlmsg.h"

#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <sys/socket.h>

static int get_u32(const uint8_t *data, size_t dlen, uint32_t *out)
{
    if (dlen != sizeof(*out))
        return -EBADMSG;
    memcpy(out, data, sizeof(*out));
    return 0;
}

static int get_u8(const uint8_t *data, size_t dlen, uint8_t *out)
{
    if (dlen != sizeof(*out))
        return -EBADMSG;
    *out = data[0];
    return 0;
}

static int get_tun_bit(const uint8_t *data, size_t dlen, uint32_t bit, uint32_t *flags)
{
    uint8_t value;
    if (get_u8(data, dlen, &value) < 0)
        return -EBADMSG;
    if (value)
        *flags |= bit;
    return 0;
}

/* IFLA_INFO_DATA of a "tun" link: IFLA_TUN_* (drivers/net/tun.c, tun_fill_info). */
static int parse_tun_info(const uint8_t *p, size_t len, struct tt_link_info *link)
{
    struct tti_attr_iter it = { .base = p, .len = len };
    uint32_t flags = TT_TUN_INFO;
    int got_type = 0;
    uint16_t type;
    const uint8_t *data;
    size_t dlen;
    int more;
    while ((more = tti_next_attr(&it, &type, &data, &dlen)) > 0) {
        int bad = 0;
        uint8_t tun_type;
        switch (type) {
        case IFLA_TUN_OWNER:
            bad = get_u32(data, dlen, &link->tun_owner);
            flags |= TT_TUN_HAS_OWNER;
            break;
        case IFLA_TUN_GROUP:
            bad = get_u32(data, dlen, &link->tun_group);
            flags |= TT_TUN_HAS_GROUP;
            break;
        case IFLA_TUN_TYPE:
            if (get_u8(data, dlen, &tun_type) < 0)
                return -EBADMSG;
            if (tun_type == IFF_TUN)
                link->tun_type = TT_KIND_TUN;
            else if (tun_type == IFF_TAP)
                link->tun_type = TT_KIND_TAP;
            else
                return -EBADMSG;
            got_type = 1;
            break;
        case IFLA_TUN_PI:
            bad = get_tun_bit(data, dlen, TT_TUN_PI, &flags);
            break;
        case IFLA_TUN_VNET_HDR:
            bad = get_tun_bit(data, dlen, TT_TUN_VNET_HDR, &flags);
            break;
        case IFLA_TUN_PERSIST:
            bad = get_tun_bit(data, dlen, TT_TUN_PERSIST, &flags);
            break;
        case IFLA_TUN_MULTI_QUEUE:
            bad = get_tun_bit(data, dlen, TT_TUN_MULTI_QUEUE, &flags);
            break;
        case IFLA_TUN_NUM_QUEUES:
            bad = get_u32(data, dlen, &link->tun_queues);
            break;
        case IFLA_TUN_NUM_DISABLED_QUEUES:
            bad = get_u32(data, dlen, &link->tun_disabled_queues);
            break;
        default:
            break;
        }
        if (bad < 0)
            return bad;
    }
    if (more < 0)
        return more;
    if (!got_type)
        return -EBADMSG; /* every kernel that sends IFLA_INFO_DATA for tun names the type */
    link->tun_flags = flags;
    return 0;
}

/* IFLA_LINKINFO: the kind, and for a "tun" link the details of IFLA_INFO_DATA.
 * A repeated IFLA_LINKINFO replaces all that an earlier one said. */
static int parse_linkinfo(const uint8_t *p, size_t len, struct tt_link_info *link)
{
    struct tti_attr_iter it = { .base = p, .len = len };
    memset(link->kind, 0, sizeof(link->kind));
    link->tun_flags = 0;
    link->tun_type = 0;
    link->tun_owner = 0;
    link->tun_group = 0;
    link->tun_queues = 0;
    link->tun_disabled_queues = 0;
    const uint8_t *info = NULL;
    size_t info_len = 0;
    uint16_t type;
    const uint8_t *data;
    size_t dlen;
    int more;
    while ((more = tti_next_attr(&it, &type, &data, &dlen)) > 0) {
        if (type == IFLA_INFO_KIND) {
            tti_copy_string(link->kind, sizeof(link->kind), data, dlen);
        } else if (type == IFLA_INFO_DATA) {
            info = data;
            info_len = dlen;
        }
    }
    if (more < 0)
        return more;
    /* The kind may come after the data: look at the data once both are known. */
    if (info == NULL || strcmp(link->kind, "tun") != 0)
        return 0;
    return parse_tun_info(info, info_len, link);
}

/* IFLA_STATS64: whole 64-bit counters only; fewer than we know (an older kernel)
 * leave the rest 0, more (a newer one) are not kept. A repeated one replaces. */
static int parse_stats64(const uint8_t *p, size_t len, struct tt_link_info *link)
{
    if (len == 0 || len % sizeof(uint64_t) != 0 || len > UINT32_MAX)
        return -EBADMSG;
    memset(&link->stats, 0, sizeof(link->stats));
    memcpy(&link->stats, p, len < sizeof(link->stats) ? len : sizeof(link->stats));
    link->stats_len = (uint32_t)len;
    return 0;
}

int tti_nlmsg_link(const uint8_t *p, size_t plen, struct tt_link_info *out)
{
    struct ifinfomsg ifi;
    if (plen < sizeof(ifi))
        return -EBADMSG;
    memcpy(&ifi, p, sizeof(ifi));

    struct tt_link_info link;
    memset(&link, 0, sizeof(link));
    link.ifindex = ifi.ifi_index;
    link.flags = ifi.ifi_flags;
    link.type = ifi.ifi_type;

    struct tti_attr_iter it;
    if (tti_attrs_after(&it, p, plen, sizeof(ifi)) < 0)
        return -EBADMSG;
    uint16_t type;
    const uint8_t *data;
    size_t dlen;
    int more;
    while ((more = tti_next_attr(&it, &type, &data, &dlen)) > 0) {
        int bad = 0;
        switch (type) {
        case IFLA_MTU:
            bad = get_u32(data, dlen, &link.mtu);
            break;
        case IFLA_TXQLEN:
            bad = get_u32(data, dlen, &link.txqlen);
            break;
        case IFLA_ADDRESS:
            if (dlen > sizeof(link.hwaddr))
                return -EBADMSG;
            memcpy(link.hwaddr, data, dlen);
            link.hwaddr_len = (uint32_t)dlen;
            break;
        case IFLA_IFNAME:
            if (strnlen((const char *)data, dlen) >= sizeof(link.name))
                return -EBADMSG;
            tti_copy_string(link.name, sizeof(link.name), data, dlen);
            break;
        case IFLA_LINKINFO:
            bad = parse_linkinfo(data, dlen, &link);
            break;
        case IFLA_STATS64:
            bad = parse_stats64(data, dlen, &link);
            break;
        default:
            break;
        }
        if (bad < 0)
            return bad;
    }
    if (more < 0)
        return more;
    *out = link;
    return 0;
}

int tti_nlmsg_addr(const uint8_t *p, size_t plen, struct tt_addr *out)
{
    struct ifaddrmsg ifa;
    if (plen < sizeof(ifa))
        return -EBADMSG;
    memcpy(&ifa, p, sizeof(ifa));
    size_t alen = tti_family_addr_len(ifa.ifa_family);
    if (alen == 0)
        return 0;
    if (ifa.ifa_prefixlen > alen * 8)
        return -EBADMSG;

    struct tt_addr entry;
    memset(&entry, 0, sizeof(entry));
    entry.ifindex = (int32_t)ifa.ifa_index;
    entry.family = ifa.ifa_family;
    entry.prefixlen = ifa.ifa_prefixlen;
    entry.scope = ifa.ifa_scope;
    entry.flags = ifa.ifa_flags;

    struct tti_attr_iter it;
    if (tti_attrs_after(&it, p, plen, sizeof(ifa)) < 0)
        return -EBADMSG;
    const uint8_t *local = NULL, *address = NULL;
    uint16_t type;
    const uint8_t *data;
    size_t dlen;
    int more;
    while ((more = tti_next_attr(&it, &type, &data, &dlen)) > 0) {
        switch (type) {
        case IFA_LOCAL:
        case IFA_ADDRESS:
            if (dlen != alen)
                return -EBADMSG;
            if (type == IFA_LOCAL)
                local = data;
            else
                address = data;
            break;
        case IFA_FLAGS:
            if (get_u32(data, dlen, &entry.flags) < 0)
                return -EBADMSG;
            break;
        case IFA_BROADCAST:
            if (alen != 4 || dlen != 4)
                return -EBADMSG;
            memcpy(entry.broadcast, data, 4);
            entry.has_broadcast = 1;
            break;
        case IFA_LABEL:
            /* A NUL-terminated name; one too long to be a device's is cut. */
            memcpy(entry.label, data, dlen < sizeof(entry.label) ? dlen : sizeof(entry.label) - 1);
            entry.label[sizeof(entry.label) - 1] = 0;
            break;
        default:
            break;
        }
    }
    if (more < 0)
        return more;
    /* IFA_LOCAL is the interface's own address; IFA_ADDRESS a peer's when both differ. */
    const uint8_t *own = local ? local : address;
    if (own == NULL)
        return -EBADMSG;
    memcpy(entry.addr, own, alen);
    if (local != NULL && address != NULL && memcmp(local, address, alen) != 0) {
        memcpy(entry.peer, address, alen);
        entry.has_peer = 1;
    } else if (local != NULL && address == NULL && ifa.ifa_family == AF_INET) {
        entry.has_peer = 1; /* the kernel leaves out an IFA_ADDRESS of 0.0.0.0 */
    }

    *out = entry;
    return 1;
}

/* An address attribute of a route: exactly the family's length. */
static int get_route_addr(const uint8_t *data, size_t dlen, size_t alen, uint8_t *out)
{
    if (dlen != alen)
        return -EBADMSG;
    memcpy(out, data, alen);
    return 0;
}

/* RTA_VIA (struct rtvia): a gateway of any family, e.g. IPv6 for an IPv4 route
 * (RFC 5549). A family other than IPv4 or IPv6 (MPLS's) is no gateway of ours. */
static int parse_via(const uint8_t *data, size_t dlen, struct tt_route *route)
{
    uint16_t family;
    if (dlen < sizeof(family))
        return -EBADMSG;
    memcpy(&family, data, sizeof(family));
    size_t alen = tti_family_addr_len(family);
    if (alen == 0)
        return 0;
    if (get_route_addr(data + sizeof(family), dlen - sizeof(family), alen, route->gateway) < 0)
        return -EBADMSG;
    route->gateway_family = (uint8_t)family;
    route->has |= TT_ROUTE_HAS_GATEWAY;
    return 0;
}

int tti_nlmsg_route(const uint8_t *p, size_t plen, struct tt_route *out)
{
    struct rtmsg rtm;
    if (plen < sizeof(rtm))
        return -EBADMSG;
    memcpy(&rtm, p, sizeof(rtm));
    size_t alen = tti_family_addr_len(rtm.rtm_family);
    if (alen == 0)
        return 0; /* multicast routing (RTNL_FAMILY_IPMR ...), MPLS: not ours */
    if (rtm.rtm_dst_len > alen * 8)
        return -EBADMSG;

    struct tt_route route;
    memset(&route, 0, sizeof(route));
    route.family = rtm.rtm_family;
    route.dst_len = rtm.rtm_dst_len;
    route.protocol = rtm.rtm_protocol;
    route.scope = rtm.rtm_scope;
    route.type = rtm.rtm_type;
    route.tos = rtm.rtm_tos;
    route.table = rtm.rtm_table;
    route.flags = rtm.rtm_flags;

    struct tti_attr_iter it;
    if (tti_attrs_after(&it, p, plen, sizeof(rtm)) < 0)
        return -EBADMSG;
    int got_dst = 0;
    uint16_t type;
    const uint8_t *data;
    size_t dlen;
    int more;
    while ((more = tti_next_attr(&it, &type, &data, &dlen)) > 0) {
        int bad = 0;
        switch (type) {
        case RTA_DST:
            bad = get_route_addr(data, dlen, alen, route.dst);
            got_dst = 1;
            break;
        case RTA_GATEWAY:
            bad = get_route_addr(data, dlen, alen, route.gateway);
            route.gateway_family = rtm.rtm_family;
            route.has |= TT_ROUTE_HAS_GATEWAY;
            break;
        case RTA_VIA:
            bad = parse_via(data, dlen, &route);
            break;
        case RTA_PREFSRC:
            bad = get_route_addr(data, dlen, alen, route.prefsrc);
            route.has |= TT_ROUTE_HAS_PREFSRC;
            break;
        case RTA_PRIORITY:
            bad = get_u32(data, dlen, &route.metric);
            route.has |= TT_ROUTE_HAS_METRIC;
            break;
        case RTA_TABLE:
            bad = get_u32(data, dlen, &route.table);
            break;
        case RTA_OIF:
            bad = get_u32(data, dlen, (uint32_t *)&route.oif);
            route.has |= TT_ROUTE_HAS_OIF;
            break;
        default:
            break;
        }
        if (bad < 0)
            return bad;
    }
    if (more < 0)
        return more;
    if (route.dst_len != 0 && !got_dst)
        return -EBADMSG; /* the kernel names the destination of every route but the default */
    *out = route;
    return 1;
}
