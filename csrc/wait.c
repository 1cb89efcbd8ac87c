/* wait.c - the wake-up eventfd and the one wait of the shim.
 *
 * Every call that waits (a queue's reads and writes, the link events, the
 * batched UDP calls) polls its fd together with an eventfd; firing that
 * eventfd (on close) makes every present and future wait return
 * -ECANCELED, so no thread stays blocked on an fd that is going away.
 */
#include "tuntap.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

int tt_eventfd(void)
{
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return fd < 0 ? -errno : fd;
}

/* Makes wakefd readable for good: every present and future waiter returns. */
int tt_wake(int wakefd)
{
    uint64_t one = 1;
    if (write(wakefd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        return -errno;
    return 0;
}

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
