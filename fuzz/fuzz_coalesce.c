/* libFuzzer harness for tt_coalesce_run and tt_coalesce_build: TCP
 * coalescing of untrusted packets.  The first byte picks the room for the
 * super-packet; the rest is packets, each a 2-byte big-endian length and its
 * bytes (up to 16 of them).  Checks that a run is 1..count, that a built
 * super-packet fits its room, and that segmenting it again (tt_segment)
 * gives back exactly the packets of the run, as well as memory safety. */
#include "tuntap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_PACKETS = 16, SLOT = 2048 };

/* A segment is the packet it was built from: the same bytes, but for the
 * checksum fields, where a sum of zero may be written either way (0x0000 or
 * 0xffff) and verifies the same (the segmenter's own checksums are checked
 * against an independent implementation by the tests). */
static int same_packet(const char *seg, size_t seg_len, const char *orig, size_t len)
{
    if (seg_len != len || len < 40)
        return 0;
    size_t l3 = ((unsigned char)orig[0] >> 4) == 4 ? 20 : 40;
    for (size_t k = 0; k < len; k++) {
        int checksum = (l3 == 20 && (k == 10 || k == 11)) || k == l3 + 16 || k == l3 + 17;
        if (!checksum && seg[k] != orig[k])
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t room = 64 + (size_t)data[0] * 32; /* 64 .. 8224 */
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
    int run = tt_coalesce_run(&src, 0, (size_t)-1, room);
    if (run < 1 || (uint32_t)run > count)
        abort();
    if (run >= 2) {
        char *out = malloc(room);
        char *slots = malloc((size_t)SLOT * MAX_PACKETS);
        int64_t results[MAX_PACKETS];
        uint32_t total = 0;
        if (out == NULL || slots == NULL)
            abort();
        int64_t len = tt_coalesce_build(&src, 0, (uint32_t)run, out, room);
        if (len <= TT_VNET_HDR_LEN || (size_t)len > room)
            abort();
        int n = tt_segment(out, (size_t)len, 0, slots, SLOT, MAX_PACKETS, results, &total);
        /* Segments longer than a slot are refused as a whole, never cut. */
        if (n != -EMSGSIZE && (n != run || total != (uint32_t)run))
            abort();
        for (int i = 0; n > 0 && i < n; i++)
            if (!same_packet(slots + (size_t)i * SLOT, (size_t)(results[i] & 0xffffffff),
                             bufs[i], lens[i]))
                abort();
        free(out);
        free(slots);
    }
    for (uint32_t i = 0; i < count; i++)
        free(bufs[i]);
    return 0;
}
