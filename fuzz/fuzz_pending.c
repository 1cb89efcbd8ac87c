/* libFuzzer harness for the pending super-packet of an offload queue
 * (queue.c: take_pending, emit_pending, -ENOBUFS; segment.c underneath):
 * super-packets with virtio-net headers go into one end of an AF_UNIX
 * SOCK_SEQPACKET socketpair, the queue's fd is the other end, and they are
 * read back in any mix of tt_queue_recv (any buffer length, small ones to
 * get -ENOBUFS), segmenting tt_queue_read (any capacity and slot size) and
 * raw tt_queue_read, with the queue found busy now and then.
 *
 * Input: [0] bits 0-1 the rx buffer's length; then operations, each a byte
 * and its arguments:
 *   op & 3 == 0  a super-packet: built from 5 bytes (bit 2 clear) or raw
 *                (bit 2 set: a length byte and that many bytes; bit 3 pads
 *                it to fill the rx buffer, as a cut read does)
 *   op & 3 == 1  tt_queue_recv, the buffer length from the next byte
 *   op & 3 == 2  segmenting tt_queue_read, capacity 1 + bits 2-5, slot size
 *                from the next byte
 *   op & 3 == 3  bits 2-3: 0 raw tt_queue_read (capacity 1 + bits 4-6, slot
 *                size from the next byte), 1 the queue busy, 2 a burst of 2
 *                to 17 copies of one built super-packet, 3 bad arguments
 * and finally everything left is read with tt_queue_recv.
 *
 * The model is the stream of what was written: every super-packet's
 * segments, as tt_segment (fuzzed on its own) makes them with room for
 * any.  Checked: every segment is handed out exactly once and in order
 * (bytes and classification, and for a built super-packet its payload
 * taken piece by piece, adding up to all of it); an error is reported only
 * where the stream has one (-ENOBUFS only from tt_queue_recv, only when the
 * segment does not fit, consuming nothing; -EMSGSIZE in a batch only for a
 * segment larger than the slot, dropping the rest of its super-packet);
 * -EAGAIN only when nothing is left; a batch takes everything ready up to
 * its capacity but for a super-packet with more segments than the slots
 * left, which waits whole in the queue (an empty batch takes as many as
 * fit), counts its bad slots and leaves the rest of its slots and
 * results untouched; a raw slot is the next super-packet as it came, and
 * what segments are pending come out before any later super-packet, in
 * whatever form; rx_len and rx_next agree with the model after every call;
 * a busy queue does nothing; memory safety (exact-size heap buffers). */
#include "tuntap.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define UNTRACED __attribute__((no_sanitize("coverage")))
#define FILL 0xa5
#define RESULT_FILL ((int64_t)0x5a5a5a5a5a5a5a5a)
#define BODY ((int64_t)0xffffffff)
#define VERDICT(p) ((int)(((p) >> TT_PACK_VERDICT_SHIFT) & 0xff))

enum { MAX_SPS = 32, MAX_SEGMENTS = 64, SEND_MAX = 131072 };

#define fail(...)                                                                          \
    do {                                                                                   \
        fprintf(stderr, "fuzz_pending: " __VA_ARGS__);                                     \
        fputc('\n', stderr);                                                               \
        abort();                                                                           \
    } while (0)

/* One super-packet written, and what the harness knows of it. */
struct sp {
    unsigned char *bytes;
    size_t len;
    int built;            /* built: hlen and the payload are known */
    size_t hlen, payload; /* header bytes after the virtio-net header; payload bytes */
};

struct model {
    struct sp sps[MAX_SPS];
    uint32_t n;       /* written */
    uint32_t cur;     /* the first not fully handed out */
    uint32_t next;    /* its segments handed out */
    size_t pay_off;   /* its payload handed out (built ones) */
    int pending;      /* the queue holds it (rx_len) */
    size_t rx_buf_len;
    int fd;           /* the writing end */
};

static unsigned char oracle[TT_BATCH_MAX_SLOT];
static unsigned char build[SEND_MAX + 16];

static UNTRACED void put_be16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

static UNTRACED int all_fill(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != FILL)
            return 0;
    return 1;
}

