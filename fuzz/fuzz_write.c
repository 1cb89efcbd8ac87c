/* libFuzzer harness for the write path of an offload queue: tt_queue_write
 * with coalescing, sent marks, resumed calls and all three sources (pointer
 * arrays, one joined buffer with offsets, a batch's slots), on hundreds of
 * packets of up to 8 flows, so that plans cross the 256-position lookahead
 * and the 512-slot flow cache wraps.  The queue's fd is one end of an
 * AF_UNIX SOCK_SEQPACKET socketpair: every write is one message, read back
 * from the other end after each call and segmented again (tt_segment).
 *
 * Input: a header, then one byte per packet (used again and again when the
 * header asks for more packets than there are bytes):
 *   [0]  bits 0-1 source (arrays, joined, batch, a batch in place: its
 *        packets left where a UDP receive would leave them, one after the
 *        other in a staging area, at where[k]), bit 2 USO,
 *        bits 3-4 write limit, bits 5-6 repeat (x1, x2, x4, x16), bit 7 a
 *        small send buffer (more writes stop at EAGAIN and are resumed)
 *   [1]  flow f is IPv6 (bit f)   [2] flow f is UDP   [3] TCP options
 *   [4..11] payload size of flow f (2 + 6 * byte)
 *   [12] bits 0-1: rounds - 1; then 3 bytes per round: the start (a
 *        fraction of the count), the seed of the marks set before it, and
 *        bit 0 marks, bit 1 coalesce, bit 2 tx_busy held, bits 3-4 extra
 *        marks past the count, bit 5 (joined) a buffer that ends a byte
 *        short of the last packet; bits 2-7 of [12]: the coalescing buffer's
 *        size past its least (KiB).
 *   packet byte: bits 0-2 flow, bits 3-6 variant, bit 7 its alternative:
 *     0-8 the flow's next segment (alternative of 0: ICMP between the
 *     flow's addresses; of 1: a TCP SYN), 9 shorter (ends a run), 10 TCP
 *     PSH or UDP without a checksum, 11 a checksum that fails, 12 after a
 *     gap in the sequence, 13 of no flow that can be told (an IPv4
 *     fragment, IPv6 with a hop-by-hop header; alternative: 12 bytes that
 *     say IPv4), 14 not IP (alternative: empty), 15 over the write limit.
 *
 * A round writes from its start, resuming after each stop (EAGAIN: at
 * `next`; a refusal: past it) until the end.  Checked: every packet that
 * should go out does so exactly once (identified by the tag in its last two
 * bytes, compared byte for byte; segments of a super-packet up to their
 * checksums, which must hold); nothing marked, bad or refused goes out;
 * each flow keeps its order, a packet of unknown flow is passed by nothing,
 * a refusal stops before anything after it went out; without marks nothing
 * is reordered at all; a super-packet is at most TT_COALESCE_MAX packets
 * within TT_COALESCE_LOOKAHEAD positions; the status (return value,
 * written, next, error, refused, partial) and the marks after every call are
 * exactly what the contract in cdef/io.h says; memory safety (every packet
 * is an exact-size heap copy).  Every read of the socket is non-blocking
 * and every loop is bounded. */
#include "tuntap.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
    MAX_PACKETS = 2048,
    FLOWS = 8,
    HEADER = 13,
    SEG_SLOT = 16384,
    MSG_BUF = 70000,
    /* Order classes: flows 0..7, their ICMP 8..15. */
    BARRIER = -1,
    NO_CLASS = -2,
};
#define TUN_F_CSUM_ 0x01u
#define TUN_F_TSO4_ 0x02u
#define TUN_F_TSO6_ 0x04u

/* What a packet is expected to do. */
enum { GOES = 0, REFUSED_NOT_IP = 1, REFUSED_SIZE = 2 };

struct packet {
    unsigned char *p;
    size_t len;
    int cls;    /* order class, BARRIER or NO_CLASS (never goes out) */
    int expect; /* GOES, REFUSED_* */
    int bad;    /* a bad slot of a batch (skipped) */
};

struct flow {
    int v6, udp, opts;
    size_t size;
    uint32_t seq;
    uint16_t id;
};

static struct packet pk[MAX_PACKETS];
static unsigned char msg[MSG_BUF];
static char seg_slots[(size_t)TT_COALESCE_MAX * SEG_SLOT];
static int64_t seg_results[TT_COALESCE_MAX];

