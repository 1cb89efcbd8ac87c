/*
 * events.c - link events: what the kernel announces about one device.
 *
 * A NETLINK_ROUTE socket joined to the link and address groups receives a
 * notification for every change of every device in its namespace.  One
 * call reads one datagram and turns each message about the device (by
 * ifindex, read from the fixed header before anything else) into a fixed
 * record; the messages are parsed by nlmsg.c's parsers, the same
 * bounds-checked code as the replies to requests, so a malformed datagram
 * is -EBADMSG, never an out-of-bounds read.  tt_events_parse is that
 * parser on caller bytes, for tests and fuzzers.
 *
 * Only the kernel's own datagrams count (a sender port id other than 0 is
 * ignored), and only AF_UNSPEC link messages: a bridge announces its ports
 * with AF_BRIDGE RTM_NEWLINK/RTM_DELLINK, which say nothing of the device
 * itself (an RTM_DELLINK of those is no deletion).
 */
#define _GNU_SOURCE
#include "nlmsg.h"

#include <errno.h>
#include <limits.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

_Static_assert(NLMSG_HDRLEN + sizeof(struct ifinfomsg) == TT_EVENTS_MIN_MESSAGE,
               "a link message makes a record from TT_EVENTS_MIN_MESSAGE bytes");
_Static_assert(NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct ifaddrmsg)) + RTA_LENGTH(4) ==
                   TT_EVENTS_MIN_MESSAGE,
               "an address message makes a record from TT_EVENTS_MIN_MESSAGE bytes");
_Static_assert(sizeof(((struct tt_event *)0)->name) == sizeof(((struct tt_link_info *)0)->name),
               "name size");
_Static_assert(sizeof(((struct tt_event *)0)->addr) == sizeof(((struct tt_addr *)0)->addr),
               "addr size");

static const uint32_t GROUPS = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;

/* ---- parsing ------------------------------------------------------------ */

/* One link message: 1 a record for the device, 0 another's, -EBADMSG. */
static int link_record(uint16_t type, const uint8_t *p, size_t plen, int32_t ifindex,
                       struct tt_event *out)
{
    struct ifinfomsg ifi;
    if (plen < sizeof(ifi))
        return -EBADMSG;
    memcpy(&ifi, p, sizeof(ifi));
    if (ifi.ifi_index != ifindex || ifi.ifi_family != AF_UNSPEC)
        return 0;
    struct tt_link_info link;
    int bad = tti_nlmsg_link(p, plen, &link);
    if (bad < 0)
        return bad;
    memset(out, 0, sizeof(*out));
    out->kind = type == RTM_NEWLINK ? TT_EVENT_LINK : TT_EVENT_LINK_GONE;
    out->ifindex = link.ifindex;
    out->flags = link.flags;
    out->mtu = link.mtu;
    memcpy(out->name, link.name, sizeof(out->name));
    return 1;
}

/* One address message: 1 a record for the device, 0 another's (or not IP), -EBADMSG. */
static int addr_record(uint16_t type, const uint8_t *p, size_t plen, int32_t ifindex,
                       struct tt_event *out)
{
    struct ifaddrmsg ifa;
    if (plen < sizeof(ifa))
        return -EBADMSG;
    memcpy(&ifa, p, sizeof(ifa));
    if ((int32_t)ifa.ifa_index != ifindex)
        return 0;
    struct tt_addr entry;
    int got = tti_nlmsg_addr(p, plen, &entry);
    if (got <= 0)
        return got;
    memset(out, 0, sizeof(*out));
    out->kind = type == RTM_NEWADDR ? TT_EVENT_ADDR_NEW : TT_EVENT_ADDR_DEL;
    out->ifindex = entry.ifindex;
    out->flags = entry.flags;
    out->family = entry.family;
    out->prefixlen = entry.prefixlen;
    out->scope = entry.scope;
    memcpy(out->addr, entry.addr, sizeof(out->addr));
    return 1;
}

