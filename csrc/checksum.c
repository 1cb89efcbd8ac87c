/* checksum.c - the Internet checksum on any bytes, the test entry point of
 * the helpers in checksum.h (which segment.c and coalesce.c inline). */
#include "checksum.h"
#include "tuntap.h"

#include <errno.h>

int tt_checksum(const char *buf, size_t len)
{
    if (buf == NULL && len != 0)
        return -EINVAL;
    uint16_t folded = tti_csum_fold(tti_csum_add((const unsigned char *)buf, len, 0));
    return ntohs((uint16_t)~folded);
}