/* What segment k of super-packet s comes out as in a slot of slot bytes:
 * 1 (its bytes in oracle[0..slot), the rest FILL, and its result), or the
 * error that drops it; *total its segments. */
static UNTRACED int expect(const struct model *m, const struct sp *s, uint32_t k, size_t slot,
                           int64_t *result, uint32_t *total)
{
    *total = 0;
    if (s->len >= m->rx_buf_len)
        return -EMSGSIZE; /* the read filled the buffer: maybe cut */
    memset(oracle, FILL, slot);
    int r = tt_segment((const char *)s->bytes, s->len, k, (char *)oracle, slot, 1, result, total);
    return r == 0 ? -EBADMSG : r;
}

static UNTRACED void advance(struct model *m)
{
    m->cur++;
    m->next = 0;
    m->pay_off = 0;
    m->pending = 0;
}

/* Is this the segment due next (in a slot of slot bytes prefilled with
 * FILL)? */
static UNTRACED int is_next_segment(const struct model *m, const unsigned char *slot,
                                    size_t slot_size, int64_t result)
{
    int64_t want;
    uint32_t total;
    return m->cur < m->n && expect(m, &m->sps[m->cur], m->next, slot_size, &want, &total) == 1 &&
           result == want && memcmp(slot, oracle, slot_size) == 0;
}

/* A segment came out in a slot of slot bytes (prefilled with FILL). */
static UNTRACED void got_segment(struct model *m, const unsigned char *slot, size_t slot_size,
                                 int64_t result, const char *how)
{
    if (m->cur >= m->n)
        fail("%s: a segment (result %llx) when nothing is left", how, (long long)result);
    const struct sp *s = &m->sps[m->cur];
    int64_t want;
    uint32_t total;
    int r = expect(m, s, m->next, slot_size, &want, &total);
    if (r != 1)
        fail("%s: a segment of super-packet %u where %d was due (slot %zu)", how, m->cur, r,
             slot_size);
    if (result != want || memcmp(slot, oracle, slot_size) != 0)
        fail("%s: segment %u of super-packet %u is not what it should be (result %llx, "
             "expected %llx)", how, m->next, m->cur, (long long)result, (long long)want);
    if (s->built && VERDICT(result) == TT_PKT_OK) {
        size_t len = (size_t)(result & BODY);
        size_t plen = len - s->hlen;
        if (len < s->hlen || m->pay_off + plen > s->payload ||
            memcmp(slot + s->hlen, s->bytes + TT_VNET_HDR_LEN + s->hlen + m->pay_off, plen) != 0)
            fail("%s: segment %u of super-packet %u has not the next %zu payload bytes (at %zu "
                 "of %zu)", how, m->next, m->cur, plen, m->pay_off, s->payload);
        m->pay_off += plen;
    }
    m->next++;
    m->pending = 1;
    if (m->next >= total) {
        if (s->built && r == 1 && VERDICT(result) == TT_PKT_OK && m->pay_off != s->payload)
            fail("%s: super-packet %u gave %zu payload bytes of %zu", how, m->cur, m->pay_off,
                 s->payload);
        advance(m);
    }
}

/* An error came out where the next segment was due. */
static UNTRACED void got_error(struct model *m, int err, size_t slot_size, int from_recv,
                               const char *how)
{
    if (m->cur >= m->n)
        fail("%s: error %d when nothing is left", how, err);
    const struct sp *s = &m->sps[m->cur];
    int64_t want;
    uint32_t total;
    int r = expect(m, s, m->next, slot_size, &want, &total);
    int too_small = r == -EMSGSIZE && slot_size < TT_BATCH_MAX_SLOT && s->len < m->rx_buf_len;
    if (from_recv && too_small) {
        if (err != -ENOBUFS)
            fail("%s: %d for a segment too long for %zu bytes, not -ENOBUFS", how, err,
                 slot_size);
        m->pending = 1; /* kept, nothing consumed */
        return;
    }
    if (err != r)
        fail("%s: error %d where super-packet %u segment %u was due (%d expected, slot %zu)",
             how, err, m->cur, m->next, r, slot_size);
    advance(m); /* dropped, with whatever was left of it */
}

