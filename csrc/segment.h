/* segment.h - what segment.c gives the queue's reads (internal). */
#ifndef TUNTAP_SEGMENT_H
#define TUNTAP_SEGMENT_H

#include "tuntap.h"

/* segment.c: tt_segment with the slots stride bytes apart, each segment
 * written at the start of its slot into room (<= stride) bytes: so a raw
 * read can put a segment after the empty virtio-net header of its slot. */
int tti_segment(const char *buf, size_t len, uint32_t skip, char *out, size_t stride,
                size_t room, uint32_t nslots, int64_t *results, uint32_t *total);

/* The segments tti_segment would make of buf, each in room bytes (>= 1), or
 * the -errno it would say instead. */
int tti_segment_count(const char *buf, size_t len, size_t room);

#endif
