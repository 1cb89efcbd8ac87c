/* libFuzzer harness for the UDP receive parsers: tt_udp_gro_size on control
 * bytes and tt_udp_split on a GRO'd message, both from a hostile kernel.
 *
 * Six header bytes pick the shape, the rest is control bytes and message:
 *   [0] bit 0 kind, bit 1 truncated, bit 2 built control messages, bit 3 a
 *       misaligned control buffer, bits 4..7 the slot count (0..15)
 *   [1] raw: the control length; built: the recipe (1..4 cmsgs, last
 *       unpadded, control cut short)
 *   [2..3] seg_size   [4] slot_size   [5] the argument case (start offset,
 *       bad offsets, kinds and pointers)
 * Raw control bytes only have to give a documented result; built ones (CMSG
 * macros: UDP_GRO, some with short data, among IP_PKTINFO, IPV6_PKTINFO,
 * SO_TIMESTAMPNS, IP_TOS and look-alikes) must give exactly the UDP_GRO size
 * they hold.  A size found splits the message, as a receive does (else
 * seg_size does).  The split is repeated until the message is consumed, and
 * every slot must be its piece of the message with its classification.
 * Every buffer is an exact-size heap copy, so ASan catches any access past
 * it; bytes the split must not touch are checked against a fill pattern. */
#define _GNU_SOURCE
#include "tuntap.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define SOL_UDP_ 17
#define UDP_GRO_ 104
#define UDP_SEGMENT_ 103
#define FILL 0xa5
#define RESULT_FILL ((int64_t)0x5a5a5a5a5a5a5a5a)
#define BODY ((int64_t)0xffffffff)
#define VERDICT(p) (((p) >> TT_PACK_VERDICT_SHIFT) & 0xff)
#define PROTO(p) (((p) >> TT_PACK_PROTO_SHIFT) & 0xffff)
#define MAX_CMSGS 4

/* Bytes of the input, taken from the front; zeros once it runs out. */
struct input {
    const uint8_t *p;
    size_t left;
};

static uint8_t take(struct input *in)
{
    if (in->left == 0)
        return 0;
    in->left--;
    return *in->p++;
}

static void take_into(struct input *in, void *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ((uint8_t *)out)[i] = take(in);
}

/* A UDP_GRO value: mostly valid sizes, sometimes the edges around them. */
static int gro_value(struct input *in)
{
    static const int edges[] = {0, -1, 65536, 65537, INT32_MIN, INT32_MAX, 1, 1472};
    uint8_t how = take(in);
    unsigned v = take(in) | (unsigned)take(in) << 8;
    switch (how & 3) {
    case 0:
        return (int)v;
    case 1:
        return (int)v + 1;
    case 2:
        return edges[v % (sizeof edges / sizeof edges[0])];
    default:
        return (int)(v & 0x3ff) + 1;
    }
}

struct spec {
    int level, type;
    size_t data_len;
    int gro; /* the value, for a UDP_GRO one */
    int short_gro; /* a UDP_GRO one with less data than an int */
};

/* One control message's kind and data size from a type byte. */
static void spec_of(struct input *in, struct spec *s)
{
    uint8_t type = take(in);
    s->short_gro = 0;
    switch (type % 8) {
    case 0:
        *s = (struct spec){SOL_UDP_, UDP_GRO_, sizeof(int), gro_value(in), 0};
        break;
    case 7: /* UDP_GRO with 0..3 bytes of data */
        *s = (struct spec){SOL_UDP_, UDP_GRO_, (type >> 3) & 3, 0, 1};
        break;
    case 1:
        *s = (struct spec){IPPROTO_IP, IP_PKTINFO, sizeof(struct in_pktinfo), 0, 0};
        break;
    case 2:
        *s = (struct spec){IPPROTO_IPV6, IPV6_PKTINFO, sizeof(struct in6_pktinfo), 0, 0};
        break;
    case 3:
        *s = (struct spec){SOL_SOCKET, SO_TIMESTAMPNS, sizeof(struct timespec), 0, 0};
        break;
    case 4:
        *s = (struct spec){IPPROTO_IP, IP_TOS, 1, 0, 0};
        break;
    case 5: /* UDP but not GRO */
        *s = (struct spec){SOL_UDP_, UDP_SEGMENT_, sizeof(uint16_t), 0, 0};
        break;
    default: /* GRO's number at another level */
        *s = (struct spec){IPPROTO_IP, UDP_GRO_, sizeof(int), 0, 0};
        break;
    }
}

