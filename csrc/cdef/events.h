/* cdef/events.h - link events: the rtnetlink link and address groups, for one device
 * (plain declarations for cffi: no #include, no #define, no inline code). */

/* ---- events.c: what the kernel announces about one device ------------- */

/* What one record says (struct tt_event.kind). */
enum {
    TT_EVENT_LINK = 1,       /* RTM_NEWLINK: the link's state now (flags, mtu, name) */
    TT_EVENT_LINK_GONE = 2,  /* RTM_DELLINK: deleted (or moved to another namespace) */
    TT_EVENT_ADDR_NEW = 3,   /* RTM_NEWADDR: an address added, or its flags changed */
    TT_EVENT_ADDR_DEL = 4    /* RTM_DELADDR: an address removed */
};

enum {
    /* The receive buffer Python gives tt_events_recv: far more than one
     * notification (a few hundred bytes to 2 KiB); a longer one is -EMSGSIZE. */
    TT_EVENTS_BUF_SIZE = 16384,
    /* The shortest message that makes a record (a header and an ifinfomsg, or
     * a header, an ifaddrmsg and one address): a buffer of n bytes makes at
     * most n / TT_EVENTS_MIN_MESSAGE records. */
    TT_EVENTS_MIN_MESSAGE = 32
};

/* One message about the device, as its fixed fields and attributes said it. */
struct tt_event {
    uint32_t kind;           /* TT_EVENT_* */
    int32_t ifindex;
    uint32_t flags;          /* LINK: ifi_flags (IFF_UP, IFF_LOWER_UP...); ADDR: IFA_F_* */
    uint32_t mtu;            /* LINK: IFLA_MTU, 0 when the message has none */
    uint8_t family;          /* ADDR: AF_INET or AF_INET6 */
    uint8_t prefixlen;       /* ADDR */
    uint8_t scope;           /* ADDR: RT_SCOPE_* */
    uint8_t reserved;
    uint8_t addr[16];        /* ADDR: the device's own address; 4 bytes used for AF_INET */
    char name[16];           /* LINK: IFLA_IFNAME, "" when the message has none */
};

/* One subscribed socket, allocated by Python (ffi.new): no state in the shim. */
struct tt_events {
    int32_t fd;              /* NETLINK_ROUTE, non-blocking; -1 when closed */
    int32_t wakefd;          /* an eventfd: readable once the reader must stop */
    int32_t ifindex;         /* records are made for this device only */
};

/* Opens ev->fd in the caller's namespace, bound to the groups RTMGRP_LINK,
 * RTMGRP_IPV4_IFADDR and RTMGRP_IPV6_IFADDR (non-blocking, close-on-exec). */
int tt_events_open(struct tt_events *ev);
/* Takes nl's open socket (made in another namespace) as ev->fd, non-blocking
 * and joined to the same groups; nl->fd becomes -1.  On failure it is closed. */
int tt_events_adopt(struct tt_events *ev, struct tt_nl *nl);
/*
 * Reads one datagram into buf (waiting at most timeout_ms, once, when there
 * is none) and stores a record in events[] for each message about
 * ev->ifindex: their number (0: the datagram was about other devices),
 * -EAGAIN nothing came, -ECANCELED woken through ev->wakefd, -ENOBUFS the
 * socket overran (notifications were lost), -EMSGSIZE a datagram longer
 * than buf (lost), -EBADMSG a malformed one.  max must be at least
 * buf_len / TT_EVENTS_MIN_MESSAGE, so no record is ever left out.
 */
int tt_events_recv(const struct tt_events *ev, uint8_t *buf, size_t buf_len,
                   struct tt_event *events, uint32_t max, int timeout_ms);
/* The parser of tt_events_recv on any bytes (one datagram): the number of
 * records, -ENOSPC when more than max would be needed, -EBADMSG. */
int tt_events_parse(const uint8_t *buf, size_t len, int32_t ifindex,
                    struct tt_event *events, uint32_t max);
/* Closes ev->fd (harmless when closed); the wakefd is the caller's to close. */
int tt_events_close(struct tt_events *ev);