/* The queue's own record of what is pending agrees with the model. */
static UNTRACED void check_queue(const struct model *m, const struct tt_queue *q,
                                 const char *how)
{
    if (q->rx_busy != 0)
        fail("%s: rx_busy left %d", how, q->rx_busy);
    if ((q->rx_len != 0) != m->pending || (m->pending && q->rx_next != m->next))
        fail("%s: rx_len %u rx_next %u, but super-packet %u has %u segments out (pending %d)",
             how, q->rx_len, q->rx_next, m->cur, m->next, m->pending);
}

/* ---- writing super-packets ---------------------------------------------- */

static UNTRACED void send_sp(struct model *m, const unsigned char *bytes, size_t len, int built,
                             size_t hlen, size_t payload)
{
    if (m->n >= MAX_SPS)
        return;
    if (send(m->fd, bytes, len, MSG_DONTWAIT) != (ssize_t)len)
        return; /* the socket is full: not written, not expected */
    struct sp *s = &m->sps[m->n++];
    s->bytes = malloc(len ? len : 1);
    if (s->bytes == NULL)
        abort();
    memcpy(s->bytes, bytes, len);
    s->len = len;
    s->built = built;
    s->hlen = hlen;
    s->payload = payload;
}

/* A super-packet from 5 bytes:
 *   [0] bit 0 IPv6, bit 1 UDP, bit 2 NEEDS_CSUM, bit 3 ECN, bit 4 TCP
 *       options, bits 5-7: 0-3 well-formed, 4 the other family's GSO type,
 *       5 hdr_len past the end, 6 gso_size 0, 7 no GSO (one packet)
 *   [1] gso_size   [2..3] payload length   [4] content seed */
static UNTRACED void built_sp(struct model *m, const uint8_t *b)
{
    int v6 = b[0] & 1, udp = (b[0] >> 1) & 1, csum = (b[0] >> 2) & 1, ecn = (b[0] >> 3) & 1;
    int opts = (b[0] >> 4) & 1, bend = b[0] >> 5;
    static const unsigned big[6] = {1448, 1460, 8960, 16384, 32000, 65000};
    unsigned gso = b[1] < 250 ? 1 + (unsigned)b[1] * 6 : big[b[1] - 250];
    size_t l3 = v6 ? 40 : 20, l4h = udp ? 8 : opts ? 32 : 20, hlen = l3 + l4h;
    size_t most = TT_GSO_MAX - hlen;
    if (most > (size_t)gso * MAX_SEGMENTS)
        most = (size_t)gso * MAX_SEGMENTS;
    size_t payload = ((size_t)b[2] | (size_t)b[3] << 8) % (most + 1);
    size_t len = TT_VNET_HDR_LEN + hlen + payload;
    unsigned char *h = build, *p = build + TT_VNET_HDR_LEN;
    memset(build, 0, TT_VNET_HDR_LEN + hlen);
    for (size_t j = 0; j < payload; j++)
        p[hlen + j] = (unsigned char)(b[4] + j * 13 + m->n * 7);
    if (v6) {
        p[0] = 0x60;
        put_be16(p + 4, (unsigned)(len - TT_VNET_HDR_LEN - 40));
        p[6] = udp ? 17 : 6;
        p[7] = 64;
        p[8] = 0x20, p[9] = 0x01, p[10] = 0x0d, p[11] = 0xb8, p[23] = 1;
        p[24] = 0x20, p[25] = 0x01, p[26] = 0x0d, p[27] = 0xb8, p[39] = 2;
    } else {
        p[0] = 0x45;
        put_be16(p + 2, (unsigned)(len - TT_VNET_HDR_LEN));
        put_be16(p + 4, (unsigned)b[4] << 8);
        p[8] = 64;
        p[9] = udp ? 17 : 6;
        p[12] = 192, p[13] = 0, p[14] = 2, p[15] = 1;
        p[16] = 198, p[17] = 51, p[18] = 100, p[19] = 1;
    }
    unsigned char *l4 = p + l3;
    put_be16(l4, 4000 + b[4]);
    put_be16(l4 + 2, 5000);
    if (udp) {
        put_be16(l4 + 4, (unsigned)(hlen + payload - l3));
    } else {
        l4[4] = b[4];
        l4[12] = (unsigned char)((l4h / 4) << 4);
        l4[13] = (unsigned char)(0x18 | (b[4] & 0x81)); /* ACK PSH, maybe CWR and FIN */
        put_be16(l4 + 14, 1024);
        if (opts)
            l4[20] = 1, l4[21] = 1, l4[22] = 8, l4[23] = 10;
    }
    unsigned type = udp ? 5 : v6 ? 4 : 1; /* UDP_L4, TCPV6, TCPV4 */
    if (bend == 4)
        type = udp ? 3 : v6 ? 1 : 4; /* UFO (unsupported), or the other family's */
    h[0] = csum ? 1 : 0;
    h[1] = (unsigned char)(bend == 7 ? 0 : type | (ecn ? 0x80 : 0));
    uint16_t v[4] = {(uint16_t)(bend == 5 ? len : hlen), (uint16_t)(bend == 6 ? 0 : gso),
                     (uint16_t)l3, (uint16_t)(udp ? 6 : 16)};
    memcpy(h + 2, v, sizeof v); /* host order, as TUN speaks it */
    send_sp(m, build, len, 1, hlen, payload);
}

