/* cdef/io.h - the packet I/O of one open queue
 * (plain declarations for cffi: no #include, no #define, no inline code). */

/* ---- queue.c: the packet I/O of one open queue ---------------------------
 *
 * A batch is capacity fixed-size slots in one buffer, plus one int64_t per
 * slot: the packed classification of what arrived in it (as tt_classify),
 * or -errno.  A slot that comes back full may have been cut by the kernel,
 * so it is reported TT_PKT_TRUNCATED: slot_size must exceed the largest
 * packet the device can deliver.  For a slot that is not TT_PKT_OK the body
 * length is every byte that arrived. */
enum {
    /* A read reads before it polls, unless TT_DRY_CALLS calls in a row found
     * nothing at their first read: then it waits first, but for every
     * TT_DRY_PROBE-th call, which reads first to see whether packets came back. */
    TT_DRY_CALLS = 2,
    TT_DRY_PROBE = 8,
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
    uint32_t count;       /* slots filled by the last tt_queue_read */
    uint32_t bad;         /* of those, how many are not TT_PKT_OK */
    int32_t kind;         /* TT_KIND_* of the device read from (must be the queue's) */
    int32_t origin;       /* what filled it last: TT_ORIGIN_DEVICE or TT_ORIGIN_UDP */
    /* Optional (NULL: none), capacity entries: the sent marks that writes of
     * this batch keep (struct tt_write_status.sent).  They describe the
     * packets the batch held then, so a read (tt_queue_read, tt_udp_recv)
     * clears those of the slots it fills. */
    uint8_t *sent;
    /* Optional (NULL: none), capacity entries: lets tt_udp_recv leave each
     * datagram where it lies in the receive's staging area instead of
     * copying it into its slot.  Such a receive sets in_place to 1, stage
     * and stage_len to that area, and where[i] to the offset of slot i's
     * bytes in it (their length as the result says, at most slot_size); any
     * other read sets in_place to 0.  The bytes stay there until the next
     * receive into the batch, as a slot's do until the next read. */
    uint32_t *where;
    const char *stage;
    size_t stage_len;
    int32_t in_place;
};
enum { TT_ORIGIN_DEVICE = 0, TT_ORIGIN_UDP = 1 };

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
    /* Optional (NULL: none), sent_len >= the packets' count: marks of the
     * packets from `next` on that already went out, merged into a
     * super-packet of their flow ahead of a packet of another flow.  A
     * write passes over a marked packet (clearing its mark) and a write from
     * position 0 clears them all first; so a write resumed at `next`, in
     * this call or a later one, writes exactly what did not go out.  Without
     * them a coalescing write merges only consecutive packets. */
    uint8_t *sent;
    uint32_t sent_len;
};

/* What tt_queue_write writes: count (pointer, length) pairs; or (joined not
 * NULL) count packets one after the other in joined, packet i at
 * [offsets[i], offsets[i + 1]) (count + 1 offsets, none past joined_len: so
 * a list of packets costs one buffer, not one per packet); or (batch not
 * NULL) the well-formed slots of a batch, in order.  raw: the slots hold a
 * virtio-net header before each packet (a tt_queue_read with raw = 1) and
 * go out as they are, headers included. */
struct tt_packets {
    char **bufs;
    const size_t *lens;
    uint32_t count;
    int32_t raw;
    const struct tt_batch *batch;
    const char *joined;
    size_t joined_len;
    const size_t *offsets;
};

/* Offloads: an offload queue (IFF_VNET_HDR) puts a 10-byte struct
 * virtio_net_hdr before every packet, both ways. */
enum {
    TT_VNET_HDR_LEN = 10,
    TT_GSO_MAX = 65535,
    TT_TUN_F_USO4 = 0x20,    /* kernel ABI values; older headers lack them */
    TT_TUN_F_USO6 = 0x40,
    TT_RX_PENDING_SIZE = 65600,
    TT_QUEUE_MAX_BUF = 1048576
};

/*
 * The state of one open queue, allocated once by Python (ffi.new) with the
 * buffers it points at, and passed first to every I/O call.  C checks it on
 * every call (-EINVAL): kind, the feature bits, and for an offload queue
 * (TUN only) rx_buf and tx_buf of TT_RX_PENDING_SIZE..TT_QUEUE_MAX_BUF bytes
 * and rx_len within rx_buf_len.
 */
