/*
 * netlink.c - rtnetlink requests that configure one interface.
 *
 * Each request carries a fresh sequence number and NLM_F_ACK; replies are
 * matched on sequence number and port id (anything else is skipped), an
 * NLMSG_ERROR becomes -errno with the kernel's extended-ack text copied to
 * the reply, and dumps run to NLMSG_DONE and are retried when the kernel
 * marks them inconsistent (NLM_F_DUMP_INTR).
 *
 * The parser never trusts a length from the kernel: every header and every
 * attribute is copied out with memcpy after checking that it lies inside
 * the datagram (nlmsg.h, nlmsg.c), so a malformed reply is -EBADMSG, never
 * an out-of-bounds read (nor an unaligned one).  tt_nl_parse_reply is the
 * same parser on caller bytes, for tests and fuzzers.
 */
#define _GNU_SOURCE
#include "nlmsg.h"

#include <errno.h>
#include <limits.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/netdevice.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

_Static_assert(sizeof(((struct tt_nl_reply *)0)->ext_ack) == TT_NL_EXT_ACK_MAX,
               "ext_ack size");
_Static_assert(sizeof(((struct tt_link_info *)0)->hwaddr) == MAX_ADDR_LEN, "hwaddr size");
_Static_assert(TT_HWADDR_MAX == MAX_ADDR_LEN, "TT_HWADDR_MAX");
_Static_assert(sizeof(((struct tt_link_change *)0)->hwaddr) == MAX_ADDR_LEN, "hwaddr size");
_Static_assert(sizeof(((struct tt_link_info *)0)->name) == IFNAMSIZ, "name size");
_Static_assert(sizeof(((struct tt_link_info *)0)->kind) == 16, "kind size");
_Static_assert(sizeof(struct nlmsghdr) == NLMSG_HDRLEN, "nlmsghdr");
/* struct tt_link_stats is struct rtnl_link_stats64 copied as bytes: same layout. */
_Static_assert(offsetof(struct tt_link_stats, rx_nohandler) ==
                   offsetof(struct rtnl_link_stats64, rx_nohandler),
               "tt_link_stats layout");
_Static_assert(offsetof(struct tt_link_stats, rx_otherhost_dropped) == 24 * sizeof(uint64_t),
               "tt_link_stats layout");
_Static_assert(sizeof(((struct tt_route *)0)->dst) == 16, "route address size");

enum {
    RECV_TIMEOUT_S = 5,        /* the kernel answers at once; this only bounds a bug */
    MAX_DATAGRAMS = 1 << 16    /* per request, so that no loop is unbounded */
};

/* ---- building requests ------------------------------------------------ */

enum { REQUEST_WORDS = 256 }; /* 1 KiB: ample for one request and its attributes */

struct request {
    uint32_t words[REQUEST_WORDS]; /* uint32_t: netlink's 4-byte alignment */
    size_t len;
};

static void req_init(struct request *req, uint16_t type, uint16_t flags, const void *body,
                     size_t body_len)
{
    struct nlmsghdr hdr = {
        .nlmsg_type = type,
        .nlmsg_flags = (uint16_t)(NLM_F_REQUEST | NLM_F_ACK | flags),
    };
    memset(req->words, 0, sizeof(req->words));
    memcpy(req->words, &hdr, sizeof(hdr));
    memcpy((char *)req->words + NLMSG_HDRLEN, body, body_len);
    req->len = NLMSG_HDRLEN + NLMSG_ALIGN(body_len);
}

static int req_attr(struct request *req, uint16_t type, const void *data, size_t len)
{
    size_t room = sizeof(req->words) - req->len;
    if (len > room || RTA_SPACE(len) > room)
        return -EMSGSIZE;
    struct rtattr attr = { .rta_len = (unsigned short)RTA_LENGTH(len), .rta_type = type };
    char *at = (char *)req->words + req->len;
    memcpy(at, &attr, sizeof(attr));
    if (len)
        memcpy(at + RTA_LENGTH(0), data, len);
    req->len += RTA_SPACE(len);
    return 0;
}

static int req_u32(struct request *req, uint16_t type, uint32_t value)
{
    return req_attr(req, type, &value, sizeof(value));
}

/* ---- parsing replies -------------------------------------------------- */

