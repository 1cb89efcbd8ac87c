/* cdef/offload.h - the offloads' pure functions on bytes: segmenting,
 * coalescing, the checksum (enabling offloads is devctl.c's, cdef/device.h)
 * (plain declarations for cffi: no #include, no #define, no inline code). */

/* ---- segment.c: the segmenter on bytes ---------------------------------
 *
 * tt_segment turns one header + packet (a GSO super-packet, or a packet
 * whose checksum is to be completed) into ordinary packets in consecutive
 * slots; a malformed one is -EBADMSG, an unsupported GSO type or IPv6
 * extension header -EPROTONOSUPPORT, a segment that would not fit a slot
 * -EMSGSIZE; nothing is read past len. */
int tt_segment(const char *buf, size_t len, uint32_t skip, char *out, size_t slot_size,
               uint32_t nslots, int64_t *results, uint32_t *total);
/* The packets slots [start, stop) of batch b carry: with raw (slots of a raw
 * offload read), the segments tt_segment makes of each (one for a packet it
 * refuses), else one a slot; a slot whose result is bad carries none.  That
 * many, or -EINVAL (a bad batch or range). */
int64_t tt_batch_segments(const struct tt_batch *b, int raw, uint32_t start, uint32_t stop);

/* ---- coalesce.c: the coalescing on bytes ------------------------------ */

/* Coalescing: at most TT_COALESCE_MAX packets in one super-packet; grouping
 * by flow looks at most TT_COALESCE_LOOKAHEAD positions past the first. */
enum {
    TT_COALESCE_MAX = 64,
    TT_COALESCE_LOOKAHEAD = 256
};
/* The coalescing on an array of packets (src->batch must be NULL), with the
 * offload bits of a device (TUN_F_USO4/6 let UDP datagrams merge):
 * tt_coalesce_plan puts in members (TT_COALESCE_MAX entries of room) the
 * positions of the packets that would go out with packet start in one
 * super-packet of at most `room` bytes (header included), and returns how
 * many (1: it merges with none); group passes over other flows' packets.
 * tt_coalesce_build builds the super-packet (virtio-net header + packet) of
 * the first n members of such a plan in out and returns its length, or
 * -EINVAL unless 2 <= n and members are a plan's that fits out_len. */
int tt_coalesce_plan(const struct tt_packets *src, uint32_t start, int group, uint32_t offload,
                     size_t write_limit, size_t room, uint32_t *members, uint32_t members_len);
int64_t tt_coalesce_build(const struct tt_packets *src, const uint32_t *members, uint32_t n,
                          uint32_t offload, char *out, size_t out_len);

/* ---- checksum.c: the checksum on bytes -------------------------------- */

/* The Internet checksum (RFC 1071) of len bytes, as a big-endian 16-bit value. */
int tt_checksum(const char *buf, size_t len);
