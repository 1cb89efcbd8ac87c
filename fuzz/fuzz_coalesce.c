/* libFuzzer harness for tt_coalesce_plan and tt_coalesce_build: TCP and UDP
 * coalescing of untrusted packets, by flow.  The first byte picks the room
 * for the super-packet (its low 7 bits), whether the plan groups by flow
 * (its top bit); the rest is packets, each a 2-byte big-endian length and
 * its bytes (up to 16 of them).  Checks that a plan is ascending positions
 * from its first, that a built super-packet fits its room, and that
 * segmenting it again (tt_segment) gives back exactly the packets of the
 * plan, as well as memory safety. */
#include "tuntap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_PACKETS = 16, SLOT = 2048 };
/* CSUM, TSO4, TSO6, USO4, USO6: every packet kind may merge. */
#define ALL_OFFLOADS 0x67u

/* A segment is the packet it was built from: the same bytes, but for the
 * checksum fields, where a sum of zero may be written either way (0x0000 or
 * 0xffff) and verifies the same (the segmenter's own checksums are checked
 * against an independent implementation by the tests), and the IPv4 ID of a
 * TCP segment with DF set: a run of such segments that kept one ID merges,
 * and comes back numbered from the first (RFC 6864: it means nothing). */
static int same_packet(const char *seg, size_t seg_len, const char *orig, size_t len)
{
    if (seg_len != len || len < 40)
        return 0;
    size_t l3 = ((unsigned char)orig[0] >> 4) == 4 ? 20 : 40;
    int udp = (unsigned char)orig[l3 == 20 ? 9 : 6] == 17;
    size_t check = udp ? l3 + 6 : l3 + 16;
    int atomic = l3 == 20 && !udp && ((unsigned char)orig[6] & 0x40);
    for (size_t k = 0; k < len; k++) {
        int checksum = (l3 == 20 && (k == 10 || k == 11)) || k == check || k == check + 1;
        int id = atomic && (k == 4 || k == 5);
        if (!checksum && !id && seg[k] != orig[k])
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t room = 64 + (size_t)(data[0] & 0x7f) * 64; /* 64 .. 8192 */
    int group = data[0] >> 7;
    char *bufs[MAX_PACKETS];
    size_t lens[MAX_PACKETS];
    uint32_t count = 0;
    size_t at = 1;
    while (count < MAX_PACKETS && at + 2 <= size) {
        size_t len = ((size_t)data[at] << 8) | data[at + 1];
        at += 2;
        if (len > size - at)
            len = size - at;
        /* Exact-size heap copies, so any access past the end is caught. */
        bufs[count] = malloc(len ? len : 1);
        if (bufs[count] == NULL)
            abort();
        memcpy(bufs[count], data + at, len);
        lens[count++] = len;
        at += len;
    }
    if (count == 0)
        return 0;
    struct tt_packets src = { .bufs = bufs, .lens = lens, .count = count };
    uint32_t members[TT_COALESCE_MAX];
    int n = tt_coalesce_plan(&src, 0, group, ALL_OFFLOADS, (size_t)-1, room, members,
                             TT_COALESCE_MAX);
    if (n < 1 || (uint32_t)n > count || members[0] != 0)
        abort();
    for (int k = 1; k < n; k++)
        if (members[k] <= members[k - 1] || members[k] >= count || (!group && members[k] != (uint32_t)k))
            abort();
    if (n >= 2) {
        char *out = malloc(room);
        char *slots = malloc((size_t)SLOT * MAX_PACKETS);
        int64_t results[MAX_PACKETS];
        uint32_t total = 0;
        if (out == NULL || slots == NULL)
            abort();
        int64_t len = tt_coalesce_build(&src, members, (uint32_t)n, ALL_OFFLOADS, out, room);
        if (len <= TT_VNET_HDR_LEN || (size_t)len > room)
            abort();
        int got = tt_segment(out, (size_t)len, 0, slots, SLOT, MAX_PACKETS, results, &total);
        /* Segments longer than a slot are refused as a whole, never cut. */
        if (got != -EMSGSIZE && (got != n || total != (uint32_t)n))
            abort();
        for (int i = 0; got > 0 && i < got; i++)
            if (!same_packet(slots + (size_t)i * SLOT, (size_t)(results[i] & 0xffffffff),
                             bufs[members[i]], lens[members[i]]))
                abort();
        free(out);
        free(slots);
    }
    for (uint32_t i = 0; i < count; i++)
        free(bufs[i]);
    return 0;
}