/* ---- reading -------------------------------------------------------------- */

static UNTRACED size_t length_of(uint8_t v)
{
    if (v < 200)
        return 1 + (size_t)v * 8; /* 1 .. 1593 */
    if (v < 250)
        return 1600 + (size_t)(v - 200) * 1300; /* .. 65300 */
    static const size_t edges[6] = {65535, 65545, 65546, TT_BATCH_MAX_SLOT - 1,
                                    TT_BATCH_MAX_SLOT, TT_BATCH_MAX_SLOT + 100};
    return edges[v - 250];
}

/* A buffer that holds any segment of s (more than the longest). */
static UNTRACED size_t room_for(const struct sp *s)
{
    size_t most = s->len;
    if (s->built) {
        uint16_t gso; /* the header's gso_size */
        memcpy(&gso, s->bytes + 4, 2);
        int plain = s->bytes[1] == 0; /* no GSO: one packet */
        most = s->hlen + (!plain && gso != 0 && gso < s->payload ? gso : s->payload);
    }
    return most < TT_BATCH_MAX_SLOT ? most + 1 : TT_BATCH_MAX_SLOT;
}

static UNTRACED void op_recv(struct model *m, struct tt_queue *q, size_t len)
{
    unsigned char *buf = malloc(len);
    if (buf == NULL)
        abort();
    memset(buf, FILL, len);
    int64_t r = tt_queue_recv(q, (char *)buf, len, 0);
    size_t slot = len < TT_BATCH_MAX_SLOT ? len : TT_BATCH_MAX_SLOT;
    if (r == -EAGAIN) {
        if (m->cur < m->n)
            fail("recv(%zu): -EAGAIN with super-packet %u of %u left", len, m->cur, m->n);
    } else if (r < 0) {
        got_error(m, (int)r, slot, 1, "recv");
    } else {
        got_segment(m, buf, slot, r, "recv");
    }
    if (!all_fill(buf + slot, len - slot))
        fail("recv(%zu): written past %zu bytes", len, slot);
    free(buf);
    check_queue(m, q, "recv");
}

/* What a segmenting read of capacity slots of slot_size should fill; *held:
 * it stops before a super-packet with more segments than the slots left,
 * which then waits whole in the queue (an empty batch takes what fits). */
static UNTRACED uint32_t expected_count(const struct model *m, uint32_t capacity,
                                        size_t slot_size, int *held)
{
    uint32_t cur = m->cur, next = m->next, count = 0;
    *held = 0;
    while (count < capacity && cur < m->n) {
        int64_t result;
        uint32_t total;
        int r = expect(m, &m->sps[cur], next, slot_size, &result, &total);
        if (r == 1 && next == 0 && count > 0 && total > capacity - count) {
            *held = 1;
            break;
        }
        if (r == 1 && total - next > capacity - count) {
            count = capacity;
            break;
        }
        count += r == 1 ? total - next : 1;
        cur++;
        next = 0;
    }
    return count;
}

