/* tunnel_offload.c TUN LOCAL:PORT REMOTE:PORT SECONDS: the offload C tunnel,
 * after wireguard-go's design.  Like tunnel_plain (prints "ready", carries
 * packets both ways for SECONDS, prints counts), but:
 *
 * - The TUN speaks virtio-net headers with CSUM, TSO4/6 and USO4/6, so the
 *   kernel hands over TCP and UDP super-packets of up to 64 KiB.
 * - TUN -> socket: each super-packet is cut into MTU-sized packets with
 *   their own IP/TCP/UDP headers and checksums; runs of equal-size packets
 *   (the last may be shorter) go out as one UDP_SEGMENT send, a whole poll
 *   round of them in one sendmmsg().
 * - socket -> TUN: recvmmsg() with UDP_GRO, each merged buffer split by the
 *   cmsg's segment size; consecutive in-order TCP segments of one flow (same
 *   headers but for length, id, seq and checksum; PSH only on the last) are
 *   joined, without copying, into one super-packet written with writev()
 *   under a virtio-net header (GSO_TCPV4/6, NEEDS_CSUM with the
 *   pseudo-header sum in the checksum field).  Anything else is written as
 *   it came. */
#include "tunnel.h"

#include <linux/virtio_net.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <sys/uio.h>

#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5 /* older headers */
#endif

#define VNET ((size_t)sizeof(struct virtio_net_hdr))
#define ROUND 64                /* TUN reads per poll() round */
#define MAX_DGRAM 65507u        /* UDP payload of one IPv4 datagram */
#define MAX_SEGS 64             /* per UDP_SEGMENT send and per joined TCP packet */
#define OUT_BYTES (4u << 20)    /* the segments of one round */
#define OUT_MSGS 1024
#define RX_BUFS 32              /* recvmmsg() buffers of 64 KiB */
#define ITEMS 256               /* TUN writes per received batch, at most */
#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_CWR 0x80

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t rd32(const unsigned char *p) { return (uint32_t)rd16(p) << 16 | rd16(p + 2); }
static void wr16(unsigned char *p, uint32_t v) { p[0] = (unsigned char)(v >> 8); p[1] = (unsigned char)v; }
static void wr32(unsigned char *p, uint32_t v) { wr16(p, v >> 16); wr16(p + 2, v); }

/* The one's-complement sum of n bytes added to acc (not folded). */
static uint64_t sum(const unsigned char *p, size_t n, uint64_t acc)
{
    for (; n > 1; p += 2, n -= 2)
        acc += rd16(p);
    return n ? acc + ((uint64_t)p[0] << 8) : acc;
}

static uint16_t fold(uint64_t acc)
{
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
    return (uint16_t)acc;
}

/* The pseudo-header sum of the IPv4 or IPv6 packet `ip` for an L4 part of len bytes. */
static uint64_t pseudo(const unsigned char *ip, int v6, unsigned proto, size_t len)
{
    return v6 ? sum(ip + 8, 32, proto + len) : sum(ip + 12, 8, proto + len);
}

static void ip4_checksum(unsigned char *ip, size_t iph)
{
    wr16(ip + 10, 0);
    wr16(ip + 10, (uint16_t)~fold(sum(ip, iph, 0)));
}

/* -- TUN -> socket ------------------------------------------------------------ */

struct run { size_t off, len, seg; int count, closed; };

struct out {
    unsigned char arena[OUT_BYTES];
    size_t used;
    int n;
    struct run runs[OUT_MSGS];
    struct mmsghdr msgs[OUT_MSGS];
    struct iovec iov[OUT_MSGS];
    union { char buf[CMSG_SPACE(sizeof(uint16_t))]; struct cmsghdr align; } ctl[OUT_MSGS];
    long sent, dropped;
};

/* Sends every run in one sendmmsg() (or more, if it stops short). */
static void out_flush(struct out *o, int sock)
{
    for (int i = 0; i < o->n; i++) {
        struct run *r = &o->runs[i];
        struct msghdr *m = &o->msgs[i].msg_hdr;
        memset(m, 0, sizeof *m);
        o->iov[i] = (struct iovec){ .iov_base = o->arena + r->off, .iov_len = r->len };
        m->msg_iov = &o->iov[i];
        m->msg_iovlen = 1;
        if (r->count > 1) {
            m->msg_control = o->ctl[i].buf;
            m->msg_controllen = sizeof o->ctl[i].buf;
            struct cmsghdr *c = CMSG_FIRSTHDR(m);
            c->cmsg_level = SOL_UDP;
            c->cmsg_type = UDP_SEGMENT;
            c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
            uint16_t seg = (uint16_t)r->seg;
            memcpy(CMSG_DATA(c), &seg, sizeof seg);
        }
    }
    for (int i = 0; i < o->n;) {
        int k = sendmmsg(sock, o->msgs + i, (unsigned)(o->n - i), 0);
        if (k <= 0) { /* a full buffer or an ICMP error: the run is lost, as on a wire */
            o->dropped += o->runs[i].count;
            i++;
            continue;
        }
        for (int j = i; j < i + k; j++)
            o->sent += o->runs[j].count;
        i += k;
    }
    o->used = 0;
    o->n = 0;
}

