/* offload.c - virtio-net headers on TUN devices: enabling offloads, and the
 * reads and writes that segment (segment.c) and coalesce (coalesce.c).
 */
#include "tti.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif
_Static_assert(sizeof(struct virtio_net_hdr) == TT_VNET_HDR_LEN, "virtio_net_hdr size");

/* ---- enabling ---------------------------------------------------------- */

int tt_set_offload(int fd, unsigned int wanted)
{
    int size = (int)sizeof(struct virtio_net_hdr);
    if (wanted & ~(unsigned)(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_USO4 | TUN_F_USO6))
        return -EINVAL;
    if (ioctl(fd, TUNSETVNETHDRSZ, &size) < 0)
        return -errno;
    /* Kernels before 6.2 refuse the USO bits: try without them. */
    if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)wanted) == 0)
        return (int)wanted;
    unsigned int fallback = wanted & ~(unsigned)(TUN_F_USO4 | TUN_F_USO6);
    if (errno != EINVAL || fallback == wanted)
        return -errno;
    if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)fallback) < 0)
        return -errno;
    return (int)fallback;
}

/* ---- reading ------------------------------------------------------------ */

static int batch_ok(const struct tt_batch *b)
{
    if (b == NULL || b->buf == NULL || b->results == NULL || b->kind != TT_KIND_TUN)
        return 0;
    if (b->capacity == 0 || b->capacity > TT_BATCH_MAX_CAPACITY)
        return 0;
    if (b->slot_size <= TT_VNET_HDR_LEN || b->slot_size > TT_BATCH_MAX_SLOT)
        return 0;
    return b->buf_len >= (size_t)b->capacity * b->slot_size;
}

/* Segments of the pending super-packet into free slots; the slots filled. */
static uint32_t emit_pending(struct tt_batch *b, struct tt_rx_pending *rx, uint32_t count)
{
    uint32_t total = 0;
    char *slot = b->buf + (size_t)count * b->slot_size;
    int r;
    if (rx->len >= rx->buf_len)
        r = -EMSGSIZE; /* the read filled the buffer: it may have been cut */
    else
        r = tt_segment(rx->buf, rx->len, rx->next, slot, b->slot_size, b->capacity - count,
                       b->results + count, &total);
    if (r < 0) {
        b->results[count] = r;
        b->bad++;
        rx->len = 0;
        return 1;
    }
    for (int i = 0; i < r; i++)
        if (is_bad(b->results[count + (uint32_t)i]))
            b->bad++;
    rx->next += (uint32_t)r;
    if (rx->next >= total)
        rx->len = 0;
    return (uint32_t)r;
}

/* The raw result of a slot holding a virtio-net header and a packet. */
static int64_t raw_slot(const char *slot, size_t n, size_t slot_size)
{
    if (n < TT_VNET_HDR_LEN)
        return -EBADMSG;
    int64_t packed = tt_classify(slot + TT_VNET_HDR_LEN, n - TT_VNET_HDR_LEN, TT_KIND_TUN);
    if (packed >= 0 && n == slot_size)
        packed = (packed & ~(((int64_t)0xff << TT_PACK_VERDICT_SHIFT) | BODY_MASK)) |
                 ((int64_t)TT_PKT_TRUNCATED << TT_PACK_VERDICT_SHIFT) |
                 (int64_t)(n - TT_VNET_HDR_LEN);
    return packed;
}

int tt_read_batch_vnet(int fd, int wakefd, struct tt_batch *b, struct tt_rx_pending *rx,
                       int segment, int timeout_ms)
{
    if (!batch_ok(b))
        return -EINVAL;
    if (segment && (rx == NULL || rx->buf == NULL || rx->buf_len < TT_VNET_HDR_LEN + 65536u ||
                    rx->len > rx->buf_len))
        return -EINVAL;
    b->count = 0;
    b->bad = 0;
    uint32_t count = 0;
    if (segment && rx->len)
        count = emit_pending(b, rx, 0);
    while (count < b->capacity) {
        char *dst = segment ? rx->buf : b->buf + (size_t)count * b->slot_size;
        size_t room = segment ? rx->buf_len : b->slot_size;
        ssize_t n;
        if (count > 0) {
            n = read(fd, dst, room);
            if (n < 0) {
                b->drained = errno == EAGAIN;
                break;
            }
        } else if (b->drained && timeout_ms != 0) {
            int r = tt_wait(fd, wakefd, 0, timeout_ms);
            if (r <= 0) {
                b->drained = r == 0;
                return r == 0 ? -EAGAIN : r;
            }
            n = read(fd, dst, room);
            if (n < 0) {
                b->drained = errno == EAGAIN;
                return -errno;
            }
        } else {
            n = tt_read_wait(fd, wakefd, dst, room, timeout_ms);
            if (n < 0) {
                b->drained = n == -EAGAIN;
                return (int)n;
            }
        }
        b->drained = 0;
        if (segment) {
            rx->len = (uint32_t)n;
            rx->next = 0;
            count += emit_pending(b, rx, count);
        } else {
            int64_t result = raw_slot(dst, (size_t)n, b->slot_size);
            b->results[count++] = result;
            if (is_bad(result))
                b->bad++;
        }
    }
    b->count = count;
    return (int)count;
}

