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
/* batch.c: many packets per call, into and out of memory Python owns.
 *
 * A batch is capacity fixed-size slots in one buffer, plus one int64_t per
 * slot: the packed classification of what arrived in it (as tt_classify),
 * or -errno.  A slot that comes back full may have been cut by the kernel,
 * so it is reported TT_PKT_TRUNCATED: slot_size must exceed the largest
 * packet the device can deliver.  For a slot that is not TT_PKT_OK the body
 * length is every byte that arrived. */
enum {
    TT_BATCH_MAX_CAPACITY = 4096,
    TT_BATCH_MAX_SLOT = 65600,
    TT_ETH_HEADER_LEN = 14
};

struct tt_batch {
    char *buf;            /* capacity * slot_size bytes */
    size_t buf_len;
    size_t slot_size;
    int64_t *results;     /* capacity entries */
    uint32_t capacity;
    uint32_t count;       /* slots filled by the last tt_read_batch */
    uint32_t bad;         /* of those, how many are not TT_PKT_OK */
    int32_t kind;         /* TT_KIND_* of the device read from */
    uint32_t drained;     /* the last read emptied the queue: wait first */
};

/* Where a batch write stopped: packet `next` failed with `error` (0 when
 * every packet was written; then next is the count).  `partial` is the byte
 * count of a short write (error -EIO).  `refused` is the TT_PKT_* verdict
 * when the packet broke the write rules (error -EINVAL, nothing written):
 * TT_PKT_NOT_IP for a TUN packet that is not IP, TT_PKT_TRUNCATED for a TAP
 * frame shorter than an Ethernet header; a packet over write_limit gets
 * error -EMSGSIZE. */
struct tt_write_status {
    uint32_t next;
    uint32_t written;
    int32_t error;
    uint32_t partial;
    int32_t refused;
};

int tt_read_batch(int fd, int wakefd, struct tt_batch *batch, int timeout_ms);
int tt_write_batch(int fd, int wakefd, char **bufs, const size_t *lens,
                   uint32_t start, uint32_t count, int kind, size_t write_limit,
                   int timeout_ms, struct tt_write_status *status);
int tt_write_slots(int fd, int wakefd, const struct tt_batch *batch,
                   uint32_t start, size_t write_limit, int timeout_ms,
                   struct tt_write_status *status);
/* cdef-end */

/* Internal to the shim (not for Python): one read() that waits at most
 * timeout_ms if nothing is queued; bytes read or -errno (-EAGAIN: none). */
ssize_t tt_read_wait(int fd, int wakefd, char *buf, size_t len, int timeout_ms);

#endif
