/* tti.h - what the shim's files share and Python never sees (internal).
 *
 * Protocol numbers, the packets of a batch write as one source, and the
 * coalescing entry points the queue I/O calls.
 */
#ifndef TUNTAP_TTI_H
#define TUNTAP_TTI_H

#include "tuntap.h"

#include <errno.h>

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

#define VERDICT_MASK ((int64_t)0xff << TT_PACK_VERDICT_SHIFT)

static inline int is_bad(int64_t result)
{
    return result < 0 || (result >> TT_PACK_VERDICT_SHIFT) != TT_PKT_OK;
}

/* A packed classification given another verdict and body length n (its
 * protocol kept): a slot's result when the packet in it was cut. */
static inline int64_t tti_reclassed(int64_t packed, int verdict, size_t n)
{
    return (packed & ~(VERDICT_MASK | BODY_MASK)) | ((int64_t)verdict << TT_PACK_VERDICT_SHIFT) |
           (int64_t)n;
}

/* Where a batch write starts: nothing written, nothing failed yet. */
static inline void tti_status_start(struct tt_write_status *st, uint32_t start)
{
    st->next = start;
    st->written = 0;
    st->error = 0;
    st->partial = 0;
    st->refused = 0;
}

/* The shape of a batch: slots of more than min_slot bytes (at most
 * TT_BATCH_MAX_SLOT), 1..TT_BATCH_MAX_CAPACITY of them, in a buffer that
 * holds them all. */
static inline int tti_batch_shape_ok(const struct tt_batch *b, size_t min_slot)
{
    if (b == NULL || b->buf == NULL || b->results == NULL)
        return 0;
    if (b->capacity == 0 || b->capacity > TT_BATCH_MAX_CAPACITY)
        return 0;
    if (b->slot_size <= min_slot || b->slot_size > TT_BATCH_MAX_SLOT)
        return 0;
    /* No overflow: both factors are bounded well below 2^32. */
    return b->buf_len >= (size_t)b->capacity * b->slot_size;
}

/* segment.c: tt_segment with the slots stride bytes apart, each segment
 * written at the start of its slot into room (<= stride) bytes: so a raw
 * read can put a segment after the empty virtio-net header of its slot. */
int tti_segment(const char *buf, size_t len, uint32_t skip, char *out, size_t stride,
                size_t room, uint32_t nslots, int64_t *results, uint32_t *total);

/* Where the packets of a write come from: arrays, or a batch's slots. */
struct source {
    char **bufs;
    const size_t *lens;
    const struct tt_batch *b;
    int raw; /* slots hold a virtio-net header before the packet */
    const char *joined; /* or: packets one after the other, at offsets */
    size_t joined_len;
    const size_t *offsets;
};

/* Packet i: 1 and its bytes, 0 for a bad slot (skipped), -EINVAL.  *p and
 * *len are always set, so no caller reads them uninitialised. */
static inline int source_get(const struct source *s, uint32_t i, const unsigned char **p,
                             size_t *len)
{
    *p = NULL;
    *len = 0;
    if (s->joined != NULL) {
        size_t from = s->offsets[i], to = s->offsets[i + 1];
        if (from > to || to > s->joined_len)
            return -EINVAL;
        *p = (const unsigned char *)s->joined + from;
        *len = to - from;
        return 1;
    }
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

/* The source of a write: -EINVAL unless src is exactly one of the three forms. */
static inline int source_of(const struct tt_packets *src, struct source *s)
{
    s->bufs = src->bufs;
    s->lens = src->lens;
    s->b = src->batch;
    s->raw = src->raw != 0;
    s->joined = src->joined;
    s->joined_len = src->joined_len;
    s->offsets = src->offsets;
    int forms = (src->bufs != NULL || src->lens != NULL) + (src->batch != NULL) +
                (src->joined != NULL || src->offsets != NULL);
    if (forms != 1)
        return -EINVAL;
    if (src->batch == NULL && src->raw)
        return -EINVAL;
    if (src->bufs != NULL || src->lens != NULL)
        return src->bufs != NULL && src->lens != NULL ? 0 : -EINVAL;
    if (src->joined != NULL || src->offsets != NULL)
        return src->joined != NULL && src->offsets != NULL ? 0 : -EINVAL;
    return 0;
}

/* The flow numbers of the packets a coalescing write looks at, each computed
 * once, in order, and linked to the next position of the same number, so
 * that a plan follows its flow past other flows' packets at no cost.
 * Position j lives in slot j % TTI_FLOWS_CACHED (a plan's window is shorter,
 * so nothing it needs is overwritten); head_* remember the last position of
 * each number (direct-mapped: a clash ends a chain early, never skips a
 * packet).  Positions are stored + 1, 0 meaning none.  One per write call,
 * set up by tti_flows_start. */
enum { TTI_FLOWS_CACHED = 512, TTI_FLOW_HEADS = 1024 };
_Static_assert(TTI_FLOWS_CACHED > TT_COALESCE_LOOKAHEAD + 1, "flow cache window");
struct tti_flows {
    uint32_t computed;                       /* positions below it are numbered */
    uint32_t last_unknown;                   /* the last of unknown flow, + 1 */
    uint32_t next[TTI_FLOWS_CACHED];         /* the next of the same number, + 1 */
    uint32_t unknown_before[TTI_FLOWS_CACHED]; /* the last of unknown flow before it, + 1 */
    uint32_t head_flow[TTI_FLOW_HEADS];
    uint32_t head_pos[TTI_FLOW_HEADS];
};
void tti_flows_start(struct tti_flows *c, uint32_t start);

/* coalesce.c: the positions of the packets that go out with packet i in one
 * super-packet (members[0] = i, ascending; TT_COALESCE_MAX entries of room)
 * and how many (>= 1; 1: it goes alone).  group: pass over other flows'
 * packets (then sent, if not NULL, marks packets already out, to pass over
 * too); otherwise only consecutive packets merge.  cache: one per write
 * call, for the flow numbers.  tti_coalesce_build builds
 * the super-packet of a plan's first n members in out; its length with the
 * virtio-net header. */
uint32_t tti_coalesce_plan(const struct source *s, uint32_t i, uint32_t end, int group,
                           const uint8_t *sent, unsigned offload, size_t write_limit,
                           size_t room, struct tti_flows *cache, uint32_t *members);
size_t tti_coalesce_build(const struct source *s, const uint32_t *members, uint32_t n,
                          unsigned char *out);

#endif
