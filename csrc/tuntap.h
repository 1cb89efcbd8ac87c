/*
 * tuntap.h - the whole C interface of the tuntap-cffi shim.
 *
 * Every function returns a count, an fd or a packed result (>= 0) on
 * success and -errno on failure.  Nothing here calls Python, prints, exits
 * or keeps global mutable state; every buffer comes with its length and is
 * bounds-checked.
 *
 * The declarations live per area in cdef/, one header each, which
 * build_ffi.py also reads verbatim (in the order below) as the cffi
 * declarations: they must stay plain declarations.  What the C files share
 * and Python never sees is in the internal headers, one per concern:
 * proto.h, checksum.h, verdict.h, batch.h, coalesce.h, segment.h, nlmsg.h.
 */
#ifndef TUNTAP_SHIM_H
#define TUNTAP_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cdef/device.h"
#include "cdef/classify.h"
#include "cdef/wait.h"
#include "cdef/netlink.h"
#include "cdef/io.h"
#include "cdef/offload.h"
#include "cdef/netns.h"
#include "cdef/events.h"
#include "cdef/udp.h"

#endif
