/* udp.c - batched UDP on an ordinary socket: recvmmsg with UDP_GRO into the
 * slots of a batch (a GRO'd message split into one datagram per slot), and
 * sendmmsg of a write source with runs of equal-size datagrams as single
 * UDP_SEGMENT messages.
 *
 * Parsing what the kernel hands back (control messages, GRO'd messages) is
 * done by pure functions on bytes, tt_udp_gro_size and tt_udp_split, which
 * the fuzz harness drives directly.
 */
#define _GNU_SOURCE
#include "batch.h"
#include "segment.h"
#include "verdict.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

/* iovecs one sendmmsg may carry in all (the kernel takes 1024 per message). */
#define SEND_IOVS 512
/* Segment headers one sendmmsg of a raw source may carry (two iovecs each). */
#define SEND_HEADS (SEND_IOVS / 2)

union sa {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
};

/* ---- parsing what the kernel hands back ----------------------------------- */

int tt_udp_gro_size(const char *control, size_t len)
{
    const size_t head = CMSG_LEN(0); /* the header, aligned: where the data starts */
    size_t off = 0;
    int size = 0;
    if (control == NULL && len != 0)
        return -EINVAL;
    while (len - off >= sizeof(struct cmsghdr)) {
        struct cmsghdr h;
        memcpy(&h, control + off, sizeof h);
        if (h.cmsg_len < head || h.cmsg_len > len - off)
            return -EBADMSG;
        if (h.cmsg_level == SOL_UDP && h.cmsg_type == UDP_GRO) {
            int value;
            if (h.cmsg_len - head < sizeof value)
                return -EBADMSG;
            memcpy(&value, control + off + head, sizeof value);
            if (value <= 0 || value > TT_UDP_MSG_MAX)
                return -EBADMSG;
            size = value;
        }
        size_t step = CMSG_ALIGN(h.cmsg_len);
        if (step >= len - off)
            break;
        off += step;
    }
    return size;
}

/* tt_udp_split, and with where (not NULL) in place: slot n's datagram is
 * left at msg + off, where[n] = base + off, and classified there. */
static int split(const char *msg, size_t len, uint32_t seg_size, int truncated, size_t *offset,
                 char *out, size_t slot_size, uint32_t nslots, int64_t *results, int kind,
                 uint32_t *where, size_t base)
{
    if (nslots == 0)
        return 0;
    if (len == 0) { /* an empty datagram still takes a slot */
        if (where != NULL)
            where[0] = (uint32_t)base;
        results[0] = tt_classify(out, 0, kind);
        return 1;
    }
    size_t seg = seg_size == 0 || seg_size >= len ? len : seg_size;
    size_t off = *offset;
    uint32_t n = 0;
    while (n < nslots && off < len) {
        size_t dlen = len - off < seg ? len - off : seg;
        size_t copy = dlen < slot_size ? dlen : slot_size;
        const char *at;
        if (where != NULL) {
            at = msg + off;
            where[n] = (uint32_t)(base + off);
        } else {
            char *slot = out + (size_t)n * slot_size;
            memcpy(slot, msg + off, copy);
            at = slot;
        }
        /* As a read's slot: a bad one keeps every byte, a cut one is truncated. */
        int64_t packed = tt_classify(at, copy, kind);
        int cut = copy < dlen || (truncated && off + dlen == len);
        int verdict = cut ? TT_PKT_TRUNCATED : (int)(packed >> TT_PACK_VERDICT_SHIFT);
        if (packed >= 0 && verdict != TT_PKT_OK)
            packed = tti_reclassed(packed, verdict, copy);
        results[n++] = packed;
        off += dlen;
    }
    *offset = off;
    return (int)n;
}

