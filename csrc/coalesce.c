/* coalesce.c - coalescing on bytes: the packets of one flow that the
 * kernel's GRO would merge become one super-packet with a virtio-net header
 * (TCP segments; UDP datagrams when the device takes USO).  No fd is
 * touched here.
 *
 * A plan starts at one packet and gathers the packets of its flow that
 * follow it.  Grouping passes over the packets of other flows (up to
 * TT_COALESCE_LOOKAHEAD positions); it stops at anything of its own flow
 * that does not merge, at a packet whose flow it cannot tell (it might be
 * its own), and at a packet the write rules would refuse, so no flow is
 * reordered and a refusal still stops the write where it is.
 */
#include "batch.h"
#include "checksum.h"
#include "coalesce.h"
#include "proto.h"

#include <linux/if_tun.h>
#include <linux/virtio_net.h>

/* A TCP segment or UDP datagram that could be merged with its neighbours. */
struct seg {
    const unsigned char *p;
    size_t len, l3, hlen, payload;
    uint32_t seq; /* TCP */
    unsigned flags; /* TCP */
    int v6, udp;
};

/* The IP header of a merge candidate: l3 and v6 set, or 0. */
static int parse_ip(const unsigned char *p, size_t len, unsigned proto, struct seg *t)
{
    if (len < 28)
        return 0;
    if ((p[0] >> 4) == 4) {
        if (p[0] != 0x45 || tti_get16(p + 2) != len || (tti_get16(p + 6) & 0x3fff) || p[9] != proto)
            return 0;
        t->l3 = 20;
        t->v6 = 0;
    } else if ((p[0] >> 4) == 6) {
        if (len < 48 || tti_get16(p + 4) + 40u != len || p[6] != proto)
            return 0;
        t->l3 = 40;
        t->v6 = 1;
    } else {
        return 0;
    }
    t->p = p;
    t->len = len;
    return 1;
}

static int parse_tcpseg(const unsigned char *p, size_t len, struct seg *t)
{
    if (!parse_ip(p, len, IPPROTO_TCP_, t) || len < t->l3 + 20)
        return 0;
    size_t doff = (size_t)(p[t->l3 + 12] >> 4) * 4;
    if (doff < 20 || t->l3 + doff >= len)
        return 0;
    t->flags = p[t->l3 + 13];
    if (!(t->flags & TCP_ACK) ||
        (t->flags & (TCP_FIN | TCP_SYN | TCP_RST | TCP_URG | TCP_CWR | 0x40)))
        return 0;
    t->udp = 0;
    t->hlen = t->l3 + doff;
    t->payload = len - t->hlen;
    t->seq = tti_get32(p + t->l3 + 4);
    return 1;
}

/* A UDP datagram with a payload and a checksum (one without, 0, would come
 * out of the kernel's segmentation with one, so it is never merged). */
static int parse_udpdg(const unsigned char *p, size_t len, struct seg *t)
{
    if (!parse_ip(p, len, IPPROTO_UDP_, t))
        return 0;
    if (tti_get16(p + t->l3 + 4) != len - t->l3 || tti_get16(p + t->l3 + 6) == 0)
        return 0;
    t->udp = 1;
    t->flags = 0;
    t->seq = 0;
    t->hlen = t->l3 + 8;
    t->payload = len - t->hlen;
    return t->payload > 0;
}

static int parse_seg(const unsigned char *p, size_t len, struct seg *t)
{
    return parse_tcpseg(p, len, t) || parse_udpdg(p, len, t);
}

/* Do the packet's IPv4 header checksum and L4 checksum hold (as the kernel
 * checks them on input)? */
static int checksums_ok(const struct seg *t)
{
    if (!t->v6 && tti_csum_fold(tti_csum_add(t->p, t->l3, 0)) != 0xffff)
        return 0;
    size_t l4_len = t->len - t->l3;
    unsigned proto = t->udp ? IPPROTO_UDP_ : IPPROTO_TCP_;
    uint64_t sum = tti_pseudo_sum(t->p, t->v6, proto, l4_len);
    return tti_csum_fold(tti_csum_add(t->p + t->l3, l4_len, sum)) == 0xffff;
}

