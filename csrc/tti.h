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

static inline int is_bad(int64_t result)
{
    return result < 0 || (result >> TT_PACK_VERDICT_SHIFT) != TT_PKT_OK;
}

/* Where the packets of a write come from: arrays, or a batch's slots. */
struct source {
    char **bufs;
    const size_t *lens;
    const struct tt_batch *b;
    int raw; /* slots hold a virtio-net header before the packet */
};

/* Packet i: 1 and its bytes, 0 for a bad slot (skipped), -EINVAL.  *p and
 * *len are always set, so no caller reads them uninitialised. */
static inline int source_get(const struct source *s, uint32_t i, const unsigned char **p,
                             size_t *len)
{
    *p = NULL;
    *len = 0;
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

/* coalesce.c: how many packets from i on merge into one super-packet (>= 1),
 * and the super-packet of packets i..i+n-1 built in out (its length with
 * the virtio-net header). */
uint32_t tti_coalesce_run(const struct source *s, uint32_t i, uint32_t end, size_t write_limit,
                          size_t room);
size_t tti_coalesce_build(const struct source *s, uint32_t i, uint32_t n, unsigned char *out);

#endif
