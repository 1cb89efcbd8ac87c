/* segment.c - GSO segmentation on bytes: a virtio-net header and a
 * (super-)packet in, ordinary packets with fixed headers and checksums out.
 *
 * Every super-packet and every virtio-net header is untrusted: lengths are
 * checked against the bytes that arrived before anything is read, and a
 * packet that does not add up is reported (-EBADMSG, -EMSGSIZE,
 * -EPROTONOSUPPORT) instead of being segmented.  No fd is touched here.
 */
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

/* A GSO super-packet, parsed and checked. */
struct gso {
    const unsigned char *p;
    size_t len, l3, hlen, payload, gso_size;
    unsigned proto;
    int v6;
    uint32_t segments;
};

static int parse_gso(const unsigned char *p, size_t len, const struct vhdr *h, struct gso *g)
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
    g->gso_size = h->gso_size;
    g->payload = len - g->hlen;
    g->segments = g->payload == 0 ? 1 : (uint32_t)((g->payload + g->gso_size - 1) / g->gso_size);
    return 0;
}

/* Writes segment k of g into out; its length. */
static size_t make_segment(const struct gso *g, uint32_t k, unsigned char *out)
{
    size_t off = (size_t)k * g->gso_size;
    size_t plen = g->payload - off < g->gso_size ? g->payload - off : g->gso_size;
    size_t seg = g->hlen + plen;
    memcpy(out, g->p, g->hlen);
    memcpy(out + g->hlen, g->p + g->hlen + off, plen);
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
    uint64_t sum = tti_pseudo_sum(out, g->v6, g->proto, l4_len);
    tti_put_csum(l4 + (udp ? 6 : 16), tti_csum_fold(tti_csum_add(l4, l4_len, sum)), udp);
    return seg;
}

/* A packet without GSO: copied, its checksum completed if it needs one. */
static int64_t plain_packet(const unsigned char *p, size_t len, const struct vhdr *h,
                            char *out, size_t room)
{
    if (len >= room)
        return -EMSGSIZE;
    memcpy(out, p, len);
    if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        if (h->csum_start >= len || h->csum_start + h->csum_offset + 2 > len)
            return -EBADMSG;
        unsigned char *o = (unsigned char *)out;
        uint16_t partial = tti_csum_fold(tti_csum_add(o + h->csum_start, len - h->csum_start, 0));
        tti_put_csum(o + h->csum_start + h->csum_offset, partial, h->csum_offset == 6);
    }
    return tt_classify(out, len, TT_KIND_TUN);
}

int tti_segment_count(const char *buf, size_t len, size_t room)
{
    if (buf == NULL || len < TT_VNET_HDR_LEN || len - TT_VNET_HDR_LEN > TT_GSO_MAX)
        return -EBADMSG;
    struct vhdr h;
    read_vhdr(buf, &h);
    if (h.gso_type == VIRTIO_NET_HDR_GSO_NONE)
        return 1;
    struct gso g;
    int r = parse_gso((const unsigned char *)buf + TT_VNET_HDR_LEN, len - TT_VNET_HDR_LEN, &h, &g);
    if (r < 0)
        return r;
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
    if (len < TT_VNET_HDR_LEN || len - TT_VNET_HDR_LEN > TT_GSO_MAX)
        return -EBADMSG;
    struct vhdr h;
    read_vhdr(buf, &h);
    const unsigned char *p = (const unsigned char *)buf + TT_VNET_HDR_LEN;
    size_t plen = len - TT_VNET_HDR_LEN;
    if (h.gso_type == VIRTIO_NET_HDR_GSO_NONE) {
        *total = 1;
        if (skip >= 1)
            return 0;
        int64_t r = plain_packet(p, plen, &h, out, room);
        if (r < 0)
            return (int)r;
        results[0] = r;
        return 1;
    }
    struct gso g;
    int r = parse_gso(p, plen, &h, &g);
    if (r < 0)
        return r;
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