/* Room for a packet of up to `len` bytes at the arena's end (flushing first if need be). */
static unsigned char *out_space(struct out *o, int sock, size_t len)
{
    if (o->used + len > OUT_BYTES || o->n == OUT_MSGS)
        out_flush(o, sock);
    return o->arena + o->used;
}

/* Adds the len-byte packet written at out_space() to the last run, or starts one. */
static void out_add(struct out *o, size_t len)
{
    struct run *r = o->n ? &o->runs[o->n - 1] : NULL;
    if (r && !r->closed && len <= r->seg && r->count < MAX_SEGS && r->len + len <= MAX_DGRAM) {
        r->len += len;
        r->count++;
        r->closed = len < r->seg; /* only the last may be shorter */
    } else {
        o->runs[o->n++] = (struct run){ .off = o->used, .len = len, .seg = len, .count = 1 };
    }
    o->used += len;
}

/* Cuts a TCP or UDP super-packet into packets of mss payload bytes. */
static void segment(struct out *o, int sock, const unsigned char *pkt, size_t len, int tcp, size_t mss)
{
    int v6 = pkt[0] >> 4 == 6;
    size_t iph = v6 ? 40 : (size_t)(pkt[0] & 15) * 4;
    unsigned proto = tcp ? IPPROTO_TCP : IPPROTO_UDP;
    if (len < iph + 20 || pkt[v6 ? 6 : 9] != proto || mss == 0)
        return; /* not what the header says: dropped */
    size_t l4h = tcp ? (size_t)(pkt[iph + 12] >> 4) * 4 : 8, hlen = iph + l4h;
    size_t csum_at = iph + (tcp ? 16 : 6);
    if (l4h < 8 || hlen > len)
        return;
    uint32_t seq = tcp ? rd32(pkt + iph + 4) : 0;
    uint16_t id = v6 ? 0 : rd16(pkt + 4);
    for (size_t off = hlen, i = 0; off < len; off += mss, i++) {
        size_t plen = len - off < mss ? len - off : mss, size = hlen + plen;
        unsigned char *s = out_space(o, sock, size);
        memcpy(s, pkt, hlen);
        memcpy(s + hlen, pkt + off, plen);
        if (v6) {
            wr16(s + 4, (uint32_t)(l4h + plen));
        } else {
            wr16(s + 2, (uint32_t)size);
            wr16(s + 4, (uint32_t)(id + i));
            ip4_checksum(s, iph);
        }
        if (tcp) {
            wr32(s + iph + 4, seq + (uint32_t)(off - hlen));
            if (off + plen < len)
                s[iph + 13] &= (unsigned char)~(TCP_FIN | TCP_PSH);
            if (i > 0)
                s[iph + 13] &= (unsigned char)~TCP_CWR;
        } else {
            wr16(s + iph + 4, (uint32_t)(8 + plen));
        }
        wr16(s + csum_at, 0);
        uint16_t c = (uint16_t)~fold(sum(s + iph, l4h + plen, pseudo(s, v6, proto, l4h + plen)));
        wr16(s + csum_at, !tcp && c == 0 ? 0xffff : c);
        out_add(o, size);
    }
}

/* One read from the TUN: a virtio-net header and a packet or super-packet. */
static void from_tun(struct out *o, int sock, unsigned char *buf, size_t n)
{
    struct virtio_net_hdr h;
    if (n <= VNET)
        return;
    memcpy(&h, buf, VNET);
    unsigned char *pkt = buf + VNET;
    size_t len = n - VNET;
    int gso = h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
    if (gso == VIRTIO_NET_HDR_GSO_TCPV4 || gso == VIRTIO_NET_HDR_GSO_TCPV6 ||
        gso == VIRTIO_NET_HDR_GSO_UDP_L4) {
        segment(o, sock, pkt, len, gso != VIRTIO_NET_HDR_GSO_UDP_L4, h.gso_size);
        return;
    }
    if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) { /* the field holds the pseudo-header sum */
        size_t at = (size_t)h.csum_start + h.csum_offset;
        if (at + 2 > len)
            return;
        wr16(pkt + at, (uint16_t)~fold(sum(pkt + h.csum_start, len - h.csum_start, 0)));
    }
    memcpy(out_space(o, sock, len), pkt, len);
    out_add(o, len);
}

