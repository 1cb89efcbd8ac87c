/* nlmsg.h - rtnetlink sockets and the bounds-checked parsing of their
 * messages (internal).
 *
 * What netlink.c (requests and their replies), events.c (the link and
 * address groups) and nlmsg.c share: the socket (netlink.c), message and
 * attribute iterators that never read outside their datagram, and
 * nlmsg.c's parsers of one RTM_NEWLINK, one RTM_NEWADDR and one
 * RTM_NEWROUTE payload.
 */
#ifndef TUNTAP_NLMSG_H
#define TUNTAP_NLMSG_H

#include "tuntap.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

/* netlink.c: a NETLINK_ROUTE socket (SOCK_CLOEXEC and `flags`, e.g.
 * SOCK_NONBLOCK) bound to the multicast `groups` (RTMGRP_* bits, 0: none),
 * with its port id in *portid when portid is not NULL: the fd, or -errno
 * with nothing left open. */
int tti_nl_socket(int flags, uint32_t groups, uint32_t *portid);

/* The messages of one datagram, each checked to lie inside it. */
struct tti_msg_iter {
    const uint8_t *base;
    size_t len;
    size_t off;
};

/* 1: the next message's header is in *h, its payload in *p, *plen; 0: no
 * more; -EBADMSG. */
static inline int tti_next_msg(struct tti_msg_iter *it, struct nlmsghdr *h, const uint8_t **p,
                               size_t *plen)
{
    if (it->off >= it->len)
        return 0;
    size_t left = it->len - it->off;
    if (left < sizeof(*h))
        return -EBADMSG;
    memcpy(h, it->base + it->off, sizeof(*h));
    if (h->nlmsg_len < NLMSG_HDRLEN || h->nlmsg_len > left)
        return -EBADMSG;
    *p = it->base + it->off + NLMSG_HDRLEN;
    *plen = h->nlmsg_len - NLMSG_HDRLEN;
    size_t step = NLMSG_ALIGN((size_t)h->nlmsg_len);
    it->off += step < left ? step : left;
    return 1;
}

struct tti_attr_iter {
    const uint8_t *base;
    size_t len;
    size_t off;
};

/* 1: the next attribute is in *type, *data, *dlen; 0: no more; -EBADMSG. */
static inline int tti_next_attr(struct tti_attr_iter *it, uint16_t *type, const uint8_t **data,
                                size_t *dlen)
{
    if (it->off >= it->len)
        return 0;
    size_t left = it->len - it->off;
    struct rtattr attr;
    if (left < sizeof(attr))
        return -EBADMSG;
    memcpy(&attr, it->base + it->off, sizeof(attr));
    if (attr.rta_len < sizeof(attr) || attr.rta_len > left)
        return -EBADMSG;
    *type = (uint16_t)(attr.rta_type & NLA_TYPE_MASK);
    *data = it->base + it->off + sizeof(attr);
    *dlen = attr.rta_len - sizeof(attr);
    size_t step = RTA_ALIGN((size_t)attr.rta_len);
    it->off += step < left ? step : left;
    return 1;
}

/* Attributes of a message start after its fixed header, aligned. */
static inline int tti_attrs_after(struct tti_attr_iter *it, const uint8_t *payload, size_t plen,
                                  size_t fixed)
{
    size_t start = NLMSG_ALIGN(fixed);
    if (start > plen)
        return -EBADMSG;
    it->base = payload + start;
    it->len = plen - start;
    it->off = 0;
    return 0;
}

/* Copies a string attribute, stopping at its NUL; cut to fit `out`. */
static inline void tti_copy_string(char *out, size_t out_len, const uint8_t *data, size_t dlen)
{
    const uint8_t *nul = memchr(data, 0, dlen);
    size_t n = nul ? (size_t)(nul - data) : dlen;
    if (n >= out_len)
        n = out_len - 1;
    memcpy(out, data, n);
    out[n] = '\0';
}

/* The length of an address of family: 4 (AF_INET), 16 (AF_INET6), 0 for
 * any other family (none of ours). */
static inline size_t tti_family_addr_len(int family)
{
    return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

/* An RTM_NEWLINK/RTM_DELLINK payload into *link: 0, or -EBADMSG. */
int tti_nlmsg_link(const uint8_t *p, size_t plen, struct tt_link_info *link);

/* An RTM_NEWADDR/RTM_DELADDR payload into *entry: 1 filled, 0 not an IPv4 or
 * IPv6 address (skip it), -EBADMSG. */
int tti_nlmsg_addr(const uint8_t *p, size_t plen, struct tt_addr *entry);

/* An RTM_NEWROUTE payload into *route: 1 filled, 0 not an IPv4 or IPv6 route (skip
 * it), -EBADMSG. */
int tti_nlmsg_route(const uint8_t *p, size_t plen, struct tt_route *route);

#endif