/* The extended-ack attributes that follow an error or NLMSG_DONE. */
static int parse_ext_ack(const uint8_t *tlvs, size_t len, struct tt_nl_reply *r)
{
    struct tti_attr_iter it = { .base = tlvs, .len = len };
    uint16_t type;
    const uint8_t *data;
    size_t dlen;
    int more;
    while ((more = tti_next_attr(&it, &type, &data, &dlen)) > 0) {
        if (type == NLMSGERR_ATTR_MSG) {
            tti_copy_string(r->ext_ack, sizeof(r->ext_ack), data, dlen);
            r->flags |= TT_NL_GOT_EXT_ACK;
        }
    }
    return more;
}

/* The errno an NLMSG_ERROR or NLMSG_DONE carries: 0 or -1..-4095. */
static int checked_error(int32_t error)
{
    return (error > 0 || error < -4095) ? -EBADMSG : error;
}

/* NLMSG_ERROR: 1 for an acknowledgement, -errno for a refusal. */
static int parse_error(const uint8_t *p, size_t plen, uint16_t hflags, struct tt_nl_reply *r)
{
    struct nlmsgerr err;
    if (plen < sizeof(err))
        return -EBADMSG;
    memcpy(&err, p, sizeof(err));
    int error = checked_error(err.error);
    if (error == -EBADMSG)
        return error;
    size_t tlv_off = sizeof(err);
    if (!(hflags & NLM_F_CAPPED)) {
        /* The original request follows in full: skip its payload. */
        if (err.msg.nlmsg_len < NLMSG_HDRLEN)
            return -EBADMSG;
        size_t orig = NLMSG_ALIGN((size_t)err.msg.nlmsg_len - NLMSG_HDRLEN);
        if (orig > plen - tlv_off)
            return -EBADMSG;
        tlv_off += orig;
    }
    if (hflags & NLM_F_ACK_TLVS) {
        int bad = parse_ext_ack(p + tlv_off, plen - tlv_off, r);
        if (bad < 0)
            return bad;
    }
    if (error == 0) {
        if (r->expect == TT_NL_EXPECT_ADDRS || r->expect == TT_NL_EXPECT_ROUTES)
            return 0; /* a dump ends with NLMSG_DONE, not with an ack */
        if (r->expect == TT_NL_EXPECT_LINK && !(r->flags & TT_NL_GOT_LINK))
            return -EPROTO; /* acknowledged, but the link never came */
        if (r->expect == TT_NL_EXPECT_ROUTE && !(r->flags & TT_NL_GOT_ROUTE))
            return -EPROTO; /* acknowledged, but the route never came */
        return 1;
    }
    return error;
}

/* NLMSG_DONE: the end of a dump; it may carry an errno and extended ack. */
static int parse_done(const uint8_t *p, size_t plen, uint16_t hflags, struct tt_nl_reply *r)
{
    int32_t error = 0;
    if (plen != 0 && plen < sizeof(error))
        return -EBADMSG;
    if (plen >= sizeof(error)) {
        memcpy(&error, p, sizeof(error));
        if (hflags & NLM_F_ACK_TLVS) {
            int bad = parse_ext_ack(p + sizeof(error), plen - sizeof(error), r);
            if (bad < 0)
                return bad;
        }
    }
    int checked = checked_error(error);
    if (checked < 0)
        return checked;
    return (r->expect == TT_NL_EXPECT_ADDRS || r->expect == TT_NL_EXPECT_ROUTES) ? 1 : -EPROTO;
}


static int parse_link(const uint8_t *p, size_t plen, struct tt_nl_reply *r)
{
    if (r->flags & TT_NL_GOT_LINK)
        return -EPROTO; /* one link was asked for */
    int bad = tti_nlmsg_link(p, plen, &r->link);
    if (bad < 0)
        return bad;
    r->flags |= TT_NL_GOT_LINK;
    return 0;
}

static int parse_addr(const uint8_t *p, size_t plen, struct tt_nl_reply *r)
{
    struct tt_addr entry;
    int got = tti_nlmsg_addr(p, plen, &entry);
    if (got <= 0)
        return got;
    if (entry.ifindex != r->ifindex)
        return 0; /* another interface's */
    if (r->addrs_found == UINT32_MAX)
        return -EOVERFLOW;
    if (r->addrs_found < r->addrs_max)
        r->addrs[r->addrs_found] = entry;
    r->addrs_found++;
    return 0;
}