/* Built control messages: *len bytes in a fresh exact-size buffer, and in
 * *expect what tt_udp_gro_size must say of them. */
static char *built_control(struct input *in, uint8_t recipe, size_t *len, int *expect)
{
    struct spec specs[MAX_CMSGS];
    size_t n = 1 + (recipe & 3), total = 0;
    for (size_t i = 0; i < n; i++) {
        spec_of(in, &specs[i]);
        total += CMSG_SPACE(specs[i].data_len);
    }
    union {
        struct cmsghdr align;
        char bytes[MAX_CMSGS * CMSG_SPACE(sizeof(struct in6_pktinfo) + 16)];
    } buf;
    memset(&buf, 0, sizeof buf);
    struct msghdr m = {.msg_control = buf.bytes, .msg_controllen = total};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    size_t last_at = 0;
    for (size_t i = 0; i < n; i++) {
        if (c == NULL)
            abort(); /* the macros must find room for what was sized */
        c->cmsg_level = specs[i].level;
        c->cmsg_type = specs[i].type;
        c->cmsg_len = CMSG_LEN(specs[i].data_len);
        if (specs[i].level == SOL_UDP_ && specs[i].type == UDP_GRO_ && !specs[i].short_gro)
            memcpy(CMSG_DATA(c), &specs[i].gro, sizeof(int));
        else
            take_into(in, CMSG_DATA(c), specs[i].data_len);
        last_at = (size_t)((char *)c - buf.bytes);
        c = CMSG_NXTHDR(&m, c);
    }
    const struct spec *last = &specs[n - 1];
    *len = total;
    if (recipe & 4) /* the last without its padding, as a buffer may end */
        *len -= CMSG_SPACE(last->data_len) - CMSG_LEN(last->data_len);
    size_t cut = (recipe & 8) ? 1 + take(in) % (*len - last_at) : 0;
    *len -= cut; /* cut into the last one, as a short control buffer is */

    /* What the parser must say: the last valid UDP_GRO, but -EBADMSG from
     * the first bad one on; a last one cut to less than a header is not
     * seen, one cut inside its data is malformed. */
    *expect = 0;
    for (size_t i = 0; i < n && *expect >= 0; i++) {
        if (i == n - 1 && cut) {
            size_t left = *len - last_at;
            if (left < sizeof(struct cmsghdr))
                break;
            if (CMSG_LEN(last->data_len) > left) {
                *expect = -EBADMSG;
                break;
            }
        }
        if (specs[i].short_gro)
            *expect = -EBADMSG;
        else if (specs[i].level == SOL_UDP_ && specs[i].type == UDP_GRO_)
            *expect = specs[i].gro >= 1 && specs[i].gro <= 65536 ? specs[i].gro : -EBADMSG;
    }
    char *control = malloc(*len ? *len : 1);
    if (control == NULL)
        abort();
    memcpy(control, buf.bytes, *len);
    return control;
}

/* Any control bytes: a documented result, the same every time. */
static int check_gro_raw(const char *control, size_t len)
{
    int r = tt_udp_gro_size(control, len);
    if (r != -EBADMSG && r != 0 && (r < 1 || r > 65536))
        abort();
    if (tt_udp_gro_size(control, len) != r)
        abort(); /* a pure function */
    return r;
}