/* The harness's own bookkeeping is left out of the coverage feedback (and
 * its comparison tracing, which would cost more than the code under test):
 * only the shim's branches guide the fuzzer. */
#define UNTRACED __attribute__((no_sanitize("coverage")))

#define fail(...)                                                                          \
    do {                                                                                   \
        fprintf(stderr, "fuzz_write: " __VA_ARGS__);                                       \
        fputc('\n', stderr);                                                               \
        abort();                                                                           \
    } while (0)

static UNTRACED unsigned be16(const unsigned char *p)
{
    return ((unsigned)p[0] << 8) | p[1];
}

static UNTRACED void put_be16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

/* RFC 1071, written here independently of the shim's. */
static UNTRACED uint32_t sum_bytes(const unsigned char *p, size_t len, uint32_t sum)
{
    for (size_t k = 0; k + 1 < len; k += 2)
        sum += be16(p + k);
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    return sum;
}

static UNTRACED unsigned fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return sum;
}

static UNTRACED uint32_t pseudo(const unsigned char *ip, int v6, unsigned proto, size_t l4_len)
{
    uint32_t sum = v6 ? sum_bytes(ip + 8, 32, 0) : sum_bytes(ip + 12, 8, 0);
    return sum + proto + (uint32_t)(l4_len >> 16) + (uint32_t)(l4_len & 0xffff);
}

/* Does the L4 checksum of a TCP/UDP packet with an l3-byte IP header hold? */
static UNTRACED int l4_ok(const unsigned char *p, size_t len, size_t l3, int v6, unsigned proto)
{
    return fold(sum_bytes(p + l3, len - l3, pseudo(p, v6, proto, len - l3))) == 0xffff;
}

static UNTRACED void set_l4_sum(unsigned char *p, size_t len, size_t l3, int v6, unsigned proto)
{
    size_t at = l3 + (proto == 17 ? 6 : 16);
    put_be16(p + at, 0);
    unsigned c = ~fold(sum_bytes(p + l3, len - l3, pseudo(p, v6, proto, len - l3))) & 0xffff;
    put_be16(p + at, proto == 17 && c == 0 ? 0xffff : c);
}

/* The IP header of flow fi's packets (l3 bytes; lengths and the IPv4
 * checksum filled in later). */
