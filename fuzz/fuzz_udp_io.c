/* libFuzzer harness for batched UDP on real sockets (udp.c): tt_udp_send
 * gathering runs of equal-size datagrams into UDP_SEGMENT messages, many
 * per sendmmsg, and tt_udp_recv splitting GRO'd messages into small batches
 * through its staging area, continued across receives.  Two UDP sockets on
 * 127.0.0.1 in a network namespace of the fuzzer's own (unshare at start;
 * it aborts rather than touch the namespace it was started in).
 *
 * Input: [0] bit 0 how the receiver reads (0: tt_udp_recv; 1: its own
 * recvmsg, which sees each message as the kernel delivered it), bit 1 GSO on
 * the sender, bit 2 GRO on the receiver, bits 3-4 the source (arrays,
 * joined, batch, arrays), bit 5 a connected sender (no destination given),
 * bits 6-7 the staging messages (1, 3, 8, 64); [1] bits 0-3 the batch's
 * capacity - 1, bit 4 receives in place (the batch's `where`: datagrams
 * left in the staging area, not copied), bit 7 TAP slots; [2] the slot size; [3] the start (a
 * fraction of the count); then datagrams, each byte a kind and a repeat:
 *   bits 6-7: 0 the size before, 1 shorter than it (ends a run), 2 a size
 *   from the next byte (a few of them the edges: 0, 1472, 65507, 65508 ...),
 *   3 bit 0 a bad slot (zero bytes in the other sources), else longer
 *   than the size before; bits 0-5: repeats (kinds 0 and 2).
 *
 * Checked: what arrives is what was sent, every datagram once and in order,
 * byte for byte (a slot shorter than its datagram holds its start, marked
 * truncated; in place, the bytes at where[k] in the stage, never past it),
 * each slot classified as a read's and with the sender's address;
 * a send over the family's maximum sends nothing and says where; the send's
 * status (return value, written, next, error) and flags (the kernel never
 * refuses a run); a batch that is not filled leaves staged only a message
 * not yet begun with more datagrams than the slots left (a GRO'd run goes
 * whole into one batch when it can), a receive on another socket while
 * messages are staged is -EXDEV and
 * changes nothing.  Read as delivered (GRO on): no message holds more than
 * TT_UDP_MAX_SEGMENTS datagrams or more than the family's maximum, all of
 * one size but the last, and each is a run exactly as gather() plans it:
 * gathered whole, split only where a sendmmsg ends (64 messages or 512
 * datagrams); one too long for loopback's GSO may arrive datagram by
 * datagram, as the kernel segments it.  Every wait is bounded. */
#define _GNU_SOURCE
#include "tuntap.h"

#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define UNTRACED __attribute__((no_sanitize("coverage")))
#define SOL_UDP_ 17
#define UDP_GRO_ 104
#define BODY ((int64_t)0xffffffff)
#define VERDICT(p) ((int)(((p) >> TT_PACK_VERDICT_SHIFT) & 0xff))
#define PROTO(p) ((int)(((p) >> TT_PACK_PROTO_SHIFT) & 0xffff))

enum {
    MAX_DATAGRAMS = 1024,
    MAX_BYTES = 2 << 20,
    HEADER = 4,
    WAIT_MS = 50,
    WAITS = 40, /* 2 s in all for what was sent to arrive */
    SEND_IOVS = 512,
    OVER = TT_UDP4_MAX_PAYLOAD + 1,
};

#define fail(...)                                                                          \
    do {                                                                                   \
        fprintf(stderr, "fuzz_udp_io: " __VA_ARGS__);                                      \
        fputc('\n', stderr);                                                               \
        abort();                                                                           \
    } while (0)

struct dgram {
    unsigned char *p;
    size_t len;
    int bad; /* a bad slot of a batch: not sent */
};

static struct dgram dg[MAX_DATAGRAMS];
static unsigned char msgbuf[TT_UDP_MSG_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* Sockets only in a namespace of this process's own: never the one it
     * was started in. */
    if (unshare(CLONE_NEWNET) != 0) {
        fprintf(stderr, "fuzz_udp_io: unshare(CLONE_NEWNET): %s (needs CAP_SYS_ADMIN); "
                        "not running in the caller's namespace\n", strerror(errno));
        abort();
    }
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) != 0)
        fail("lo: %s", strerror(errno));
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0)
        fail("lo up: %s", strerror(errno));
    close(s);
    return 0;
}

