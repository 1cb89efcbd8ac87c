/* batch.c - many packets per call, into and out of memory Python owns.
 *
 * One crossing from Python (one release of the GIL) moves a whole batch:
 * the read side waits at most one slice for the first packet, then takes
 * every packet already queued; the write side writes packets in order and
 * stops at the first one that fails, saying which and why.
 */
#include "tuntap.h"

#include <errno.h>
#include <sys/uio.h>
#include <unistd.h>

#define VERDICT_MASK ((int64_t)0xff << TT_PACK_VERDICT_SHIFT)
#define BODY_MASK ((int64_t)0xffffffff)

/* Checks everything tt_read_batch and tt_write_slots trust in a batch. */
static int batch_valid(const struct tt_batch *b)
{
    if (b == NULL || b->buf == NULL || b->results == NULL)
        return 0;
    if (b->capacity == 0 || b->capacity > TT_BATCH_MAX_CAPACITY)
        return 0;
    if (b->slot_size == 0 || b->slot_size > TT_BATCH_MAX_SLOT)
        return 0;
    if (b->kind != TT_KIND_TUN && b->kind != TT_KIND_TAP)
        return 0;
    /* No overflow: both factors are bounded well below 2^32. */
    return b->buf_len >= (size_t)b->capacity * b->slot_size;
}

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
    if (verdict == TT_PKT_OK)
        return packed;
    return (packed & ~(VERDICT_MASK | BODY_MASK)) |
           ((int64_t)verdict << TT_PACK_VERDICT_SHIFT) | (int64_t)n;
}

/* The first read of a batch: like tt_read_wait, but when the last batch
 * emptied the queue it waits first, which saves a read() that would only
 * say EAGAIN. */
static ssize_t first_read(int fd, int wakefd, struct tt_batch *b, int timeout_ms)
{
    if (!b->drained || timeout_ms == 0)
        return tt_read_wait(fd, wakefd, b->buf, b->slot_size, timeout_ms);
    int r = tt_wait(fd, wakefd, 0, timeout_ms);
    if (r <= 0)
        return r == 0 ? -EAGAIN : r;
    ssize_t n = read(fd, b->buf, b->slot_size);
    return n >= 0 ? n : -errno;
}

int tt_read_batch(int fd, int wakefd, struct tt_batch *b, int timeout_ms)
{
    if (!batch_valid(b))
        return -EINVAL;
    b->count = 0;
    b->bad = 0;
    /* Only the first read may wait; then take what is already queued. */
    ssize_t n = first_read(fd, wakefd, b, timeout_ms);
    if (n < 0) {
        b->drained = n == -EAGAIN;
        return (int)n;
    }
    uint32_t count = 0;
    for (;;) {
        char *slot = b->buf + (size_t)count * b->slot_size;
        int64_t result = classify_slot(slot, (size_t)n, b->slot_size, b->kind);
        b->results[count] = result;
        if (result < 0 || (result >> TT_PACK_VERDICT_SHIFT) != TT_PKT_OK)
            b->bad++;
        count++;
        if (count == b->capacity) {
            b->drained = 0;
            break;
        }
        n = read(fd, slot + b->slot_size, b->slot_size);
        if (n < 0) {
            /* EAGAIN ends the batch; any other error shows on the next call. */
            b->drained = errno == EAGAIN;
            break;
        }
    }
    b->count = count;
    return (int)count;
}

ssize_t tt_writev_waiting(int fd, int wakefd, const struct iovec *iov, int iovcnt,
                          int timeout_ms, int *may_wait)
{
    for (;;) {
        ssize_t n = writev(fd, iov, iovcnt);
        if (n >= 0)
            return n;
        if (errno != EAGAIN || timeout_ms == 0 || !*may_wait)
            return -errno;
        *may_wait = 0;
        int r = tt_wait(fd, wakefd, 1, timeout_ms);
        if (r <= 0)
            return r == 0 ? -EAGAIN : r;
    }
}

/* The write rules of the Go seed (and write_packet), checked before writing:
 * 0, or the TT_PKT_* verdict that refuses the packet. */
static int refuse(const char *buf, size_t len, int kind)
{
    if (kind == TT_KIND_TUN) {
        unsigned version = len == 0 ? 0 : (unsigned char)buf[0] >> 4;
        return version == 4 || version == 6 ? 0 : TT_PKT_NOT_IP;
    }
    return len < TT_ETH_HEADER_LEN ? TT_PKT_TRUNCATED : 0;
}

/* Writes one packet; records a failure in status and returns 0 if it failed. */
static int write_packet(int fd, int wakefd, const char *buf, size_t len, int kind,
                        size_t write_limit, int timeout_ms, int *may_wait,
                        struct tt_write_status *status)
{
    ssize_t n;
    int refused = 0;
    if (buf == NULL && len != 0)
        n = -EINVAL;
    else if (len > write_limit)
        n = -EMSGSIZE;
    else if ((refused = refuse(buf, len, kind)) != 0)
        n = -EINVAL;
    else {
        struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
        n = tt_writev_waiting(fd, wakefd, &iov, 1, timeout_ms, may_wait);
    }
    if (n >= 0 && (size_t)n == len) {
        status->written++;
        return 1;
    }
    status->error = n < 0 ? (int32_t)n : -EIO;
    status->partial = n < 0 ? 0 : (uint32_t)n;
    status->refused = refused;
    return 0;
}

void tt_status_start(struct tt_write_status *status, uint32_t start)
{
    status->next = start;
    status->written = 0;
    status->error = 0;
    status->partial = 0;
    status->refused = 0;
}

int tt_write_batch(int fd, int wakefd, char **bufs, const size_t *lens,
                   uint32_t start, uint32_t count, int kind, size_t write_limit,
                   int timeout_ms, struct tt_write_status *status)
{
    if (status == NULL || bufs == NULL || lens == NULL || start > count)
        return -EINVAL;
    if (kind != TT_KIND_TUN && kind != TT_KIND_TAP)
        return -EINVAL;
    tt_status_start(status, start);
    int may_wait = 1;
    for (uint32_t i = start; i < count; i++) {
        status->next = i;
        if (!write_packet(fd, wakefd, bufs[i], lens[i], kind, write_limit, timeout_ms,
                          &may_wait, status))
            return (int)status->written;
    }
    status->next = count;
    return (int)status->written;
}

int tt_write_slots(int fd, int wakefd, const struct tt_batch *b,
                   uint32_t start, size_t write_limit, int timeout_ms,
                   struct tt_write_status *status)
{
    if (status == NULL || !batch_valid(b) || b->count > b->capacity || start > b->count)
        return -EINVAL;
    tt_status_start(status, start);
    int may_wait = 1;
    for (uint32_t i = start; i < b->count; i++) {
        int64_t result = b->results[i];
        /* Bad slots were reported by the read; they are not forwarded. */
        if (result < 0 || (result >> TT_PACK_VERDICT_SHIFT) != TT_PKT_OK)
            continue;
        size_t len = (size_t)(result & BODY_MASK);
        status->next = i;
        if (len > b->slot_size) {
            status->error = -EINVAL;
            return (int)status->written;
        }
        if (!write_packet(fd, wakefd, b->buf + (size_t)i * b->slot_size, len, b->kind,
                          write_limit, timeout_ms, &may_wait, status))
            return (int)status->written;
    }
    status->next = b->count;
    return (int)status->written;
}
