/* cdef/udp.h - batched UDP on an ordinary socket, into and out of batches
 * (plain declarations for cffi: no #include, no #define, no inline code). */

/* ---- udp.c: recvmmsg/sendmmsg with UDP_GRO and UDP_SEGMENT ---------------
 *
 * A receive takes whole messages into a staging area (one TT_UDP_MSG_MAX
 * buffer per message, so that a GRO'd message of many datagrams fits), then
 * splits them, one datagram per slot of a struct tt_batch, with its source
 * address in addrs[slot].  What does not fit the batch stays staged for the
 * next receive into the same batch.  A send groups the datagrams of a
 * struct tt_packets into runs of equal size (the last of a run may be
 * shorter) and sends each run as one UDP_SEGMENT message, many messages per
 * sendmmsg. */
enum {
    TT_UDP_MAX_MSGS = 64,          /* messages per recvmmsg / sendmmsg */
    TT_UDP_MSG_MAX = 65536,        /* staging bytes per received message */
    TT_UDP_MAX_SEGMENTS = 64,      /* datagrams in one UDP_SEGMENT message (the kernel's) */
    TT_UDP4_MAX_PAYLOAD = 65507,   /* 65535 - IPv4 header - UDP header */
    TT_UDP6_MAX_PAYLOAD = 65527,   /* 65535 - UDP header (the IPv6 header is not counted) */
    TT_UDP_GSO = 1,                /* UDP_SEGMENT works: tt_udp_send groups runs */
    TT_UDP_GRO = 2,                /* UDP_GRO is on: messages may hold many datagrams */
    TT_UDP_CONTROL_LEN = 128       /* control bytes per received message */
};

/* A socket address as Python sees it: family AF_INET (4 bytes of addr) or
 * AF_INET6 (16), port in host order; 0 family: none. */
struct tt_udp_addr {
    uint16_t family;
    uint16_t port;
    uint32_t scope_id;
    uint8_t addr[16];
};

/* A received message not yet fully split into slots. */
struct tt_udp_msg {
    uint32_t len;        /* bytes received (at most TT_UDP_MSG_MAX) */
    uint32_t seg_size;   /* its datagrams' size (UDP_GRO); 0: one datagram */
    uint32_t truncated;  /* the kernel cut it (MSG_TRUNC) */
    struct tt_udp_addr source;
};

/* A batch's staging area, allocated once by Python: stage holds message k
 * at k * TT_UDP_MSG_MAX, msgs[k] describes it (max_msgs entries of each,
 * 1..TT_UDP_MAX_MSGS); messages [head, count) are not fully delivered,
 * the first of them from byte `offset` on; fd is the socket they came from. */
struct tt_udp_rx {
    char *stage;
    size_t stage_len;
    struct tt_udp_msg *msgs;
    uint32_t max_msgs;
    uint32_t head;
    uint32_t count;
    uint32_t offset;
    int32_t fd;
};

/* The datagram size a UDP_GRO control message in control[0..len) gives: >= 1,
 * 0 when there is none, -EBADMSG for malformed control data. */
int tt_udp_gro_size(const char *control, size_t len);
/* Splits a message of len bytes whose datagrams are seg_size each (0: one
 * datagram), from byte *offset on, into nslots slots of slot_size bytes at
 * out, each classified as a packet of kind as a read's slot is (tt_classify;
 * a bad one's body is every byte; the last when `truncated`, or one cut to
 * fit its slot, is TT_PKT_TRUNCATED); advances *offset.
 * Slots filled (0 when nothing is left), or -EINVAL. */
int tt_udp_split(const char *msg, size_t len, uint32_t seg_size, int truncated, size_t *offset,
                 char *out, size_t slot_size, uint32_t nslots, int64_t *results, int kind);
/* The datagrams that are ready on fd, up to b->capacity, one per slot, what
 * rx holds first: waits at most timeout_ms (and at most once) for the first,
 * and the eventfd wakefd (-1: none) cuts the wait short (-ECANCELED).  Slots
 * filled (b->count), or -errno (-EAGAIN: nothing in time).  A receive on
 * another fd while rx holds messages is -EXDEV. */
int tt_udp_recv(int fd, int wakefd, struct tt_batch *b, struct tt_udp_addr *addrs,
                struct tt_udp_rx *rx, int timeout_ms);
/* Sends the datagrams of src from start to `to` (NULL: the connected peer)
 * in order, stopping at the first that fails, with where and why in *st.
 * Nothing is sent when any is over the family's maximum (st->error
 * -EMSGSIZE at it).  flags TT_UDP_GSO: runs go as UDP_SEGMENT messages; when
 * the kernel refuses one, the flag is cleared and the run goes datagram by
 * datagram.  Waits at most timeout_ms once, while the socket cannot take
 * more.  Datagrams sent by this call, or -errno.
 * A raw source (src->raw: batch slots of a raw offload read, a virtio-net
 * header before each packet) is segmented on the way, without a copy of
 * its payload: each segment of a GSO super-packet goes as the iovecs
 * [its headers, built in a small buffer with lengths, IPv4 ID, TCP sequence
 * number and flags, checksums as the kernel's segmentation makes them; its
 * payload, where it lies in the slot], a super-packet as UDP_SEGMENT
 * messages of up to TT_UDP_MAX_SEGMENTS segments and the family's maximum
 * of bytes; a packet without GSO as it is, its checksum completed when the
 * header says it needs it.  Then the counts (return, st->written) are of
 * slots, a slot counting once all its segments went; st->partial is in: the
 * segments of slot `start` that went already (0 for a new send), and out:
 * those of slot st->next when the send stopped inside it.  Every slot is
 * parsed before anything is sent: a malformed header or packet stops the
 * send with nothing sent, st->error -EBADMSG or -EPROTONOSUPPORT (as
 * tt_segment says) at it, or -EMSGSIZE when its segments are over the
 * family's maximum. */
int tt_udp_send(int fd, int wakefd, const struct tt_packets *src, uint32_t start,
                const struct tt_udp_addr *to, int family, uint32_t *flags, int timeout_ms,
                struct tt_write_status *st);
/* Checks that fd is a UDP socket (-ENOTSOCK, -EPROTOTYPE otherwise), turns
 * UDP_GRO on where the kernel has it when gro is 1, and says what works:
 * TT_UDP_GSO | TT_UDP_GRO bits, or -errno. */
int tt_udp_setup(int fd, int gro);