/* -- socket -> TUN ------------------------------------------------------------ */

struct item {
    struct virtio_net_hdr hdr;
    unsigned char *first; /* the first packet: its headers become the joined one's */
    size_t iph, tcph, total, gso;
    uint32_t next_seq;
    int flow, tcp, segs, closed, niov; /* flow: a TCP packet; tcp: one that may be joined */
    struct iovec iov[MAX_SEGS + 1];
};

struct in {
    unsigned char bufs[RX_BUFS][65536];
    struct iovec iov[RX_BUFS];
    struct mmsghdr msgs[RX_BUFS];
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } ctl[RX_BUFS];
    struct item items[ITEMS];
    int n;
    long written, packets, refused;
};

/* Whether TCP packet p (headers iph + tcph, payload plen, seq) extends item it. */
static int joins(const struct item *it, const unsigned char *p, size_t iph, size_t tcph, size_t plen,
                 uint32_t seq)
{
    const unsigned char *f = it->first, *t = p + iph, *ft = f + iph;
    int v6 = p[0] >> 4 == 6;
    if (!it->tcp || it->closed || it->segs == MAX_SEGS || iph != it->iph || tcph != it->tcph ||
        seq != it->next_seq || plen > it->gso || it->total + plen > 65535)
        return 0;
    if (v6 ? memcmp(p, f, 2) || p[7] != f[7] || memcmp(p + 8, f + 8, 32)
           : p[1] != f[1] || (p[6] & 0xe0) != (f[6] & 0xe0) || p[8] != f[8] ||
                 memcmp(p + 12, f + 12, 8))
        return 0; /* TOS/class, DF, TTL/hop limit, addresses */
    return !memcmp(t, ft, 4) && !memcmp(t + 8, ft + 8, 5) && (t[13] & ~TCP_PSH) == (ft[13] & ~TCP_PSH) &&
           !memcmp(t + 14, ft + 14, 2) && !memcmp(t + 20, ft + 20, tcph - 20);
    /* ports, ack, offset, flags but PSH, window, options */
}

static void in_flush(struct in *in, int tun)
{
    for (int i = 0; i < in->n; i++) {
        struct item *it = &in->items[i];
        memset(&it->hdr, 0, sizeof it->hdr);
        if (it->segs > 1) {
            unsigned char *f = it->first;
            int v6 = f[0] >> 4 == 6;
            if (v6) {
                wr16(f + 4, (uint32_t)(it->total - 40));
            } else {
                wr16(f + 2, (uint32_t)it->total);
                ip4_checksum(f, it->iph);
            }
            wr16(f + it->iph + 16, fold(pseudo(f, v6, IPPROTO_TCP, it->total - it->iph)));
            it->hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
            it->hdr.gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
            it->hdr.hdr_len = (uint16_t)(it->iph + it->tcph);
            it->hdr.gso_size = (uint16_t)it->gso;
            it->hdr.csum_start = (uint16_t)it->iph;
            it->hdr.csum_offset = 16;
        }
        it->iov[0] = (struct iovec){ .iov_base = &it->hdr, .iov_len = VNET };
        if (writev(tun, it->iov, it->niov) > 0)
            in->written += it->segs;
        else
            in->refused += it->segs;
    }
    in->n = 0;
}

