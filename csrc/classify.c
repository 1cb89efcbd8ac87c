/* classify.c - the Go seed's read-side packet rules, on any bytes. */
#include "tuntap.h"

#include <errno.h>

#define ETH_HEADER_LEN 14
#define VLAN_TAG_LEN 4

static int64_t pack(int verdict, unsigned protocol, size_t body_len)
{
    return ((int64_t)verdict << TT_PACK_VERDICT_SHIFT) |
           ((int64_t)(protocol & 0xffffu) << TT_PACK_PROTO_SHIFT) |
           (int64_t)(body_len & 0xffffffffu);
}

static unsigned be16(const unsigned char *p)
{
    return ((unsigned)p[0] << 8) | p[1];
}

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
            return pack(TT_PKT_TRUNCATED, protocol, len);
        total = be16(p + 2);
        break;
    case 6:
        protocol = 0x86dd;
        header = 40;
        if (len < header)
            return pack(TT_PKT_TRUNCATED, protocol, len);
        total = header + be16(p + 4);
        break;
    default:
        return pack(TT_PKT_NOT_IP, 0, 0);
    }
    if (len < total)
        return pack(TT_PKT_TRUNCATED, protocol, len);
    return pack(TT_PKT_OK, protocol, total);
}

/* Ethernet frames: the whole frame is the body; the protocol is the
 * EtherType after any 802.1Q / 802.1ad (and old QinQ 0x9100) tags. */
static int64_t classify_ethernet(const unsigned char *p, size_t len)
{
    if (len < ETH_HEADER_LEN)
        return pack(TT_PKT_TRUNCATED, 0, len);
    size_t off = 12;
    unsigned type = be16(p + off);
    while (type == 0x8100 || type == 0x88a8 || type == 0x9100) {
        off += VLAN_TAG_LEN;
        if (off + 2 > len)
            return pack(TT_PKT_TRUNCATED, type, len);
        type = be16(p + off);
    }
    return pack(TT_PKT_OK, type, len);
}

int64_t tt_classify(const char *buf, size_t len, int kind)
{
    if (kind != TT_KIND_TUN && kind != TT_KIND_TAP)
        return -EINVAL;
    if (len > 0xffffffffu || (buf == NULL && len != 0))
        return -EINVAL;
    if (len == 0)
        return pack(TT_PKT_SHORT_READ, 0, 0);
    const unsigned char *p = (const unsigned char *)buf;
    return kind == TT_KIND_TUN ? classify_ip(p, len) : classify_ethernet(p, len);
}
