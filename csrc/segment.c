/* segment.c - GSO segmentation on bytes: a virtio-net header and a
 * (super-)packet in, ordinary packets with fixed headers and checksums out.
 *
 * Every super-packet and every virtio-net header is untrusted: lengths are
 * checked against the bytes that arrived before anything is read, and a
 * packet that does not add up is reported (-EBADMSG, -EMSGSIZE,
 * -EPROTONOSUPPORT) instead of being segmented.  No fd is touched here.
 */
#include "batch.h"
#include "checksum.h"
#include "proto.h"
#include "segment.h"
#include "tuntap.h"

#include <errno.h>
#include <linux/virtio_net.h>

struct vhdr {
    unsigned flags, gso_type, hdr_len, gso_size, csum_start, csum_offset;
};

static void read_vhdr(const char *buf, struct vhdr *h)
{
    struct virtio_net_hdr raw;
    memcpy(&raw, buf, sizeof(raw));
    /* TUN speaks the host's byte order unless TUNSETVNETBE/LE said otherwise. */
    h->flags = raw.flags;
    h->gso_type = raw.gso_type;
    h->hdr_len = raw.hdr_len;
    h->gso_size = raw.gso_size;
    h->csum_start = raw.csum_start;
    h->csum_offset = raw.csum_offset;
}

static int parse_gso(const unsigned char *p, size_t len, const struct vhdr *h, struct tti_gso *g)
{
    unsigned type = h->gso_type & ~(unsigned)VIRTIO_NET_HDR_GSO_ECN;
    if (type == VIRTIO_NET_HDR_GSO_TCPV4 || type == VIRTIO_NET_HDR_GSO_TCPV6)
        g->proto = IPPROTO_TCP_;
    else if (type == VIRTIO_NET_HDR_GSO_UDP_L4)
        g->proto = IPPROTO_UDP_;
    else
        return -EPROTONOSUPPORT;
    if (h->gso_size == 0 || h->hdr_len > len)
        return -EBADMSG;
    if ((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && h->csum_start + h->csum_offset + 2 > len)
        return -EBADMSG;
    if (len < 1)
        return -EBADMSG;
    unsigned version = p[0] >> 4;
    if (version == 4) {
        if (type == VIRTIO_NET_HDR_GSO_TCPV6 || len < 20)
            return -EBADMSG;
        g->l3 = (size_t)(p[0] & 0x0f) * 4;
        if (g->l3 < 20 || g->l3 > len || tti_get16(p + 2) != len || (tti_get16(p + 6) & 0x3fff))
            return -EBADMSG;
        if (p[9] != g->proto)
            return -EBADMSG;
        g->v6 = 0;
    } else if (version == 6) {
        if (type == VIRTIO_NET_HDR_GSO_TCPV4 || len < 40)
            return -EBADMSG;
        if (tti_get16(p + 4) + 40u != len)
            return -EBADMSG;
        /* Extension headers are not segmented. */
        if (p[6] != g->proto)
            return -EPROTONOSUPPORT;
        g->l3 = 40;
        g->v6 = 1;
    } else {
        return -EBADMSG;
    }
    if (g->proto == IPPROTO_TCP_) {
        if (g->l3 + 20 > len)
            return -EBADMSG;
        size_t doff = (size_t)(p[g->l3 + 12] >> 4) * 4;
        if (doff < 20 || g->l3 + doff > len)
            return -EBADMSG;
        g->hlen = g->l3 + doff;
    } else {
        g->hlen = g->l3 + 8;
        if (g->hlen > len)
            return -EBADMSG;
    }
    g->p = p;
    g->len = len;
    g->plain = 0;
    g->csum_at = SIZE_MAX;
    g->gso_size = h->gso_size;
    g->payload = len - g->hlen;
    g->segments = g->payload == 0 ? 1 : (uint32_t)((g->payload + g->gso_size - 1) / g->gso_size);
    return 0;
}

int tti_gso_parse(const char *buf, size_t len, struct tti_gso *g)
{
    if (buf == NULL || g == NULL || len < TT_VNET_HDR_LEN || len - TT_VNET_HDR_LEN > TT_GSO_MAX)
        return -EBADMSG;
    struct vhdr h;
    read_vhdr(buf, &h);
    const unsigned char *p = (const unsigned char *)buf + TT_VNET_HDR_LEN;
    size_t plen = len - TT_VNET_HDR_LEN;
    if (h.gso_type != VIRTIO_NET_HDR_GSO_NONE)
        return parse_gso(p, plen, &h, g);
    memset(g, 0, sizeof *g);
    g->p = p;
    g->len = plen;
    g->plain = 1;
    g->segments = 1;
    g->csum_at = SIZE_MAX;
    if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        if (h.csum_start >= plen || h.csum_start + h.csum_offset + 2 > plen)
            return -EBADMSG;
        /* The field holds the pseudo-header's sum: the sum from csum_start on completes it. */
        uint16_t partial = tti_csum_fold(tti_csum_add(p + h.csum_start, plen - h.csum_start, 0));
        tti_put_csum(g->csum, partial, h.csum_offset == 6);
        g->csum_at = (size_t)h.csum_start + h.csum_offset;
    }
    return 0;
}

