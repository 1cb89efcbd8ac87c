/* verdict.h - the packed classification, made and read (internal).
 *
 * One non-negative int64_t holds a packet's verdict, protocol and body
 * length (the layout cdef/classify.h gives Python: TT_PACK_*_SHIFT).
 * classify.c makes it; the reads (queue.c, udp.c) give a cut slot another
 * verdict, and a write source passes over a bad slot.
 */
#ifndef TUNTAP_VERDICT_H
#define TUNTAP_VERDICT_H

#include "tuntap.h"

#define BODY_MASK ((int64_t)0xffffffff)

/* The packed classification of a verdict, a protocol and a body length. */
static inline int64_t tti_pack(int verdict, unsigned protocol, size_t body_len)
{
    return ((int64_t)verdict << TT_PACK_VERDICT_SHIFT) |
           ((int64_t)(protocol & 0xffffu) << TT_PACK_PROTO_SHIFT) |
           (int64_t)(body_len & 0xffffffffu);
}

/* A slot's result that is no packet to pass on: -errno, or not TT_PKT_OK. */
static inline int tti_is_bad(int64_t result)
{
    return result < 0 || (result >> TT_PACK_VERDICT_SHIFT) != TT_PKT_OK;
}

/* A packed classification (>= 0) given another verdict and body length n
 * (its protocol kept): a slot's result when the packet in it was cut. */
static inline int64_t tti_reclassed(int64_t packed, int verdict, size_t n)
{
    return tti_pack(verdict, (unsigned)(packed >> TT_PACK_PROTO_SHIFT), n);
}

#endif