/* Are the IP headers of prev and cur the same but for length, checksum and
 * (IPv4) the ID?  The kernel numbers the segments of a super-packet id,
 * id+1, ...: such a run comes out with the IDs it was sent with.  A TCP
 * run with DF set may also keep one ID throughout, as the kernel's GRO
 * merges it: the ID of a datagram that may not be fragmented means nothing
 * (RFC 6864), and Linux renumbers it.  A run keeps the rule its first two
 * packets set (first is the run's first packet). */
static int same_ip(const struct seg *first, const struct seg *prev, const struct seg *cur)
{
    const unsigned char *x = prev->p, *y = cur->p;
    if (prev->v6)
        return memcmp(x, y, 4) == 0 && memcmp(x + 6, y + 6, 34) == 0;
    if (memcmp(x, y, 2) || memcmp(x + 6, y + 6, 4) || memcmp(x + 12, y + 12, 8))
        return 0;
    unsigned id = tti_get16(x + 4), next = tti_get16(y + 4);
    int counting = prev->p == first->p || id != tti_get16(first->p + 4);
    int constant = prev->p == first->p || !counting;
    if (counting && next == ((id + 1) & 0xffff))
        return 1;
    return constant && next == id && !cur->udp && (x[6] & 0x40);
}

/* Can cur follow prev in the super-packet that first starts? */
static int mergeable(const struct seg *first, const struct seg *prev, const struct seg *cur)
{
    if (prev->v6 != cur->v6 || prev->udp != cur->udp || prev->hlen != cur->hlen)
        return 0;
    /* Every segment but the last carries gso_size bytes; the last may carry fewer. */
    if (prev->payload != first->payload || cur->payload > first->payload)
        return 0;
    if (!same_ip(first, prev, cur))
        return 0;
    const unsigned char *x = prev->p + prev->l3, *y = cur->p + cur->l3;
    if (cur->udp)
        return memcmp(x, y, 4) == 0; /* the ports */
    if ((prev->flags & TCP_PSH) || cur->seq != prev->seq + (uint32_t)prev->payload)
        return 0;
    /* Ports, ack, data offset, window, urgent pointer, options; flags but PSH. */
    if (memcmp(x, y, 4) || memcmp(x + 8, y + 8, 5) || memcmp(x + 14, y + 14, 2) ||
        memcmp(x + 18, y + 18, prev->hlen - prev->l3 - 18))
        return 0;
    return ((x[13] ^ y[13]) & ~TCP_PSH) == 0;
}

/* What tells one flow from another: addresses, protocol, ports. */
struct flow {
    uint8_t v6, proto, ports[4], addrs[32], pad[2];
};

/* The packet's flow: 1, or 0 when it cannot be told (not IP, an IPv4
 * fragment, IPv6 extension headers): such a packet might be of any flow. */
static int flow_of(const unsigned char *p, size_t len, struct flow *f)
{
    memset(f, 0, sizeof(*f));
    size_t l3;
    if (len >= 20 && (p[0] >> 4) == 4) {
        l3 = (size_t)(p[0] & 15) * 4;
        if (l3 < 20 || l3 > len || (tti_get16(p + 6) & 0x3fff))
            return 0;
        f->proto = p[9];
        memcpy(f->addrs, p + 12, 8);
    } else if (len >= 40 && (p[0] >> 4) == 6) {
        l3 = 40;
        f->v6 = 1;
        f->proto = p[6];
        memcpy(f->addrs, p + 8, 32);
        /* hop-by-hop, routing, fragment, ESP, AH, destination options, mobility */
        static const uint8_t ext[] = { 0, 43, 44, 50, 51, 60, 135, 139, 140 };
        if (memchr(ext, f->proto, sizeof(ext)) != NULL)
            return 0;
    } else {
        return 0;
    }
    if (f->proto == IPPROTO_TCP_ || f->proto == IPPROTO_UDP_) {
        if (len < l3 + 4)
            return 0;
        memcpy(f->ports, p + l3, 4);
    }
    return 1;
}

