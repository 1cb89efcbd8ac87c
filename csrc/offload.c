/* offload.c - virtio-net headers on TUN devices: enabling offloads, GSO
 * segmentation of super-packets the kernel hands us, and coalescing of TCP
 * segments into super-packets we hand the kernel.
 *
 * Every super-packet and every virtio-net header is untrusted: lengths are
 * checked against the bytes that arrived before anything is read, and a
 * packet that does not add up is reported (-EBADMSG, -EMSGSIZE,
 * -EPROTONOSUPPORT) instead of being segmented.
 */
#include "tuntap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_CWR 0x80
#define BODY_MASK ((int64_t)0xffffffff)

_Static_assert(sizeof(struct virtio_net_hdr) == TT_VNET_HDR_LEN, "virtio_net_hdr size");

/* ---- enabling ---------------------------------------------------------- */

int tt_set_offload(int fd, unsigned int wanted)
{
    int size = (int)sizeof(struct virtio_net_hdr);
    if (wanted & ~(unsigned)(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_USO4 | TUN_F_USO6))
        return -EINVAL;
    if (ioctl(fd, TUNSETVNETHDRSZ, &size) < 0)
        return -errno;
    /* Kernels before 6.2 refuse the USO bits: try without them. */
    if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)wanted) == 0)
        return (int)wanted;
    unsigned int fallback = wanted & ~(unsigned)(TUN_F_USO4 | TUN_F_USO6);
    if (errno != EINVAL || fallback == wanted)
        return -errno;
    if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)fallback) < 0)
        return -errno;
    return (int)fallback;
}

/* ---- checksums ---------------------------------------------------------- */

/* One's-complement sum of bytes in network order, kept in the host's
 * representation (RFC 1071: the sum does not depend on byte order). */
static uint64_t csum_add(const unsigned char *p, size_t len, uint64_t sum)
{
    while (len >= 4) {
        uint32_t w;
        memcpy(&w, p, 4);
        sum += w;
        p += 4;
        len -= 4;
    }
    if (len >= 2) {
        uint16_t w;
        memcpy(&w, p, 2);
        sum += w;
        p += 2;
        len -= 2;
    }
    if (len) {
        uint16_t w = 0;
        memcpy(&w, p, 1);
        sum += w;
    }
    return sum;
}

static uint16_t csum_fold(uint64_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

static uint64_t pseudo_sum(const unsigned char *ip, int v6, unsigned proto, size_t l4_len)
{
    uint64_t sum = v6 ? csum_add(ip + 8, 32, 0) : csum_add(ip + 12, 8, 0);
    uint16_t w = htons((uint16_t)proto);
    sum += w;
    uint32_t l = htonl((uint32_t)l4_len);
    return csum_add((const unsigned char *)&l, 4, sum);
}

static void put16(unsigned char *p, uint16_t host)
{
    uint16_t w = htons(host);
    memcpy(p, &w, 2);
}

static unsigned get16(const unsigned char *p)
{
    return ((unsigned)p[0] << 8) | p[1];
}

static uint32_t get32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void put_csum(unsigned char *field, uint16_t folded_sum, int udp)
{
    uint16_t c = (uint16_t)~folded_sum;
    if (udp && c == 0)
        c = 0xffff;
    memcpy(field, &c, 2);
}

static void ipv4_header_csum(unsigned char *ip, size_t ihl)
{
    memset(ip + 10, 0, 2);
    put_csum(ip + 10, csum_fold(csum_add(ip, ihl, 0)), 0);
}

/* ---- segmentation ------------------------------------------------------- */

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
        if (g->l3 < 20 || g->l3 > len || get16(p + 2) != len || (get16(p + 6) & 0x3fff))
            return -EBADMSG;
        if (p[9] != g->proto)
            return -EBADMSG;
        g->v6 = 0;
    } else if (version == 6) {
        if (type == VIRTIO_NET_HDR_GSO_TCPV4 || len < 40)
            return -EBADMSG;
        if (get16(p + 4) + 40u != len)
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
        put16(out + 4, (uint16_t)(seg - 40));
    } else {
        put16(out + 2, (uint16_t)seg);
        put16(out + 4, (uint16_t)(get16(g->p + 4) + k));
        ipv4_header_csum(out, g->l3);
    }
    unsigned char *l4 = out + g->l3;
    size_t l4_len = seg - g->l3;
    int udp = g->proto == IPPROTO_UDP_;
    if (udp) {
        put16(l4 + 4, (uint16_t)l4_len);
        memset(l4 + 6, 0, 2);
    } else {
        uint32_t seq = htonl(get32(g->p + g->l3 + 4) + (uint32_t)off);
        memcpy(l4 + 4, &seq, 4);
        if (k + 1 != g->segments)
            l4[13] &= (unsigned char)~(TCP_FIN | TCP_PSH);
        if (k != 0)
            l4[13] &= (unsigned char)~TCP_CWR;
        memset(l4 + 16, 0, 2);
    }
    uint64_t sum = pseudo_sum(out, g->v6, g->proto, l4_len);
    put_csum(l4 + (udp ? 6 : 16), csum_fold(csum_add(l4, l4_len, sum)), udp);
    return seg;
}