static int parse_route(const uint8_t *p, size_t plen, struct tt_nl_reply *r)
{
    struct rtmsg rtm;
    if (plen < sizeof(rtm))
        return -EBADMSG;
    if (r->flags & TT_NL_GOT_ROUTE)
        return -EPROTO; /* one route was asked for */
    memcpy(&rtm, p, sizeof(rtm));
    /* Only the type is used; the attributes must still be well formed. */
    struct tti_attr_iter it;
    if (tti_attrs_after(&it, p, plen, sizeof(rtm)) < 0)
        return -EBADMSG;
    uint16_t type;
    const uint8_t *data;
    size_t dlen;
    int more;
    while ((more = tti_next_attr(&it, &type, &data, &dlen)) > 0)
        ;
    if (more < 0)
        return more;
    r->route_type = rtm.rtm_type;
    r->flags |= TT_NL_GOT_ROUTE;
    return 0;
}

/* One part of a route dump: kept when its RTA_OIF is the interface asked for. */
static int parse_routes_part(const uint8_t *p, size_t plen, struct tt_nl_reply *r)
{
    struct tt_route entry;
    int got = tti_nlmsg_route(p, plen, &entry);
    if (got <= 0)
        return got;
    if (!(entry.has & TT_ROUTE_HAS_OIF) || entry.oif != r->ifindex)
        return 0; /* another interface's, or a multipath route */
    if (r->routes_found == UINT32_MAX)
        return -EOVERFLOW;
    if (r->routes_found < r->routes_max)
        r->routes[r->routes_found] = entry;
    r->routes_found++;
    return 0;
}

/* One message addressed to us: 1 complete, 0 more to come, -errno. */
static int handle_message(const struct nlmsghdr *h, const uint8_t *p, size_t plen,
                          struct tt_nl_reply *r)
{
    switch (h->nlmsg_type) {
    case NLMSG_ERROR:
        return parse_error(p, plen, h->nlmsg_flags, r);
    case NLMSG_DONE:
        return parse_done(p, plen, h->nlmsg_flags, r);
    case RTM_NEWLINK:
        return r->expect == TT_NL_EXPECT_LINK ? parse_link(p, plen, r) : 0;
    case RTM_NEWADDR:
        return r->expect == TT_NL_EXPECT_ADDRS ? parse_addr(p, plen, r) : 0;
    case RTM_NEWROUTE:
        if (r->expect == TT_NL_EXPECT_ROUTES)
            return parse_routes_part(p, plen, r);
        return r->expect == TT_NL_EXPECT_ROUTE ? parse_route(p, plen, r) : 0;
    default:
        return 0; /* NLMSG_NOOP and anything not asked for */
    }
}

int tt_nl_parse_reply(const char *buf, size_t len, struct tt_nl_reply *r)
{
    if (r == NULL || (buf == NULL && len != 0))
        return -EINVAL;
    if (r->expect < TT_NL_EXPECT_ACK || r->expect > TT_NL_EXPECT_ROUTES)
        return -EINVAL;
    if ((r->addrs == NULL && r->addrs_max != 0) || (r->routes == NULL && r->routes_max != 0))
        return -EINVAL;
    if (len == 0)
        return -EBADMSG;
    struct tti_msg_iter it = { .base = (const uint8_t *)buf, .len = len };
    struct nlmsghdr h;
    const uint8_t *payload;
    size_t plen;
    int more;
    while ((more = tti_next_msg(&it, &h, &payload, &plen)) > 0) {
        if (h.nlmsg_seq != r->seq || h.nlmsg_pid != r->portid)
            continue; /* a late answer to an earlier request */
        if (h.nlmsg_flags & NLM_F_DUMP_INTR)
            r->flags |= TT_NL_DUMP_INTR;
        int result = handle_message(&h, payload, plen, r);
        if (result != 0)
            return result;
    }
    return more;
}

/* ---- the socket ------------------------------------------------------- */

int tti_nl_socket(int flags, uint32_t groups, uint32_t *portid)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | flags, NETLINK_ROUTE);
    if (fd < 0)
        return -errno;
    struct sockaddr_nl addr = { .nl_family = AF_NETLINK, .nl_groups = groups };
    socklen_t addr_len = sizeof(addr);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        (portid != NULL && getsockname(fd, (struct sockaddr *)&addr, &addr_len) < 0)) {
        int err = errno;
        close(fd);
        return -err;
    }
    if (portid != NULL)
        *portid = addr.nl_pid;
    return fd;
}

