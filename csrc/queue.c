/* queue.c - the packet I/O of one open queue: one read path and one write
 * path, each per packet and per batch, plain or virtio-net as q->offload
 * says, with one wait-and-retry helper under all of them.
 *
 * One crossing from Python (one release of the GIL) moves a packet or a
 * whole batch: a read waits at most once for the first packet, then takes
 * every packet already queued; a write goes in order and stops at the first
 * packet that fails, saying which and why.  The bytes are segmented
 * (segment.c) and coalesced (coalesce.c) by pure functions that know no fd.
 */
#define _GNU_SOURCE /* POLLRDHUP: a pair end's peer has closed */
#include "batch.h"
#include "coalesce.h"
#include "segment.h"
#include "verdict.h"

#include <errno.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define OFFLOAD_BITS \
    ((uint32_t)(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TT_TUN_F_USO4 | TT_TUN_F_USO6))
#define FRAME_BITS ((uint32_t)(TT_FRAME_PI | TT_FRAME_VNET))
/* The longest headers a framed queue's fd puts before a packet. */
#define FRAME_MAX (TT_PI_LEN + TT_VNET_HDR_LEN)

static const char empty_hdr[TT_VNET_HDR_LEN];

/* ---- checking what Python hands in ------------------------------------- */

static int buffer_ok(const char *buf, size_t len)
{
    return buf != NULL && len >= TT_RX_PENDING_SIZE && len <= TT_QUEUE_MAX_BUF;
}

static int queue_ok(const struct tt_queue *q)
{
    if (q == NULL || (q->kind != TT_KIND_TUN && q->kind != TT_KIND_TAP))
        return 0;
    if ((q->offload & ~OFFLOAD_BITS) || (q->framing & ~FRAME_BITS))
        return 0;
    if (q->pair != 0 && (q->pair != 1 || q->offload != 0))
        return 0;
    if (q->offload == 0)
        return 1;
    if (q->framing != 0)
        return 0; /* an offload queue's headers are its own */
    /* Offloads are for TUN devices; their buffers must hold a super-packet. */
    return q->kind == TT_KIND_TUN && buffer_ok(q->rx_buf, q->rx_buf_len) &&
           q->rx_len <= q->rx_buf_len && buffer_ok(q->tx_buf, q->tx_buf_len);
}

/* A batch for queue q; raw slots must hold more than a virtio-net header. */
static int batch_ok(const struct tt_batch *b, const struct tt_queue *q, int raw)
{
    return tti_batch_shape_ok(b, raw ? TT_VNET_HDR_LEN : 0) && b->kind == q->kind;
}

/* ---- a pair end: a socket that answers as a device ------------------------ */

/* Whether the peer of a pair end has shut down (closed) its sending side. */
static int peer_gone(int fd)
{
    struct pollfd pfd = { .fd = fd, .events = POLLRDHUP };
    return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP)) != 0;
}

/* What a pair end's read or write that moved no bytes (n 0, or -1 with errno
 * err) means: 0, an empty message read (the peer is still there); -1, read
 * again (the ECONNRESET reported once, ahead of what the peer left queued);
 * or the errno to report, or to wait on (EAGAIN). */
static int pair_errno(int fd, int for_write, ssize_t n, int err)
{
    if (n == 0)
        return for_write || !peer_gone(fd) ? 0 : EPIPE;
    if (err == ECONNRESET)
        return for_write ? EPIPE : -1;
    return err;
}

/* ---- waiting ------------------------------------------------------------ */

/* epoll_event.data of the two fds a queue's epoll fd watches. */
enum { EP_FD = 1, EP_WAKE = 2, WAIT_EPOLL_MAKING = 3 };

/* The queue's epoll fd, made by the first read that sleeps (one thread makes
 * it; the others meanwhile poll); -1 when reads poll. */