/* Adds one received packet: to the last item of its TCP flow, or as an item of its own. */
static void in_add(struct in *in, int tun, unsigned char *p, size_t len)
{
    in->packets++;
    int v6 = len >= 40 && p[0] >> 4 == 6, v4 = len >= 20 && p[0] >> 4 == 4;
    size_t iph = v6 ? 40 : v4 ? (size_t)(p[0] & 15) * 4 : 0, tcph = 0, plen = 0;
    int flow = ((v6 && p[6] == IPPROTO_TCP) ||
                (v4 && iph >= 20 && p[9] == IPPROTO_TCP && !(rd16(p + 6) & 0x3fff))) &&
               len >= iph + 20; /* TCP, not a fragment */
    int tcp = 0;
    if (flow) {
        tcph = (size_t)(p[iph + 12] >> 4) * 4;
        size_t ip_len = v6 ? 40 + (size_t)rd16(p + 4) : rd16(p + 2);
        unsigned flags = p[iph + 13];
        tcp = tcph >= 20 && ip_len == len && iph + tcph < len && (flags & ~TCP_PSH) == TCP_ACK;
        plen = tcp ? len - iph - tcph : 0;
    }
    uint32_t seq = tcp ? rd32(p + iph + 4) : 0;
    /* The flow's last item, if it takes this packet; any other packet of the
     * flow (a pure ACK, SYN, FIN...) is a stop: nothing joins across it. */
    for (int i = in->n - 1; flow && i >= 0; i--) {
        struct item *it = &in->items[i];
        if (!it->flow || it->iph != iph || memcmp(p + iph, it->first + iph, 4) ||
            memcmp(p + (v6 ? 8 : 12), it->first + (v6 ? 8 : 12), v6 ? 32 : 8))
            continue; /* another flow */
        if (!tcp || !joins(it, p, iph, tcph, plen, seq))
            break;
        it->iov[it->niov++] = (struct iovec){ .iov_base = p + iph + tcph, .iov_len = plen };
        it->total += plen;
        it->segs++;
        it->next_seq += (uint32_t)plen;
        it->closed = plen < it->gso || (p[iph + 13] & TCP_PSH);
        it->first[iph + 13] |= p[iph + 13] & TCP_PSH;
        return;
    }
    if (in->n == ITEMS)
        in_flush(in, tun);
    struct item *it = &in->items[in->n++];
    *it = (struct item){ .first = p, .iph = iph, .tcph = tcph, .total = len, .gso = plen,
                         .next_seq = seq + (uint32_t)plen, .flow = flow, .tcp = tcp, .segs = 1,
                         .closed = tcp && (p[iph + 13] & TCP_PSH), .niov = 2 };
    it->iov[1] = (struct iovec){ .iov_base = p, .iov_len = len };
}

/* One recvmmsg(): every datagram split by its UDP_GRO size, joined, written. */
static int from_socket(struct in *in, int sock, int tun)
{
    for (int i = 0; i < RX_BUFS; i++) {
        in->iov[i] = (struct iovec){ .iov_base = in->bufs[i], .iov_len = sizeof in->bufs[i] };
        in->msgs[i].msg_hdr = (struct msghdr){ .msg_iov = &in->iov[i], .msg_iovlen = 1,
                                               .msg_control = in->ctl[i].buf,
                                               .msg_controllen = sizeof in->ctl[i].buf };
    }
    int r = recvmmsg(sock, in->msgs, RX_BUFS, MSG_DONTWAIT, NULL);
    for (int i = 0; i < r; i++) {
        struct msghdr *m = &in->msgs[i].msg_hdr;
        size_t len = in->msgs[i].msg_len, seg = len;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
            int size;
            if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
                memcpy(&size, CMSG_DATA(c), sizeof size);
                seg = size > 0 ? (size_t)size : len;
            }
        }
        for (size_t off = 0; off < len; off += seg)
            in_add(in, tun, in->bufs[i] + off, len - off < seg ? len - off : seg);
    }
    in_flush(in, tun);
    return r;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: tunnel_offload TUN LOCAL:PORT REMOTE:PORT SECONDS\n");
        return 2;
    }
    int tun = open_tun_offload(argv[1], 1);
    int sock = tunnel_socket(argv[2], argv[3]), on = 1;
    if (fcntl(tun, F_SETFL, O_NONBLOCK) < 0 || setsockopt(sock, SOL_UDP, UDP_GRO, &on, sizeof on) < 0) {
        perror("O_NONBLOCK/UDP_GRO");
        return 1;
    }
    static struct out out;
    static struct in in;
    static unsigned char buf[VNET + 65536];
    puts("ready");
    fflush(stdout);
    double end = now() + atof(argv[4]);
    struct pollfd fds[2] = { { .fd = tun, .events = POLLIN }, { .fd = sock, .events = POLLIN } };
    while (now() < end) {
        if (poll(fds, 2, 100) <= 0)
            continue;
        for (int i = 0; i < ROUND && (fds[0].revents & POLLIN); i++) {
            ssize_t n = read(tun, buf, sizeof buf);
            if (n <= 0)
                break;
            from_tun(&out, sock, buf, (size_t)n);
        }
        out_flush(&out, sock);
        for (int i = 0; i < 4 && (fds[1].revents & POLLIN); i++)
            if (from_socket(&in, sock, tun) < RX_BUFS)
                break;
    }
    printf("sent=%ld dropped=%ld received=%ld written=%ld refused=%ld\n", out.sent, out.dropped,
           in.packets, in.written, in.refused);
    return 0;
}