int tt_events_parse(const uint8_t *buf, size_t len, int32_t ifindex, struct tt_event *events,
                    uint32_t max)
{
    if ((buf == NULL && len != 0) || (events == NULL && max != 0) || ifindex <= 0)
        return -EINVAL;
    uint32_t found = 0;
    struct tti_msg_iter it = { .base = buf, .len = len };
    struct nlmsghdr h;
    const uint8_t *payload;
    size_t plen;
    int more;
    while ((more = tti_next_msg(&it, &h, &payload, &plen)) > 0) {
        struct tt_event record;
        int got;
        switch (h.nlmsg_type) {
        case RTM_NEWLINK:
        case RTM_DELLINK:
            got = link_record(h.nlmsg_type, payload, plen, ifindex, &record);
            break;
        case RTM_NEWADDR:
        case RTM_DELADDR:
            got = addr_record(h.nlmsg_type, payload, plen, ifindex, &record);
            break;
        default:
            got = 0; /* NLMSG_NOOP, NLMSG_DONE, and groups not asked for */
            break;
        }
        if (got < 0)
            return got;
        if (got == 0)
            continue;
        if (found >= max || found >= INT_MAX)
            return -ENOSPC;
        events[found++] = record;
    }
    return more < 0 ? more : (int)found;
}

/* ---- the socket ------------------------------------------------------- */

int tt_events_open(struct tt_events *ev)
{
    if (ev == NULL || ev->fd >= 0)
        return -EINVAL;
    int fd = tti_nl_socket(SOCK_NONBLOCK, GROUPS, NULL);
    if (fd < 0)
        return fd;
    ev->fd = fd;
    return 0;
}

int tt_events_adopt(struct tt_events *ev, struct tt_nl *nl)
{
    if (ev == NULL || nl == NULL || ev->fd >= 0 || nl->fd < 0)
        return -EINVAL;
    int fd = nl->fd;
    nl->fd = -1;
    static const int groups[] = { RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR };
    int result = tt_set_nonblocking(fd);
    for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]) && result == 0; i++) {
        if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &groups[i],
                       sizeof(groups[i])) < 0)
            result = -errno;
    }
    if (result < 0) {
        tt_close(fd);
        return result;
    }
    ev->fd = fd;
    return 0;
}

int tt_events_close(struct tt_events *ev)
{
    if (ev == NULL)
        return -EINVAL;
    if (ev->fd < 0)
        return 0;
    int fd = ev->fd;
    ev->fd = -1;
    return tt_close(fd);
}

int tt_events_recv(const struct tt_events *ev, uint8_t *buf, size_t buf_len,
                   struct tt_event *events, uint32_t max, int timeout_ms)
{
    if (ev == NULL || buf == NULL || events == NULL || buf_len == 0 || ev->fd < 0 ||
        ev->ifindex <= 0 || max < buf_len / TT_EVENTS_MIN_MESSAGE)
        return -EINVAL;
    int waited = 0;
    for (;;) {
        struct sockaddr_nl from;
        socklen_t from_len = sizeof(from);
        ssize_t n = recvfrom(ev->fd, buf, buf_len, MSG_TRUNC | MSG_DONTWAIT,
                             (struct sockaddr *)&from, &from_len);
        if (n >= 0) {
            if ((size_t)n > buf_len)
                return -EMSGSIZE;
            if (from_len != sizeof(from) || from.nl_family != AF_NETLINK || from.nl_pid != 0)
                return 0; /* not from the kernel: nothing about the device */
            return tt_events_parse(buf, (size_t)n, ev->ifindex, events, max);
        }
        int err = errno;
        if (err != EAGAIN && err != EWOULDBLOCK)
            return -err; /* -ENOBUFS: the socket overran; -EINTR: Python retries */
        if (waited || timeout_ms == 0)
            return -EAGAIN;
        int ready = tt_wait(ev->fd, ev->wakefd, 0, timeout_ms);
        if (ready <= 0)
            return ready == 0 ? -EAGAIN : ready;
        waited = 1;
    }
}