int tt_udp_split(const char *msg, size_t len, uint32_t seg_size, int truncated, size_t *offset,
                 char *out, size_t slot_size, uint32_t nslots, int64_t *results, int kind)
{
    if (offset == NULL || (msg == NULL && len != 0) || out == NULL || results == NULL)
        return -EINVAL;
    if (len > TT_UDP_MSG_MAX || *offset > len || slot_size == 0 ||
        slot_size > TT_BATCH_MAX_SLOT || nslots > TT_BATCH_MAX_CAPACITY)
        return -EINVAL;
    if (kind != TT_KIND_TUN && kind != TT_KIND_TAP)
        return -EINVAL;
    return split(msg, len, seg_size, truncated, offset, out, slot_size, nslots, results, kind,
                 NULL, 0);
}

/* ---- addresses --------------------------------------------------------------- */

static void addr_from(const union sa *name, socklen_t len, struct tt_udp_addr *a)
{
    memset(a, 0, sizeof *a);
    if (name->sa.sa_family == AF_INET && len >= (socklen_t)sizeof name->in) {
        a->family = AF_INET;
        a->port = ntohs(name->in.sin_port);
        memcpy(a->addr, &name->in.sin_addr, 4);
    } else if (name->sa.sa_family == AF_INET6 && len >= (socklen_t)sizeof name->in6) {
        a->family = AF_INET6;
        a->port = ntohs(name->in6.sin6_port);
        a->scope_id = name->in6.sin6_scope_id;
        memcpy(a->addr, &name->in6.sin6_addr, 16);
    }
}

/* The sockaddr of a, which must be of family: its length, or -EAFNOSUPPORT. */
static int addr_to(const struct tt_udp_addr *a, int family, union sa *name)
{
    memset(name, 0, sizeof *name);
    if (a->family != family)
        return -EAFNOSUPPORT;
    if (family == AF_INET) {
        name->in.sin_family = AF_INET;
        name->in.sin_port = htons(a->port);
        memcpy(&name->in.sin_addr, a->addr, 4);
        return (int)sizeof name->in;
    }
    if (family == AF_INET6) {
        name->in6.sin6_family = AF_INET6;
        name->in6.sin6_port = htons(a->port);
        name->in6.sin6_scope_id = a->scope_id;
        memcpy(&name->in6.sin6_addr, a->addr, 16);
        return (int)sizeof name->in6;
    }
    return -EAFNOSUPPORT;
}

/* ---- receiving ---------------------------------------------------------------- */

static int rx_ok(const struct tt_udp_rx *rx)
{
    if (rx == NULL || rx->stage == NULL || rx->msgs == NULL)
        return 0;
    if (rx->max_msgs == 0 || rx->max_msgs > TT_UDP_MAX_MSGS)
        return 0;
    if (rx->stage_len < (size_t)rx->max_msgs * TT_UDP_MSG_MAX)
        return 0;
    return rx->head <= rx->count && rx->count <= rx->max_msgs && rx->offset <= TT_UDP_MSG_MAX;
}

/* The datagrams a staged message holds. */
static size_t datagrams_of(const struct tt_udp_msg *m, size_t len)
{
    size_t seg = m->seg_size == 0 || m->seg_size >= len ? len : m->seg_size;
    return len == 0 ? 1 : (len + seg - 1) / seg;
}

/* Staged datagrams into the slots from count on, with their addresses; the
 * slots filled then.  A message is done when its last byte is delivered; one
 * not yet begun goes whole into a batch that has room for all its datagrams,
 * or waits for the next (but an empty batch takes as many as fit), so that a
 * GRO'd run stays together.  In place (b->where): the slots point into the
 * stage, which therefore is not reused within the call. */