/* A packet without GSO: copied, its checksum completed if it needs one. */
static int64_t plain_packet(const unsigned char *p, size_t len, const struct vhdr *h,
                            char *out, size_t slot_size)
{
    if (len >= slot_size)
        return -EMSGSIZE;
    memcpy(out, p, len);
    if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        if (h->csum_start >= len || h->csum_start + h->csum_offset + 2 > len)
            return -EBADMSG;
        unsigned char *o = (unsigned char *)out;
        uint16_t partial = csum_fold(csum_add(o + h->csum_start, len - h->csum_start, 0));
        put_csum(o + h->csum_start + h->csum_offset, partial, h->csum_offset == 6);
    }
    return tt_classify(out, len, TT_KIND_TUN);
}

int tt_segment(const char *buf, size_t len, uint32_t skip, char *out, size_t slot_size,
               uint32_t nslots, int64_t *results, uint32_t *total)
{
    if (buf == NULL || out == NULL || results == NULL || total == NULL || nslots == 0)
        return -EINVAL;
    if (slot_size == 0 || slot_size > TT_BATCH_MAX_SLOT)
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
        int64_t r = plain_packet(p, plen, &h, out, slot_size);
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
    if (g.hlen + (g.payload < g.gso_size ? g.payload : g.gso_size) >= slot_size)
        return -EMSGSIZE;
    *total = g.segments;
    uint32_t n = 0;
    for (uint32_t k = skip; k < g.segments && n < nslots; k++, n++) {
        char *slot = out + (size_t)n * slot_size;
        size_t seg = make_segment(&g, k, (unsigned char *)slot);
        results[n] = tt_classify(slot, seg, TT_KIND_TUN);
    }
    return (int)n;
}

/* ---- reading ------------------------------------------------------------ */

static int batch_ok(const struct tt_batch *b)
{
    if (b == NULL || b->buf == NULL || b->results == NULL || b->kind != TT_KIND_TUN)
        return 0;
    if (b->capacity == 0 || b->capacity > TT_BATCH_MAX_CAPACITY)
        return 0;
    if (b->slot_size <= TT_VNET_HDR_LEN || b->slot_size > TT_BATCH_MAX_SLOT)
        return 0;
    return b->buf_len >= (size_t)b->capacity * b->slot_size;
}

static int is_bad(int64_t result)
{
    return result < 0 || (result >> TT_PACK_VERDICT_SHIFT) != TT_PKT_OK;
}

/* Segments of the pending super-packet into free slots; the slots filled. */
static uint32_t emit_pending(struct tt_batch *b, struct tt_rx_pending *rx, uint32_t count)
{
    uint32_t total = 0;
    char *slot = b->buf + (size_t)count * b->slot_size;
    int r;
    if (rx->len >= rx->buf_len)
        r = -EMSGSIZE; /* the read filled the buffer: it may have been cut */
    else
        r = tt_segment(rx->buf, rx->len, rx->next, slot, b->slot_size, b->capacity - count,
                       b->results + count, &total);
    if (r < 0) {
        b->results[count] = r;
        b->bad++;
        rx->len = 0;
        return 1;
    }
    for (int i = 0; i < r; i++)
        if (is_bad(b->results[count + (uint32_t)i]))
            b->bad++;
    rx->next += (uint32_t)r;
    if (rx->next >= total)
        rx->len = 0;
    return (uint32_t)r;
}