int tt_nl_open(struct tt_nl *nl)
{
    if (nl == NULL)
        return -EINVAL;
    uint32_t portid;
    int fd = tti_nl_socket(0, 0, &portid);
    if (fd < 0)
        return fd;
    int one = 1;
    /* Optional: without them errors just carry no text, or the whole request. */
    (void)setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
    (void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
    /* Strict checking makes the kernel filter a dump by interface itself, and
     * answer ENODEV for a deleted one instead of an empty dump. */
    (void)setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof(one));
    struct timeval timeout = { .tv_sec = RECV_TIMEOUT_S };
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    nl->fd = fd;
    nl->seq = 0;
    nl->portid = portid;
    return 0;
}

int tt_nl_close(struct tt_nl *nl)
{
    if (nl == NULL)
        return -EINVAL;
    if (nl->fd < 0)
        return 0;
    int fd = nl->fd;
    nl->fd = -1;
    /* Linux releases the fd even when close() reports EINTR: never retry. */
    if (close(fd) < 0 && errno != EINTR)
        return -errno;
    return 0;
}

static void reply_reset(struct tt_nl_reply *r, int expect, int32_t ifindex)
{
    r->expect = expect;
    r->ifindex = ifindex;
    r->flags = 0;
    r->addrs_found = 0;
    r->route_type = 0;
    r->routes_found = 0;
    memset(&r->link, 0, sizeof(r->link));
    r->ext_ack[0] = '\0';
}

static int check_args(const struct tt_nl *nl, const struct tt_nl_reply *r)
{
    if (nl == NULL || r == NULL || nl->fd < 0)
        return -EINVAL;
    if (r->addrs == NULL && r->addrs_max != 0)
        return -EINVAL;
    if (r->routes == NULL && r->routes_max != 0)
        return -EINVAL;
    return 0;
}

/* Sends the request and reads replies until the one it expects is complete. */
static int transact(struct tt_nl *nl, struct request *req, struct tt_nl_reply *r)
{
    struct nlmsghdr hdr;
    memcpy(&hdr, req->words, sizeof(hdr));
    nl->seq++;
    if (nl->seq == 0)
        nl->seq = 1; /* 0 is what a zeroed reply expects: never use it */
    hdr.nlmsg_len = (uint32_t)req->len;
    hdr.nlmsg_seq = nl->seq;
    hdr.nlmsg_pid = nl->portid;
    memcpy(req->words, &hdr, sizeof(hdr));
    r->seq = nl->seq;
    r->portid = nl->portid;

    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    ssize_t sent;
    int tries = 0;
    do {
        sent = sendto(nl->fd, req->words, req->len, 0, (struct sockaddr *)&kernel,
                      sizeof(kernel));
    } while (sent < 0 && errno == EINTR && ++tries < MAX_DATAGRAMS);
    if (sent < 0)
        return -errno;
    if ((size_t)sent != req->len)
        return -EIO;

    for (int i = 0; i < MAX_DATAGRAMS; i++) {
        struct sockaddr_nl from;
        socklen_t from_len = sizeof(from);
        ssize_t n = recvfrom(nl->fd, nl->rx, sizeof(nl->rx), MSG_TRUNC,
                             (struct sockaddr *)&from, &from_len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return (errno == EAGAIN || errno == EWOULDBLOCK) ? -ETIMEDOUT : -errno;
        }
        if ((size_t)n > sizeof(nl->rx))
            return -EMSGSIZE;
        if (from_len != sizeof(from) || from.nl_family != AF_NETLINK || from.nl_pid != 0)
            continue; /* not from the kernel */
        int result = tt_nl_parse_reply((const char *)nl->rx, (size_t)n, r);
        if (result != 0)
            return result < 0 ? result : 0;
    }
    return -EPROTO;
}

/* ---- requests --------------------------------------------------------- */

/* Runs a dump until the kernel gives a consistent one (no NLM_F_DUMP_INTR):
 * the number of entries found, or -EAGAIN when they kept changing. */
