/* segment.h - what segment.c gives the queue's reads and udp.c's sends (internal). */
#ifndef TUNTAP_SEGMENT_H
#define TUNTAP_SEGMENT_H

#include "tuntap.h"

#include <stdint.h>

/* segment.c: tt_segment with the slots stride bytes apart, each segment
 * written at the start of its slot into room (<= stride) bytes: so a raw
 * read can put a segment after the empty virtio-net header of its slot. */
int tti_segment(const char *buf, size_t len, uint32_t skip, char *out, size_t stride,
                size_t room, uint32_t nslots, int64_t *results, uint32_t *total);

/* The segments tti_segment would make of buf, each in room bytes (>= 1), or
 * the -errno it would say instead. */
int tti_segment_count(const char *buf, size_t len, size_t room);

/* The most header bytes a segment has: an IPv4 header with options (60)
 * and a TCP header with options (60); IPv6 (40) has no extension headers here. */
#define TTI_SEG_HDR_MAX 128

/* A raw slot's packet (after its virtio-net header), parsed and checked. */
struct tti_gso {
    const unsigned char *p; /* the packet */
    size_t len;             /* its bytes */
    int plain;              /* no GSO: it goes as it is, with csum at csum_at */
    size_t csum_at;         /* plain: where its completed checksum goes; SIZE_MAX: none */
    unsigned char csum[2];
    /* GSO: its headers (l3 bytes of IP, hlen in all), payload and segments. */
    size_t l3, hlen, payload, gso_size;
    unsigned proto;
    int v6;
    uint32_t segments; /* 1 for a plain packet */
};

/* Parses a virtio-net header and the packet after it (len bytes in all, both
 * untrusted) into g, whose p points into buf: 0, or -EBADMSG,
 * -EPROTONOSUPPORT as tt_segment says.  The segmenting read and the
 * copy-free send both parse with it. */
int tti_gso_parse(const char *buf, size_t len, struct tti_gso *g);

/* Segment k (< g->segments) of a GSO packet g without its payload: its
 * headers (g->hlen bytes, at most TTI_SEG_HDR_MAX) written to hdr, lengths,
 * IPv4 ID (+k), TCP sequence number and flags and every checksum as the
 * kernel's segmentation makes them, the L4 checksum summed over the payload
 * where it lies.  Sets *payload to the payload in g->p; returns its length. */
size_t tti_segment_header(const struct tti_gso *g, uint32_t k, unsigned char *hdr,
                          const unsigned char **payload);

#endif
