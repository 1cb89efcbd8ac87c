/* batch.h - batches and write sources, as the reads and writes share them (internal).
 *
 * The shape a batch must have, where a batch write starts, and the packets
 * of a write as one source (arrays, joined bytes, or a batch's slots), which
 * queue.c and udp.c write and coalesce.c plans over.
 */
#ifndef TUNTAP_BATCH_H
#define TUNTAP_BATCH_H

#include "verdict.h"

#include <errno.h>

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

/* Where the packets of a write come from: arrays, or a batch's slots. */
struct tti_source {
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
static inline int tti_source_get(const struct tti_source *s, uint32_t i, const unsigned char **p,
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
    if (tti_is_bad(result))
        return 0;
    size_t off = s->raw ? TT_VNET_HDR_LEN : 0;
    *len = (size_t)(result & BODY_MASK);
    if (*len + off > s->b->slot_size)
        return -EINVAL;
    if (s->b->in_place) { /* where a receive left it (no header: raw is a device's) */
        const struct tt_batch *b = s->b;
        if (b->where == NULL || b->stage == NULL || s->raw || b->where[i] > b->stage_len ||
            *len > b->stage_len - b->where[i])
            return -EINVAL;
        *p = (const unsigned char *)b->stage + b->where[i];
        return 1;
    }
    *p = (const unsigned char *)s->b->buf + (size_t)i * s->b->slot_size + off;
    return 1;
}

/* The source of a write: -EINVAL unless src is exactly one of the three forms. */
static inline int tti_source_of(const struct tt_packets *src, struct tti_source *s)
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

#endif
