/* checksum.h - Internet checksums over packet bytes (internal).
 *
 * Static inline so that segment.c and coalesce.c keep them in their inner
 * loops without a call per word; nothing here knows an fd.
 */
#ifndef TUNTAP_CHECKSUM_H
#define TUNTAP_CHECKSUM_H

#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* One's-complement sum of bytes in network order, kept in the host's
 * representation (RFC 1071: the sum does not depend on byte order).  Eight
 * bytes a step, on two accumulators of 128 bits (add-with-carry pairs); the
 * carries fold back in at the end, since 2^64 is 1 modulo 0xffff.  The
 * result is below 2^34 plus `sum`, for the caller to fold. */
static inline uint64_t tti_csum_add(const unsigned char *p, size_t len, uint64_t sum)
{
#ifdef __SIZEOF_INT128__
    if (len >= 8) {
        unsigned __int128 a = 0, b = 0;
        while (len >= 32) {
            uint64_t w[4];
            memcpy(w, p, 32);
            a += w[0];
            b += w[1];
            a += w[2];
            b += w[3];
            p += 32;
            len -= 32;
        }
        while (len >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            a += w;
            p += 8;
            len -= 8;
        }
        a += b;
        uint64_t lo = (uint64_t)a, hi = (uint64_t)(a >> 64);
        lo += hi;
        lo += lo < hi;
        sum += (lo & 0xffffffffu) + (lo >> 32);
    }
#endif
    while (len >= 4) {
        uint32_t w;
        memcpy(&w, p, 4);
        sum += w;
        p += 4;
        len -= 4;
    }
    if (len >= 2) {
        uint16_t w;
        memcpy(&w, p, 2);
        sum += w;
        p += 2;
        len -= 2;
    }
    if (len) {
        uint16_t w = 0;
        memcpy(&w, p, 1);
        sum += w;
    }
    return sum;
}

static inline uint16_t tti_csum_fold(uint64_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

static inline uint64_t tti_pseudo_sum(const unsigned char *ip, int v6, unsigned proto,
                                      size_t l4_len)
{
    uint64_t sum = v6 ? tti_csum_add(ip + 8, 32, 0) : tti_csum_add(ip + 12, 8, 0);
    uint16_t w = htons((uint16_t)proto);
    sum += w;
    uint32_t l = htonl((uint32_t)l4_len);
    return tti_csum_add((const unsigned char *)&l, 4, sum);
}

static inline void tti_put_csum(unsigned char *field, uint16_t folded_sum, int udp)
{
    uint16_t c = (uint16_t)~folded_sum;
    if (udp && c == 0)
        c = 0xffff;
    memcpy(field, &c, 2);
}

static inline void tti_ipv4_header_csum(unsigned char *ip, size_t ihl)
{
    memset(ip + 10, 0, 2);
    tti_put_csum(ip + 10, tti_csum_fold(tti_csum_add(ip, ihl, 0)), 0);
}

#endif