static int dump_consistent(struct tt_nl *nl, struct request *req, int expect, int32_t ifindex,
                           struct tt_nl_reply *reply)
{
    for (int attempt = 0; attempt < TT_NL_ADDR_DUMP_TRIES; attempt++) {
        reply_reset(reply, expect, ifindex);
        int result = transact(nl, req, reply);
        if (result < 0)
            return result;
        if (!(reply->flags & TT_NL_DUMP_INTR)) {
            uint32_t found =
                expect == TT_NL_EXPECT_ROUTES ? reply->routes_found : reply->addrs_found;
            return found > INT_MAX ? INT_MAX : (int)found;
        }
    }
    return -EAGAIN;
}

/* RTM_GETLINK by index (or name); ext_mask RTEXT_FILTER_SKIP_STATS leaves the counters out. */
static int link_get(struct tt_nl *nl, int32_t ifindex, const char *name, uint32_t ext_mask,
                    struct tt_nl_reply *reply)
{
    int bad = check_args(nl, reply);
    if (bad < 0)
        return bad;
    if (ifindex < 0 || (ifindex == 0 && name == NULL))
        return -EINVAL;
    struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex };
    struct request req;
    req_init(&req, RTM_GETLINK, 0, &ifi, sizeof(ifi));
    if (ifindex == 0) {
        size_t len = strnlen(name, IFNAMSIZ);
        if (len == 0 || len >= IFNAMSIZ)
            return -EINVAL;
        char padded[IFNAMSIZ] = { 0 };
        memcpy(padded, name, len);
        if ((bad = req_attr(&req, IFLA_IFNAME, padded, len + 1)) < 0)
            return bad;
    }
    if ((bad = req_u32(&req, IFLA_EXT_MASK, ext_mask)) < 0)
        return bad;
    reply_reset(reply, TT_NL_EXPECT_LINK, ifindex);
    return transact(nl, &req, reply);
}

int tt_nl_link_get(struct tt_nl *nl, int32_t ifindex, const char *name,
                   struct tt_nl_reply *reply)
{
    return link_get(nl, ifindex, name, RTEXT_FILTER_SKIP_STATS, reply);
}

int tt_nl_link_stats(struct tt_nl *nl, int32_t ifindex, struct tt_nl_reply *reply)
{
    if (ifindex <= 0)
        return -EINVAL;
    return link_get(nl, ifindex, NULL, 0, reply);
}

int tt_nl_link_set(struct tt_nl *nl, const struct tt_link_change *change,
                   struct tt_nl_reply *reply)
{
    int bad = check_args(nl, reply);
    if (bad < 0)
        return bad;
    const uint32_t known = TT_LINK_SET_MTU | TT_LINK_SET_UP | TT_LINK_SET_TXQLEN |
                           TT_LINK_SET_HWADDR;
    if (change == NULL || change->ifindex <= 0 || (change->set & ~known) ||
        change->hwaddr_len > sizeof(change->hwaddr))
        return -EINVAL;
    if ((change->set & TT_LINK_SET_HWADDR) && change->hwaddr_len == 0)
        return -EINVAL;
    struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = change->ifindex };
    if (change->set & TT_LINK_SET_UP) {
        ifi.ifi_change = IFF_UP;
        ifi.ifi_flags = change->up ? IFF_UP : 0;
    }
    struct request req;
    req_init(&req, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
    if ((change->set & TT_LINK_SET_MTU) && (bad = req_u32(&req, IFLA_MTU, change->mtu)) < 0)
        return bad;
    if ((change->set & TT_LINK_SET_TXQLEN) &&
        (bad = req_u32(&req, IFLA_TXQLEN, change->txqlen)) < 0)
        return bad;
    if ((change->set & TT_LINK_SET_HWADDR) &&
        (bad = req_attr(&req, IFLA_ADDRESS, change->hwaddr, change->hwaddr_len)) < 0)
        return bad;
    reply_reset(reply, TT_NL_EXPECT_ACK, change->ifindex);
    return transact(nl, &req, reply);
}

int tt_nl_addr_change(struct tt_nl *nl, int add, int32_t ifindex, int family,
                      const uint8_t *addr, size_t addr_len, uint32_t prefixlen,
                      uint32_t flags, struct tt_nl_reply *reply)
{
    return tt_nl_addr_peer_change(nl, add, ifindex, family, addr, addr, addr_len, prefixlen,
                                  flags, reply);
}

