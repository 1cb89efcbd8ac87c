/* coalesce.c - TCP coalescing on bytes: consecutive segments of one flow
 * that the kernel's GRO would merge become one super-packet with a
 * virtio-net header.  No fd is touched here.
 */
#include "checksum.h"
#include "tti.h"

#include <linux/virtio_net.h>

/* A TCP segment the kernel's GRO could merge with its neighbours. */
struct tcpseg {
    const unsigned char *p;
    size_t len, l3, hlen, payload;
    uint32_t seq;
    unsigned flags;
    int v6;
};

static int parse_tcpseg(const unsigned char *p, size_t len, struct tcpseg *t)
{
    if (len < 40)
        return 0;
    if ((p[0] >> 4) == 4) {
        if (p[0] != 0x45 || get16(p + 2) != len || (get16(p + 6) & 0x3fff) || p[9] != IPPROTO_TCP_)
            return 0;
        t->l3 = 20;
        t->v6 = 0;
    } else if ((p[0] >> 4) == 6) {
        if (len < 60 || get16(p + 4) + 40u != len || p[6] != IPPROTO_TCP_)
            return 0;
        t->l3 = 40;
        t->v6 = 1;
    } else {
        return 0;
    }
    size_t doff = (size_t)(p[t->l3 + 12] >> 4) * 4;
    if (doff < 20 || t->l3 + doff >= len)
        return 0;
    t->flags = p[t->l3 + 13];
    if (!(t->flags & TCP_ACK) ||
        (t->flags & (TCP_FIN | TCP_SYN | TCP_RST | TCP_URG | TCP_CWR | 0x40)))
        return 0;
    t->p = p;
    t->len = len;
    t->hlen = t->l3 + doff;
    t->payload = len - t->hlen;
    t->seq = get32(p + t->l3 + 4);
    return 1;
}

/* Do the segment's IPv4 header checksum and TCP checksum hold (as the
 * kernel checks them on input)? */
static int tcpseg_checksums_ok(const struct tcpseg *t)
{
    if (!t->v6 && csum_fold(csum_add(t->p, t->l3, 0)) != 0xffff)
        return 0;
    size_t l4_len = t->len - t->l3;
    uint64_t sum = pseudo_sum(t->p, t->v6, IPPROTO_TCP_, l4_len);
    return csum_fold(csum_add(t->p + t->l3, l4_len, sum)) == 0xffff;
}

/* Can b follow a (whose payload is gso_size) in the same super-packet? */
static int mergeable(const struct tcpseg *a, const struct tcpseg *b)
{
    if (a->v6 != b->v6 || a->hlen != b->hlen || (a->flags & TCP_PSH))
        return 0;
    if (b->seq != a->seq + (uint32_t)a->payload || b->payload > a->payload)
        return 0;
    const unsigned char *x = a->p, *y = b->p;
    if (a->v6) {
        if (memcmp(x, y, 4) || memcmp(x + 6, y + 6, 34))
            return 0;
    } else {
        if (memcmp(x, y, 2) || memcmp(x + 6, y + 6, 4) || memcmp(x + 12, y + 12, 8))
            return 0;
        /* The kernel numbers the segments of a super-packet id, id+1, ...:
         * only such a run comes out with the IDs it was sent with. */
        if (get16(y + 4) != ((get16(x + 4) + 1) & 0xffff))
            return 0;
    }
    x += a->l3;
    y += b->l3;
    /* Ports, ack, data offset, window, urgent pointer, options; flags but PSH. */
    if (memcmp(x, y, 4) || memcmp(x + 8, y + 8, 5) || memcmp(x + 14, y + 14, 2) ||
        memcmp(x + 18, y + 18, a->hlen - a->l3 - 18))
        return 0;
    return ((x[13] ^ y[13]) & ~TCP_PSH) == 0;
}