/* The bytes of datagram i: its number first, so that no two are alike. */
static UNTRACED void fill(unsigned char *p, size_t len, uint32_t i)
{
    for (size_t j = 0; j < len; j++)
        p[j] = (unsigned char)(i * 131 + j * 17 + (i >> 8));
    if (len >= 2)
        p[0] = (unsigned char)(i >> 8), p[1] = (unsigned char)i;
}

static UNTRACED size_t size_of(uint8_t v)
{
    static const size_t edges[] = {0, 1, 2, 1200, 1472, 1473, 8192, 9000, 16000, 32768,
                                   65000, TT_UDP4_MAX_PAYLOAD, OVER, 21845, 65535, 3};
    if (v < 240)
        return 1 + (size_t)v * 7; /* 1 .. 1674 */
    return edges[v - 240];
}

static UNTRACED uint32_t parse_datagrams(const uint8_t *d, size_t n, int batch)
{
    uint32_t count = 0;
    size_t prev = 100, bytes = 0;
    for (size_t at = 0; at < n && count < MAX_DATAGRAMS && bytes < MAX_BYTES;) {
        uint8_t b = d[at++];
        unsigned kind = b >> 6, reps = 1;
        size_t len = prev;
        int bad = 0;
        switch (kind) {
        case 0:
            reps = 1 + (b & 63);
            break;
        case 1:
            len = prev * (b & 63) / 64;
            break;
        case 2:
            len = size_of(at < n ? d[at] : 0);
            at++;
            reps = 1 + (b & 63);
            break;
        default:
            if (b & 1)
                bad = 1, len = 0;
            else
                len = prev + 1 + ((b >> 1) & 31);
            break;
        }
        if (len > OVER)
            len = OVER;
        for (unsigned r = 0; r < reps && count < MAX_DATAGRAMS && bytes < MAX_BYTES; r++) {
            dg[count].len = len;
            dg[count].bad = bad && batch;
            bytes += len;
            count++;
        }
        if (!bad)
            prev = len;
    }
    return count;
}

/* ---- receiving with tt_udp_recv ------------------------------------------- */

struct expectation {
    uint32_t count, next; /* datagrams; the next to arrive */
    uint16_t port;        /* the sender's */
    int kind;
};

static UNTRACED uint32_t next_sent(const struct expectation *e, uint32_t i)
{
    while (i < e->count && dg[i].bad)
        i++;
    return i;
}

/* Slot k holds datagram i as a read's slot would (cf. fuzz_udp.c). */
static UNTRACED void check_slot(const struct expectation *e, uint32_t i, const char *slot,
                                size_t slot_size, int64_t got, const struct tt_udp_addr *a)
{
    const struct dgram *d = &dg[i];
    size_t copy = d->len < slot_size ? d->len : slot_size;
    if (memcmp(slot, d->p, copy) != 0)
        fail("datagram %u (%zu bytes) is not in its slot", i, d->len);
    int64_t own = tt_classify((const char *)d->p, copy, e->kind);
    if (own < 0 || got < 0)
        fail("datagram %u classified %lld", i, (long long)got);
    int verdict = copy < d->len ? TT_PKT_TRUNCATED : VERDICT(own);
    if (verdict == TT_PKT_OK ? got != own
                             : VERDICT(got) != verdict || (size_t)(got & BODY) != copy ||
                                   PROTO(got) != PROTO(own))
        fail("datagram %u (%zu bytes, slot %zu): result %llx, own %llx", i, d->len, slot_size,
             (long long)got, (long long)own);
    static const uint8_t loopback[4] = {127, 0, 0, 1};
    if (a->family != AF_INET || a->port != e->port || memcmp(a->addr, loopback, 4) != 0)
        fail("datagram %u from family %u port %u", i, a->family, a->port);
}

/* The datagrams a staged message holds (as udp.c splits it). */
static UNTRACED size_t staged_datagrams(const struct tt_udp_msg *m)
{
    size_t len = m->len < TT_UDP_MSG_MAX ? m->len : TT_UDP_MSG_MAX;
    size_t seg = m->seg_size == 0 || m->seg_size >= len ? len : m->seg_size;
    return len == 0 ? 1 : (len + seg - 1) / seg;
}

