/* libFuzzer harness for tt_nl_parse_reply: one rtnetlink datagram from a
 * hostile kernel. The first byte picks what the parser expects (ack, link,
 * address dump, route) and how much room the address array has; the rest is the
 * datagram. Checks memory safety and the reply's invariants. */
#include "tuntap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    struct tt_addr addrs[4];
    struct tt_nl_reply reply;
    memset(&reply, 0, sizeof(reply));
    reply.expect = data[0] % 4;
    reply.ifindex = (data[0] >> 2) & 3;   /* 0: any interface */
    reply.addrs_max = (data[0] >> 4) % 5; /* 0..4: overflowing the room is common */
    reply.addrs = reply.addrs_max ? addrs : NULL;
    size_t len = size - 1;
    char *datagram = malloc(len ? len : 1); /* exact size: overreads are caught */
    if (datagram == NULL)
        return 0;
    memcpy(datagram, data + 1, len);

    int result = tt_nl_parse_reply(len ? datagram : NULL, len, &reply);
    if (result > 1)
        abort(); /* 1 complete, 0 more to come, or -errno */
    if (memchr(reply.ext_ack, '\0', sizeof(reply.ext_ack)) == NULL)
        abort(); /* the kernel's message is always NUL-terminated */
    if (reply.link.hwaddr_len > sizeof(reply.link.hwaddr))
        abort();
    free(datagram);
    return 0;
}