/* The raw result of a slot holding a virtio-net header and a packet. */
static int64_t raw_slot(const char *slot, size_t n, size_t slot_size)
{
    if (n < TT_VNET_HDR_LEN)
        return -EBADMSG;
    int64_t packed = tt_classify(slot + TT_VNET_HDR_LEN, n - TT_VNET_HDR_LEN, TT_KIND_TUN);
    if (packed >= 0 && n == slot_size)
        packed = (packed & ~(((int64_t)0xff << TT_PACK_VERDICT_SHIFT) | BODY_MASK)) |
                 ((int64_t)TT_PKT_TRUNCATED << TT_PACK_VERDICT_SHIFT) |
                 (int64_t)(n - TT_VNET_HDR_LEN);
    return packed;
}

int tt_read_batch_vnet(int fd, int wakefd, struct tt_batch *b, struct tt_rx_pending *rx,
                       int segment, int timeout_ms)
{
    if (!batch_ok(b))
        return -EINVAL;
    if (segment && (rx == NULL || rx->buf == NULL || rx->buf_len < TT_VNET_HDR_LEN + 65536u ||
                    rx->len > rx->buf_len))
        return -EINVAL;
    b->count = 0;
    b->bad = 0;
    uint32_t count = 0;
    if (segment && rx->len)
        count = emit_pending(b, rx, 0);
    while (count < b->capacity) {
        char *dst = segment ? rx->buf : b->buf + (size_t)count * b->slot_size;
        size_t room = segment ? rx->buf_len : b->slot_size;
        ssize_t n;
        if (count > 0) {
            n = read(fd, dst, room);
            if (n < 0) {
                b->drained = errno == EAGAIN;
                break;
            }
        } else if (b->drained && timeout_ms != 0) {
            int r = tt_wait(fd, wakefd, 0, timeout_ms);
            if (r <= 0) {
                b->drained = r == 0;
                return r == 0 ? -EAGAIN : r;
            }
            n = read(fd, dst, room);
            if (n < 0) {
                b->drained = errno == EAGAIN;
                return -errno;
            }
        } else {
            n = tt_read_wait(fd, wakefd, dst, room, timeout_ms);
            if (n < 0) {
                b->drained = n == -EAGAIN;
                return (int)n;
            }
        }
        b->drained = 0;
        if (segment) {
            rx->len = (uint32_t)n;
            rx->next = 0;
            count += emit_pending(b, rx, count);
        } else {
            int64_t result = raw_slot(dst, (size_t)n, b->slot_size);
            b->results[count++] = result;
            if (is_bad(result))
                b->bad++;
        }
    }
    b->count = count;
    return (int)count;
}

/* ---- writing ------------------------------------------------------------ */

static const char empty_hdr[TT_VNET_HDR_LEN];

ssize_t tt_send_vnet(int fd, int wakefd, const char *buf, size_t len, int timeout_ms)
{
    if (buf == NULL && len != 0)
        return -EINVAL;
    struct iovec iov[2] = {
        { .iov_base = (void *)empty_hdr, .iov_len = TT_VNET_HDR_LEN },
        { .iov_base = (void *)buf, .iov_len = len },
    };
    int may_wait = 1;
    ssize_t n = tt_writev_waiting(fd, wakefd, iov, 2, timeout_ms, &may_wait);
    if (n < 0)
        return n;
    return n < TT_VNET_HDR_LEN ? 0 : n - TT_VNET_HDR_LEN;
}

/* Where the packets of a write come from: arrays, or a batch's slots. */
struct source {
    char **bufs;
    const size_t *lens;
    const struct tt_batch *b;
    int raw; /* slots hold a virtio-net header before the packet */
};

