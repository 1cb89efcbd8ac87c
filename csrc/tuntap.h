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

/* classify.c: the seed's read-side rules on any bytes */
int64_t tt_classify(const char *buf, size_t len, int kind);

/* ---- netlink.c: rtnetlink configuration of one interface -------------- */

/* What a reply parser is waiting for (struct tt_nl_reply.expect). */
enum {
    TT_NL_EXPECT_ACK = 0,    /* an NLMSG_ERROR acknowledgement */
    TT_NL_EXPECT_LINK = 1,   /* one RTM_NEWLINK, then the acknowledgement */
    TT_NL_EXPECT_ADDRS = 2,  /* RTM_NEWADDR parts of a dump, up to NLMSG_DONE */
    TT_NL_EXPECT_ROUTE = 3   /* one RTM_NEWROUTE, then the acknowledgement */
};

/* Bits of struct tt_nl_reply.flags, set while parsing. */
enum {
    TT_NL_GOT_LINK = 1,        /* link was filled in */
    TT_NL_DUMP_INTR = 2,       /* a part carried NLM_F_DUMP_INTR: the dump is inconsistent */
    TT_NL_GOT_EXT_ACK = 4,     /* ext_ack holds the kernel's message */
    TT_NL_GOT_ROUTE = 8        /* route_type was filled in */
};

/* Bits of struct tt_link_info.tun_flags (IFLA_INFO_DATA of a "tun" link). */
enum {
    TT_TUN_INFO = 1,          /* the link is a TUN/TAP device and the tun_* fields are filled */
    TT_TUN_PI = 2,            /* packet information headers (opened without IFF_NO_PI) */
    TT_TUN_VNET_HDR = 4,      /* virtio-net headers (IFF_VNET_HDR) */
    TT_TUN_PERSIST = 8,       /* IFF_PERSIST */
    TT_TUN_MULTI_QUEUE = 16,  /* IFF_MULTI_QUEUE */
    TT_TUN_HAS_OWNER = 32,    /* tun_owner holds a uid */
    TT_TUN_HAS_GROUP = 64     /* tun_group holds a gid */
};

/* Which fields of struct tt_link_change apply. */
enum {
    TT_LINK_SET_MTU = 1,
    TT_LINK_SET_UP = 2,
    TT_LINK_SET_TXQLEN = 4,
    TT_LINK_SET_HWADDR = 8
};

/* Sizes of the fixed arrays below (MAX_ADDR_LEN, IFNAMSIZ, message room). */
enum {
    TT_HWADDR_MAX = 32,
    TT_NL_EXT_ACK_MAX = 256,
    TT_NL_ADDR_DUMP_TRIES = 5
};

/*
 * One NETLINK_ROUTE socket and its request counter.  Allocated by Python
 * (ffi.new), so the shim keeps no state of its own; rx is the receive
 * buffer (32 KiB: the most the kernel puts in one dump datagram).
 */
struct tt_nl {
    int32_t fd;
    uint32_t seq;
    uint32_t portid;
    uint32_t rx[8192];
};

/* A link as RTM_NEWLINK describes it. */
struct tt_link_info {
    int32_t ifindex;
    uint32_t flags;          /* ifi_flags: IFF_UP, IFF_RUNNING, ... */
    uint32_t mtu;
    uint32_t txqlen;
    uint32_t type;           /* ARPHRD_* */
    uint32_t hwaddr_len;     /* 0: the device has no hardware address (TUN) */
    uint8_t hwaddr[32];
    char name[16];
    /* IFLA_LINKINFO: the link's kind, and for a "tun" link what its IFLA_INFO_DATA said. */
    char kind[16];           /* IFLA_INFO_KIND ("tun", "veth", ...), cut to fit; "" when none */
    uint32_t tun_flags;      /* TT_TUN_*; 0 when the link is not a TUN/TAP (or said nothing) */
    uint32_t tun_type;       /* TT_KIND_TUN or TT_KIND_TAP (IFLA_TUN_TYPE) */
    uint32_t tun_owner;      /* IFLA_TUN_OWNER, when TT_TUN_HAS_OWNER */
    uint32_t tun_group;      /* IFLA_TUN_GROUP, when TT_TUN_HAS_GROUP */
    uint32_t tun_queues;     /* IFLA_TUN_NUM_QUEUES: queues attached (multi-queue only) */
    uint32_t tun_disabled_queues; /* IFLA_TUN_NUM_DISABLED_QUEUES: queues detached */
};

/* One address of an address dump. */
struct tt_addr {
    int32_t ifindex;
    uint8_t family;          /* AF_INET or AF_INET6 */
    uint8_t prefixlen;
    uint8_t scope;
    uint8_t reserved;
    uint32_t flags;          /* IFA_F_* (from IFA_FLAGS when present) */
    uint8_t addr[16];        /* 4 bytes used for AF_INET */
};

/* What a request expects and what its reply held. */
struct tt_nl_reply {
    int32_t expect;          /* TT_NL_EXPECT_* */
    int32_t ifindex;         /* TT_NL_EXPECT_ADDRS: keep only this interface's */
    uint32_t seq;            /* replies must carry this sequence number ... */
    uint32_t portid;         /* ... and this port id; others are skipped */
    uint32_t flags;          /* TT_NL_GOT_* / TT_NL_DUMP_INTR */
    uint32_t addrs_found;    /* matching addresses seen (may exceed addrs_max) */
    uint32_t addrs_max;      /* room in addrs */
    struct tt_addr *addrs;
    struct tt_link_info link;
    uint32_t route_type;     /* TT_NL_EXPECT_ROUTE: rtm_type (RTN_LOCAL, RTN_UNICAST, ...) */
    char ext_ack[256];       /* NLMSGERR_ATTR_MSG, NUL-terminated, cut to fit */
};