static UNTRACED size_t ip_header(unsigned char *p, const struct flow *f, int fi, unsigned proto)
{
    if (f->v6) {
        static const unsigned char src[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
        memset(p, 0, 40);
        p[0] = 0x60;
        p[6] = (unsigned char)proto;
        p[7] = 64;
        memcpy(p + 8, src, 16);
        memcpy(p + 24, src, 16);
        p[24 + 13] = 1;
        p[24 + 15] = (unsigned char)(fi + 1);
        return 40;
    }
    memset(p, 0, 20);
    p[0] = 0x45;
    put_be16(p + 4, f->id);
    p[6] = 0x40; /* DF */
    p[8] = 64;
    p[9] = (unsigned char)proto;
    p[12] = 192, p[13] = 0, p[14] = 2, p[15] = 1;
    p[16] = 198, p[17] = 51, p[18] = 100, p[19] = (unsigned char)(fi + 1);
    return 20;
}

static UNTRACED void ip_lengths(unsigned char *p, size_t len, int v6)
{
    if (v6) {
        put_be16(p + 4, (unsigned)(len - 40));
        return;
    }
    put_be16(p + 2, (unsigned)len);
    put_be16(p + 10, 0);
    put_be16(p + 10, ~fold(sum_bytes(p, 20, 0)) & 0xffff);
}

/* Payload bytes of packet k, its tag (k) in the last two. */
static UNTRACED void payload(unsigned char *p, size_t n, unsigned k, int fi)
{
    for (size_t j = 0; j < n; j++)
        p[j] = (unsigned char)(k * 31 + j * 7 + (unsigned)fi);
    if (n >= 2)
        put_be16(p + n - 2, k);
}

/* Builds packet k from its byte d into buf (room: 65600); its length. */
static size_t make_packet(unsigned char *buf, struct flow *flows, size_t limit, uint8_t d,
                          unsigned k, struct packet *info)
{
    int fi = d & 7, variant = (d >> 3) & 15, alt = d >> 7;
    struct flow *f = &flows[fi];
    info->cls = fi;
    info->expect = GOES;
    if (variant == 14) { /* not IP (or empty): refused */
        info->cls = BARRIER;
        info->expect = REFUSED_NOT_IP;
        if (alt)
            return 0;
        size_t n = 3 + k % 30;
        payload(buf, n, k, fi);
        buf[0] &= 0x3f;
        return n;
    }
    if (variant == 13 && alt) { /* says IPv4, but too short to be: unknown flow */
        info->cls = BARRIER;
        payload(buf, 12, k, fi);
        buf[0] = 0x45;
        return 12;
    }
    int icmp = alt && variant == 0;
    unsigned proto = icmp ? (f->v6 ? 58u : 1u) : f->udp ? 17u : 6u;
    size_t l3 = ip_header(buf, f, fi, proto);
    size_t l4h = icmp || f->udp ? 8 : f->opts ? 32 : 20;
    size_t n = f->size;
    if (variant == 9)
        n = n / 2 + 2 < n ? n / 2 + 2 : n;
    int over = variant == 15 && limit < TT_GSO_MAX;
    if (over)
        n = limit + 1 + (k & 7) - l3 - l4h; /* refused: over the write limit */
    size_t len = l3 + l4h + n;
    unsigned char *l4 = buf + l3;
    memset(l4, 0, l4h);
    payload(l4 + l4h, n, k, fi);
    if (variant == 12) { /* a gap: the next in sequence is missing */
        f->seq += (uint32_t)f->size;
        f->id++;
    }
    if (icmp) {
        l4[0] = f->v6 ? 128 : 8;
        info->cls = FLOWS + fi;
    } else if (f->udp) {
        put_be16(l4, 1000 + (unsigned)fi);
        put_be16(l4 + 2, 2000);
        put_be16(l4 + 4, (unsigned)(len - l3));
    } else {
        put_be16(l4, 1000 + (unsigned)fi);
        put_be16(l4 + 2, 2000);
        l4[4] = (unsigned char)(f->seq >> 24), l4[5] = (unsigned char)(f->seq >> 16);
        l4[6] = (unsigned char)(f->seq >> 8), l4[7] = (unsigned char)f->seq;
        l4[11] = 1; /* ack */
        l4[12] = (unsigned char)((l4h / 4) << 4);
        l4[13] = 0x10; /* ACK */
        if (variant == 10)
            l4[13] |= 0x08; /* PSH: the last of its run */
        if (variant == 1 && alt)
            l4[13] = 0x02; /* SYN: of the flow, never merged */
        put_be16(l4 + 14, 512);
        if (f->opts) {
            l4[20] = 1, l4[21] = 1, l4[22] = 8, l4[23] = 10;
            l4[27] = (unsigned char)fi;
        }
    }
    if (!over && !icmp) {
        f->seq += (uint32_t)n;
        f->id++;
    }
    if (!f->v6)
        put_be16(buf + 4, f->id);
    ip_lengths(buf, len, f->v6);
    if (!icmp)
        set_l4_sum(buf, len, l3, f->v6, proto);
    if (variant == 10 && f->udp && !icmp)
        put_be16(l4 + 6, 0); /* no UDP checksum: never merged */
    if (variant == 11 && !icmp)
        l4[f->udp ? 6 : 16] ^= 0x5a; /* a checksum that fails: never merged */
    if (variant == 13) { /* of no flow that can be told */
        info->cls = BARRIER;
        if (f->v6) {
            buf[6] = 0; /* a hop-by-hop header */
        } else {
            buf[6] = 0x20; /* more fragments */
            ip_lengths(buf, len, 0);
        }
    }
    if (len > limit) { /* refused, and of no flow for the coalescing either */
        info->cls = BARRIER;
        info->expect = REFUSED_SIZE;
    }
    return len;
}

/* Bytes of a segment that may differ from its packet: the checksums. */
static UNTRACED int is_checksum(const unsigned char *orig, size_t k)
{
    int v6 = (orig[0] >> 4) == 6;
    size_t l3 = v6 ? 40 : 20;
    size_t at = l3 + ((v6 ? orig[6] : orig[9]) == 17 ? 6 : 16);
    return (!v6 && (k == 10 || k == 11)) || k == at || k == at + 1;
}

/* ---- one round: the calls from a start until every packet is out ---------- */

struct round {
    uint32_t count, start;
    int marks, coalesce, busy;
    int cut;          /* the joined buffer ends a byte short: */
    uint32_t cut_from; /* the packets from here on end past it */
    uint8_t *sent, *model, *expected, *out_now;
    int32_t *pos;
    uint32_t n_out, out_call;
    int32_t last_in_class[2 * FLOWS];
    int32_t last_index;
    size_t tx_len;
};

/* Packet k came out (alone or as a segment of a super-packet). */
static UNTRACED void came_out(struct round *r, uint32_t k)
{
    if (k >= r->count)
        fail("a packet with tag %u, of %u", k, r->count);
    if (r->pos[k] >= 0)
        fail("packet %u went out twice", k);
    if (!r->expected[k])
        fail("packet %u went out: marked, before the start, bad or refused", k);
    int cls = pk[k].cls;
    if (cls >= 0) {
        if (r->last_in_class[cls] >= (int32_t)k)
            fail("flow %d out of order: %u after %d", cls, k, r->last_in_class[cls]);
        r->last_in_class[cls] = (int32_t)k;
    }
    if ((!r->marks || !r->coalesce || r->busy) && (int32_t)k <= r->last_index)
        fail("reordered without grouping: %u after %d", k, r->last_index);
    if ((int32_t)k > r->last_index)
        r->last_index = (int32_t)k;
    r->pos[k] = (int32_t)r->n_out++;
    r->out_now[k] = 1;
    r->out_call++;
}

/* Tag of a packet: its last two bytes. */
static UNTRACED uint32_t tag_of(const unsigned char *p, size_t len)
{
    if (len < 2)
        fail("a packet of %zu bytes came out", len);
    return be16(p + len - 2);
}

static UNTRACED void one_message(struct round *r, const unsigned char *m, size_t n)
{
    static const unsigned char zero[TT_VNET_HDR_LEN];
    if (n < TT_VNET_HDR_LEN)
        fail("a message of %zu bytes", n);
    if (memcmp(m, zero, TT_VNET_HDR_LEN) == 0) { /* one packet, as it was given */
        uint32_t k = tag_of(m + TT_VNET_HDR_LEN, n - TT_VNET_HDR_LEN);
        if (k >= r->count || pk[k].len != n - TT_VNET_HDR_LEN ||
            memcmp(pk[k].p, m + TT_VNET_HDR_LEN, pk[k].len) != 0)
            fail("a packet alone is not packet %u as given", k);
        came_out(r, k);
        return;
    }
    if (!r->coalesce || r->busy)
        fail("a super-packet from a write that may not coalesce");
    if (n > r->tx_len || n > TT_VNET_HDR_LEN + TT_GSO_MAX)
        fail("a super-packet of %zu bytes", n);
    uint32_t total = 0;
    int got = tt_segment((const char *)m, n, 0, seg_slots, SEG_SLOT, TT_COALESCE_MAX,
                         seg_results, &total);
    if (got < 2 || (uint32_t)got != total)
        fail("a super-packet segments into %d of %u", got, total);
    uint32_t first = 0;
    for (int s = 0; s < got; s++) {
        const unsigned char *seg = (const unsigned char *)seg_slots + (size_t)s * SEG_SLOT;
        int64_t res = seg_results[s];
        if (res < 0 || (res >> TT_PACK_VERDICT_SHIFT) != TT_PKT_OK)
            fail("a segment is not a good packet");
        size_t len = (size_t)(res & 0xffffffff);
        uint32_t k = tag_of(seg, len);
        if (k >= r->count || pk[k].len != len)
            fail("segment %d (tag %u, %zu bytes) is no packet given", s, k, len);
        if (memcmp(seg, pk[k].p, len) != 0)
            for (size_t b = 0; b < len; b++)
                if (seg[b] != pk[k].p[b] && !is_checksum(pk[k].p, b))
                    fail("segment %d differs from packet %u at byte %zu", s, k, b);
        int v6 = (seg[0] >> 4) == 6;
        if (!l4_ok(seg, len, v6 ? 40 : 20, v6, v6 ? seg[6] : seg[9]) ||
            (!v6 && fold(sum_bytes(seg, 20, 0)) != 0xffff))
            fail("segment %d (packet %u) has a bad checksum", s, k);
        if (s == 0)
            first = k;
        else if (k <= first || k - first > TT_COALESCE_LOOKAHEAD)
            fail("a super-packet of packets %u .. %u", first, k);
        if (pk[k].cls < 0 || pk[k].cls >= FLOWS || pk[k].cls != pk[first].cls)
            fail("packet %u merged into a super-packet of flow %d", k, pk[first].cls);
        came_out(r, k);
    }
}

/* Reads every message the write left (non-blocking, bounded). */
static UNTRACED void drain(struct round *r, int fd)
{
    for (uint32_t guard = 0; guard <= r->count + 1; guard++) {
        ssize_t n = recv(fd, msg, sizeof msg, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN)
                return;
            fail("recv: %s", strerror(errno));
        }
        one_message(r, msg, (size_t)n);
    }
    fail("more messages than packets");
}

