/*
 * tuntap.h - the whole C interface of the tuntap-cffi shim.
 *
 * Every function returns a count, an fd or a packed result (>= 0) on
 * success and -errno on failure.  Nothing here calls Python, prints, exits
 * or keeps global mutable state; every buffer comes with its length and is
 * bounds-checked.
 *
 * The part between the cdef markers is read verbatim by build_ffi.py as the
 * cffi declarations, so it must stay plain declarations: no #include, no
 * #define, no inline code.
 */
#ifndef TUNTAP_SHIM_H
#define TUNTAP_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* cdef-begin */
/* Device kinds, as the Python DevKind enum numbers them. */
enum {
    TT_KIND_TUN = 0,
    TT_KIND_TAP = 1
};

/* Verdicts of tt_classify (the seed's read-side rules). */
enum {
    TT_PKT_OK = 0,
    TT_PKT_SHORT_READ = 1,   /* nothing was read */
    TT_PKT_TRUNCATED = 2,    /* shorter than its own header or length fields */
    TT_PKT_NOT_IP = 3        /* TUN packet whose first nibble is not 4 or 6 */
};

/* Longest interface name, without the NUL (IFNAMSIZ - 1). */
enum { TT_IFNAME_MAX = 15 };

/*
 * A classification is packed into one non-negative int64_t so that the hot
 * path needs no out-parameters (and no allocation in Python):
 *   bits  0..31  body length (bytes of the packet that belong to it)
 *   bits 32..47  protocol (IP EtherType for TUN, the frame's EtherType for TAP)
 *   bits 48..55  verdict (TT_PKT_*)
 */
enum {
    TT_PACK_PROTO_SHIFT = 32,
    TT_PACK_VERDICT_SHIFT = 48
};

/* device.c: opening and naming devices */
int tt_open_clone(const char *path);
int tt_set_iff(int fd, const char *name, int kind, int extra_flags,
               char *name_out, size_t name_out_len);
int tt_set_nonblocking(int fd);
int tt_eventfd(void);
int tt_wake(int wakefd);
int tt_close(int fd);

/* packet_io.c: one packet in, one packet out, interruptible waits */
int tt_wait(int fd, int wakefd, int for_write, int timeout_ms);
int64_t tt_recv_packet(int fd, int wakefd, char *buf, size_t len, int kind,
                       int timeout_ms);
ssize_t tt_send(int fd, int wakefd, const char *buf, size_t len,
                int timeout_ms);

/* classify.c: the seed's read-side rules on any bytes */
int64_t tt_classify(const char *buf, size_t len, int kind);
/* cdef-end */

#endif
