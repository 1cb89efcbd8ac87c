/* libFuzzer harness for the copy-free segmenter that udp.c sends raw slots
 * with: tti_gso_parse, then per segment tti_segment_header (headers in a
 * small buffer) and the payload slice where it lies in the packet.  The
 * input is a virtio-net header and a (super-)packet, both untrusted.  Checks
 * that it parses exactly what tt_segment segments (same errors), that each
 * segment's headers + slice joined equal tt_segment's segment byte for byte,
 * that every slice lies inside the packet and every header within
 * TTI_SEG_HDR_MAX, and (an independent sum over the joined bytes) that each
 * segment's L4 checksum verifies; and for a packet without GSO, that the
 * packet with its completed checksum is tt_segment's, as well as memory
 * safety. */
#include "checksum.h"
#include "segment.h"
#include "tuntap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SLOT 65600

/* The one's-complement sum over pseudo-header + L4 of a joined segment: 0xffff when valid. */
static uint16_t l4_sum(const unsigned char *seg, size_t len, size_t l3, int v6, unsigned proto)
{
    uint64_t sum = tti_pseudo_sum(seg, v6, proto, len - l3);
    return tti_csum_fold(tti_csum_add(seg + l3, len - l3, sum));
}

/* A slot's result says at most len bytes (tt_classify's body: an IP packet's
 * total length, which may be less than the bytes). */
static int length_is(int64_t result, size_t len)
{
    return result >= 0 && (size_t)(result & 0xffffffff) <= len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size heap copy, so any access past the end is caught. */
    char *packet = malloc(size ? size : 1);
    char *out = malloc(SLOT);
    unsigned char *joined = malloc(SLOT);
    if (packet == NULL || out == NULL || joined == NULL)
        abort();
    memcpy(packet, data, size);
    struct tti_gso g;
    int parsed = tti_gso_parse(packet, size, &g);
    int64_t result;
    uint32_t total = 0;
    int first = tt_segment(packet, size, 0, out, SLOT, 1, &result, &total);
    /* The same parse: the same error, or segments (a slot of SLOT holds any);
     * a plain packet that tt_classify refuses (as a read's slot) aside. */
    if (parsed < 0 ? first != parsed : first != 1 && !(g.plain && first < 0))
        abort();
    if (parsed == 0 && total != g.segments)
        abort();
    if (parsed == 0 && g.plain && first == 1) {
        memcpy(joined, g.p, g.len);
        if (g.csum_at != SIZE_MAX) {
            if (g.csum_at + 2 > g.len)
                abort();
            memcpy(joined + g.csum_at, g.csum, 2);
        }
        if (!length_is(result, g.len) || memcmp(joined, out, g.len) != 0)
            abort();
    } else if (parsed == 0 && !g.plain) {
        if (g.hlen > TTI_SEG_HDR_MAX || g.segments == 0)
            abort();
        /* At most 64 segments a run (the rest are as these), the last always. */
        for (uint32_t k = 0; k < g.segments; k = k + 1 == 64 ? g.segments - 1 : k + 1) {
            unsigned char head[TTI_SEG_HDR_MAX];
            const unsigned char *payload;
            size_t plen = tti_segment_header(&g, k, head, &payload);
            const unsigned char *p = (const unsigned char *)packet;
            if (payload < p + g.hlen || payload + plen > p + size || plen > g.gso_size)
                abort();
            memcpy(joined, head, g.hlen);
            memcpy(joined + g.hlen, payload, plen);
            if (tt_segment(packet, size, k, out, SLOT, 1, &result, &total) != 1)
                abort();
            size_t len = g.hlen + plen;
            if (!length_is(result, len) || memcmp(joined, out, len) != 0)
                abort();
            if (l4_sum(joined, len, g.l3, g.v6, g.proto) != 0xffff)
                abort();
            if (k + 1 == g.segments)
                break;
        }
    }
    free(packet);
    free(out);
    free(joined);
    return 0;
}