/* The slot a piece of the message must have become, and its verdict. */
static void check_slot(const char *msg, size_t len, size_t pos, size_t dlen, const char *slot,
                       size_t slot_size, int64_t got, int truncated, int kind)
{
    size_t copy = dlen < slot_size ? dlen : slot_size;
    if (memcmp(slot, msg + pos, copy) != 0)
        abort(); /* the slot holds its piece */
    for (size_t i = copy; i < slot_size; i++)
        if ((uint8_t)slot[i] != FILL)
            abort(); /* and nothing after it */
    int64_t own = tt_classify(msg + pos, copy, kind);
    if (own < 0 || got < 0)
        abort();
    int cut = copy < dlen || (truncated && pos + dlen == len);
    int verdict = cut ? TT_PKT_TRUNCATED : (int)VERDICT(own);
    if (verdict == TT_PKT_OK && got != own)
        abort();
    if (verdict != TT_PKT_OK && (VERDICT(got) != verdict || (size_t)(got & BODY) != copy ||
                                 PROTO(got) != PROTO(own)))
        abort(); /* a bad or cut one keeps every byte its slot holds */
}

/* tt_udp_split until the message is consumed, from start on. */
static void check_split(const char *msg, size_t len, uint32_t seg_size, int truncated,
                        size_t start, size_t slot_size, uint32_t nslots, int kind)
{
    size_t room = slot_size * nslots;
    char *out = malloc(room ? room : 1);
    int64_t *results = malloc(sizeof(int64_t) * (nslots ? nslots : 1));
    if (out == NULL || results == NULL)
        abort();
    memset(out, FILL, room);
    size_t seg = seg_size == 0 || seg_size >= len ? len : seg_size;
    size_t pieces = len == 0 ? 1 : (len - start + seg - 1) / seg;
    size_t off = start, filled = 0;
    for (size_t call = 0; call <= len + 1; call++) {
        for (uint32_t k = 0; k < nslots; k++)
            results[k] = RESULT_FILL;
        size_t before = off;
        int r = tt_udp_split(len ? msg : NULL, len, seg_size, truncated, &off, out, slot_size,
                             nslots, results, kind);
        if (r < 0 || r > (int)nslots || off < before || off > len)
            abort();
        for (uint32_t k = (uint32_t)r; k < nslots; k++)
            if (results[k] != RESULT_FILL)
                abort(); /* only filled slots get results */
        if (nslots == 0) { /* no room: nothing done, whatever is left */
            if (r != 0 || off != before)
                abort();
            free(out);
            free(results);
            return;
        }
        if (len == 0) { /* one empty slot, every time */
            if (r != 1 || off != 0 || results[0] != tt_classify(out, 0, kind))
                abort();
            for (size_t i = 0; i < room; i++)
                if ((uint8_t)out[i] != FILL)
                    abort();
            filled = 1;
            break;
        }
        size_t pos = before;
        for (int k = 0; k < r; k++) {
            if (pos >= len)
                abort(); /* a slot for nothing */
            size_t dlen = len - pos < seg ? len - pos : seg;
            char *slot = out + (size_t)k * slot_size;
            check_slot(msg, len, pos, dlen, slot, slot_size, results[k], truncated, kind);
            memset(slot, FILL, dlen < slot_size ? dlen : slot_size);
            pos += dlen;
        }
        for (size_t i = (size_t)r * slot_size; i < room; i++)
            if ((uint8_t)out[i] != FILL)
                abort(); /* unfilled slots untouched */
        if (off != pos)
            abort(); /* the offset is past exactly what was delivered */
        filled += (size_t)r;
        if (r == 0) {
            if (before != len)
                abort(); /* no progress with bytes left: a caller would spin */
            break;
        }
        if (r < (int)nslots && off != len)
            abort(); /* room left over, but bytes too */
    }
    if (off != len || filled != pieces)
        abort();
    free(out);
    free(results);
}

