/*
 * nlmsg.c - the parsers of one link and one address message.
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
    struct attr_iter it = { .base = p, .len = len };
    uint32_t flags = TT_TUN_INFO;
    int got_type = 0;
    uint16_t type;
    const uint8_t *data;
    size_t dlen;
    int more;
    while ((more = next_attr(&it, &type, &data, &dlen)) > 0) {
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
    struct attr_iter it = { .base = p, .len = len };
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
    while ((more = next_attr(&it, &type, &data, &dlen)) > 0) {
        if (type == IFLA_INFO_KIND) {
            copy_string(link->kind, sizeof(link->kind), data, dlen);
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

int tt_nlmsg_link(const uint8_t *p, size_t plen, struct tt_link_info *out)
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

    struct attr_iter it;
    if (attrs_after(&it, p, plen, sizeof(ifi)) < 0)
        return -EBADMSG;
    uint16_t type;
    const uint8_t *data;
    size_t dlen;
    int more;
    while ((more = next_attr(&it, &type, &data, &dlen)) > 0) {
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
            copy_string(link.name, sizeof(link.name), data, dlen);
            break;
        case IFLA_LINKINFO:
            bad = parse_linkinfo(data, dlen, &link);
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

int tt_nlmsg_addr(const uint8_t *p, size_t plen, struct tt_addr *out)
{
    struct ifaddrmsg ifa;
    if (plen < sizeof(ifa))
        return -EBADMSG;
    memcpy(&ifa, p, sizeof(ifa));
    size_t alen;
    unsigned max_prefix;
    if (ifa.ifa_family == AF_INET) {
        alen = 4;
        max_prefix = 32;
    } else if (ifa.ifa_family == AF_INET6) {
        alen = 16;
        max_prefix = 128;
    } else {
        return 0;
    }
    if (ifa.ifa_prefixlen > max_prefix)
        return -EBADMSG;

    struct tt_addr entry;
    memset(&entry, 0, sizeof(entry));
    entry.ifindex = (int32_t)ifa.ifa_index;
    entry.family = ifa.ifa_family;
    entry.prefixlen = ifa.ifa_prefixlen;
    entry.scope = ifa.ifa_scope;
    entry.flags = ifa.ifa_flags;

    struct attr_iter it;
    if (attrs_after(&it, p, plen, sizeof(ifa)) < 0)
        return -EBADMSG;
    const uint8_t *local = NULL, *address = NULL;
    uint16_t type;
    const uint8_t *data;
    size_t dlen;
    int more;
    while ((more = next_attr(&it, &type, &data, &dlen)) > 0) {
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

    *out = entry;
    return 1;
}
