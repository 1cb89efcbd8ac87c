/* cdef/netlink.h - rtnetlink configuration of one interface
 * (plain declarations for cffi: no #include, no #define, no inline code). */

/* ---- netlink.c: rtnetlink configuration of one interface -------------- */

/* What a reply parser is waiting for (struct tt_nl_reply.expect). */
enum {
    TT_NL_EXPECT_ACK = 0,    /* an NLMSG_ERROR acknowledgement */
    TT_NL_EXPECT_LINK = 1,   /* one RTM_NEWLINK, then the acknowledgement */
    TT_NL_EXPECT_ADDRS = 2,  /* RTM_NEWADDR parts of a dump, up to NLMSG_DONE */
    TT_NL_EXPECT_ROUTE = 3,  /* one RTM_NEWROUTE, then the acknowledgement */
    TT_NL_EXPECT_ROUTES = 4  /* RTM_NEWROUTE parts of a dump, up to NLMSG_DONE */
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

/* Which fields of struct tt_route hold something. */
enum {
    TT_ROUTE_HAS_GATEWAY = 1,  /* gateway, of gateway_family (RTA_GATEWAY, or RTA_VIA) */
    TT_ROUTE_HAS_PREFSRC = 2,  /* prefsrc (RTA_PREFSRC) */
    TT_ROUTE_HAS_METRIC = 4,   /* metric (RTA_PRIORITY) */
    TT_ROUTE_HAS_OIF = 8       /* oif (RTA_OIF) */
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

/* IFLA_STATS64: struct rtnl_link_stats64, field for field (all 64-bit, no padding). An
 * older kernel sends fewer fields (the rest stay 0), a newer one more (not kept). */
struct tt_link_stats {
    uint64_t rx_packets;
    uint64_t tx_packets;
    uint64_t rx_bytes;
    uint64_t tx_bytes;
    uint64_t rx_errors;
    uint64_t tx_errors;
    uint64_t rx_dropped;
    uint64_t tx_dropped;
    uint64_t multicast;
    uint64_t collisions;
    uint64_t rx_length_errors;
    uint64_t rx_over_errors;
    uint64_t rx_crc_errors;
    uint64_t rx_frame_errors;
    uint64_t rx_fifo_errors;
    uint64_t rx_missed_errors;
    uint64_t tx_aborted_errors;
    uint64_t tx_carrier_errors;
    uint64_t tx_fifo_errors;
    uint64_t tx_heartbeat_errors;
    uint64_t tx_window_errors;
    uint64_t rx_compressed;
    uint64_t tx_compressed;
    uint64_t rx_nohandler;
    uint64_t rx_otherhost_dropped;
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
    /* IFLA_STATS64, when the request asked for statistics (tt_nl_link_stats). */
    uint32_t stats_len;      /* bytes the kernel sent (0: none); fields past them stay 0 */
    struct tt_link_stats stats;
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
    uint32_t has_peer;       /* 1: peer holds IFA_ADDRESS, which differs from IFA_LOCAL */
    uint8_t peer[16];        /* the other end of a point-to-point address */
    uint32_t has_broadcast;  /* 1: broadcast holds IFA_BROADCAST (IPv4) */
    uint8_t broadcast[4];
    char label[16];          /* IFA_LABEL (IPv4), NUL-terminated; "" when none */
};

/* One route: of a route dump, or the route tt_nl_route_change adds or deletes. */
struct tt_route {
    uint8_t family;          /* AF_INET or AF_INET6 */
    uint8_t dst_len;         /* prefix length of dst (0: the default route) */
    uint8_t protocol;        /* RTPROT_* (0 in a delete: any) */
    uint8_t scope;           /* RT_SCOPE_* (RT_SCOPE_NOWHERE in a delete: any) */
    uint8_t type;            /* RTN_* (0 in a delete: any) */
    uint8_t gateway_family;  /* AF_INET or AF_INET6, when TT_ROUTE_HAS_GATEWAY */
    uint8_t tos;
    uint8_t reserved;
    uint32_t has;            /* TT_ROUTE_HAS_* */
    uint32_t table;          /* RTA_TABLE (or rtm_table): RT_TABLE_MAIN, RT_TABLE_LOCAL ... */
    uint32_t metric;         /* RTA_PRIORITY, when TT_ROUTE_HAS_METRIC */
    int32_t oif;             /* RTA_OIF, when TT_ROUTE_HAS_OIF */
    uint32_t flags;          /* rtm_flags (RTNH_F_*, RTM_F_*) */
    uint8_t dst[16];
    uint8_t gateway[16];
    uint8_t prefsrc[16];
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
    uint32_t routes_found;   /* TT_NL_EXPECT_ROUTES: routes via ifindex seen (may exceed routes_max) */
    uint32_t routes_max;     /* room in routes */
    struct tt_route *routes;
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
/* RTM_NEWADDR (exclusive) or RTM_DELADDR of *entry as a dump describes it: its
 * ifindex, family, prefix length and scope, IFA_LOCAL addr, IFA_ADDRESS peer
 * (addr without has_peer), IFA_BROADCAST and IFA_LABEL when it has them; no
 * IFA_FLAGS.  So an IPv4 address is deleted exactly (the kernel matches the
 * label too) and added back changed. */
int tt_nl_addr_entry_change(struct tt_nl *nl, int add, const struct tt_addr *entry,
                            struct tt_nl_reply *reply);
/* RTM_NEWADDR (exclusive) or RTM_DELADDR of an address whose IFA_ADDRESS is peer
 * (a point-to-point address; tt_nl_addr_change passes addr as its own peer). */
int tt_nl_addr_peer_change(struct tt_nl *nl, int add, int32_t ifindex, int family,
                           const uint8_t *addr, const uint8_t *peer, size_t addr_len,
                           uint32_t prefixlen, uint32_t flags, struct tt_nl_reply *reply);
/* RTM_GETLINK with IFLA_STATS64: the counters in reply->link.stats. */
int tt_nl_link_stats(struct tt_nl *nl, int32_t ifindex, struct tt_nl_reply *reply);
/* RTM_GETROUTE dump of every table (IPv4 and IPv6), keeping the routes whose RTA_OIF is
 * ifindex; the number found (may exceed reply->routes_max), retried on NLM_F_DUMP_INTR. */
int tt_nl_route_dump(struct tt_nl *nl, int32_t ifindex, struct tt_nl_reply *reply);
/* RTM_NEWROUTE (NLM_F_CREATE | NLM_F_EXCL) or RTM_DELROUTE of *route, sent as given:
 * its table (>= 256 only in RTA_TABLE), RTA_OIF, and the attributes `has` names. */
int tt_nl_route_change(struct tt_nl *nl, int add, const struct tt_route *route,
                       struct tt_nl_reply *reply);
/* RTM_GETROUTE for one destination (as `ip route get`): the route's type in
 * reply->route_type, e.g. RTN_LOCAL once the kernel delivers to that address. */
int tt_nl_route_get(struct tt_nl *nl, int family, const uint8_t *addr, size_t addr_len,
                    struct tt_nl_reply *reply);
/* The reply parser on any bytes (one datagram): 1 complete, 0 more to come. */
int tt_nl_parse_reply(const char *buf, size_t len, struct tt_nl_reply *reply);
