/* libFuzzer harness for tt_nl_parse_reply: one rtnetlink datagram from a
 * hostile kernel. The first byte picks what the parser expects (ack, link,
 * address dump, route, route dump: data[0] % 5), which interface a dump
 * keeps and how much room the address and route arrays have (data[0] / 5);
 * the rest is the datagram. Checks memory safety and the reply's invariants. */
#include "tuntap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum { EXPECT_KINDS = TT_NL_EXPECT_ROUTES + 1 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    struct tt_addr addrs[4];
    struct tt_route routes[4];
    struct tt_nl_reply reply;
    memset(&reply, 0, sizeof(reply));
    unsigned rest = data[0] / EXPECT_KINDS;
    reply.expect = data[0] % EXPECT_KINDS;
    reply.ifindex = rest & 3;       /* 0: any interface */
    unsigned room = (rest >> 2) % 5; /* 0..4: overflowing the room is common */
    reply.addrs_max = room;
    reply.addrs = room ? addrs : NULL;
    reply.routes_max = room;
    reply.routes = room ? routes : NULL;
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
    uint32_t stored = reply.routes_found < room ? reply.routes_found : room;
    for (uint32_t i = 0; i < stored; i++) {
        const struct tt_route *r = &routes[i];
        unsigned bits = r->family == AF_INET ? 32 : 128;
        if ((r->family != AF_INET && r->family != AF_INET6) || r->dst_len > bits)
            abort();
        if (r->oif != reply.ifindex || !(r->has & TT_ROUTE_HAS_OIF))
            abort(); /* a dump keeps only the interface's own routes */
        if ((r->has & TT_ROUTE_HAS_GATEWAY) && r->gateway_family != AF_INET &&
            r->gateway_family != AF_INET6)
            abort();
    }
    for (uint32_t i = 0; i < (reply.addrs_found < room ? reply.addrs_found : room); i++)
        if (addrs[i].has_peer > 1)
            abort();
    free(datagram);
    return 0;
}