static uint32_t deliver(struct tt_udp_rx *rx, struct tt_batch *b, struct tt_udp_addr *addrs,
                        uint32_t count)
{
    uint32_t *where = b->in_place ? b->where : NULL;
    while (rx->head < rx->count && count < b->capacity) {
        const struct tt_udp_msg *m = &rx->msgs[rx->head];
        size_t at = (size_t)rx->head * TT_UDP_MSG_MAX;
        size_t len = m->len < TT_UDP_MSG_MAX ? m->len : TT_UDP_MSG_MAX;
        size_t off = rx->offset;
        if (off == 0 && count > 0 && datagrams_of(m, len) > b->capacity - count)
            break;
        int r = split(rx->stage + at, len, m->seg_size, m->truncated != 0, &off,
                      b->buf + (size_t)count * b->slot_size, b->slot_size, b->capacity - count,
                      b->results + count, b->kind, where == NULL ? NULL : where + count, at);
        for (int k = 0; k < r; k++) {
            addrs[count] = m->source;
            if (tti_is_bad(b->results[count]))
                b->bad++;
            count++;
        }
        if (r <= 0 || off >= len) {
            rx->head++;
            rx->offset = 0;
        } else {
            rx->offset = (uint32_t)off;
        }
    }
    if (rx->head >= rx->count && where == NULL)
        rx->head = rx->count = 0;
    return count;
}

/* Up to want messages into the staging area from message `base` on, waiting
 * at most timeout_ms once: how many, or -errno (-EAGAIN: none in time). */
static int receive(int fd, int wakefd, struct tt_udp_rx *rx, uint32_t base, uint32_t want,
                   int timeout_ms, int *may_wait)
{
    struct mmsghdr hdrs[TT_UDP_MAX_MSGS];
    struct iovec iovs[TT_UDP_MAX_MSGS];
    union sa names[TT_UDP_MAX_MSGS];
    union {
        struct cmsghdr align;
        char bytes[TT_UDP_CONTROL_LEN];
    } control[TT_UDP_MAX_MSGS];
    memset(hdrs, 0, sizeof hdrs[0] * want);
    for (uint32_t k = 0; k < want; k++) {
        iovs[k].iov_base = rx->stage + (size_t)(base + k) * TT_UDP_MSG_MAX;
        iovs[k].iov_len = TT_UDP_MSG_MAX;
        hdrs[k].msg_hdr.msg_name = &names[k];
        hdrs[k].msg_hdr.msg_namelen = sizeof names[k];
        hdrs[k].msg_hdr.msg_iov = &iovs[k];
        hdrs[k].msg_hdr.msg_iovlen = 1;
        hdrs[k].msg_hdr.msg_control = control[k].bytes;
        hdrs[k].msg_hdr.msg_controllen = sizeof control[k].bytes;
    }
    int r;
    for (;;) {
        r = recvmmsg(fd, hdrs, want, MSG_DONTWAIT, NULL);
        if (r > 0)
            break;
        int err = r == 0 ? EAGAIN : errno;
        if (err != EAGAIN || timeout_ms == 0 || !*may_wait)
            return -err;
        *may_wait = 0;
        int w = tt_wait(fd, wakefd, 0, timeout_ms);
        if (w <= 0)
            return w == 0 ? -EAGAIN : w;
    }
    for (int k = 0; k < r; k++) {
        const struct msghdr *h = &hdrs[k].msg_hdr;
        struct tt_udp_msg *m = &rx->msgs[base + (uint32_t)k];
        int seg = tt_udp_gro_size(h->msg_control, h->msg_controllen);
        m->len = hdrs[k].msg_len < TT_UDP_MSG_MAX ? hdrs[k].msg_len : TT_UDP_MSG_MAX;
        m->seg_size = seg > 0 ? (uint32_t)seg : 0;
        m->truncated = (h->msg_flags & MSG_TRUNC) != 0 || hdrs[k].msg_len > TT_UDP_MSG_MAX;
        addr_from(&names[k], h->msg_namelen, &m->source);
    }
    rx->head = base;
    rx->count = base + (uint32_t)r;
    rx->offset = 0;
    return r;
}

