/*
 * tuntap.h - the whole C interface of the tuntap-cffi shim.
 *
 * Every function returns a count, an fd or a packed result (>= 0) on
 * success and -errno on failure.  Nothing here calls Python, prints, exits
 * or keeps global mutable state; every buffer comes with its length and is
 * bounds-checked.
 *
 * The declarations live in cdef/, one header per concern, each declaring
 * exactly the tt_ functions of its files (cdef/io.h: queue.c's); build_ffi.py
 * also reads them verbatim (in the order below) as the cffi declarations:
 * they must stay plain declarations.  tt_ names only what Python calls.
 *
 * What several C files share and Python never sees has tti_ names, in the
 * internal headers, one per concern: proto.h (protocol numbers, big-endian
 * fields), checksum.h, verdict.h (the packed classification), batch.h
 * (batch shape, write sources), coalesce.h and segment.h (what coalesce.c
 * and segment.c give queue.c) and nlmsg.h (rtnetlink socket, iterators,
 * nlmsg.c's parsers).  Everything else is static to its file.
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