static UNTRACED void op_read(struct model *m, struct tt_queue *q, uint32_t capacity,
                             size_t slot_size)
{
    unsigned char *buf = malloc((size_t)capacity * slot_size);
    int64_t *results = malloc(sizeof(int64_t) * capacity);
    if (buf == NULL || results == NULL)
        abort();
    memset(buf, FILL, (size_t)capacity * slot_size);
    for (uint32_t k = 0; k < capacity; k++)
        results[k] = RESULT_FILL;
    struct tt_batch b = {.buf = (char *)buf, .buf_len = (size_t)capacity * slot_size,
                         .slot_size = slot_size, .results = results, .capacity = capacity,
                         .count = 77, .bad = 77, .kind = TT_KIND_TUN, .origin = 9};
    int held;
    uint32_t want = expected_count(m, capacity, slot_size, &held);
    int r = tt_queue_read(q, &b, 0, 0);
    if (want == 0 ? r != -EAGAIN : r != (int)want)
        fail("read(%u x %zu): %d, expected %u", capacity, slot_size, r, want);
    if (r > 0) {
        uint32_t bad = 0;
        for (int k = 0; k < r; k++) {
            int64_t res = results[k];
            unsigned char *slot = buf + (size_t)k * slot_size;
            if (res < 0 || VERDICT(res) != TT_PKT_OK)
                bad++;
            if (res < 0)
                got_error(m, (int)res, slot_size, 0, "read");
            else
                got_segment(m, slot, slot_size, res, "read");
        }
        if (b.count != (uint32_t)r || b.bad != bad || b.origin != TT_ORIGIN_DEVICE)
            fail("read: count %u bad %u origin %d, for %d slots with %u bad", b.count, b.bad,
                 b.origin, r, bad);
        for (uint32_t k = (uint32_t)r; k < capacity; k++)
            if (results[k] != RESULT_FILL)
                fail("read: result %u written past the count", k);
        if (!all_fill(buf + (size_t)r * slot_size, (size_t)(capacity - (uint32_t)r) * slot_size))
            fail("read: slots past the count written");
        if (held)
            m->pending = 1; /* read, and held whole for the next read */
    }
    free(buf);
    free(results);
    check_queue(m, q, "read");
}

/* The result a raw slot of a super-packet whose first n bytes arrived has. */
static UNTRACED int64_t raw_result(const unsigned char *slot, size_t n, size_t slot_size)
{
    if (n < TT_VNET_HDR_LEN)
        return -EBADMSG;
    int64_t packed = tt_classify((const char *)slot + TT_VNET_HDR_LEN, n - TT_VNET_HDR_LEN,
                                 TT_KIND_TUN);
    if (packed >= 0 && n == slot_size)
        packed = (packed & ~((int64_t)0xff << TT_PACK_VERDICT_SHIFT | BODY)) |
                 (int64_t)TT_PKT_TRUNCATED << TT_PACK_VERDICT_SHIFT |
                 (int64_t)(n - TT_VNET_HDR_LEN);
    return packed;
}

static UNTRACED int is_raw(const struct sp *s, const unsigned char *slot, size_t slot_size)
{
    size_t n = s->len < slot_size ? s->len : slot_size;
    return memcmp(slot, s->bytes, n) == 0 && all_fill(slot + n, slot_size - n);
}