int tt_udp_recv(int fd, int wakefd, struct tt_batch *b, struct tt_udp_addr *addrs,
                struct tt_udp_rx *rx, int timeout_ms)
{
    if (fd < 0 || addrs == NULL || !rx_ok(rx) || !tti_batch_shape_ok(b, 0))
        return -EINVAL;
    if (b->kind != TT_KIND_TUN && b->kind != TT_KIND_TAP)
        return -EINVAL;
    if (rx->head < rx->count && rx->fd != fd)
        return -EXDEV;
    b->count = 0;
    b->bad = 0;
    b->origin = TT_ORIGIN_UDP;
    b->in_place = b->where != NULL;
    b->stage = rx->stage;
    b->stage_len = rx->stage_len;
    /* What the last call delivered is no longer referenced: its room is free. */
    if (rx->head >= rx->count)
        rx->head = rx->count = rx->offset = 0;
    uint32_t count = deliver(rx, b, addrs, 0);
    int may_wait = 1;
    while (count < b->capacity && rx->head >= rx->count) {
        /* In place, the messages delivered in this call stay where they are. */
        uint32_t base = b->in_place ? rx->count : 0;
        uint32_t want = b->capacity - count;
        if (want > rx->max_msgs - base)
            want = rx->max_msgs - base;
        if (want == 0)
            break; /* the staging area is full: the next call has it all */
        int r = receive(fd, wakefd, rx, base, want, count > 0 ? 0 : timeout_ms, &may_wait);
        if (r < 0) {
            if (count > 0)
                break; /* nothing more now; an error shows in the next call */
            return r;
        }
        rx->fd = fd;
        count = deliver(rx, b, addrs, count);
        if ((uint32_t)r < want)
            break; /* the socket had no more */
    }
    b->count = count;
    if (b->sent != NULL)
        memset(b->sent, 0, count); /* new packets: none went out ahead */
    return (int)count;
}

/* ---- sending ------------------------------------------------------------------ */

/* What one sendmmsg carries: its messages, their iovecs and UDP_SEGMENT
 * control data, and for each message the positions it covers. */
struct outgoing {
    struct mmsghdr hdrs[TT_UDP_MAX_MSGS];
    struct iovec iovs[SEND_IOVS];
    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE(sizeof(uint16_t))];
    } control[TT_UDP_MAX_MSGS];
    uint32_t first[TT_UDP_MAX_MSGS]; /* the position of its first datagram */
    uint32_t end[TT_UDP_MAX_MSGS];   /* the position after its last */
    uint32_t datagrams[TT_UDP_MAX_MSGS];
    uint32_t count;
    /* A raw source: message m begins with segment skip[m] of slot first[m]
     * and ends the last segment of done[m] slots; the headers built for the
     * segments. */
    uint32_t skip[TT_UDP_MAX_MSGS];
    uint32_t done[TT_UDP_MAX_MSGS];
    unsigned char heads[SEND_HEADS][TTI_SEG_HDR_MAX];
};

/* Message m's header: its iovecs, and UDP_SEGMENT = seg_size when it holds n > 1. */
static void set_message(struct outgoing *o, uint32_t m, union sa *name, socklen_t namelen,
                        struct iovec *iov, uint32_t niov, uint32_t n, size_t seg_size)
{
    struct msghdr *h = &o->hdrs[m].msg_hdr;
    memset(&o->hdrs[m], 0, sizeof o->hdrs[m]);
    h->msg_name = namelen ? name : NULL;
    h->msg_namelen = namelen;
    h->msg_iov = iov;
    h->msg_iovlen = niov;
    if (n > 1) {
        /* All of it: the kernel copies msg_controllen bytes, padding included. */
        memset(o->control[m].bytes, 0, sizeof o->control[m].bytes);
        h->msg_control = o->control[m].bytes;
        h->msg_controllen = sizeof o->control[m].bytes;
        struct cmsghdr *c = CMSG_FIRSTHDR(h);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t size = (uint16_t)seg_size;
        memcpy(CMSG_DATA(c), &size, sizeof size);
    }
    o->datagrams[m] = n;
}

/* The messages for the datagrams of s from i on (at most what one sendmmsg
 * carries): with gso, a run of equal sizes (the last may be shorter), up to
 * TT_UDP_MAX_SEGMENTS and max_run bytes, is one message.  Bad slots are
 * passed over.  The position after the last datagram taken. */
