/* cdef/offload.h - enabling offloads, and the pure functions on bytes
 * (plain declarations for cffi: no #include, no #define, no inline code). */

/* ---- offloads: enabling them, and the segmenter on bytes ---------------
 *
 * tt_segment turns one header + packet (a GSO super-packet, or a packet
 * whose checksum is to be completed) into ordinary packets in consecutive
 * slots; a malformed one is -EBADMSG, an unsupported GSO type or IPv6
 * extension header -EPROTONOSUPPORT, a segment that would not fit a slot
 * -EMSGSIZE; nothing is read past len. */

/* TUNSETVNETHDRSZ and TUNSETOFFLOAD: the TUN_F_* bits accepted, or -errno.
 * Without the USO bits if the kernel refuses them. */
int tt_set_offload(int fd, unsigned int wanted);
int tt_segment(const char *buf, size_t len, uint32_t skip, char *out, size_t slot_size,
               uint32_t nslots, int64_t *results, uint32_t *total);
/* The TCP coalescing on an array of packets (src->batch must be NULL):
 * tt_coalesce_run is how many of the packets from start on one super-packet
 * of at most `room` bytes (header included) would carry (1: the first merges
 * with none); tt_coalesce_build builds the super-packet (virtio-net header +
 * packet) of packets start..start+n-1 in out and returns its length, or
 * -EINVAL unless 2 <= n <= the run that fits out_len. */
int tt_coalesce_run(const struct tt_packets *src, uint32_t start, size_t write_limit,
                    size_t room);
int64_t tt_coalesce_build(const struct tt_packets *src, uint32_t start, uint32_t n, char *out,
                          size_t out_len);
/* The Internet checksum (RFC 1071) of len bytes, as a big-endian 16-bit value. */
int tt_checksum(const char *buf, size_t len);