/* Arguments tt_udp_split must refuse before touching anything. */
static void check_refused(const char *msg, size_t len, uint32_t seg_size, size_t off,
                          char *out, size_t slot_size, uint32_t nslots, int kind, int which)
{
    int64_t *results = malloc(sizeof(int64_t) * (nslots ? nslots : 1));
    if (results == NULL)
        abort();
    size_t given = off;
    int r;
    switch (which) {
    case 0:
        r = tt_udp_split(msg, len, seg_size, 0, NULL, out, slot_size, nslots, results, kind);
        break;
    case 1:
        r = tt_udp_split(msg, len, seg_size, 0, &off, NULL, slot_size, nslots, results, kind);
        break;
    case 2:
        r = tt_udp_split(msg, len, seg_size, 0, &off, out, slot_size, nslots, NULL, kind);
        break;
    default: /* more than a staged message can be, on a small buffer */
        r = tt_udp_split(msg, TT_UDP_MSG_MAX + 1 + len, seg_size, 0, &off, out, slot_size,
                         nslots, results, kind);
        break;
    }
    if (r != -EINVAL || off != given)
        abort();
    free(results);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 6)
        return 0;
    int kind = data[0] & 1, truncated = (data[0] >> 1) & 1;
    int built = (data[0] >> 2) & 1, misaligned = (data[0] >> 3) & 1;
    uint32_t nslots = data[0] >> 4;
    unsigned seg16 = data[2] | (unsigned)data[3] << 8;
    uint32_t seg_size = data[3] == 0xff ? 0xffffff00u | data[2] : seg16;
    size_t slot_size = data[4] & 0x80 ? (size_t)(data[4] & 0x7f) * 16 : data[4];
    if (data[4] == 0xff)
        slot_size = TT_BATCH_MAX_SLOT + 1;
    uint8_t args = data[5];
    struct input in = {data + 6, size - 6};

    if (tt_udp_gro_size(NULL, 0) != 0 || tt_udp_gro_size(NULL, 1) != -EINVAL)
        abort();
    if (built) {
        size_t len;
        int expect;
        char *control = built_control(&in, data[1], &len, &expect);
        check_gro_raw(control, len);
        if (tt_udp_gro_size(len ? control : NULL, len) != expect)
            abort();
        if (expect > 0)
            seg_size = (uint32_t)expect; /* the message is what that GRO made */
        free(control);
    } else {
        size_t len = data[1] < in.left ? data[1] : in.left;
        char *block = malloc(len + 1);
        if (block == NULL)
            abort();
        char *control = block + misaligned; /* ends at the block's end either way */
        take_into(&in, control, len);
        int gro = check_gro_raw(len ? control : NULL, len);
        if (gro > 0)
            seg_size = (uint32_t)gro;
        free(block);
    }

    size_t len = in.left;
    char *msg = malloc(len ? len : 1);
    if (msg == NULL)
        abort();
    memcpy(msg, in.p, len);
    size_t start = 0;
    int refuse = slot_size == 0 || slot_size > TT_BATCH_MAX_SLOT;
    switch (args & 7) {
    case 4: /* resuming from inside the message */
        start = len ? (args >> 3) * len / 31 : 0;
        break;
    case 5:
        start = len + 1 + (args >> 3);
        refuse = 1;
        break;
    case 6:
        kind = (args & 8) ? 2 : -1;
        refuse = 1;
        break;
    default:
        break;
    }
    if (refuse) {
        /* Room for nothing: a split that went ahead would write past it. */
        size_t off = start, given = start;
        char one;
        int64_t result;
        int r = tt_udp_split(len ? msg : NULL, len, seg_size, truncated, &off, &one, slot_size,
                             nslots, &result, kind);
        if (r != -EINVAL || off != given)
            abort();
    } else if ((args & 7) == 7) {
        char *out = malloc(slot_size * (nslots ? nslots : 1));
        if (out == NULL)
            abort();
        check_refused(len ? msg : NULL, len, seg_size, 0, out, slot_size, nslots, kind,
                      (args >> 3) & 3);
        free(out);
    } else {
        check_split(msg, len, seg_size, truncated, start, slot_size, nslots, kind);
    }
    free(msg);
    return 0;
}