static UNTRACED void receive_batches(struct expectation *e, int rx, int other, uint32_t max_msgs,
                                     uint32_t capacity, size_t slot_size, uint32_t seed,
                                     int in_place)
{
    char *buf = malloc((size_t)capacity * slot_size);
    int64_t *results = malloc(sizeof(int64_t) * capacity);
    struct tt_udp_addr *addrs = malloc(sizeof(struct tt_udp_addr) * capacity);
    char *stage = malloc((size_t)max_msgs * TT_UDP_MSG_MAX);
    struct tt_udp_msg *msgs = malloc(sizeof(struct tt_udp_msg) * max_msgs);
    uint32_t *where = in_place ? malloc(sizeof(uint32_t) * capacity) : NULL;
    if (!buf || !results || !addrs || !stage || !msgs || (in_place && !where))
        abort();
    struct tt_udp_rx stg = {.stage = stage, .stage_len = (size_t)max_msgs * TT_UDP_MSG_MAX,
                            .msgs = msgs, .max_msgs = max_msgs, .fd = -1};
    uint32_t waits = 0;
    for (uint32_t call = 0;; call++) {
        if (call > 2 * MAX_DATAGRAMS + WAITS)
            fail("no end to the receives");
        seed = seed * 1103515245u + 12345u;
        uint32_t cap = 1 + (seed >> 16) % capacity; /* batches of any size up to it */
        if (((seed >> 8) & 7) == 0 && stg.head < stg.count) {
            struct tt_udp_rx before = stg;
            struct tt_batch b = {.buf = buf, .buf_len = (size_t)cap * slot_size,
                                 .slot_size = slot_size, .results = results, .capacity = cap,
                                 .kind = e->kind};
            int r = tt_udp_recv(other, -1, &b, addrs, &stg, 0);
            if (r != -EXDEV || memcmp(&before, &stg, sizeof stg) != 0)
                fail("a receive on another socket with messages staged: %d", r);
        }
        int done = next_sent(e, e->next) >= e->count;
        struct tt_batch b = {.buf = buf, .buf_len = (size_t)cap * slot_size,
                             .slot_size = slot_size, .results = results, .capacity = cap,
                             .count = 99, .bad = 99, .kind = e->kind, .origin = 7,
                             .where = where, .in_place = 5};
        int wait = !done && waits > 0 ? WAIT_MS : 0;
        int r = tt_udp_recv(rx, -1, &b, addrs, &stg, wait);
        if (r == -EAGAIN) {
            if (done)
                break; /* and nothing more than was sent */
            if (++waits > WAITS)
                fail("datagram %u of %u never arrived", next_sent(e, e->next), e->count);
            continue;
        }
        if (r <= 0 || (uint32_t)r > cap)
            fail("tt_udp_recv into %u slots: %d", cap, r);
        if (done)
            fail("%d datagrams more than were sent", r);
        uint32_t bad = 0;
        for (int k = 0; k < r; k++) {
            uint32_t i = next_sent(e, e->next);
            if (i >= e->count)
                fail("more datagrams than were sent");
            const char *slot = buf + (size_t)k * slot_size;
            if (in_place) {
                size_t n = results[k] < 0 ? 0 : (size_t)(results[k] & BODY);
                if (b.stage != stage || b.stage_len != stg.stage_len || where[k] > b.stage_len ||
                    n > b.stage_len - where[k])
                    fail("slot %d in place at %u (%zu bytes) of %zu", k, where[k], n,
                         b.stage_len);
                slot = stage + where[k];
            }
            check_slot(e, i, slot, slot_size, results[k], &addrs[k]);
            if (results[k] < 0 || VERDICT(results[k]) != TT_PKT_OK)
                bad++;
            e->next = i + 1;
        }
        if (b.count != (uint32_t)r || b.bad != bad || b.origin != TT_ORIGIN_UDP ||
            b.in_place != in_place)
            fail("batch count %u bad %u origin %d in place %d, for %d slots, %u bad", b.count,
                 b.bad, b.origin, b.in_place, r, bad);
        if ((uint32_t)r < cap && stg.head != stg.count &&
            (stg.offset != 0 || staged_datagrams(&msgs[stg.head]) <= cap - (uint32_t)r))
            fail("%d of %u slots filled with messages %u..%u staged (offset %u)", r, cap,
                 stg.head, stg.count, stg.offset);
        if (stg.head > stg.count || stg.count > max_msgs)
            fail("staging head %u count %u of %u", stg.head, stg.count, max_msgs);
    }
    free(buf);
    free(results);
    free(addrs);
    free(stage);
    free(msgs);
    free(where);
}

/* ---- receiving as delivered -------------------------------------------------- */

