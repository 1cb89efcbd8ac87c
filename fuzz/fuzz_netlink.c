/* libFuzzer harness for tt_nl_parse_reply: the rtnetlink reply parser (links
 * with IFLA_LINKINFO, addresses, acks, errors, dump ends) on any bytes.  The
 * first byte picks what the reply expects and how much room the address
 * array has; the rest is one datagram.  Checks the reply's invariants as
 * well as memory safety (ASan/UBSan). */
#include "tuntap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { SEQ = 7, PORT = 4242, INDEX = 3 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int expect = data[0] % 3;
    uint32_t room = (data[0] >> 2) % 5;
    size_t len = size - 1;
    /* Exact-size heap copies, so a read past the datagram or a write past
     * the address array is caught. */
    char *datagram = malloc(len ? len : 1);
    struct tt_addr *addrs = room ? malloc(room * sizeof(*addrs)) : NULL;
    struct tt_nl_reply *reply = calloc(1, sizeof(*reply));
    if (datagram == NULL || (room && addrs == NULL) || reply == NULL)
        abort();
    memcpy(datagram, data + 1, len);
    reply->expect = expect;
    reply->seq = SEQ;
    reply->portid = PORT;
    reply->ifindex = INDEX;
    reply->addrs = addrs;
    reply->addrs_max = room;

    int result = tt_nl_parse_reply(len ? datagram : NULL, len, reply);
    if (result > 1 || result < -4095)
        abort(); /* 1 complete, 0 more to come, or -errno */
    if (memchr(reply->ext_ack, 0, sizeof(reply->ext_ack)) == NULL ||
        memchr(reply->link.kind, 0, sizeof(reply->link.kind)) == NULL ||
        memchr(reply->link.name, 0, sizeof(reply->link.name)) == NULL)
        abort(); /* every string is terminated inside its array */
    if (reply->link.hwaddr_len > sizeof(reply->link.hwaddr))
        abort();
    if (reply->link.tun_flags != 0 &&
        (!(reply->link.tun_flags & TT_TUN_INFO) || strcmp(reply->link.kind, "tun") != 0 ||
         reply->link.tun_type > TT_KIND_TAP))
        abort(); /* TUN/TAP details only for a "tun" link, with a known type */
    uint32_t stored = reply->addrs_found < room ? reply->addrs_found : room;
    for (uint32_t i = 0; i < stored; i++)
        if (addrs[i].prefixlen > 128 || addrs[i].ifindex != INDEX)
            abort();
    free(reply);
    free(addrs);
    free(datagram);
    return 0;
}