/* A flow as one number: 0 and 1 are kept for "cannot be told" and "not a
 * packet" (a bad slot of a batch). */
enum { FLOW_UNKNOWN = 0, FLOW_NONE = 1 };

static uint32_t flow_hash(const struct flow *f)
{
    uint32_t words[sizeof(*f) / 4];
    _Static_assert(sizeof(*f) % 4 == 0, "struct flow is whole words");
    memcpy(words, f, sizeof(words));
    uint64_t h = 0x9e3779b97f4a7c15u;
    for (size_t k = 0; k < sizeof(words) / 4; k++)
        h = (h ^ words[k]) * 0xff51afd7ed558ccdu;
    uint32_t folded = (uint32_t)(h >> 32) ^ (uint32_t)h;
    return folded < 2 ? folded + 2 : folded;
}

/* The flow number of packet j (what the write rules refuse counts as
 * unknown: nothing merges past it). */
static uint32_t flow_number(const struct tti_source *s, uint32_t j, size_t write_limit)
{
    const unsigned char *p;
    size_t len;
    struct flow f;
    int got = tti_source_get(s, j, &p, &len);
    if (got == 0)
        return FLOW_NONE;
    if (got < 0 || len > write_limit || !flow_of(p, len, &f))
        return FLOW_UNKNOWN;
    return flow_hash(&f);
}

void tti_flows_start(struct tti_flows *c, uint32_t start)
{
    c->computed = start;
    c->last_unknown = 0;
    memset(c->head_pos, 0, sizeof(c->head_pos));
}

/* Numbers positions up to `upto` (each once, in order) and links each to the
 * next one of its number. */
static void flows_extend(struct tti_flows *c, const struct tti_source *s, uint32_t upto,
                         size_t write_limit)
{
    for (uint32_t j = c->computed; j < upto; j++) {
        uint32_t slot = j % TTI_FLOWS_CACHED, h = flow_number(s, j, write_limit);
        c->next[slot] = 0;
        c->unknown_before[slot] = c->last_unknown;
        if (h == FLOW_UNKNOWN) {
            c->last_unknown = j + 1;
        } else if (h != FLOW_NONE) {
            uint32_t head = h % TTI_FLOW_HEADS, last = c->head_pos[head];
            /* Link from the last position of this number if it is still held
             * (a slot taken by another number just ends a chain early). */
            if (last != 0 && c->head_flow[head] == h && j - (last - 1) < TTI_FLOWS_CACHED)
                c->next[(last - 1) % TTI_FLOWS_CACHED] = j + 1;
            c->head_flow[head] = h;
            c->head_pos[head] = j + 1;
        }
    }
    if (upto > c->computed)
        c->computed = upto;
}

/* Takes packet j into first's super-packet after prev (1), or not (0; *stop
 * set when j is of first's flow, or of no flow that can be told, so nothing
 * after it may merge either). */
static int take(const struct tti_source *s, uint32_t j, const struct flow *flow,
                const struct seg *first, struct seg *prev, size_t *total, size_t write_limit,
                size_t room, uint32_t n, int *stop)
{
    const unsigned char *p;
    size_t len;
    struct flow other;
    struct seg cur;
    *stop = 1;
    if (tti_source_get(s, j, &p, &len) != 1 || len > write_limit || !flow_of(p, len, &other))
        return 0;
    *stop = 0;
    if (memcmp(&other, flow, sizeof(other)) != 0)
        return 0; /* another flow of the same number */
    *stop = 1;
    if (!parse_seg(p, len, &cur) || !mergeable(first, prev, &cur))
        return 0;
    if (*total + cur.payload > TT_GSO_MAX || TT_VNET_HDR_LEN + *total + cur.payload > room)
        return 0;
    /* The super-packet gets a new checksum: merge only packets whose own
     * checksums hold, or corrupt bytes would go on as good ones.  The first
     * is checked only once it has a partner (alone it goes out as it came). */
    if ((n == 1 && !checksums_ok(first)) || !checksums_ok(&cur))
        return 0;
    *stop = 0;
    *total += cur.payload;
    *prev = cur;
    return 1;
}

