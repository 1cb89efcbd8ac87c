/* classify.c - the Go seed's read-side packet rules, on any bytes. */
#include "proto.h"
#include "verdict.h"

#include <errno.h>

#define VLAN_TAG_LEN 4

/* IP packets: the version nibble names the protocol, the header its length. */
static int64_t classify_ip(const unsigned char *p, size_t len)
{
    size_t header, total;
    unsigned protocol;

    switch (p[0] >> 4) {
    case 4:
        protocol = 0x0800;
        header = 20;
        if (len < header)
            return tti_pack(TT_PKT_TRUNCATED, protocol, len);
        total = tti_get16(p + 2);
        break;
    case 6:
        protocol = 0x86dd;
        header = 40;
        if (len < header)
            return tti_pack(TT_PKT_TRUNCATED, protocol, len);
        total = header + tti_get16(p + 4);
        break;
    default:
        return tti_pack(TT_PKT_NOT_IP, 0, 0);
    }
    if (len < total)
        return tti_pack(TT_PKT_TRUNCATED, protocol, len);
    return tti_pack(TT_PKT_OK, protocol, total);
}

/* Ethernet frames: the whole frame is the body; the protocol is the
 * EtherType after any 802.1Q / 802.1ad (and old QinQ 0x9100) tags. */
static int64_t classify_ethernet(const unsigned char *p, size_t len)
{
    if (len < TT_ETH_HEADER_LEN)
        return tti_pack(TT_PKT_TRUNCATED, 0, len);
    size_t off = 12;
    unsigned type = tti_get16(p + off);
    while (type == 0x8100 || type == 0x88a8 || type == 0x9100) {
        off += VLAN_TAG_LEN;
        if (off + 2 > len)
            return tti_pack(TT_PKT_TRUNCATED, type, len);
        type = tti_get16(p + off);
    }
    return tti_pack(TT_PKT_OK, type, len);
}

int64_t tt_classify(const char *buf, size_t len, int kind)
{
    if (kind != TT_KIND_TUN && kind != TT_KIND_TAP)
        return -EINVAL;
    if (len > 0xffffffffu || (buf == NULL && len != 0))
        return -EINVAL;
    if (len == 0)
        return tti_pack(TT_PKT_SHORT_READ, 0, 0);
    const unsigned char *p = (const unsigned char *)buf;
    return kind == TT_KIND_TUN ? classify_ip(p, len) : classify_ethernet(p, len);
}