/* ---- writing ------------------------------------------------------------ */

static const char empty_hdr[TT_VNET_HDR_LEN];

ssize_t tt_send_vnet(int fd, int wakefd, const char *buf, size_t len, int timeout_ms)
{
    if (buf == NULL && len != 0)
        return -EINVAL;
    struct iovec iov[2] = {
        { .iov_base = (void *)empty_hdr, .iov_len = TT_VNET_HDR_LEN },
        { .iov_base = (void *)buf, .iov_len = len },
    };
    int may_wait = 1;
    ssize_t n = tt_writev_waiting(fd, wakefd, iov, 2, timeout_ms, &may_wait);
    if (n < 0)
        return n;
    return n < TT_VNET_HDR_LEN ? 0 : n - TT_VNET_HDR_LEN;
}

static int write_source(int fd, int wakefd, const struct source *s, uint32_t start,
                        uint32_t count, size_t write_limit, char *scratch, size_t scratch_len,
                        int timeout_ms, struct tt_write_status *status)
{
    int coalesce = scratch != NULL && scratch_len > TT_VNET_HDR_LEN;
    int may_wait = 1;
    tt_status_start(status, start);
    uint32_t i = start;
    while (i < count) {
        const unsigned char *p;
        size_t len;
        status->next = i;
        int got = source_get(s, i, &p, &len);
        if (got == 0) {
            i++;
            continue;
        }
        ssize_t n;
        size_t want = 0;
        uint32_t run = 1;
        struct iovec iov[2];
        int refused = 0;
        if (got < 0) {
            n = got;
        } else if (s->raw) {
            iov[0].iov_base = (void *)(p - TT_VNET_HDR_LEN);
            iov[0].iov_len = TT_VNET_HDR_LEN + len;
            want = iov[0].iov_len;
            n = tt_writev_waiting(fd, wakefd, iov, 1, timeout_ms, &may_wait);
        } else if (len > write_limit) {
            n = -EMSGSIZE;
        } else if (len == 0 || ((p[0] >> 4) != 4 && (p[0] >> 4) != 6)) {
            refused = TT_PKT_NOT_IP;
            n = -EINVAL;
        } else {
            if (coalesce)
                run = tti_coalesce_run(s, i, count, write_limit, scratch_len);
            if (run > 1) {
                iov[0].iov_base = scratch;
                iov[0].iov_len = tti_coalesce_build(s, i, run, (unsigned char *)scratch);
                want = iov[0].iov_len;
                n = tt_writev_waiting(fd, wakefd, iov, 1, timeout_ms, &may_wait);
            } else {
                iov[0].iov_base = (void *)empty_hdr;
                iov[0].iov_len = TT_VNET_HDR_LEN;
                iov[1].iov_base = (void *)p;
                iov[1].iov_len = len;
                want = TT_VNET_HDR_LEN + len;
                n = tt_writev_waiting(fd, wakefd, iov, 2, timeout_ms, &may_wait);
            }
        }
        if (n >= 0 && (size_t)n == want) {
            status->written += run;
            i += run;
            continue;
        }
        status->error = n < 0 ? (int32_t)n : -EIO;
        status->partial = n < 0 ? 0 : (uint32_t)n;
        status->refused = refused;
        return (int)status->written;
    }
    status->next = count;
    return (int)status->written;
}

int tt_write_batch_vnet(int fd, int wakefd, char **bufs, const size_t *lens, uint32_t start,
                        uint32_t count, size_t write_limit, char *scratch, size_t scratch_len,
                        int timeout_ms, struct tt_write_status *status)
{
    if (status == NULL || bufs == NULL || lens == NULL || start > count)
        return -EINVAL;
    struct source s = { bufs, lens, NULL, 0 };
    return write_source(fd, wakefd, &s, start, count, write_limit, scratch, scratch_len,
                        timeout_ms, status);
}

int tt_write_slots_vnet(int fd, int wakefd, const struct tt_batch *b, uint32_t start, int raw,
                        size_t write_limit, char *scratch, size_t scratch_len, int timeout_ms,
                        struct tt_write_status *status)
{
    if (status == NULL || !batch_ok(b) || b->count > b->capacity || start > b->count)
        return -EINVAL;
    struct source s = { NULL, NULL, b, raw != 0 };
    return write_source(fd, wakefd, &s, start, b->count, write_limit, scratch, scratch_len,
                        timeout_ms, status);
}