size_t tti_segment_header(const struct tti_gso *g, uint32_t k, unsigned char *out,
                          const unsigned char **payload)
{
    size_t off = (size_t)k * g->gso_size;
    size_t plen = g->payload - off < g->gso_size ? g->payload - off : g->gso_size;
    size_t seg = g->hlen + plen;
    memcpy(out, g->p, g->hlen);
    *payload = g->p + g->hlen + off;
    if (g->v6) {
        tti_put16(out + 4, (uint16_t)(seg - 40));
    } else {
        tti_put16(out + 2, (uint16_t)seg);
        tti_put16(out + 4, (uint16_t)(tti_get16(g->p + 4) + k));
        tti_ipv4_header_csum(out, g->l3);
    }
    unsigned char *l4 = out + g->l3;
    size_t l4_len = seg - g->l3;
    int udp = g->proto == IPPROTO_UDP_;
    if (udp) {
        tti_put16(l4 + 4, (uint16_t)l4_len);
        memset(l4 + 6, 0, 2);
    } else {
        uint32_t seq = htonl(tti_get32(g->p + g->l3 + 4) + (uint32_t)off);
        memcpy(l4 + 4, &seq, 4);
        if (k + 1 != g->segments)
            l4[13] &= (unsigned char)~(TCP_FIN | TCP_PSH);
        if (k != 0)
            l4[13] &= (unsigned char)~TCP_CWR;
        memset(l4 + 16, 0, 2);
    }
    /* The L4 header is 8 bytes or a multiple of 4: the payload's sum starts
     * on an even byte, so the two sums add up as one. */
    uint64_t sum = tti_pseudo_sum(out, g->v6, g->proto, l4_len);
    sum = tti_csum_add(l4, g->hlen - g->l3, sum);
    sum = tti_csum_add(*payload, plen, sum);
    tti_put_csum(l4 + (udp ? 6 : 16), tti_csum_fold(sum), udp);
    return plen;
}

/* Writes segment k of g into out; its length. */
static size_t make_segment(const struct tti_gso *g, uint32_t k, unsigned char *out)
{
    const unsigned char *payload;
    size_t plen = tti_segment_header(g, k, out, &payload);
    memcpy(out + g->hlen, payload, plen);
    return g->hlen + plen;
}

/* A packet without GSO: copied, its checksum completed if it needs one. */
static int64_t plain_packet(const struct tti_gso *g, char *out, size_t room)
{
    if (g->len >= room)
        return -EMSGSIZE;
    memcpy(out, g->p, g->len);
    if (g->csum_at != SIZE_MAX)
        memcpy(out + g->csum_at, g->csum, 2);
    return tt_classify(out, g->len, TT_KIND_TUN);
}

int tti_segment_count(const char *buf, size_t len, size_t room)
{
    struct tti_gso g;
    int r = tti_gso_parse(buf, len, &g);
    if (r < 0 || g.plain)
        return r < 0 ? r : 1;
    if (g.hlen + (g.payload < g.gso_size ? g.payload : g.gso_size) >= room)
        return -EMSGSIZE;
    return (int)g.segments;
}

int tt_segment(const char *buf, size_t len, uint32_t skip, char *out, size_t slot_size,
               uint32_t nslots, int64_t *results, uint32_t *total)
{
    return tti_segment(buf, len, skip, out, slot_size, slot_size, nslots, results, total);
}

int tti_segment(const char *buf, size_t len, uint32_t skip, char *out, size_t stride,
                size_t room, uint32_t nslots, int64_t *results, uint32_t *total)
{
    if (buf == NULL || out == NULL || results == NULL || total == NULL || nslots == 0)
        return -EINVAL;
    if (room == 0 || room > stride || stride > TT_BATCH_MAX_SLOT)
        return -EINVAL;
    *total = 0;
    struct tti_gso g;
    int r = tti_gso_parse(buf, len, &g);
    if (r < 0)
        return r;
    if (g.plain) {
        *total = 1;
        if (skip >= 1)
            return 0;
        int64_t packed = plain_packet(&g, out, room);
        if (packed < 0)
            return (int)packed;
        results[0] = packed;
        return 1;
    }
    /* A slot must exceed the segment, as for any read (a full slot = cut). */
    if (g.hlen + (g.payload < g.gso_size ? g.payload : g.gso_size) >= room)
        return -EMSGSIZE;
    *total = g.segments;
    uint32_t n = 0;
    for (uint32_t k = skip; k < g.segments && n < nslots; k++, n++) {
        char *slot = out + (size_t)n * stride;
        size_t seg = make_segment(&g, k, (unsigned char *)slot);
        results[n] = tt_classify(slot, seg, TT_KIND_TUN);
    }
    return (int)n;
}

int64_t tt_batch_segments(const struct tt_batch *b, int raw, uint32_t start, uint32_t stop)
{
    if (!tti_batch_shape_ok(b, raw ? TT_VNET_HDR_LEN : 0) || b->count > b->capacity ||
        start > stop || stop > b->count || (raw && b->in_place))
        return -EINVAL;
    struct tt_packets src = {0};
    src.batch = b;
    src.raw = raw != 0;
    struct tti_source s;
    if (tti_source_of(&src, &s) < 0)
        return -EINVAL;
    int64_t total = 0;
    for (uint32_t i = start; i < stop; i++) {
        const unsigned char *p;
        size_t len;
        int got = tti_source_get(&s, i, &p, &len);
        if (got < 0)
            return got;
        if (got == 0)
            continue;
        struct tti_gso g;
        if (!raw || tti_gso_parse((const char *)p - TT_VNET_HDR_LEN, len + TT_VNET_HDR_LEN, &g) < 0)
            total += 1;
        else
            total += g.segments;
    }
    return total;
}
