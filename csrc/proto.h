/* proto.h - the wire formats the shim reads and writes (internal).
 *
 * Protocol numbers and TCP flags of the packets segment.c and coalesce.c
 * take apart and build, the virtio-net GSO type that older headers lack,
 * and big-endian fields read and written byte by byte (no alignment
 * needed).  Nothing here knows an fd.
 */
#ifndef TUNTAP_PROTO_H
#define TUNTAP_PROTO_H

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_CWR 0x80

static inline void tti_put16(unsigned char *p, uint16_t host)
{
    uint16_t w = htons(host);
    memcpy(p, &w, 2);
}

static inline unsigned tti_get16(const unsigned char *p)
{
    return ((unsigned)p[0] << 8) | p[1];
}

static inline uint32_t tti_get32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

#endif
