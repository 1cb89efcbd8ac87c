/* libFuzzer harness for tt_classify: the seed's read-side rules on any bytes.
 * The first byte picks the device kind; the rest is the packet. Checks the
 * packed result's invariants as well as memory safety (ASan/UBSan). */
#include "tuntap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int kind = data[0] & 1;
    size_t len = size - 1;
    /* An exact-size heap copy, so any read past the end is caught. */
    char *packet = malloc(len ? len : 1);
    if (packet == NULL)
        return 0;
    memcpy(packet, data + 1, len);

    int64_t packed = tt_classify(len ? packet : NULL, len, kind);
    if (packed < 0)
        abort(); /* valid arguments never fail */
    int64_t verdict = packed >> TT_PACK_VERDICT_SHIFT;
    int64_t body = packed & (((int64_t)1 << TT_PACK_PROTO_SHIFT) - 1);
    if (verdict > TT_PKT_NOT_IP || (size_t)body > len)
        abort(); /* a known verdict, and a body inside what was read */
    if (verdict == TT_PKT_SHORT_READ && len != 0)
        abort();
    free(packet);
    return 0;
}