/* An RTM_NEWADDR (add; an address that exists is EEXIST) or RTM_DELADDR request. */
static void addr_request(struct request *req, int add, const struct ifaddrmsg *ifa)
{
    if (add)
        req_init(req, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifa, sizeof(*ifa));
    else
        req_init(req, RTM_DELADDR, 0, ifa, sizeof(*ifa));
}

int tt_nl_addr_peer_change(struct tt_nl *nl, int add, int32_t ifindex, int family,
                           const uint8_t *addr, const uint8_t *peer, size_t addr_len,
                           uint32_t prefixlen, uint32_t flags, struct tt_nl_reply *reply)
{
    int bad = check_args(nl, reply);
    if (bad < 0)
        return bad;
    if (ifindex <= 0 || addr == NULL || peer == NULL)
        return -EINVAL;
    size_t alen = tti_family_addr_len(family);
    if (alen == 0 || addr_len != alen || prefixlen > alen * 8)
        return -EINVAL;
    struct ifaddrmsg ifa = {
        .ifa_family = (uint8_t)family,
        .ifa_prefixlen = (uint8_t)prefixlen,
        .ifa_flags = (uint8_t)(flags & 0xff),
        .ifa_scope = RT_SCOPE_UNIVERSE,
        .ifa_index = (uint32_t)ifindex,
    };
    struct request req;
    addr_request(&req, add, &ifa);
    if ((bad = req_attr(&req, IFA_LOCAL, addr, addr_len)) < 0 ||
        (bad = req_attr(&req, IFA_ADDRESS, peer, addr_len)) < 0)
        return bad;
    if (add && (bad = req_u32(&req, IFA_FLAGS, flags)) < 0)
        return bad;
    reply_reset(reply, TT_NL_EXPECT_ACK, ifindex);
    return transact(nl, &req, reply);
}

int tt_nl_addr_entry_change(struct tt_nl *nl, int add, const struct tt_addr *entry,
                            struct tt_nl_reply *reply)
{
    int bad = check_args(nl, reply);
    if (bad < 0)
        return bad;
    if (entry == NULL || entry->ifindex <= 0)
        return -EINVAL;
    size_t alen = entry->family == AF_INET ? 4 : 16;
    if (!((entry->family == AF_INET && entry->prefixlen <= 32) ||
          (entry->family == AF_INET6 && entry->prefixlen <= 128)))
        return -EINVAL;
    if (entry->has_broadcast && entry->family != AF_INET)
        return -EINVAL;
    size_t label_len = strnlen(entry->label, sizeof(entry->label));
    if (label_len >= sizeof(entry->label))
        return -EINVAL;
    struct ifaddrmsg ifa = {
        .ifa_family = entry->family,
        .ifa_prefixlen = entry->prefixlen,
        .ifa_scope = entry->scope,
        .ifa_index = (uint32_t)entry->ifindex,
    };
    struct request req;
    addr_request(&req, add, &ifa);
    if ((bad = req_attr(&req, IFA_LOCAL, entry->addr, alen)) < 0 ||
        (bad = req_attr(&req, IFA_ADDRESS, entry->has_peer ? entry->peer : entry->addr,
                        alen)) < 0)
        return bad;
    if (entry->has_broadcast && (bad = req_attr(&req, IFA_BROADCAST, entry->broadcast, 4)) < 0)
        return bad;
    if (label_len && (bad = req_attr(&req, IFA_LABEL, entry->label, label_len + 1)) < 0)
        return bad;
    reply_reset(reply, TT_NL_EXPECT_ACK, entry->ifindex);
    return transact(nl, &req, reply);
}

int tt_nl_addr_dump(struct tt_nl *nl, int32_t ifindex, struct tt_nl_reply *reply)
{
    int bad = check_args(nl, reply);
    if (bad < 0)
        return bad;
    if (ifindex <= 0)
        return -EINVAL;
    struct ifaddrmsg ifa = { .ifa_family = AF_UNSPEC, .ifa_index = (uint32_t)ifindex };
    struct request req;
    req_init(&req, RTM_GETADDR, NLM_F_DUMP, &ifa, sizeof(ifa));
    return dump_consistent(nl, &req, TT_NL_EXPECT_ADDRS, ifindex, reply);
}

