/* libFuzzer harness for tt_events_parse: one datagram of the link and address
 * groups from a hostile kernel. The first byte picks the device's ifindex
 * (1..4) and the room of the record array (0..7: running out is common); the
 * rest is the datagram. Checks memory safety (ASan/UBSan: the datagram and the
 * array are allocated at their exact sizes) and the records' invariants. */
#include "tuntap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int32_t ifindex = 1 + (data[0] & 3);
    uint32_t room = (data[0] >> 2) & 7;
    size_t len = size - 1;
    uint8_t *datagram = malloc(len ? len : 1);
    struct tt_event *events = malloc(room ? room * sizeof(*events) : 1);
    if (datagram == NULL || events == NULL) {
        free(datagram);
        free(events);
        return 0;
    }
    memcpy(datagram, data + 1, len);

    int result = tt_events_parse(len ? datagram : NULL, len, ifindex, room ? events : NULL, room);
    if (result < -4095 || result > (int)room)
        abort(); /* a count that fits the room, or -errno */
    if (result < 0 && result != -EBADMSG && result != -ENOSPC)
        abort();
    for (int i = 0; i < result; i++) {
        const struct tt_event *e = &events[i];
        if (e->ifindex != ifindex || e->kind < TT_EVENT_LINK || e->kind > TT_EVENT_ADDR_DEL)
            abort();
        if (memchr(e->name, '\0', sizeof(e->name)) == NULL)
            abort();
        if (e->kind >= TT_EVENT_ADDR_NEW &&
            !((e->family == 2 && e->prefixlen <= 32) || (e->family == 10 && e->prefixlen <= 128)))
            abort(); /* AF_INET, AF_INET6 */
    }
    free(datagram);
    free(events);
    return 0;
}