struct tt_queue {
    int32_t fd;
    int32_t wakefd;          /* an eventfd: once it fires, every wait returns -ECANCELED */
    int32_t kind;            /* TT_KIND_* */
    uint32_t offload;        /* TUN_F_* bits accepted; 0: plain, no virtio-net header */
    size_t write_limit;      /* longest packet a write takes (-EMSGSIZE beyond) */
    uint32_t drained;        /* calls in a row whose first read found nothing (see TT_DRY_CALLS) */
    int32_t refused;         /* out: TT_PKT_* verdict of a send the write rules refused, or 0 */
    /* The super-packet a segmenting read has not fully delivered yet: rx_buf
     * holds header + packet, rx_next is its first segment not yet delivered.
     * rx_len 0: nothing pending. */
    char *rx_buf;
    size_t rx_buf_len;
    uint32_t rx_len;
    uint32_t rx_next;
    /* Room to build the super-packets of a coalescing write in. */
    char *tx_buf;
    size_t tx_buf_len;
    /* Held by the call using rx_* (a segmenting read) or tx_buf (a coalescing
     * write), taken and given back atomically by C alone: another read finds
     * the queue busy (-EBUSY, nothing done), another write goes without
     * coalescing. */
    int32_t rx_busy;
    int32_t tx_busy;
    /* 1: fd is one end of a SOCK_SEQPACKET socketpair (tuntap.pair), not a
     * device (offload must be 0).  Reads then answer as a pipe does: a 0-byte
     * read once the peer has shut down is its close, -EPIPE (an empty message
     * with the peer still there is an empty read), and the ECONNRESET the
     * kernel reports once ahead of the queue, when the closing end left
     * messages unread, is passed over; a write's ECONNRESET is -EPIPE. */
    int32_t pair;
    /* TT_FRAME_* (a plain queue only): the headers the fd puts before every
     * packet, as it was attached (without IFF_NO_PI; with IFF_VNET_HDR but no
     * offloads).  The bytes calls pass them as they are; the packet calls
     * take them off what they read and put them before what they write. */
    uint32_t framing;
    /* The bytes reads' own buffer (set by the holder; NULL: none): the thread
     * whose tt_queue_recv_next read into it last keeps it until its next
     * call (by then it has copied the bytes out); another thread's call then
     * finds it taken.  scratch_owner: that thread (pthread_t), taken and
     * given back atomically by C alone. */
    char *scratch;
    size_t scratch_len;
    uint64_t scratch_owner;
    /* How a read waits: TT_WAIT_POLL (poll(2) on fd and wakefd, each time),
     * or, once the holder allowed it (TT_WAIT_EPOLL), the first read that
     * sleeps makes an epoll fd watching both (TT_WAIT_EPOLL_MADE: epfd holds
     * it).  The holder closes it with fd and wakefd, once no call is inside
     * (Python's usage count, tuntap_cffi/lifetime.py, says when). */
    uint32_t wait_mode;
    int32_t epfd;
    /* The gate of the calls that Python makes without its own usage count
     * (tt_queue_recv_next, tt_queue_send_now, tt_queue_send_bytes): inside
     * counts the calls in C now, atomically; once shut (tt_queue_shut) a
     * call refuses at once (-ECANCELED) and tt_queue_drain says when the
     * last one has left, so the holder can close the fds. */
    int32_t inside;
    int32_t shut;
};

enum { TT_WAIT_POLL = 0, TT_WAIT_EPOLL = 1, TT_WAIT_EPOLL_MADE = 2 };

/* The longest one wait in C lasts before Python sees a close, a deadline or
 * Ctrl-C (ms). */
enum { TT_WAIT_SLICE_MS = 50 };

/* What a framed queue's fd puts before every packet, in this order: the
 * packet information (struct tun_pi: flags in host order, TUN_PKT_STRIP when
 * the kernel cut the packet; then the protocol in network order), then a
 * virtio-net header. */
enum {
    TT_FRAME_PI = 1,
    TT_FRAME_VNET = 2,
    TT_PI_LEN = 4,
    TT_PI_STRIP = 1
};

/*
 * One packet in: the packed classification (as tt_classify) of what was read
 * into buf.  On an offload queue: the next segment of the pending
 * super-packet, reading a new one when none is pending; -ENOBUFS (nothing
 * consumed) when that segment does not fit len; a malformed super-packet is
 * dropped and reported (-EBADMSG, -EMSGSIZE, -EPROTONOSUPPORT).
 * Every I/O call waits at most timeout_ms once (0: not at all), and says
 * -EAGAIN when nothing could be done in that time.
 */
