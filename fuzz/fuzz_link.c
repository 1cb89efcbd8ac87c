/* libFuzzer harness for the link replies of tt_nl_parse_reply (RTM_NEWLINK
 * with IFLA_LINKINFO and the nested IFLA_TUN_* attributes): the whole input
 * is one datagram answering a link request (sequence number and port id 0).
 * Checks memory safety (ASan/UBSan) and the invariants of the link filled in:
 * terminated strings, and TUN/TAP details only for a "tun" link, with a type
 * the library knows. */
#include "tuntap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tt_nl_reply reply;
    memset(&reply, 0, sizeof(reply));
    reply.expect = TT_NL_EXPECT_LINK;
    char *datagram = malloc(size ? size : 1); /* exact size: overreads are caught */
    if (datagram == NULL)
        return 0;
    memcpy(datagram, data, size);

    int result = tt_nl_parse_reply(size ? datagram : NULL, size, &reply);
    const struct tt_link_info *link = &reply.link;
    if (result > 1 || result < -4095)
        abort(); /* 1 complete, 0 more to come, or -errno */
    if (memchr(reply.ext_ack, '\0', sizeof(reply.ext_ack)) == NULL ||
        memchr(link->kind, '\0', sizeof(link->kind)) == NULL ||
        memchr(link->name, '\0', sizeof(link->name)) == NULL)
        abort();
    if (link->hwaddr_len > sizeof(link->hwaddr))
        abort();
    if (link->tun_flags != 0 &&
        (!(link->tun_flags & TT_TUN_INFO) || strcmp(link->kind, "tun") != 0 ||
         link->tun_type > TT_KIND_TAP))
        abort();
    if ((reply.flags & TT_NL_GOT_LINK) == 0 && link->tun_flags != 0)
        abort(); /* details only come with a link */
    free(datagram);
    return 0;
}