static uint32_t gather(const struct tti_source *s, uint32_t i, uint32_t count, int gso,
                       size_t max_run, union sa *name, socklen_t namelen, struct outgoing *o)
{
    uint32_t niov = 0;
    o->count = 0;
    while (i < count && o->count < TT_UDP_MAX_MSGS && niov < SEND_IOVS) {
        const unsigned char *p;
        size_t len;
        if (tti_source_get(s, i, &p, &len) != 1) {
            i++;
            continue;
        }
        uint32_t m = o->count, n = 1;
        struct iovec *first_iov = &o->iovs[niov];
        o->iovs[niov].iov_base = (void *)p;
        o->iovs[niov++].iov_len = len;
        o->first[m] = i++;
        size_t total = len;
        while (gso && len > 0 && i < count && n < TT_UDP_MAX_SEGMENTS && niov < SEND_IOVS) {
            const unsigned char *q;
            size_t qlen;
            if (tti_source_get(s, i, &q, &qlen) != 1 || qlen == 0 || qlen > len ||
                total + qlen > max_run)
                break;
            o->iovs[niov].iov_base = (void *)q;
            o->iovs[niov++].iov_len = qlen;
            total += qlen;
            n++;
            i++;
            if (qlen < len)
                break; /* a shorter datagram ends its run */
        }
        set_message(o, m, name, namelen, first_iov, n, n, len);
        o->end[m] = i;
        o->count++;
    }
    return i;
}

/* The packet of raw slot i (a virtio-net header before it in the slot),
 * parsed: 1, 0 for a bad slot (passed over), or -errno. */
static int raw_get(const struct tti_source *s, uint32_t i, struct tti_gso *g)
{
    const unsigned char *p;
    size_t len;
    int got = tti_source_get(s, i, &p, &len);
    if (got != 1)
        return got;
    int r = tti_gso_parse((const char *)p - TT_VNET_HDR_LEN, len + TT_VNET_HDR_LEN, g);
    return r < 0 ? r : 1;
}

/* The largest datagram g makes. */
static size_t largest_of(const struct tti_gso *g)
{
    return g->plain ? g->len : g->hlen + (g->payload < g->gso_size ? g->payload : g->gso_size);
}

/* Where a send of a raw source is: segment k of slot i, whose packet is g
 * when have. */
struct raw_cursor {
    uint32_t i, k;
    int have;
    struct tti_gso g;
};

/* Moves c over bad and finished slots to the next datagram: 1, or 0 at count. */
static int raw_next(const struct tti_source *s, uint32_t count, struct raw_cursor *c)
{
    while (c->i < count) {
        if (!c->have && raw_get(s, c->i, &c->g) == 1)
            c->have = 1;
        if (c->have && c->k < c->g.segments)
            return 1;
        c->i++; /* a bad slot (tt_udp_send checked the rest first), or one done */
        c->k = 0;
        c->have = 0;
    }
    return 0;
}

/* The bytes of segment k of g. */
static size_t datagram_size(const struct tti_gso *g, uint32_t k)
{
    if (g->plain)
        return g->len;
    size_t off = (size_t)k * g->gso_size;
    return g->hlen + (g->payload - off < g->gso_size ? g->payload - off : g->gso_size);
}

/* Segment k of g as iovecs (at most 3) after o->iovs[*niov], its headers (or
 * a plain packet's completed checksum) in o->heads[*nhead]. */
static void add_datagram(struct outgoing *o, uint32_t *niov, uint32_t *nhead,
                         const struct tti_gso *g, uint32_t k)
{
    struct iovec *v = &o->iovs[*niov];
    unsigned char *head = o->heads[*nhead];
    if (g->plain && g->csum_at == SIZE_MAX) {
        v[0] = (struct iovec){(void *)g->p, g->len};
        *niov += 1;
    } else if (g->plain) {
        memcpy(head, g->csum, 2);
        v[0] = (struct iovec){(void *)g->p, g->csum_at};
        v[1] = (struct iovec){head, 2};
        v[2] = (struct iovec){(void *)(g->p + g->csum_at + 2), g->len - g->csum_at - 2};
        *niov += 3;
        *nhead += 1;
    } else {
        const unsigned char *payload;
        size_t plen = tti_segment_header(g, k, head, &payload);
        v[0] = (struct iovec){head, g->hlen};
        v[1] = (struct iovec){(void *)payload, plen};
        *niov += plen > 0 ? 2 : 1;
        *nhead += 1;
    }
}