/* How many packets from i on merge into one super-packet (>= 1). */
static uint32_t run_length(const struct source *s, uint32_t i, uint32_t end, size_t write_limit,
                           size_t room)
{
    const unsigned char *p;
    size_t len;
    struct tcpseg first, prev, cur;
    if (source_get(s, i, &p, &len) != 1 || len > write_limit || !parse_tcpseg(p, len, &first))
        return 1;
    prev = first;
    size_t total = first.len;
    uint32_t n = 1;
    while (i + n < end && prev.payload == first.payload) {
        if (source_get(s, i + n, &p, &len) != 1 || len > write_limit ||
            !parse_tcpseg(p, len, &cur) || !mergeable(&prev, &cur))
            break;
        if (total + cur.payload > TT_GSO_MAX || TT_VNET_HDR_LEN + total + cur.payload > room)
            break;
        /* The super-packet gets a new checksum: merge only segments whose own
         * checksums hold, or corrupt bytes would go on as good ones.  The
         * first is checked only once it has a partner (alone it goes out as
         * it came). */
        if (n == 1 && !tcpseg_checksums_ok(&first))
            return 1;
        if (!tcpseg_checksums_ok(&cur))
            break;
        total += cur.payload;
        prev = cur;
        n++;
    }
    return n;
}

/* Builds the super-packet of packets i..i+n-1 in out; its length with header. */
static size_t build_super(const struct source *s, uint32_t i, uint32_t n, unsigned char *out)
{
    const unsigned char *p;
    size_t len;
    struct tcpseg first, last;
    memset(&first, 0, sizeof(first));
    memset(&last, 0, sizeof(last));
    source_get(s, i, &p, &len);
    parse_tcpseg(p, len, &first);
    unsigned char *pkt = out + TT_VNET_HDR_LEN;
    memcpy(pkt, p, first.hlen);
    size_t at = first.hlen;
    for (uint32_t k = 0; k < n; k++) {
        source_get(s, i + k, &p, &len);
        parse_tcpseg(p, len, &last);
        memcpy(pkt + at, p + last.hlen, last.payload);
        at += last.payload;
    }
    pkt[first.l3 + 13] = (unsigned char)last.flags;
    if (first.v6) {
        put16(pkt + 4, (uint16_t)(at - 40));
    } else {
        put16(pkt + 2, (uint16_t)at);
        ipv4_header_csum(pkt, 20);
    }
    /* The kernel completes the checksum from the pseudo-header's sum. */
    uint16_t partial = csum_fold(pseudo_sum(pkt, first.v6, IPPROTO_TCP_, at - first.l3));
    memcpy(pkt + first.l3 + 16, &partial, 2);
    struct virtio_net_hdr h;
    memset(&h, 0, sizeof(h));
    h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    h.gso_type = first.v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
    h.hdr_len = (uint16_t)first.hlen;
    h.gso_size = (uint16_t)first.payload;
    h.csum_start = (uint16_t)first.l3;
    h.csum_offset = 16;
    memcpy(out, &h, sizeof(h));
    return TT_VNET_HDR_LEN + at;
}

uint32_t tti_coalesce_run(const struct source *s, uint32_t i, uint32_t end, size_t write_limit,
                          size_t room)
{
    return run_length(s, i, end, write_limit, room);
}

size_t tti_coalesce_build(const struct source *s, uint32_t i, uint32_t n, unsigned char *out)
{
    return build_super(s, i, n, out);
}

/* ---- the entry points on bytes (tests, fuzzing) ------------------------- */

/* The source of an array of packets, or -EINVAL. */
static int array_source(const struct tt_packets *src, uint32_t start, struct source *s)
{
    if (src == NULL || source_of(src, s) < 0 || src->batch != NULL)
        return -EINVAL;
    if (start >= src->count)
        return -EINVAL;
    return 0;
}

int tt_coalesce_run(const struct tt_packets *src, uint32_t start, size_t write_limit, size_t room)
{
    struct source s;
    int r = array_source(src, start, &s);
    return r < 0 ? r : (int)run_length(&s, start, src->count, write_limit, room);
}

int64_t tt_coalesce_build(const struct tt_packets *src, uint32_t start, uint32_t n, char *out,
                          size_t out_len)
{
    struct source s;
    int r = array_source(src, start, &s);
    if (r < 0 || out == NULL || n < 2 || n > src->count - start)
        return -EINVAL;
    /* Only what run_length accepts is built: that bounds every copy by out_len. */
    if (run_length(&s, start, src->count, (size_t)-1, out_len) < n)
        return -EINVAL;
    return (int64_t)build_super(&s, start, n, (unsigned char *)out);
}