/* One run, as gather() in udp.c builds them: a datagram and those after it
 * of its size (the last may be shorter, none empty, no bad slot between),
 * at most TT_UDP_MAX_SEGMENTS and the family's maximum in bytes, cut where
 * a sendmmsg is full (TT_UDP_MAX_MSGS messages or SEND_IOVS datagrams). */
struct run {
    uint32_t first, n;
    size_t total;
};

static UNTRACED uint32_t plan_runs(uint32_t from, uint32_t count, int gso, struct run *runs)
{
    uint32_t n_runs = 0, msgs = 0, iovs = 0;
    for (uint32_t i = from; i < count;) {
        if (dg[i].bad) {
            i++;
            continue;
        }
        if (msgs == TT_UDP_MAX_MSGS || iovs >= SEND_IOVS)
            msgs = iovs = 0; /* the next sendmmsg */
        struct run *r = &runs[n_runs++];
        size_t size = dg[i].len;
        *r = (struct run){i++, 1, size};
        iovs++;
        while (gso && size > 0 && i < count && r->n < TT_UDP_MAX_SEGMENTS && iovs < SEND_IOVS &&
               !dg[i].bad && dg[i].len > 0 && dg[i].len <= size &&
               r->total + dg[i].len <= TT_UDP4_MAX_PAYLOAD) {
            r->total += dg[i].len;
            r->n++;
            iovs++;
            if (dg[i++].len < size)
                break;
        }
        msgs++;
    }
    return n_runs;
}

/* A run this long, with its headers, is more than loopback takes as one GSO
 * packet (its gso_max_size, 64 KiB, counts the 14-byte link header too):
 * the kernel segments it before delivery, so it arrives datagram by
 * datagram even to a GRO socket. */
static UNTRACED int kernel_segments(const struct run *r)
{
    return r->n > 1 && r->total + 8 + 20 + 14 >= 65536;
}

static UNTRACED void receive_messages(struct expectation *e, int rx, const struct run *runs,
                                      uint32_t n_runs, int gso)
{
    uint32_t waits = 0, ri = 0, split = 0;
    for (uint32_t guard = 0;; guard++) {
        if (guard > MAX_DATAGRAMS + WAITS + 1)
            fail("no end to the messages");
        union {
            struct cmsghdr align;
            char bytes[TT_UDP_CONTROL_LEN];
        } control;
        struct iovec iov = {.iov_base = msgbuf, .iov_len = sizeof msgbuf};
        struct msghdr h = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.bytes,
                           .msg_controllen = sizeof control.bytes};
        int done = next_sent(e, e->next) >= e->count;
        ssize_t n = recvmsg(rx, &h, MSG_DONTWAIT);
        if (n < 0) {
            if (errno != EAGAIN)
                fail("recvmsg: %s", strerror(errno));
            if (done)
                break;
            if (++waits > WAITS)
                fail("datagram %u of %u never arrived", next_sent(e, e->next), e->count);
            struct pollfd p = {.fd = rx, .events = POLLIN};
            poll(&p, 1, WAIT_MS);
            continue;
        }
        if (done)
            fail("a message of %zd bytes more than was sent", n);
        if (h.msg_flags & MSG_TRUNC)
            fail("a message longer than %zu bytes", sizeof msgbuf);
        size_t seg = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&h); c != NULL; c = CMSG_NXTHDR(&h, c))
            if (c->cmsg_level == SOL_UDP_ && c->cmsg_type == UDP_GRO_) {
                int v;
                memcpy(&v, CMSG_DATA(c), sizeof v);
                seg = (size_t)v;
            }
        size_t len = (size_t)n;
        if (len > TT_UDP4_MAX_PAYLOAD)
            fail("a message of %zu bytes", len);
        if (seg == 0 || seg >= len)
            seg = len;
        uint32_t first = 0, pieces = 0;
        for (size_t off = 0; off < len || (len == 0 && pieces == 0);) {
            size_t piece = len - off < seg ? len - off : seg;
            uint32_t i = next_sent(e, e->next);
            if (i >= e->count)
                fail("more datagrams than were sent");
            if (dg[i].len != piece || memcmp(msgbuf + off, dg[i].p, piece) != 0)
                fail("datagram %u (%zu bytes) arrived as %zu other bytes (a message of %zu in "
                     "pieces of %zu)", i, dg[i].len, piece, len, seg);
            if (pieces++ == 0)
                first = i;
            e->next = i + 1;
            off += piece;
            if (len == 0)
                break;
        }
        if (pieces > TT_UDP_MAX_SEGMENTS || (!gso && pieces > 1))
            fail("a message of %u datagrams (%zu bytes in pieces of %zu)", pieces, len, seg);
        if (runs == NULL)
            continue;
        /* The runs as planned: each one message, or one too long for
         * loopback's GSO datagram by datagram. */
        if (ri >= n_runs || first != runs[ri].first + split)
            fail("datagram %u arrived out of the runs (run %u of %u)", first, ri, n_runs);
        const struct run *r = &runs[ri];
        if (split == 0 && pieces == r->n) {
            ri++;
        } else if (pieces == 1 && kernel_segments(r)) {
            if (++split == r->n)
                ri++, split = 0;
        } else {
            fail("a message of datagrams %u..%u (%zu bytes), but the run is %u..%u (%zu bytes)",
                 first, first + pieces - 1, len, r->first, r->first + r->n - 1, r->total);
        }
    }
}