static UNTRACED int marked(uint32_t j, uint8_t seed)
{
    uint32_t h = j * 0x9e3779b1u + seed * 0x85ebca6bu;
    h ^= h >> 15;
    h *= 0x2c1b3c6du;
    return (h >> 27) < (uint32_t)(seed & 7);
}

static UNTRACED void run_round(struct tt_queue *q, const struct tt_packets *src,
                               struct round *r, uint8_t seed, uint32_t extra, int fd)
{
    uint32_t count = r->count, sent_len = count + extra;
    r->sent = malloc(sent_len ? sent_len : 1);
    r->model = malloc(sent_len ? sent_len : 1);
    r->expected = calloc(count ? count : 1, 1);
    r->out_now = calloc(count ? count : 1, 1);
    r->pos = malloc(sizeof(int32_t) * (count ? count : 1));
    if (!r->sent || !r->model || !r->expected || !r->out_now || !r->pos)
        abort();
    for (uint32_t j = 0; j < sent_len; j++)
        r->sent[j] = (uint8_t)(marked(j, seed) ? 1 : 0);
    memcpy(r->model, r->sent, sent_len);
    if (r->marks && r->start == 0)
        memset(r->model, 0, count); /* a write from 0 clears them first */
    for (uint32_t j = 0; j < count; j++) {
        r->pos[j] = -1;
        r->expected[j] = j >= r->start && !pk[j].bad && !(r->marks && r->model[j]);
    }
    for (int c = 0; c < 2 * FLOWS; c++)
        r->last_in_class[c] = -1;
    r->last_index = -1;
    r->n_out = 0;