static UNTRACED void op_raw(struct model *m, struct tt_queue *q, uint32_t capacity,
                            size_t slot_size)
{
    unsigned char *buf = malloc((size_t)capacity * slot_size);
    int64_t *results = malloc(sizeof(int64_t) * capacity);
    if (buf == NULL || results == NULL)
        abort();
    memset(buf, FILL, (size_t)capacity * slot_size);
    for (uint32_t k = 0; k < capacity; k++)
        results[k] = RESULT_FILL;
    struct tt_batch b = {.buf = (char *)buf, .buf_len = (size_t)capacity * slot_size,
                         .slot_size = slot_size, .results = results, .capacity = capacity,
                         .kind = TT_KIND_TUN};
    int was_pending = m->pending;
    uint32_t left = m->n - m->cur;
    int r = tt_queue_read(q, &b, 1, 0);
    if (!was_pending) {
        uint32_t want = left < capacity ? left : capacity;
        if (want == 0 ? r != -EAGAIN : r != (int)want)
            fail("raw read(%u x %zu): %d, expected %u", capacity, slot_size, r, want);
    } else if (r < 0 && r != -EAGAIN && r != -EBUSY) {
        fail("raw read with segments pending: %d", r);
    }
    for (int k = 0; k < r; k++) {
        const unsigned char *slot = buf + (size_t)k * slot_size;
        if (m->pending) {
            /* What is pending comes first, in whatever form: an error where
             * a segment was due (one too long for the room a raw slot has
             * after a header, or a malformed one), or a header and a packet
             * whose segments are the pending ones. */
            int64_t res = results[k];
            size_t room = slot_size - TT_VNET_HDR_LEN;
            if (res < 0) {
                got_error(m, (int)res, room, 0, "raw read");
                continue;
            }
            size_t n = TT_VNET_HDR_LEN + (size_t)(res & BODY);
            static unsigned char one[TT_BATCH_MAX_SLOT];
            int64_t seg_result;
            uint32_t total = 0, seg = 0;
            for (; seg < MAX_SEGMENTS && m->pending && n <= slot_size; seg++) {
                memset(one, FILL, room);
                if (tt_segment((const char *)slot, n, seg, (char *)one, room, 1, &seg_result,
                               &total) != 1 ||
                    (seg == 0 && !is_next_segment(m, one, room, seg_result)))
                    break;
                got_segment(m, one, room, seg_result, "raw read");
            }
            if (seg > 0 && seg == total)
                continue;
            for (uint32_t later = m->cur + 1; later < m->n; later++) {
                const struct sp *s = &m->sps[later];
                size_t len = s->len < slot_size ? s->len : slot_size;
                if (is_raw(s, slot, slot_size) && res == raw_result(slot, len, slot_size))
                    fail("raw read: slot %d holds super-packet %u as written, but "
                         "super-packet %u was pending (%u of its segments out)",
                         k, later, m->cur, m->next);
            }
            fail("raw read: slot %d is not the pending segments of super-packet %u", k,
                 m->cur);
        }
        if (m->cur >= m->n || !is_raw(&m->sps[m->cur], slot, slot_size))
            fail("raw read: slot %d is not super-packet %u as written", k, m->cur);
        size_t n = m->sps[m->cur].len < slot_size ? m->sps[m->cur].len : slot_size;
        if (results[k] != raw_result(slot, n, slot_size))
            fail("raw read: slot %d result %llx, not %llx", k, (long long)results[k],
                 (long long)raw_result(slot, n, slot_size));
        advance(m);
    }
    if (r == -EAGAIN && (m->cur < m->n || m->pending))
        fail("raw read: -EAGAIN with super-packet %u of %u left", m->cur, m->n);
    free(buf);
    free(results);
    check_queue(m, q, "raw read");
}

/* Another call holds the pending super-packet: nothing is done. */
static UNTRACED void op_busy(struct model *m, struct tt_queue *q)
{
    char buf[64];
    int64_t result;
    struct tt_batch b = {.buf = buf, .buf_len = sizeof buf, .slot_size = sizeof buf,
                         .results = &result, .capacity = 1, .kind = TT_KIND_TUN};
    uint32_t len = q->rx_len, next = q->rx_next;
    q->rx_busy = 1;
    if (tt_queue_recv(q, buf, sizeof buf, 0) != -EBUSY || tt_queue_read(q, &b, 0, 0) != -EBUSY ||
        tt_queue_read(q, &b, 1, 0) != -EBUSY)
        fail("a busy queue was read");
    if (q->rx_busy != 1 || q->rx_len != len || q->rx_next != next)
        fail("a busy queue changed");
    q->rx_busy = 0;
    check_queue(m, q, "busy");
}

