/* libFuzzer harness for tt_segment: GSO segmentation of a virtio-net header
 * and a (super-)packet, both untrusted.  The first three bytes pick the slot
 * size, the slot count and how many segments to skip; the rest is header +
 * packet.  Checks that only the documented errors come back and that every
 * slot written holds a packet inside the slot, as well as memory safety. */
#include "tuntap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t slot_size = 64 + (size_t)data[0] * 8; /* 64 .. 2104 */
    uint32_t nslots = 1 + (data[1] & 15);
    uint32_t skip = data[2] & 7;
    size_t len = size - 3;
    /* Exact-size heap copies, so any access past the end is caught. */
    char *packet = malloc(len ? len : 1);
    char *out = malloc(slot_size * nslots);
    int64_t *results = malloc(sizeof(int64_t) * nslots);
    if (packet == NULL || out == NULL || results == NULL)
        abort();
    memcpy(packet, data + 3, len);
    uint32_t total = 0;
    int r = tt_segment(packet, len, skip, out, slot_size, nslots, results, &total);
    if (r < 0 && r != -EBADMSG && r != -EMSGSIZE && r != -EPROTONOSUPPORT)
        abort();
    if (r > (int)nslots || (r > 0 && skip + (uint32_t)r > total))
        abort();
    for (int i = 0; i < r; i++) {
        if (results[i] < 0 || (size_t)(results[i] & 0xffffffff) >= slot_size)
            abort();
    }
    free(packet);
    free(out);
    free(results);
    return 0;
}