    uint32_t at = r->start;
    for (uint32_t call = 0;; call++) {
        if (call > count + 8)
            fail("no end after %u calls", call);
        struct tt_write_status st;
        memset(&st, 0xee, sizeof st);
        st.sent = r->marks ? r->sent : NULL;
        st.sent_len = sent_len;
        q->tx_busy = r->busy;
        r->out_call = 0;
        memset(r->out_now, 0, count);
        int w = tt_queue_write(q, src, at, r->coalesce, 0, &st);
        drain(r, fd);
        if (q->tx_busy != r->busy)
            fail("tx_busy %d after a write that found it %d", q->tx_busy, r->busy);
        q->tx_busy = 0;
        if (w < 0)
            fail("tt_queue_write: %d", w);
        if ((uint32_t)w != st.written || st.written != r->out_call)
            fail("returned %d, written %u, %u came out", w, st.written, r->out_call);
        if (st.partial != 0)
            fail("partial %u", st.partial);
        uint32_t next = st.error == 0 ? count : st.next;
        if (st.next != next || next < at || next > count)
            fail("next %u (from %u of %u, error %d)", st.next, at, count, st.error);
        if (st.error == 0 ? st.refused != 0 : next == count)
            fail("error %d at %u, refused %d", st.error, next, st.refused);
        if (st.error != 0 && (r->pos[next] >= 0 || !r->expected[next]))
            fail("stopped at %u, which was not to go out or already had", next);
        if (r->marks) {
            for (uint32_t j = 0; j < count; j++)
                if (r->out_now[j])
                    r->model[j] = 1;
            for (uint32_t j = at; j < next; j++)
                r->model[j] = 0;
            for (uint32_t j = 0; j < sent_len; j++)
                if (r->sent[j] != r->model[j])
                    fail("mark %u is %u, not %u (call from %u, next %u)", j, r->sent[j],
                         r->model[j], at, next);
        }
        if (st.error == 0)
            break;
        if (st.error == -EAGAIN) {
            if (st.written == 0)
                fail("EAGAIN with nothing written into an empty socket");
            if (st.refused != 0)
                fail("refused %d with EAGAIN", st.refused);
            at = next;
            continue;
        }
        int want = st.error == -EINVAL ? REFUSED_NOT_IP : st.error == -EMSGSIZE ? REFUSED_SIZE : -1;
        int bad_offsets = r->cut && next >= r->cut_from;
        if (bad_offsets ? st.error != -EINVAL || st.refused != 0
                        : want < 0 || pk[next].expect != want ||
                              st.refused != (want == REFUSED_NOT_IP ? TT_PKT_NOT_IP : 0))
            fail("packet %u stopped the write: error %d refused %d, expected %d%s", next,
                 st.error, st.refused, pk[next].expect, bad_offsets ? " (bad offsets)" : "");
        /* Nothing after a refused packet may have gone out before it. */
        if (r->last_index > (int32_t)next)
            fail("packet %d went out before the refusal of %u", r->last_index, next);
        r->expected[next] = 0;
        at = next + 1;
    }
    for (uint32_t j = 0; j < count; j++)
        if (r->expected[j] && r->pos[j] < 0)
            fail("packet %u never went out (start %u%s)", j, r->start,
                 r->cut && j >= r->cut_from ? ", its offsets bad" : "");
    /* A packet of unknown flow is passed by nothing, either way. */
    int32_t before = -1;
    for (uint32_t u = 0; u < count; u++) {
        if (r->pos[u] < 0)
            continue;
        if (pk[u].cls == BARRIER && r->pos[u] < before)
            fail("packet %u of unknown flow went out before an earlier packet", u);
        if (r->pos[u] > before)
            before = r->pos[u];
    }
    int32_t after = INT32_MAX;
    for (uint32_t u = count; u-- > 0;) {
        if (r->pos[u] < 0)
            continue;
        if (pk[u].cls == BARRIER && r->pos[u] > after)
            fail("packet %u of unknown flow went out after a later packet", u);
        if (r->pos[u] < after)
            after = r->pos[u];
    }
    free(r->sent);
    free(r->model);
    free(r->expected);
    free(r->out_now);
    free(r->pos);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HEADER + 3 + 1)
        return 0;
    static const size_t limits[4] = {TT_GSO_MAX, 1500, 600, 9000};
    static const uint32_t repeats[4] = {1, 2, 4, 16};
    int form = data[0] & 3;
    uint32_t offload = TUN_F_CSUM_ | TUN_F_TSO4_ | TUN_F_TSO6_;
    if (data[0] & 4)
        offload |= TT_TUN_F_USO4 | TT_TUN_F_USO6;
    size_t limit = limits[(data[0] >> 3) & 3];
    uint32_t repeat = repeats[(data[0] >> 5) & 3];
    struct flow flows[FLOWS];
    for (int f = 0; f < FLOWS; f++) {
        flows[f] = (struct flow){(data[1] >> f) & 1, (data[2] >> f) & 1, (data[3] >> f) & 1,
                                 2 + (size_t)data[4 + f] * 6, 1000u * (uint32_t)f, 0};
    }
    uint32_t rounds = 1 + (data[12] & 3);
    size_t desc_at = HEADER + 3 * (size_t)rounds;
    if (size <= desc_at)
        return 0;
    size_t ndesc = size - desc_at;
    uint32_t count = (uint32_t)(ndesc * repeat < MAX_PACKETS ? ndesc * repeat : MAX_PACKETS);

    /* The packets, each an exact-size heap copy; and the other two forms. */
    static unsigned char build[TT_RX_PENDING_SIZE];
    size_t total = 0, widest = 0;
    for (uint32_t k = 0; k < count; k++) {
        size_t len = make_packet(build, flows, limit, data[desc_at + k % ndesc], k, &pk[k]);
        pk[k].p = malloc(len ? len : 1);
        if (pk[k].p == NULL)
            abort();
        memcpy(pk[k].p, build, len);
        pk[k].len = len;
        pk[k].bad = 0;
        total += len;
        if (len > widest)
            widest = len;
    }
    char **bufs = malloc(sizeof(char *) * count);
    size_t *lens = malloc(sizeof(size_t) * count);
    size_t *offsets = malloc(sizeof(size_t) * (count + 1));
    char *joined = malloc(total ? total : 1);
    size_t slot = widest + 1;
    char *slots = malloc(slot * (count ? count : 1));
    int64_t *results = malloc(sizeof(int64_t) * (count ? count : 1));
    if (!bufs || !lens || !offsets || !joined || !slots || !results)
        abort();
    offsets[0] = 0;
    for (uint32_t k = 0; k < count; k++) {
        bufs[k] = (char *)pk[k].p;
        lens[k] = pk[k].len;
        memcpy(joined + offsets[k], pk[k].p, pk[k].len);
        offsets[k + 1] = offsets[k] + pk[k].len;
        memcpy(slots + (size_t)k * slot, pk[k].p, pk[k].len);
        results[k] = tt_classify((const char *)pk[k].p, pk[k].len, TT_KIND_TUN);
        if (form >= 2) {
            int64_t v = results[k];
            pk[k].bad = v < 0 || (v >> TT_PACK_VERDICT_SHIFT) != TT_PKT_OK;
            if (pk[k].bad)
                pk[k].cls = NO_CLASS; /* a bad slot: not forwarded, and no barrier */
            else if ((size_t)(v & 0xffffffff) != pk[k].len)
                fail("packet %u classifies as %lld bytes of %zu", k,
                     (long long)(v & 0xffffffff), pk[k].len);
        }
    }
    struct tt_batch batch = {.buf = slots, .buf_len = slot * count, .slot_size = slot,
                             .results = results, .capacity = count, .count = count,
                             .kind = TT_KIND_TUN};
    uint32_t *where = malloc(sizeof(uint32_t) * (count ? count : 1));
    if (where == NULL)
        abort();
    if (form == 3) { /* the slots hold nothing: the bytes lie in the joined area */
        for (uint32_t k = 0; k < count; k++)
            where[k] = (uint32_t)offsets[k];
        memset(slots, 0, slot * count);
        batch.where = where;
        batch.stage = joined;
        batch.stage_len = total;
        batch.in_place = 1;
    }
    struct tt_packets src;
    memset(&src, 0, sizeof src);
    if (form == 1) {
        src.joined = joined;
        src.joined_len = total;
        src.offsets = offsets;
        src.count = count;
    } else if (form >= 2 && count > 0) {
        src.batch = &batch;
    } else {
        src.bufs = bufs;
        src.lens = lens;
        src.count = count;
    }

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        fail("socketpair: %s", strerror(errno));
    if (data[0] & 0x80) {
        int small = 70000; /* doubled by the kernel: still more than a super-packet */
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    }
    size_t tx_len = TT_RX_PENDING_SIZE + (data[12] >> 2) * 1024;
    struct tt_queue q;
    memset(&q, 0, sizeof q);
    q.fd = sv[0];
    q.wakefd = -1;
    q.kind = TT_KIND_TUN;
    q.offload = offload;
    q.write_limit = limit;
    q.rx_buf_len = TT_RX_PENDING_SIZE;
    q.rx_buf = malloc(q.rx_buf_len);
    q.tx_buf_len = tx_len;
    q.tx_buf = malloc(tx_len);
    if (q.rx_buf == NULL || q.tx_buf == NULL)
        abort();

    for (uint32_t n = 0; n < rounds; n++) {
        const uint8_t *rb = data + HEADER + 3 * n;
        struct round r;
        memset(&r, 0, sizeof r);
        r.count = count;
        r.start = rb[0] == 255 ? count : (uint32_t)((uint64_t)rb[0] * count / 256);
        r.marks = rb[2] & 1;
        r.coalesce = (rb[2] >> 1) & 1;
        r.busy = (rb[2] >> 2) & 1 && r.coalesce;
        r.tx_len = tx_len;
        struct tt_packets cut = src;
        char *short_joined = NULL;
        if (form == 1 && (rb[2] & 0x20) && total > 0) {
            /* The buffer ends a byte short of the last packet's end: its
             * offsets are bad (and those of the empty ones after it), the
             * write stops there (-EINVAL). */
            short_joined = malloc(total - 1);
            if (short_joined == NULL)
                abort();
            memcpy(short_joined, joined, total - 1);
            cut.joined = short_joined;
            cut.joined_len = total - 1;
            r.cut = 1;
            r.cut_from = count;
            while (r.cut_from > 0 && offsets[r.cut_from] > total - 1)
                r.cut_from--; /* the last packet with bytes, and the empty ones after it */
        }
        run_round(&q, r.cut ? &cut : &src, &r, rb[1], (rb[2] >> 3) & 3, sv[1]);
        free(short_joined);
    }

    close(sv[0]);
    close(sv[1]);
    free(q.rx_buf);
    free(q.tx_buf);
    for (uint32_t k = 0; k < count; k++)
        free(pk[k].p);
    free(bufs);
    free(lens);
    free(offsets);
    free(joined);
    free(slots);
    free(results);
    free(where);
    return 0;
}