/* Arguments refused before anything is read. */
static UNTRACED void op_bad(struct model *m, struct tt_queue *q)
{
    char buf[16];
    int64_t result;
    struct tt_batch b = {.buf = buf, .buf_len = sizeof buf, .slot_size = sizeof buf,
                         .results = &result, .capacity = 2, .kind = TT_KIND_TUN};
    if (tt_queue_recv(q, NULL, 16, 0) != -EINVAL || tt_queue_recv(q, buf, 0, 0) != -EINVAL ||
        tt_queue_read(q, &b, 0, 0) != -EINVAL) /* slots past buf_len */
        fail("bad arguments were taken");
    b.capacity = 1;
    b.slot_size = TT_VNET_HDR_LEN; /* raw slots must exceed a header */
    b.buf_len = TT_VNET_HDR_LEN;
    if (tt_queue_read(q, &b, 1, 0) != -EINVAL)
        fail("a raw batch of header-sized slots was taken");
    check_queue(m, q, "bad arguments");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const size_t rx_lens[4] = {TT_RX_PENDING_SIZE, TT_RX_PENDING_SIZE + 1024, 70000,
                                      SEND_MAX};
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        fail("socketpair: %s", strerror(errno));
    int big = 4 << 20;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    struct model m;
    memset(&m, 0, sizeof m);
    m.rx_buf_len = rx_lens[data[0] & 3];
    m.fd = sv[1];
    struct tt_queue q;
    memset(&q, 0, sizeof q);
    q.fd = sv[0];
    q.wakefd = -1;
    q.kind = TT_KIND_TUN;
    q.offload = 0x01 | 0x02 | 0x04 | TT_TUN_F_USO4 | TT_TUN_F_USO6;
    q.write_limit = TT_GSO_MAX;
    q.rx_buf_len = m.rx_buf_len;
    q.rx_buf = malloc(q.rx_buf_len);
    q.tx_buf_len = TT_RX_PENDING_SIZE;
    q.tx_buf = malloc(q.tx_buf_len);
    if (q.rx_buf == NULL || q.tx_buf == NULL)
        abort();

    size_t at = 1;
    while (at < size) {
        uint8_t op = data[at++];
        uint8_t arg = at < size ? data[at] : 0;
        switch (op & 3) {
        case 0:
            if (!(op & 4)) {
                uint8_t spec[5] = {0};
                for (int i = 0; i < 5 && at < size; i++)
                    spec[i] = data[at++];
                built_sp(&m, spec);
            } else {
                size_t n = at < size ? data[at++] : 0;
                if (n > size - at)
                    n = size - at;
                memcpy(build, data + at, n);
                at += n;
                size_t len = n;
                if (op & 8) { /* as long as the rx buffer, or longer */
                    len = m.rx_buf_len + (op >> 4);
                    memset(build + n, 0, len - n);
                }
                send_sp(&m, build, len, 0, 0, 0);
            }
            break;
        case 1:
            at++;
            op_recv(&m, &q, length_of(arg));
            break;
        case 2:
            at++;
            op_read(&m, &q, 1 + ((op >> 2) & 15),
                    length_of(arg) < TT_BATCH_MAX_SLOT ? length_of(arg) : TT_BATCH_MAX_SLOT);
            break;
        default:
            switch ((op >> 2) & 3) {
            case 0: {
                at++;
                size_t slot = length_of(arg);
                slot = slot <= TT_VNET_HDR_LEN ? TT_VNET_HDR_LEN + slot : slot;
                op_raw(&m, &q, 1 + ((op >> 4) & 7),
                       slot < TT_BATCH_MAX_SLOT ? slot : TT_BATCH_MAX_SLOT);
                break;
            }
            case 1:
                op_busy(&m, &q);
                break;
            case 2: {
                uint8_t spec[5] = {0};
                for (int i = 0; i < 5 && at < size; i++)
                    spec[i] = data[at++];
                for (unsigned c = 0; c < 2u + (op >> 4); c++)
                    built_sp(&m, spec);
                break;
            }
            default:
                op_bad(&m, &q);
                break;
            }
            break;
        }
    }
    /* Everything left, with room for any segment of what is next. */
    for (uint32_t guard = 0; m.cur < m.n; guard++) {
        if (guard > MAX_SPS * 256) /* a raw one: at most 255 bytes */
            fail("no end to the segments: super-packet %u of %u, %u out", m.cur, m.n, m.next);
        op_recv(&m, &q, room_for(&m.sps[m.cur]));
    }
    op_recv(&m, &q, 64); /* and then nothing */

    close(sv[0]);
    close(sv[1]);
    free(q.rx_buf);
    free(q.tx_buf);
    for (uint32_t k = 0; k < m.n; k++)
        free(m.sps[k].bytes);
    return 0;
}