uint32_t tti_coalesce_plan(const struct tti_source *s, uint32_t i, uint32_t end, int group,
                           const uint8_t *sent, unsigned offload, size_t write_limit,
                           size_t room, struct tti_flows *cache, uint32_t *members)
{
    const unsigned char *p;
    size_t len;
    struct seg first, prev;
    struct flow flow;
    members[0] = i;
    if (tti_source_get(s, i, &p, &len) != 1 || len > write_limit || !parse_seg(p, len, &first))
        return 1;
    /* Only what the device took: UDP with USO, TCP with TSO, of the family. */
    unsigned needs = first.udp ? (first.v6 ? TT_TUN_F_USO6 : TT_TUN_F_USO4)
                               : (first.v6 ? TUN_F_TSO6 : TUN_F_TSO4);
    if (!(offload & needs))
        return 1;
    flow_of(p, len, &flow);
    prev = first;
    size_t total = first.len;
    uint32_t n = 1;
    int stop = 0;
    uint32_t last = end - i - 1 > TT_COALESCE_LOOKAHEAD ? i + TT_COALESCE_LOOKAHEAD : end - 1;
    if (!group) {
        /* Consecutive packets only. */
        for (uint32_t j = i + 1; j <= last && n < TT_COALESCE_MAX && !stop; j++) {
            if (!take(s, j, &flow, &first, &prev, &total, write_limit, room, n, &stop))
                break;
            members[n++] = j;
        }
        return n;
    }
    /* Along the chain of the first's flow number, so that other flows'
     * packets cost nothing; an unknown flow between ends it. */
    flows_extend(cache, s, last + 1, write_limit);
    uint32_t j = cache->next[i % TTI_FLOWS_CACHED];
    while (j != 0 && j - 1 <= last && n < TT_COALESCE_MAX) {
        uint32_t at = j - 1, slot = at % TTI_FLOWS_CACHED;
        if (cache->unknown_before[slot] > i)
            break; /* a packet of unknown flow lies between */
        if (sent == NULL || !sent[at]) {
            if (take(s, at, &flow, &first, &prev, &total, write_limit, room, n, &stop))
                members[n++] = at;
            else if (stop)
                break;
        }
        j = cache->next[slot];
    }
    return n;
}