/* ---- the input ------------------------------------------------------------------ */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HEADER + 1)
        return 0;
    static const uint32_t stagings[4] = {1, 3, 8, TT_UDP_MAX_MSGS};
    static const size_t slots[8] = {1, 64, 256, 1500, 2048, 9000, TT_UDP_MSG_MAX,
                                    TT_BATCH_MAX_SLOT};
    int own_reads = data[0] & 1, want_gso = (data[0] >> 1) & 1, gro = (data[0] >> 2) & 1;
    int form = (data[0] >> 3) & 3, connected = (data[0] >> 5) & 1;
    uint32_t max_msgs = stagings[data[0] >> 6];
    uint32_t capacity = 1 + (data[1] & 15);
    int kind = data[1] >> 7 ? TT_KIND_TAP : TT_KIND_TUN;
    size_t slot_size = slots[data[2] & 7];
    if (own_reads)
        gro = 1; /* the messages as they were sent */

    uint32_t count = parse_datagrams(data + HEADER, size - HEADER, form == 2);
    if (count == 0)
        return 0;
    uint32_t start = (uint32_t)((uint64_t)data[3] * count / 256);
    size_t total = 0, widest = 1;
    for (uint32_t i = 0; i < count; i++) {
        dg[i].p = malloc(dg[i].len ? dg[i].len : 1);
        if (dg[i].p == NULL)
            abort();
        fill(dg[i].p, dg[i].len, i);
        total += dg[i].len;
        if (dg[i].len + 1 > widest)
            widest = dg[i].len + 1;
    }
    /* The three sources: exact-size heap buffers each. */
    char **bufs = malloc(sizeof(char *) * count);
    size_t *lens = malloc(sizeof(size_t) * count);
    size_t *offsets = malloc(sizeof(size_t) * (count + 1));
    char *joined = malloc(total ? total : 1);
    if (!bufs || !lens || !offsets || !joined)
        abort();
    offsets[0] = 0;
    for (uint32_t i = 0; i < count; i++) {
        bufs[i] = (char *)dg[i].p;
        lens[i] = dg[i].len;
        memcpy(joined + offsets[i], dg[i].p, dg[i].len);
        offsets[i + 1] = offsets[i] + dg[i].len;
    }
    struct tt_packets src;
    memset(&src, 0, sizeof src);
    struct tt_batch batch;
    memset(&batch, 0, sizeof batch);
    char *slotbuf = NULL;
    int64_t *results = NULL;
    if (form == 2) {
        /* No more than 8 MiB of slots: fewer datagrams when they are large. */
        if ((size_t)count * widest > (8u << 20))
            count = (uint32_t)((8u << 20) / widest);
        if (start > count)
            start = count;
        slotbuf = malloc((size_t)count * widest);
        results = malloc(sizeof(int64_t) * count);
        if (slotbuf == NULL || results == NULL)
            abort();
        for (uint32_t i = 0; i < count; i++) {
            memcpy(slotbuf + (size_t)i * widest, dg[i].p, dg[i].len);
            results[i] = dg[i].bad ? -EBADMSG : (int64_t)dg[i].len;
        }
        batch = (struct tt_batch){.buf = slotbuf, .buf_len = (size_t)count * widest,
                                  .slot_size = widest, .results = results, .capacity = count,
                                  .count = count, .kind = TT_KIND_TUN};
        src.batch = &batch;
    } else if (form == 1) {
        src.joined = joined;
        src.joined_len = total;
        src.offsets = offsets;
        src.count = count;
    } else {
        src.bufs = bufs;
        src.lens = lens;
        src.count = count;
    }

    int rx = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int tx = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (rx < 0 || tx < 0)
        fail("socket: %s", strerror(errno));
    int room = 64 << 20; /* every datagram sent fits, none is dropped */
    if (setsockopt(rx, SOL_SOCKET, SO_RCVBUFFORCE, &room, sizeof room) != 0)
        fail("SO_RCVBUFFORCE: %s", strerror(errno));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (bind(rx, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(rx, (struct sockaddr *)&a, &alen) != 0)
        fail("bind: %s", strerror(errno));
    struct sockaddr_in from = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t flen = sizeof from;
    if (bind(tx, (struct sockaddr *)&from, sizeof from) != 0 ||
        getsockname(tx, (struct sockaddr *)&from, &flen) != 0)
        fail("bind: %s", strerror(errno));
    if (connected && connect(tx, (struct sockaddr *)&a, sizeof a) != 0)
        fail("connect: %s", strerror(errno));
    int rx_bits = tt_udp_setup(rx, gro);
    int tx_bits = tt_udp_setup(tx, 0);
    if (rx_bits < 0 || tx_bits < 0)
        fail("tt_udp_setup: %d %d", rx_bits, tx_bits);
    uint32_t flags = want_gso ? (uint32_t)tx_bits & TT_UDP_GSO : 0;
    int gso = (flags & TT_UDP_GSO) != 0;
    struct tt_udp_addr to = {.family = AF_INET, .port = ntohs(a.sin_port)};
    memcpy(to.addr, &a.sin_addr, 4);

    /* Send: refused as a whole while an oversized datagram is ahead, then
     * from past it; resumed where a full socket stopped it. */
    uint32_t at = start, sent_from = start;
    int resumed = 0;
    for (uint32_t call = 0;; call++) {
        if (call > count + 8)
            fail("no end to the sends");
        uint32_t before = flags;
        struct tt_write_status st;
        memset(&st, 0xee, sizeof st);
        st.sent = NULL;
        st.sent_len = 0;
        int r = tt_udp_send(tx, -1, &src, at, connected ? NULL : &to, AF_INET, &flags, 0, &st);
        if (r < 0)
            fail("tt_udp_send: %d", r);
        if ((uint32_t)r != st.written)
            fail("returned %d, written %u", r, st.written);
        if (flags != before)
            fail("the kernel refused a run (flags %u -> %u)", before, flags);
        uint32_t over = at;
        while (over < count && (dg[over].bad || dg[over].len <= TT_UDP4_MAX_PAYLOAD))
            over++;
        if (over < count) {
            if (r != 0 || st.error != -EMSGSIZE || st.next != over)
                fail("datagram %u of %zu bytes: sent %d, error %d at %u", over, dg[over].len,
                     r, st.error, st.next);
            at = sent_from = over + 1;
            continue;
        }
        if (st.error == -EAGAIN) {
            if (st.written == 0 || st.next <= at || st.next >= count)
                fail("EAGAIN at %u from %u, %u written", st.next, at, st.written);
            at = st.next;
            resumed = 1;
            continue;
        }
        uint32_t want = 0;
        for (uint32_t i = at; i < count; i++)
            want += !dg[i].bad;
        if (st.error != 0 || st.next != count || st.written != want)
            fail("sent %u of %u from %u: error %d next %u", st.written, want, at, st.error,
                 st.next);
        break;
    }

    struct expectation e = {.count = count, .next = sent_from, .port = ntohs(from.sin_port),
                            .kind = kind};
    if (own_reads) {
        /* Runs are checked whole when the receiver sees them as sent. */
        struct run *runs = NULL;
        uint32_t n_runs = 0;
        if ((rx_bits & TT_UDP_GRO) && !resumed) {
            runs = malloc(sizeof(struct run) * (count ? count : 1));
            if (runs == NULL)
                abort();
            n_runs = plan_runs(sent_from, count, gso, runs);
        }
        receive_messages(&e, rx, runs, n_runs, gso);
        free(runs);
    } else {
        receive_batches(&e, rx, tx, max_msgs, capacity, slot_size,
                        (uint32_t)size * 2654435761u ^ data[size - 1], (data[1] >> 4) & 1);
    }

    close(rx);
    close(tx);
    for (uint32_t i = 0; i < MAX_DATAGRAMS && dg[i].p != NULL; i++) {
        free(dg[i].p);
        dg[i].p = NULL;
    }
    free(bufs);
    free(lens);
    free(offsets);
    free(joined);
    free(slotbuf);
    free(results);
    return 0;
}