static int queue_epoll(struct tt_queue *q)
{
    uint32_t mode = __atomic_load_n(&q->wait_mode, __ATOMIC_ACQUIRE);
    if (mode == TT_WAIT_EPOLL_MADE)
        return q->epfd;
    if (mode != TT_WAIT_EPOLL ||
        !__atomic_compare_exchange_n(&q->wait_mode, &mode, WAIT_EPOLL_MAKING, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return -1;
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event fd_ev = { .events = EPOLLIN, .data.u32 = EP_FD };
    struct epoll_event wake_ev = { .events = EPOLLIN, .data.u32 = EP_WAKE };
    if (epfd >= 0 && (epoll_ctl(epfd, EPOLL_CTL_ADD, q->fd, &fd_ev) < 0 ||
                      epoll_ctl(epfd, EPOLL_CTL_ADD, q->wakefd, &wake_ev) < 0)) {
        close(epfd);
        epfd = -1;
    }
    if (epfd < 0) { /* no epoll for this queue (EMFILE, an fd epoll cannot watch) */
        __atomic_store_n(&q->wait_mode, TT_WAIT_POLL, __ATOMIC_RELEASE);
        return -1;
    }
    q->epfd = epfd;
    __atomic_store_n(&q->wait_mode, TT_WAIT_EPOLL_MADE, __ATOMIC_RELEASE);
    return epfd;
}

/* One wait of a queue's call, as tt_wait answers; a read's with epoll when the
 * queue has it (no wait-queue setup per call, as poll(2) does for each fd). */
static int queue_wait(struct tt_queue *q, int for_write, int timeout_ms)
{
    int epfd = for_write ? -1 : queue_epoll(q);
    if (epfd < 0)
        return tt_wait(q->fd, q->wakefd, for_write, timeout_ms);
    struct epoll_event events[2];
    int n = epoll_wait(epfd, events, 2, timeout_ms < 0 ? -1 : timeout_ms);
    if (n < 0)
        return -errno;
    for (int i = 0; i < n; i++)
        if (events[i].data.u32 == EP_WAKE)
            return -ECANCELED;
    return n > 0 ? 1 : 0;
}

/*
 * The one read or write of the shim: tries it, and on EAGAIN waits for the
 * fd at most timeout_ms, once per call (*may_wait is cleared by the wait,
 * so a whole batch never blocks longer than timeout_ms).  A read reads
 * before it polls, unless the queue keeps running dry: q->drained counts
 * the calls in a row whose first read (`first`) found nothing, and from
 * TT_DRY_CALLS on such a read waits first, which saves a read() that would
 * only say EAGAIN; every TT_DRY_PROBE-th call reads first anyway, and one
 * that finds a packet goes back to reading first.  Bytes moved or -errno
 * (-EAGAIN: nothing in time; -ECANCELED: woken).
 */
static ssize_t queue_io(struct tt_queue *q, int for_write, int first, const struct iovec *iov,
                        int iovcnt, int timeout_ms, int *may_wait)
{
    first = first && !for_write;
    int wait_first = first && timeout_ms != 0 && *may_wait && q->drained >= TT_DRY_CALLS &&
                     q->drained % TT_DRY_PROBE != 0;
    int reset_seen = 0;
    if (wait_first)
        q->drained++; /* counted as dry until a probe says otherwise */
    for (;;) {
        if (!wait_first) {
            ssize_t n;
            if (iovcnt == 1)
                n = for_write ? write(q->fd, iov->iov_base, iov->iov_len)
                              : read(q->fd, iov->iov_base, iov->iov_len);
            else
                n = for_write ? writev(q->fd, iov, iovcnt) : readv(q->fd, iov, iovcnt);
            int err = n < 0 ? errno : 0;
            if (q->pair && n <= 0) {
                err = pair_errno(q->fd, for_write, n, err);
                if (err < 0 && !reset_seen) {
                    reset_seen = 1;
                    continue;
                }
                err = err < 0 ? EPIPE : err;
                n = err ? -1 : 0;
            }
            if (n >= 0) {
                if (first)
                    q->drained = 0;
                return n;
            }
            if (first && err == EAGAIN)
                q->drained++;
            first = 0;
            if (err != EAGAIN || timeout_ms == 0 || !*may_wait)
                return -err;
        }
        wait_first = 0;
        first = 0;
        *may_wait = 0;
        int r = queue_wait(q, for_write, timeout_ms);
        if (r <= 0)
            return r == 0 ? -EAGAIN : r;
    }
}

/* ---- the write rules ------------------------------------------------------ */

/* The seed's rules, checked before writing: 0, -EMSGSIZE over the limit, or
 * the TT_PKT_* verdict that refuses the packet. */
static int write_rule(const struct tt_queue *q, const unsigned char *p, size_t len)
{
    if (len > q->write_limit)
        return -EMSGSIZE;
    if (q->kind == TT_KIND_TUN) {
        unsigned version = len == 0 ? 0 : p[0] >> 4;
        return version == 4 || version == 6 ? 0 : TT_PKT_NOT_IP;
    }
    return len < TT_ETH_HEADER_LEN ? TT_PKT_TRUNCATED : 0;
}

/* ---- reading --------------------------------------------------------------- */

/* The result for n bytes read into a slot: a full slot may have been cut,
 * and a bad slot keeps every byte that arrived, for inspection. */
static int64_t classify_slot(const char *slot, size_t n, size_t slot_size, int kind)
{
    int64_t packed = tt_classify(slot, n, kind);
    if (packed < 0)
        return packed;
    int verdict = (int)(packed >> TT_PACK_VERDICT_SHIFT);
    if (n == slot_size && verdict != TT_PKT_NOT_IP)
        verdict = TT_PKT_TRUNCATED;
    return verdict == TT_PKT_OK ? packed : tti_reclassed(packed, verdict, n);
}

/* The raw result of a slot holding a virtio-net header and a packet. */
static int64_t raw_slot(const char *slot, size_t n, size_t slot_size)
{
    if (n < TT_VNET_HDR_LEN)
        return -EBADMSG;
    int64_t packed = tt_classify(slot + TT_VNET_HDR_LEN, n - TT_VNET_HDR_LEN, TT_KIND_TUN);
    if (packed >= 0 && n == slot_size)
        packed = tti_reclassed(packed, TT_PKT_TRUNCATED, n - TT_VNET_HDR_LEN);
    return packed;
}

/* ---- a framed queue's headers ----------------------------------------------- */

/* How many bytes of headers the fd puts before every packet. */
static size_t frame_len(const struct tt_queue *q)
{
    return (q->framing & TT_FRAME_PI ? TT_PI_LEN : 0) +
           (q->framing & TT_FRAME_VNET ? TT_VNET_HDR_LEN : 0);
}

/* The headers a packet call writes before packet p: the packet information
 * names its protocol (the kernel hands a TUN packet to the stack as that
 * protocol; for a TAP it reads the frame's own), the virtio-net header asks
 * for nothing.  Their length. */
static size_t frame_head(const struct tt_queue *q, const unsigned char *p, size_t len,
                         unsigned char *head)
{
    size_t n = 0;
    if (q->framing & TT_FRAME_PI) {
        unsigned proto = 0;
        if (q->kind == TT_KIND_TAP)
            proto = len >= TT_ETH_HEADER_LEN ? (unsigned)(p[12] << 8 | p[13]) : 0;
        else if (len > 0)
            proto = p[0] >> 4 == 6 ? 0x86DD : 0x0800;
        head[0] = 0;
        head[1] = 0;
        head[2] = (unsigned char)(proto >> 8);
        head[3] = (unsigned char)proto;
        n = TT_PI_LEN;
    }
    if (q->framing & TT_FRAME_VNET) {
        memset(head + n, 0, TT_VNET_HDR_LEN);
        n += TT_VNET_HDR_LEN;
    }
    return n;
}

/* The result of a framed read of n bytes (headers in head, the packet in
 * buf): classified as a plain read's (a batch slot's, slot_size bytes, when
 * slot_size is not 0), and cut when the packet information says the kernel
 * cut it. */
static int64_t framed_result(const struct tt_queue *q, const unsigned char *head, ssize_t n,
                             const char *buf, size_t slot_size)
{
    size_t hlen = frame_len(q);
    if (n < 0)
        return n;
    if ((size_t)n < hlen)
        return -EBADMSG;
    size_t body = (size_t)n - hlen;
    int64_t packed = slot_size ? classify_slot(buf, body, slot_size, q->kind)
                               : tt_classify(buf, body, q->kind);
    uint16_t flags = 0; /* struct tun_pi.flags: host order */
    if (q->framing & TT_FRAME_PI)
        memcpy(&flags, head, sizeof(flags));
    int cut = (flags & TT_PI_STRIP) != 0;
    if (packed < 0 || !cut || (int)(packed >> TT_PACK_VERDICT_SHIFT) != TT_PKT_OK)
        return packed;
    return tti_reclassed(packed, TT_PKT_TRUNCATED, body);
}

/* One framed read into buf: the headers into head, the packet after them. */
static ssize_t framed_read(struct tt_queue *q, unsigned char *head, char *buf, size_t len,
                           int first, int timeout_ms, int *may_wait)
{
    struct iovec iov[2] = {
        { .iov_base = head, .iov_len = frame_len(q) },
        { .iov_base = buf, .iov_len = len },
    };
    return queue_io(q, 0, first, iov, 2, timeout_ms, may_wait);
}

/* Segments of the pending super-packet into nslots slots from out, stride
 * bytes apart, each in room bytes: the count (>= 1), or -errno with the
 * super-packet dropped.  -ENOBUFS keeps it pending: its segments need more
 * room. */
static int take_pending(struct tt_queue *q, char *out, size_t stride, size_t room,
                        uint32_t nslots, int64_t *results, int keep_if_small)
{
    uint32_t total = 0;
    int r;
    if (q->rx_len >= q->rx_buf_len)
        r = -EMSGSIZE; /* the read filled the buffer: it may have been cut */
    else
        r = tti_segment(q->rx_buf, q->rx_len, q->rx_next, out, stride, room, nslots, results,
                        &total);
    if (r == -EMSGSIZE && keep_if_small && room < TT_BATCH_MAX_SLOT &&
        q->rx_len < q->rx_buf_len)
        return -ENOBUFS;
    if (r <= 0) {
        q->rx_len = 0;
        return r == 0 ? -EBADMSG : r;
    }
    q->rx_next += (uint32_t)r;
    if (q->rx_next >= total)
        q->rx_len = 0;
    return r;
}

/* Reads the next super-packet of an offload queue into rx_buf. */
static int read_pending(struct tt_queue *q, int first, int timeout_ms, int *may_wait)
{
    struct iovec iov = { .iov_base = q->rx_buf, .iov_len = q->rx_buf_len };
    ssize_t n = queue_io(q, 0, first, &iov, 1, timeout_ms, may_wait);
    if (n < 0)
        return (int)n;
    q->rx_len = (uint32_t)n;
    q->rx_next = 0;
    return 0;
}

/* The pending super-packet of an offload queue is one call's at a time. */
static int rx_take(struct tt_queue *q)
{
    return __atomic_exchange_n(&q->rx_busy, 1, __ATOMIC_ACQUIRE) == 0;
}

static void rx_give_back(struct tt_queue *q)
{
    __atomic_store_n(&q->rx_busy, 0, __ATOMIC_RELEASE);
}

static int64_t recv_segment(struct tt_queue *q, char *buf, size_t len, int timeout_ms);

int64_t tt_queue_recv(struct tt_queue *q, char *buf, size_t len, int timeout_ms)
{
    if (!queue_ok(q) || buf == NULL || len == 0)
        return -EINVAL;
    if (q->offload == 0) {
        int may_wait = 1;
        if (q->framing) {
            unsigned char head[FRAME_MAX];
            ssize_t n = framed_read(q, head, buf, len, 1, timeout_ms, &may_wait);
            return framed_result(q, head, n, buf, 0);
        }
        struct iovec iov = { .iov_base = buf, .iov_len = len };
        ssize_t n = queue_io(q, 0, 1, &iov, 1, timeout_ms, &may_wait);
        return n < 0 ? n : tt_classify(buf, (size_t)n, q->kind);
    }
    if (!rx_take(q))
        return -EBUSY;
    int64_t result = recv_segment(q, buf, len, timeout_ms);
    rx_give_back(q);
    return result;
}

static int64_t recv_segment(struct tt_queue *q, char *buf, size_t len, int timeout_ms)
{
    int may_wait = 1;
    if (q->rx_len == 0) {
        int r = read_pending(q, 1, timeout_ms, &may_wait);
        if (r < 0)
            return r;
    }
    int64_t result;
    size_t slot = len < TT_BATCH_MAX_SLOT ? len : TT_BATCH_MAX_SLOT;
    int r = take_pending(q, buf, slot, slot, 1, &result, 1);
    return r < 0 ? r : result;
}

/* Segments of the pending super-packet into the free slots from count; the
 * slots filled (a malformed super-packet takes one, reported there).  Raw
 * slots get each segment behind an empty virtio-net header: a packet that
 * needs nothing done, which a relay writes on as it is. */
static uint32_t emit_pending(struct tt_queue *q, struct tt_batch *b, uint32_t count, int raw)
{
    size_t head = raw ? TT_VNET_HDR_LEN : 0;
    char *slot = b->buf + (size_t)count * b->slot_size;
    int r = take_pending(q, slot + head, b->slot_size, b->slot_size - head, b->capacity - count,
                         b->results + count, 0);
    if (r < 0) {
        b->results[count] = r;
        b->bad++;
        return 1;
    }
    for (int i = 0; i < r; i++) {
        memset(slot + (size_t)i * b->slot_size, 0, head);
        if (tti_is_bad(b->results[count + (uint32_t)i]))
            b->bad++;
    }
    return (uint32_t)r;
}

static int read_slots(struct tt_queue *q, struct tt_batch *b, int raw, int timeout_ms);

int tt_queue_read(struct tt_queue *q, struct tt_batch *b, int raw, int timeout_ms)
{
    if (!queue_ok(q) || !batch_ok(b, q, raw) || (raw && q->offload == 0))
        return -EINVAL;
    if (q->offload == 0)
        return read_slots(q, b, raw, timeout_ms);
    if (!rx_take(q))
        return -EBUSY;
    int result = read_slots(q, b, raw, timeout_ms);
    rx_give_back(q);
    return result;
}

static int read_slots(struct tt_queue *q, struct tt_batch *b, int raw, int timeout_ms)
{
    int segment = q->offload != 0 && !raw;
    b->count = 0;
    b->bad = 0;
    b->origin = TT_ORIGIN_DEVICE;
    b->in_place = 0;
    uint32_t count = 0;
    int may_wait = 1;
    /* What a read_packet (or a read short of slots) left pending comes first,
     * as segments even for a raw read: part of it is out already. */
    if (q->offload && q->rx_len)
        count = emit_pending(q, b, 0, raw);
    while (count < b->capacity) {
        /* Only the first read may wait; then take what is already queued. */
        int timeout = count > 0 ? 0 : timeout_ms;
        if (segment) {
            int r = read_pending(q, count == 0, timeout, &may_wait);
            if (r < 0) {
                if (count > 0)
                    break; /* EAGAIN ends the batch; other errors show next time */
                return r;
            }
            /* A super-packet starts only in a batch with room for all its
             * segments (else it stays pending, whole, for the next read), so
             * that they go on together; an empty batch takes what fits. */
            if (count > 0 && q->rx_len < q->rx_buf_len) {
                int n = tti_segment_count(q->rx_buf, q->rx_len, b->slot_size);
                if (n > 0 && (uint32_t)n > b->capacity - count)
                    break;
            }
            count += emit_pending(q, b, count, 0);
            continue;
        }
        char *slot = b->buf + (size_t)count * b->slot_size;
        if (q->framing) {
            unsigned char head[FRAME_MAX];
            ssize_t n = framed_read(q, head, slot, b->slot_size, count == 0, timeout, &may_wait);
            if (n < 0 && count == 0)
                return (int)n;
            if (n < 0)
                break;
            int64_t result = framed_result(q, head, n, slot, b->slot_size);
            b->results[count++] = result;
            if (tti_is_bad(result))
                b->bad++;
            continue;
        }
        struct iovec iov = { .iov_base = slot, .iov_len = b->slot_size };
        ssize_t n = queue_io(q, 0, count == 0, &iov, 1, timeout, &may_wait);
        if (n < 0) {
            if (count > 0)
                break;
            return (int)n;
        }
        int64_t result = q->offload ? raw_slot(slot, (size_t)n, b->slot_size)
                                    : classify_slot(slot, (size_t)n, b->slot_size, q->kind);
        b->results[count++] = result;
        if (tti_is_bad(result))
            b->bad++;
    }
    b->count = count;
    if (b->sent != NULL)
        memset(b->sent, 0, count); /* new packets: none went out ahead */
    return (int)count;
}

/* ---- writing ----------------------------------------------------------------- */

ssize_t tt_queue_send(struct tt_queue *q, const char *buf, size_t len, int timeout_ms)
{
    if (!queue_ok(q) || (buf == NULL && len != 0))
        return -EINVAL;
    int rule = write_rule(q, (const unsigned char *)buf, len);
    q->refused = rule > 0 ? rule : 0;
    if (rule != 0)
        return rule < 0 ? rule : -EINVAL;
    int may_wait = 1;
    if (q->offload == 0 && q->framing) {
        unsigned char head[FRAME_MAX];
        size_t hlen = frame_head(q, (const unsigned char *)buf, len, head);
        struct iovec iov[2] = {
            { .iov_base = head, .iov_len = hlen },
            { .iov_base = (void *)buf, .iov_len = len },
        };
        ssize_t n = queue_io(q, 1, 0, iov, 2, timeout_ms, &may_wait);
        if (n < 0)
            return n;
        return (size_t)n < hlen ? 0 : n - (ssize_t)hlen;
    }
    if (q->offload == 0) {
        struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
        return queue_io(q, 1, 0, &iov, 1, timeout_ms, &may_wait);
    }
    struct iovec iov[2] = {
        { .iov_base = (void *)empty_hdr, .iov_len = TT_VNET_HDR_LEN },
        { .iov_base = (void *)buf, .iov_len = len },
    };
    ssize_t n = queue_io(q, 1, 0, iov, 2, timeout_ms, &may_wait);
    if (n < 0)
        return n;
    return n < TT_VNET_HDR_LEN ? 0 : n - TT_VNET_HDR_LEN;
}

/* Writes packet i of s (and, coalescing, those that merge with it, whose
 * positions go to members); the input packets it covered, or 0 with the
 * failure recorded in st. */
static uint32_t write_one(struct tt_queue *q, const struct tti_source *s, uint32_t i, uint32_t end,
                          const unsigned char *p, size_t len, int coalesce, int timeout_ms,
                          int *may_wait, struct tt_write_status *st, struct tti_flows *flows,
                          uint32_t *members)
{
    struct iovec iov[TT_COALESCE_MAX + 1];
    unsigned char head[FRAME_MAX];
    int iovcnt = 1;
    uint32_t run = 1;
    size_t want = len;
    int rule = s->raw ? 0 : write_rule(q, p, len);
    ssize_t n;
    if (rule != 0) {
        n = rule < 0 ? rule : -EINVAL;
    } else {
        if (s->raw) {
            iov[0].iov_base = (void *)(p - TT_VNET_HDR_LEN);
            iov[0].iov_len = want = TT_VNET_HDR_LEN + len;
        } else if (q->offload == 0 && q->framing) {
            iov[0].iov_base = head;
            iov[0].iov_len = frame_head(q, p, len, head);
            want = iov[0].iov_len + len;
            iov[1].iov_base = (void *)p;
            iov[1].iov_len = len;
            iovcnt = 2;
        } else if (q->offload == 0) {
            iov[0].iov_base = (void *)p;
            iov[0].iov_len = len;
        } else {
            if (coalesce)
                run = tti_coalesce_plan(s, i, end, st->sent != NULL, st->sent, q->offload,
                                        q->write_limit, q->tx_buf_len, flows, members);
            if (run > 1) {
                /* The header built in tx_buf, the payloads written from where they lie. */
                iovcnt = tti_coalesce_iov(s, members, run, (unsigned char *)q->tx_buf, iov, &want);
            } else {
                iov[0].iov_base = (void *)empty_hdr;
                iov[0].iov_len = TT_VNET_HDR_LEN;
                iov[1].iov_base = (void *)p;
                iov[1].iov_len = len;
                iovcnt = 2;
                want = TT_VNET_HDR_LEN + len;
            }
        }
        n = queue_io(q, 1, 0, iov, iovcnt, timeout_ms, may_wait);
        if (n >= 0 && (size_t)n == want)
            return run;
    }
    st->error = n < 0 ? (int32_t)n : -EIO;
    st->partial = n < 0 ? 0 : (uint32_t)n;
    st->refused = rule > 0 ? rule : 0;
    return 0;
}

static int write_source(struct tt_queue *q, const struct tti_source *src, uint32_t start,
                        uint32_t count, int coalesce, int timeout_ms, struct tt_write_status *st);

int tt_queue_write(struct tt_queue *q, const struct tt_packets *src, uint32_t start,
                   int coalesce, int timeout_ms, struct tt_write_status *st)
{
    struct tti_source s;
    if (!queue_ok(q) || src == NULL || st == NULL || tti_source_of(src, &s) < 0)
        return -EINVAL;
    uint32_t count = src->count;
    if (s.b != NULL) {
        if (!batch_ok(s.b, q, s.raw) || s.b->count > s.b->capacity)
            return -EINVAL;
        count = s.b->count;
    }
    if (start > count || ((s.raw || coalesce) && q->offload == 0))
        return -EINVAL;
    if (st->sent != NULL && st->sent_len < count)
        return -EINVAL;
    /* One coalescing write at a time builds in tx_buf; another goes unmerged. */
    if (coalesce && __atomic_exchange_n(&q->tx_busy, 1, __ATOMIC_ACQUIRE))
        coalesce = 0;
    int written = write_source(q, &s, start, count, coalesce, timeout_ms, st);
    if (coalesce)
        __atomic_store_n(&q->tx_busy, 0, __ATOMIC_RELEASE);
    return written;
}

static int write_source(struct tt_queue *q, const struct tti_source *src, uint32_t start,
                        uint32_t count, int coalesce, int timeout_ms, struct tt_write_status *st)
{
    const struct tti_source s = *src;
    uint8_t *sent = st->sent;
    tti_status_start(st, start);
    if (sent != NULL && start == 0)
        memset(sent, 0, count);
    int may_wait = 1;
    uint32_t members[TT_COALESCE_MAX];
    struct tti_flows flows;
    if (coalesce)
        tti_flows_start(&flows, start);
    uint32_t i = start;
    while (i < count) {
        const unsigned char *p;
        size_t len;
        st->next = i;
        if (sent != NULL && sent[i]) {
            sent[i] = 0; /* out already, with its flow */
            i++;
            continue;
        }
        int got = tti_source_get(&s, i, &p, &len);
        if (got == 0) {
            i++; /* a bad slot was reported by the read; it is not forwarded */
            continue;
        }
        if (got < 0) {
            st->error = got;
            return (int)st->written;
        }
        uint32_t run = write_one(q, &s, i, count, p, len, coalesce, timeout_ms, &may_wait, st,
                                 &flows, members);
        if (run == 0)
            return (int)st->written;
        st->written += run;
        if (sent == NULL) {
            i += run; /* the run was consecutive */
            continue;
        }
        for (uint32_t k = 1; k < run; k++)
            sent[members[k]] = 1;
        i++;
    }
    st->next = count;
    return (int)st->written;
}

/* ---- the bytes calls ------------------------------------------------------------ */

/* tt_queue_recv_bytes is counted by Python's usage count
 * (tuntap_cffi/lifetime.py); recv_next, send_now and send_bytes by the
 * queue's own gate, which costs two atomic adds instead of Python's list.
 * Either way the fds stay open while a call is inside, and the wakefd ends
 * its wait (-ECANCELED) once the queue is closed. */

/* Count one call inside, unless the gate is shut (0: refused). */
static int gate_enter(struct tt_queue *q)
{
    __atomic_add_fetch(&q->inside, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&q->shut, __ATOMIC_SEQ_CST) == 0)
        return 1;
    __atomic_sub_fetch(&q->inside, 1, __ATOMIC_SEQ_CST);
    return 0;
}

static void gate_leave(struct tt_queue *q)
{
    __atomic_sub_fetch(&q->inside, 1, __ATOMIC_SEQ_CST);
}

int tt_queue_shut(struct tt_queue *q)
{
    if (q == NULL)
        return -EINVAL;
    __atomic_store_n(&q->shut, 1, __ATOMIC_SEQ_CST);
    return 0;
}

int tt_queue_drain(struct tt_queue *q, int timeout_ms)
{
    if (q == NULL || timeout_ms < 0)
        return -EINVAL;
    /* Sleeps of 100 us: a call inside leaves within one read, write or
     * woken wait. */
    const struct timespec pause = { .tv_sec = 0, .tv_nsec = 100000 };
    long rounds = (long)timeout_ms * 10;
    for (long i = 0;; i++) {
        if (__atomic_load_n(&q->inside, __ATOMIC_SEQ_CST) == 0)
            return 0;
        if (i >= rounds)
            return -EBUSY;
        nanosleep(&pause, NULL);
    }
}

static ssize_t recv_bytes(struct tt_queue *q, char *buf, size_t len, int timeout_ms);
static ssize_t send_bytes(struct tt_queue *q, const char *buf, size_t len, int timeout_ms);

ssize_t tt_queue_recv_bytes(struct tt_queue *q, char *buf, size_t len, int timeout_ms)
{
    if (!queue_ok(q) || (buf == NULL && len != 0))
        return -EINVAL;
    return recv_bytes(q, buf, len, timeout_ms);
}

/* The scratch is free (owner 0) or this thread's (it copied its bytes out
 * before calling again): take it.  Another thread's: -EBUSY. */
static int scratch_take(struct tt_queue *q)
{
    uint64_t self = (uint64_t)pthread_self();
    uint64_t owner = __atomic_load_n(&q->scratch_owner, __ATOMIC_ACQUIRE);
    if (owner == self)
        return 1;
    owner = 0;
    return __atomic_compare_exchange_n(&q->scratch_owner, &owner, self, 0, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE);
}

ssize_t tt_queue_recv_next(struct tt_queue *q)
{
    if (!queue_ok(q) || q->scratch == NULL || q->scratch_len == 0)
        return -EINVAL;
    if (!gate_enter(q))
        return -ECANCELED;
    if (!scratch_take(q)) {
        gate_leave(q);
        return -EBUSY;
    }
    ssize_t n = recv_bytes(q, q->scratch, q->scratch_len, TT_WAIT_SLICE_MS);
    if (n < 0) /* nothing to copy out: free for any thread */
        __atomic_store_n(&q->scratch_owner, 0, __ATOMIC_RELEASE);
    gate_leave(q);
    return n;
}

ssize_t tt_queue_send_now(struct tt_queue *q, const char *buf, size_t len)
{
    return tt_queue_send_bytes(q, buf, len, TT_WAIT_SLICE_MS);
}

ssize_t tt_queue_send_bytes(struct tt_queue *q, const char *buf, size_t len, int timeout_ms)
{
    if (!queue_ok(q) || (buf == NULL && len != 0))
        return -EINVAL;
    if (!gate_enter(q))
        return -ECANCELED;
    ssize_t n = send_bytes(q, buf, len, timeout_ms);
    gate_leave(q);
    return n;
}

static ssize_t recv_bytes(struct tt_queue *q, char *buf, size_t len, int timeout_ms)
{
    if (q->offload == 0) {
        int may_wait = 1;
        struct iovec iov = { .iov_base = buf, .iov_len = len };
        return queue_io(q, 0, 1, &iov, 1, len == 0 ? 0 : timeout_ms, &may_wait);
    }
    if (len == 0)
        return 0;
    if (!rx_take(q))
        return -EBUSY;
    int64_t result = recv_segment(q, buf, len, timeout_ms);
    rx_give_back(q);
    /* A segment's bytes: all of them, whatever the verdict (a bad segment's
     * body length is every byte that arrived). */
    return result < 0 ? (ssize_t)result : (ssize_t)(result & BODY_MASK);
}

static ssize_t send_bytes(struct tt_queue *q, const char *buf, size_t len, int timeout_ms)
{
    if (q->offload != 0 || q->framing == 0)
        return tt_queue_send(q, buf, len, timeout_ms);
    size_t hlen = frame_len(q);
    int rule = len < hlen ? TT_PKT_TRUNCATED : 0;
    if (rule == 0) {
        const unsigned char *p = (const unsigned char *)buf + hlen;
        size_t plen = len - hlen;
        rule = write_rule(q, p, plen);
        /* Behind packet information a TUN packet's protocol is the header's. */
        if (rule == TT_PKT_NOT_IP && (q->framing & TT_FRAME_PI))
            rule = 0;
    }
    q->refused = rule > 0 ? rule : 0;
    if (rule != 0)
        return rule < 0 ? rule : -EINVAL;
    int may_wait = 1;
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    return queue_io(q, 1, 0, &iov, 1, timeout_ms, &may_wait);
}