/* gather for a raw source, from where c is: the datagrams its slots make,
 * each segment of a super-packet as iovecs [headers k (built in o->heads),
 * payload k (where it lies in the slot)], a packet without GSO as it is
 * (its checksum completed in o->heads when it needs one).  With gso, a run
 * of equal sizes (the last may be shorter), within a slot or across slots,
 * up to TT_UDP_MAX_SEGMENTS and max_run bytes, is one message.  Leaves c
 * after the last datagram taken. */
static void gather_raw(const struct tti_source *s, struct raw_cursor *c, uint32_t count, int gso,
                       size_t max_run, union sa *name, socklen_t namelen, struct outgoing *o)
{
    uint32_t niov = 0, nhead = 0;
    o->count = 0;
    while (o->count < TT_UDP_MAX_MSGS && niov + 3 <= SEND_IOVS && nhead < SEND_HEADS &&
           raw_next(s, count, c)) {
        uint32_t m = o->count, first_iov = niov, n = 0;
        size_t size = 0, total = 0;
        o->first[m] = c->i;
        o->skip[m] = c->k;
        o->done[m] = 0;
        do {
            size_t d = datagram_size(&c->g, c->k);
            if (n > 0 && (d > size || total + d > max_run))
                break;
            add_datagram(o, &niov, &nhead, &c->g, c->k);
            total += d;
            if (n++ == 0)
                size = d;
            if (++c->k >= c->g.segments)
                o->done[m]++;
            if (d < size)
                break; /* a shorter datagram ends its run */
        } while (gso && n < TT_UDP_MAX_SEGMENTS && niov + 3 <= SEND_IOVS && nhead < SEND_HEADS &&
                 raw_next(s, count, c));
        set_message(o, m, name, namelen, &o->iovs[first_iov], niov - first_iov, n, size);
        o->count++;
    }
}

/* The largest datagram of family, or 0 for another family. */
static size_t max_payload(int family)
{
    return family == AF_INET ? TT_UDP4_MAX_PAYLOAD : family == AF_INET6 ? TT_UDP6_MAX_PAYLOAD : 0;
}

/* Checks every datagram from start before any is sent (a raw slot's packet:
 * parsed, and its segments' size; segment skip of slot start must be one
 * it has): 0, or the failure in st. */
static int check_sizes(const struct tti_source *s, uint32_t start, uint32_t skip, uint32_t count,
                       size_t max, struct tt_write_status *st)
{
    for (uint32_t i = start; i < count; i++) {
        const unsigned char *p;
        size_t len;
        int got;
        if (s->raw) {
            struct tti_gso g;
            got = raw_get(s, i, &g);
            if (got == 1 && i == start && skip >= g.segments)
                got = -EINVAL;
            len = got == 1 ? largest_of(&g) : 0;
        } else {
            got = tti_source_get(s, i, &p, &len);
        }
        if (got < 0 || (got == 1 && len > max)) {
            st->next = i;
            st->error = got < 0 ? got : -EMSGSIZE;
            return -1;
        }
    }
    return 0;
}