int tti_coalesce_iov(const struct tti_source *s, const uint32_t *members, uint32_t n,
                     unsigned char *head, struct iovec *iov, size_t *total)
{
    const unsigned char *p;
    size_t len;
    struct seg first, last;
    memset(&first, 0, sizeof(first));
    memset(&last, 0, sizeof(last));
    tti_source_get(s, members[0], &p, &len);
    parse_seg(p, len, &first);
    unsigned char *pkt = head + TT_VNET_HDR_LEN;
    memcpy(pkt, p, first.hlen);
    size_t at = first.hlen;
    iov[0].iov_base = head;
    for (uint32_t k = 0; k < n; k++) {
        tti_source_get(s, members[k], &p, &len);
        parse_seg(p, len, &last);
        iov[k + 1].iov_base = (void *)(p + last.hlen);
        iov[k + 1].iov_len = last.payload;
        at += last.payload;
    }
    if (first.v6) {
        tti_put16(pkt + 4, (uint16_t)(at - 40));
    } else {
        tti_put16(pkt + 2, (uint16_t)at);
        tti_ipv4_header_csum(pkt, 20);
    }
    /* The kernel completes the checksum from the pseudo-header's sum (the
     * UDP length being the whole super-packet's, which it adjusts per
     * segment). */
    size_t l4_len = at - first.l3;
    unsigned proto = first.udp ? IPPROTO_UDP_ : IPPROTO_TCP_;
    unsigned check_at = first.udp ? 6 : 16;
    if (first.udp)
        tti_put16(pkt + first.l3 + 4, (uint16_t)l4_len);
    else
        pkt[first.l3 + 13] = (unsigned char)last.flags;
    uint16_t partial = tti_csum_fold(tti_pseudo_sum(pkt, first.v6, proto, l4_len));
    memcpy(pkt + first.l3 + check_at, &partial, 2);
    struct virtio_net_hdr h;
    memset(&h, 0, sizeof(h));
    h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    if (first.udp)
        h.gso_type = VIRTIO_NET_HDR_GSO_UDP_L4;
    else
        h.gso_type = first.v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
    h.hdr_len = (uint16_t)first.hlen;
    h.gso_size = (uint16_t)first.payload;
    h.csum_start = (uint16_t)first.l3;
    h.csum_offset = (uint16_t)check_at;
    memcpy(head, &h, sizeof(h));
    iov[0].iov_len = TT_VNET_HDR_LEN + first.hlen;
    *total = TT_VNET_HDR_LEN + at;
    return (int)n + 1;
}

/* ---- the entry points on bytes (tests, fuzzing) ------------------------- */

/* The source of an array of packets, or -EINVAL. */
static int array_source(const struct tt_packets *src, uint32_t start, struct tti_source *s)
{
    if (src == NULL || tti_source_of(src, s) < 0 || src->batch != NULL)
        return -EINVAL;
    if (start >= src->count)
        return -EINVAL;
    return 0;
}

int tt_coalesce_plan(const struct tt_packets *src, uint32_t start, int group, uint32_t offload,
                     size_t write_limit, size_t room, uint32_t *members, uint32_t members_len)
{
    struct tti_source s;
    int r = array_source(src, start, &s);
    if (r < 0 || members == NULL || members_len < TT_COALESCE_MAX)
        return -EINVAL;
    struct tti_flows cache;
    tti_flows_start(&cache, start);
    return (int)tti_coalesce_plan(&s, start, src->count, group != 0, NULL, offload,
                                  write_limit, room, &cache, members);
}

int64_t tt_coalesce_build(const struct tt_packets *src, const uint32_t *members, uint32_t n,
                          uint32_t offload, char *out, size_t out_len)
{
    struct tti_source s;
    if (members == NULL || out == NULL || n < 2 || n > TT_COALESCE_MAX)
        return -EINVAL;
    int r = array_source(src, members[0], &s);
    if (r < 0)
        return r;
    /* Only what a plan accepts is built (its first n members): that bounds
     * every copy by out_len. */
    uint32_t planned[TT_COALESCE_MAX];
    struct tti_flows cache;
    tti_flows_start(&cache, members[0]);
    uint32_t got = tti_coalesce_plan(&s, members[0], src->count, 1, NULL, offload, (size_t)-1,
                                     out_len, &cache, planned);
    if (got < n || memcmp(planned, members, n * sizeof(*members)) != 0)
        return -EINVAL;
    /* As a write sends it: the header, then each payload where it lies. */
    unsigned char head[TTI_COALESCE_HEAD];
    struct iovec iov[TT_COALESCE_MAX + 1];
    size_t total;
    int count = tti_coalesce_iov(&s, members, n, head, iov, &total);
    if (total > out_len)
        return -EINVAL; /* not reached: the plan kept within out_len */
    size_t at = 0;
    for (int k = 0; k < count; k++) {
        memcpy(out + at, iov[k].iov_base, iov[k].iov_len);
        at += iov[k].iov_len;
    }
    return (int64_t)at;
}