/* A link change: only the fields named in `set` are sent. */
struct tt_link_change {
    int32_t ifindex;
    uint32_t set;            /* TT_LINK_SET_* bits */
    uint32_t mtu;
    uint32_t up;             /* 1: up, 0: down */
    uint32_t txqlen;
    uint32_t hwaddr_len;
    uint8_t hwaddr[32];
};

int tt_nl_open(struct tt_nl *nl);
int tt_nl_close(struct tt_nl *nl);
int tt_nl_link_get(struct tt_nl *nl, int32_t ifindex, const char *name,
                   struct tt_nl_reply *reply);
int tt_nl_link_set(struct tt_nl *nl, const struct tt_link_change *change,
                   struct tt_nl_reply *reply);
int tt_nl_addr_change(struct tt_nl *nl, int add, int32_t ifindex, int family,
                      const uint8_t *addr, size_t addr_len, uint32_t prefixlen,
                      uint32_t flags, struct tt_nl_reply *reply);
int tt_nl_addr_dump(struct tt_nl *nl, int32_t ifindex, struct tt_nl_reply *reply);
/* RTM_GETROUTE for one destination (as `ip route get`): the route's type in
 * reply->route_type, e.g. RTN_LOCAL once the kernel delivers to that address. */
int tt_nl_route_get(struct tt_nl *nl, int family, const uint8_t *addr, size_t addr_len,
                    struct tt_nl_reply *reply);
/* The reply parser on any bytes (one datagram): 1 complete, 0 more to come. */
int tt_nl_parse_reply(const char *buf, size_t len, struct tt_nl_reply *reply);
/* Moves the calling thread into a new network namespace (the demo's). */
int tt_unshare_netns(void);
/* ---- queue.c: the packet I/O of one open queue ---------------------------
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
    uint32_t count;       /* slots filled by the last tt_queue_read */
    uint32_t bad;         /* of those, how many are not TT_PKT_OK */
    int32_t kind;         /* TT_KIND_* of the device read from (must be the queue's) */
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

/* What tt_queue_write writes: count (pointer, length) pairs, or (batch not
 * NULL) the well-formed slots of a batch, in order.  raw: the slots hold a
 * virtio-net header before each packet (a tt_queue_read with raw = 1) and
 * go out as they are, headers included. */
struct tt_packets {
    char **bufs;
    const size_t *lens;
    uint32_t count;
    int32_t raw;
    const struct tt_batch *batch;
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
    uint32_t drained;        /* the last read emptied the queue: the next one waits first */
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
};

/* Waits until fd is readable (or writable), wakefd fires, or timeout_ms
 * passes: 1 ready, 0 timed out, -ECANCELED woken, -errno. */
int tt_wait(int fd, int wakefd, int for_write, int timeout_ms);

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
 * queue, raw = 0 segments super-packets into ordinary packets (one that
 * does not fit the free slots stays pending for the next read); raw = 1
 * keeps header + packet per slot (results describe the packet after the
 * header).  raw on a plain queue is -EINVAL.
 */
int tt_queue_read(struct tt_queue *q, struct tt_batch *b, int raw, int timeout_ms);
/*
 * The packets of src from position start, in order, under the write rules
 * of tt_queue_send; stops at the first that fails, saying where and why in
 * *st.  Waits for room at most once per call.  coalesce (offload queues):
 * consecutive TCP segments that GRO would merge go out as one super-packet
 * (st counts the packets given).  Packets written by this call, or -errno.
 */
int tt_queue_write(struct tt_queue *q, const struct tt_packets *src, uint32_t start,
                   int coalesce, int timeout_ms, struct tt_write_status *st);

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


/* ---- devctl.c: operating an attached device --------------------------- */

/* Most queues one multi-queue device can have: the kernel's MAX_TAP_QUEUES
 * (include/linux/if_tap.h, not exported to user space). */
enum { TT_MAX_QUEUES = 256 };

int tt_set_persist(int fd, int persist);
int tt_set_owner(int fd, uint32_t uid);
int tt_set_group(int fd, uint32_t gid);
/* TUNSETQUEUE: attach (1) or detach (0) the queue of a multi-queue device. */
int tt_set_queue(int fd, int attach);

/* ---- netns.c: network namespaces, each switch inside one call ---------- */

/* How tt_netns_open opens its path. */
enum {
    TT_ACCESS_READ = 0,
    TT_ACCESS_WRITE = 1,
    TT_ACCESS_READ_WRITE = 2
};

/* 0 when nsfd is a network namespace; -EINVAL when it is anything else. */
int tt_netns_check(int nsfd);
/*
 * From the calling thread: enter the network namespace nsfd, open `path`
 * `count` times into fds[] and (nl not NULL) nl's netlink socket, and
 * return to the thread's own namespace.  Everything opened belongs to the
 * target namespace.  On failure nothing stays open.  *restore_err is the
 * errno of a failed return to the thread's namespace (the thread is then
 * left in the target one), 0 otherwise.
 */
int tt_netns_open(int nsfd, const char *path, int access, int32_t *fds, uint32_t count,
                  struct tt_nl *nl, int32_t *restore_err);
/* As `ip netns add`: run_dir made a shared mount point, a new namespace
 * bind-mounted on path (which must not exist).  *restore_err as above. */
int tt_netns_create(const char *run_dir, const char *path, int32_t *restore_err);
/* As `ip netns delete`: detach the mount on path, then unlink it. */
int tt_netns_delete(const char *path);
/* cdef-end */

#endif