int tt_udp_send(int fd, int wakefd, const struct tt_packets *src, uint32_t start,
                const struct tt_udp_addr *to, int family, uint32_t *flags, int timeout_ms,
                struct tt_write_status *st)
{
    struct tti_source s;
    size_t max = max_payload(family);
    if (fd < 0 || src == NULL || st == NULL || flags == NULL || max == 0)
        return -EINVAL;
    if (tti_source_of(src, &s) < 0)
        return -EINVAL;
    uint32_t count = src->count;
    if (s.b != NULL) {
        if (!tti_batch_shape_ok(s.b, s.raw ? TT_VNET_HDR_LEN : 0) || s.b->count > s.b->capacity)
            return -EINVAL;
        count = s.b->count;
    }
    if (start > count)
        return -EINVAL;
    union sa name;
    socklen_t namelen = 0;
    if (to != NULL) {
        int r = addr_to(to, family, &name);
        if (r < 0)
            return r;
        namelen = (socklen_t)r;
    }
    /* A raw source resumes inside the (super-)packet at start where st says. */
    uint32_t skip = s.raw ? st->partial : 0;
    tti_status_start(st, start);
    if (check_sizes(&s, start, skip, count, max, st) < 0)
        return 0;
    struct outgoing o;
    struct raw_cursor c = {start, skip, 0, {0}};
    int may_wait = 1;
    uint32_t i = start;
    while (i < count) {
        int gso = (*flags & TT_UDP_GSO) != 0;
        uint32_t after = 0;
        if (s.raw) {
            gather_raw(&s, &c, count, gso, max, &name, namelen, &o);
            after = c.i;
        } else {
            after = gather(&s, i, count, gso, max, &name, namelen, &o);
        }
        if (o.count == 0) {
            i = after; /* only bad slots were left */
            break;
        }
        st->next = o.first[0];
        st->partial = s.raw ? o.skip[0] : 0;
        int r = sendmmsg(fd, o.hdrs, o.count, MSG_DONTWAIT);
        if (r > 0) {
            for (int k = 0; k < r; k++)
                st->written += s.raw ? o.done[k] : o.datagrams[k];
            if (s.raw && (uint32_t)r < o.count) /* the rest goes again */
                c = (struct raw_cursor){o.first[r], o.skip[r], 0, {0}};
            i = s.raw ? c.i : o.end[r - 1];
            continue;
        }
        int err = r == 0 ? EAGAIN : errno;
        if (s.raw) /* nothing went: from the first again */
            c = (struct raw_cursor){o.first[0], o.skip[0], 0, {0}};
        if (err == EAGAIN && timeout_ms != 0 && may_wait) {
            may_wait = 0;
            int w = tt_wait(fd, wakefd, 1, timeout_ms);
            if (w > 0)
                continue;
            err = w == 0 ? EAGAIN : -w;
        }
        if ((err == EIO || err == EINVAL) && gso && o.datagrams[0] > 1) {
            *flags &= ~(uint32_t)TT_UDP_GSO; /* the kernel refused the run: one by one */
            continue;
        }
        st->error = -err;
        return (int)st->written;
    }
    st->next = count;
    st->partial = 0;
    return (int)st->written;
}

/* ---- the socket ------------------------------------------------------------- */

static int int_option(int fd, int level, int name, int *value)
{
    socklen_t len = sizeof *value;
    return getsockopt(fd, level, name, value, &len) < 0 ? -errno : 0;
}

int tt_udp_setup(int fd, int gro)
{
    int type, protocol, domain, value;
    int r = int_option(fd, SOL_SOCKET, SO_TYPE, &type);
    if (r < 0)
        return r;
    if ((r = int_option(fd, SOL_SOCKET, SO_PROTOCOL, &protocol)) < 0 ||
        (r = int_option(fd, SOL_SOCKET, SO_DOMAIN, &domain)) < 0)
        return r;
    if (type != SOCK_DGRAM || protocol != IPPROTO_UDP)
        return -EPROTOTYPE;
    if (domain != AF_INET && domain != AF_INET6)
        return -EAFNOSUPPORT;
    int bits = 0;
    if (int_option(fd, SOL_UDP, UDP_SEGMENT, &value) == 0)
        bits |= TT_UDP_GSO;
    int one = 1;
    if (gro && setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one) == 0)
        bits |= TT_UDP_GRO;
    else if (!gro && int_option(fd, SOL_UDP, UDP_GRO, &value) == 0 && value)
        bits |= TT_UDP_GRO;
    return bits;
}
