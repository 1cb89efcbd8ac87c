/* packet_io.c - single-packet reads and writes with interruptible waits. */
#include "tuntap.h"

#include <errno.h>
#include <poll.h>
#include <unistd.h>

/*
 * Waits until fd is readable (or writable), the wake-up fd fires, or
 * timeout_ms passes (-1: no limit).  Returns 1 when fd is ready (errors and
 * hang-ups count as ready: the next read or write reports them), 0 on
 * timeout, -ECANCELED when woken, -EINTR when a signal arrived.
 */
int tt_wait(int fd, int wakefd, int for_write, int timeout_ms)
{
    struct pollfd fds[2] = {
        { .fd = fd, .events = (short)(for_write ? POLLOUT : POLLIN) },
        { .fd = wakefd, .events = POLLIN },
    };
    int r = poll(fds, 2, timeout_ms < 0 ? -1 : timeout_ms);
    if (r < 0)
        return -errno;
    if (fds[1].revents)
        return -ECANCELED;
    return r > 0 ? 1 : 0;
}

/* Reads one packet, waiting at most timeout_ms; -EAGAIN when none came. */
ssize_t tt_read_wait(int fd, int wakefd, char *buf, size_t len, int timeout_ms)
{
    ssize_t n = read(fd, buf, len);
    if (n >= 0)
        return n;
    if (errno != EAGAIN || timeout_ms == 0)
        return -errno;
    int r = tt_wait(fd, wakefd, 0, timeout_ms);
    if (r <= 0)
        return r == 0 ? -EAGAIN : r;
    n = read(fd, buf, len);
    return n >= 0 ? n : -errno;
}

int64_t tt_recv_packet(int fd, int wakefd, char *buf, size_t len, int kind,
                       int timeout_ms)
{
    if (buf == NULL || len == 0)
        return -EINVAL;
    ssize_t n = tt_read_wait(fd, wakefd, buf, len, timeout_ms);
    if (n < 0)
        return n;
    return tt_classify(buf, (size_t)n, kind);
}

ssize_t tt_send(int fd, int wakefd, const char *buf, size_t len, int timeout_ms)
{
    if (buf == NULL && len != 0)
        return -EINVAL;
    ssize_t n = write(fd, buf, len);
    if (n >= 0)
        return n;
    if (errno != EAGAIN || timeout_ms == 0)
        return -errno;
    int r = tt_wait(fd, wakefd, 1, timeout_ms);
    if (r <= 0)
        return r == 0 ? -EAGAIN : r;
    n = write(fd, buf, len);
    return n >= 0 ? n : -errno;
}