/* Packet i: 1 and its bytes, 0 for a bad slot (skipped), -EINVAL. */
static int source_get(const struct source *s, uint32_t i, const unsigned char **p, size_t *len)
{
    if (s->b == NULL) {
        *p = (const unsigned char *)s->bufs[i];
        *len = s->lens[i];
        return *p == NULL && *len != 0 ? -EINVAL : 1;
    }
    int64_t result = s->b->results[i];
    if (is_bad(result))
        return 0;
    size_t off = s->raw ? TT_VNET_HDR_LEN : 0;
    *len = (size_t)(result & BODY_MASK);
    if (*len + off > s->b->slot_size)
        return -EINVAL;
    *p = (const unsigned char *)s->b->buf + (size_t)i * s->b->slot_size + off;
    return 1;
}

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

static int write_source(int fd, int wakefd, const struct source *s, uint32_t start,
                        uint32_t count, size_t write_limit, char *scratch, size_t scratch_len,
                        int timeout_ms, struct tt_write_status *status)
{
    int coalesce = scratch != NULL && scratch_len > TT_VNET_HDR_LEN;
    int may_wait = 1;
    tt_status_start(status, start);
    uint32_t i = start;
    while (i < count) {
        const unsigned char *p;
        size_t len;
        status->next = i;
        int got = source_get(s, i, &p, &len);
        if (got == 0) {
            i++;
            continue;
        }
        ssize_t n;
        size_t want = 0;
        uint32_t run = 1;
        struct iovec iov[2];
        int refused = 0;
        if (got < 0) {
            n = got;
        } else if (s->raw) {
            iov[0].iov_base = (void *)(p - TT_VNET_HDR_LEN);
            iov[0].iov_len = TT_VNET_HDR_LEN + len;
            want = iov[0].iov_len;
            n = tt_writev_waiting(fd, wakefd, iov, 1, timeout_ms, &may_wait);
        } else if (len > write_limit) {
            n = -EMSGSIZE;
        } else if (len == 0 || ((p[0] >> 4) != 4 && (p[0] >> 4) != 6)) {
            refused = TT_PKT_NOT_IP;
            n = -EINVAL;
        } else {
            if (coalesce)
                run = run_length(s, i, count, write_limit, scratch_len);
            if (run > 1) {
                iov[0].iov_base = scratch;
                iov[0].iov_len = build_super(s, i, run, (unsigned char *)scratch);
                want = iov[0].iov_len;
                n = tt_writev_waiting(fd, wakefd, iov, 1, timeout_ms, &may_wait);
            } else {
                iov[0].iov_base = (void *)empty_hdr;
                iov[0].iov_len = TT_VNET_HDR_LEN;
                iov[1].iov_base = (void *)p;
                iov[1].iov_len = len;
                want = TT_VNET_HDR_LEN + len;
                n = tt_writev_waiting(fd, wakefd, iov, 2, timeout_ms, &may_wait);
            }
        }
        if (n >= 0 && (size_t)n == want) {
            status->written += run;
            i += run;
            continue;
        }
        status->error = n < 0 ? (int32_t)n : -EIO;
        status->partial = n < 0 ? 0 : (uint32_t)n;
        status->refused = refused;
        return (int)status->written;
    }
    status->next = count;
    return (int)status->written;
}

int tt_write_batch_vnet(int fd, int wakefd, char **bufs, const size_t *lens, uint32_t start,
                        uint32_t count, size_t write_limit, char *scratch, size_t scratch_len,
                        int timeout_ms, struct tt_write_status *status)
{
    if (status == NULL || bufs == NULL || lens == NULL || start > count)
        return -EINVAL;
    struct source s = { bufs, lens, NULL, 0 };
    return write_source(fd, wakefd, &s, start, count, write_limit, scratch, scratch_len,
                        timeout_ms, status);
}

int tt_write_slots_vnet(int fd, int wakefd, const struct tt_batch *b, uint32_t start, int raw,
                        size_t write_limit, char *scratch, size_t scratch_len, int timeout_ms,
                        struct tt_write_status *status)
{
    if (status == NULL || !batch_ok(b) || b->count > b->capacity || start > b->count)
        return -EINVAL;
    struct source s = { NULL, NULL, b, raw != 0 };
    return write_source(fd, wakefd, &s, start, b->count, write_limit, scratch, scratch_len,
                        timeout_ms, status);
}