int64_t tt_queue_recv(struct tt_queue *q, char *buf, size_t len, int timeout_ms);
/*
 * One packet out, after the write rules: over write_limit -EMSGSIZE; a TUN
 * packet that is not IP or a TAP frame shorter than an Ethernet header
 * -EINVAL with q->refused set to TT_PKT_NOT_IP or TT_PKT_TRUNCATED (0 for
 * any other result).  Packet bytes written (an offload queue adds an empty
 * virtio-net header), or -errno.
 */
ssize_t tt_queue_send(struct tt_queue *q, const char *buf, size_t len, int timeout_ms);
/*
 * Every packet that is ready, up to b->capacity: waits for the first, then
 * takes what is already queued.  Slots filled, or -errno.  On an offload
 * queue, raw = 0 segments super-packets into ordinary packets (one with
 * more segments than the free slots stays pending, whole, for the next read;
 * an empty batch takes as many as fit and leaves the rest pending); raw = 1
 * keeps header + packet per slot (results describe the packet after the
 * header), but what a segmenting read left pending comes first, as
 * segments behind an empty (all-zero) header: the kernel's order holds.
 * raw on a plain queue is -EINVAL.
 */
int tt_queue_read(struct tt_queue *q, struct tt_batch *b, int raw, int timeout_ms);
/*
 * The packets of src from position start, in order, under the write rules
 * of tt_queue_send; stops at the first that fails, saying where and why in
 * *st.  Waits for room at most once per call.  coalesce (offload queues):
 * the TCP segments (and with USO the UDP datagrams) of a flow that GRO would
 * merge go out as one super-packet (st counts the packets given); with
 * st->sent, a flow's packets merge past other flows' packets, which follow
 * the super-packet: each flow keeps its order.  Packets written by this
 * call, or -errno.
 */
int tt_queue_write(struct tt_queue *q, const struct tt_packets *src, uint32_t start,
                   int coalesce, int timeout_ms, struct tt_write_status *st);

/*
 * The bytes calls: one packet as read(2) and write(2) move it, under the
 * same waits as tt_queue_recv and tt_queue_send.
 *
 * tt_queue_recv_bytes: the bytes read into buf (a framed queue's headers
 * included; a packet longer than len is cut by the kernel, as read(2) cuts
 * it), 0 for len 0; on an offload queue the next segment, as tt_queue_recv
 * gives it (-ENOBUFS, nothing consumed, when it does not fit len).  No
 * classification.
 *
 * tt_queue_send_bytes: buf as it is (a framed queue's headers included: the
 * caller writes them) after the write rules, applied to what follows the
 * headers: shorter than the headers -EINVAL, as the kernel says; a TUN
 * packet behind packet information is not checked for IP (the kernel takes
 * its protocol from the header).  On an offload queue as tt_queue_send.
 * Bytes written, or -errno.
 */
ssize_t tt_queue_recv_bytes(struct tt_queue *q, char *buf, size_t len, int timeout_ms);
/*
 * The per-packet calls of the bytes path, with as few arguments as they can
 * have (each one costs Python a conversion; one argument costs no tuple):
 *
 * tt_queue_recv_next: the next packet whole (an offload queue's next
 * segment) into the queue's scratch, waiting at most TT_WAIT_SLICE_MS.  Its
 * length, the bytes staying in the scratch until this thread's next call
 * (the caller cuts them to the size it was asked for); or -errno (-EBUSY:
 * another thread holds the scratch, nothing done; -EINVAL: no scratch).
 *
 * tt_queue_send_now: tt_queue_send_bytes waiting at most TT_WAIT_SLICE_MS.
 */
ssize_t tt_queue_recv_next(struct tt_queue *q);
ssize_t tt_queue_send_now(struct tt_queue *q, const char *buf, size_t len);
ssize_t tt_queue_send_bytes(struct tt_queue *q, const char *buf, size_t len, int timeout_ms);
/*
 * The gate of those three calls, for the holder's close: tt_queue_shut makes
 * every later call refuse (-ECANCELED, the fds untouched); tt_queue_drain
 * then waits at most timeout_ms for the calls inside to leave (a woken wait
 * leaves at once): 0 when none is inside, -EBUSY when one still is (the fds
 * must then stay open).  -EINVAL for a NULL queue.
 */
int tt_queue_shut(struct tt_queue *q);
int tt_queue_drain(struct tt_queue *q, int timeout_ms);