int tt_nl_route_dump(struct tt_nl *nl, int32_t ifindex, struct tt_nl_reply *reply)
{
    int bad = check_args(nl, reply);
    if (bad < 0)
        return bad;
    if (ifindex <= 0)
        return -EINVAL;
    /* Every family and table (RT_TABLE_UNSPEC); with strict checking the kernel
     * filters by RTA_OIF itself, and the parser keeps only ifindex's anyway. */
    struct rtmsg rtm = { .rtm_family = AF_UNSPEC, .rtm_table = RT_TABLE_UNSPEC };
    struct request req;
    req_init(&req, RTM_GETROUTE, NLM_F_DUMP, &rtm, sizeof(rtm));
    if ((bad = req_u32(&req, RTA_OIF, (uint32_t)ifindex)) < 0)
        return bad;
    return dump_consistent(nl, &req, TT_NL_EXPECT_ROUTES, ifindex, reply);
}

int tt_nl_route_change(struct tt_nl *nl, int add, const struct tt_route *route,
                       struct tt_nl_reply *reply)
{
    int bad = check_args(nl, reply);
    if (bad < 0)
        return bad;
    if (route == NULL || route->oif <= 0)
        return -EINVAL;
    size_t alen = tti_family_addr_len(route->family);
    if (alen == 0 || route->dst_len > alen * 8)
        return -EINVAL;
    const uint32_t known = TT_ROUTE_HAS_GATEWAY | TT_ROUTE_HAS_PREFSRC | TT_ROUTE_HAS_METRIC |
                           TT_ROUTE_HAS_OIF;
    if (route->has & ~known)
        return -EINVAL;
    /* A gateway of the other family would need RTA_VIA: not offered. */
    if ((route->has & TT_ROUTE_HAS_GATEWAY) && route->gateway_family != route->family)
        return -EINVAL;
    struct rtmsg rtm = {
        .rtm_family = route->family,
        .rtm_dst_len = route->dst_len,
        .rtm_tos = route->tos,
        .rtm_table = route->table < 256 ? (uint8_t)route->table : RT_TABLE_UNSPEC,
        .rtm_protocol = route->protocol,
        .rtm_scope = route->scope,
        .rtm_type = route->type,
    };
    struct request req;
    if (add)
        req_init(&req, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &rtm, sizeof(rtm));
    else
        req_init(&req, RTM_DELROUTE, 0, &rtm, sizeof(rtm));
    if (route->dst_len != 0 && (bad = req_attr(&req, RTA_DST, route->dst, alen)) < 0)
        return bad;
    if ((bad = req_u32(&req, RTA_TABLE, route->table)) < 0 ||
        (bad = req_u32(&req, RTA_OIF, (uint32_t)route->oif)) < 0)
        return bad;
    if ((route->has & TT_ROUTE_HAS_GATEWAY) &&
        (bad = req_attr(&req, RTA_GATEWAY, route->gateway, alen)) < 0)
        return bad;
    if ((route->has & TT_ROUTE_HAS_PREFSRC) &&
        (bad = req_attr(&req, RTA_PREFSRC, route->prefsrc, alen)) < 0)
        return bad;
    if ((route->has & TT_ROUTE_HAS_METRIC) &&
        (bad = req_u32(&req, RTA_PRIORITY, route->metric)) < 0)
        return bad;
    reply_reset(reply, TT_NL_EXPECT_ACK, route->oif);
    return transact(nl, &req, reply);
}

int tt_nl_route_get(struct tt_nl *nl, int family, const uint8_t *addr, size_t addr_len,
                    struct tt_nl_reply *reply)
{
    int bad = check_args(nl, reply);
    if (bad < 0)
        return bad;
    size_t alen = tti_family_addr_len(family);
    if (addr == NULL || alen == 0 || addr_len != alen)
        return -EINVAL;
    struct rtmsg rtm = {
        .rtm_family = (uint8_t)family,
        .rtm_dst_len = (uint8_t)(addr_len * 8),
    };
    struct request req;
    req_init(&req, RTM_GETROUTE, 0, &rtm, sizeof(rtm));
    if ((bad = req_attr(&req, RTA_DST, addr, addr_len)) < 0)
        return bad;
    reply_reset(reply, TT_NL_EXPECT_ROUTE, 0);
    return transact(nl, &req, reply);
}
