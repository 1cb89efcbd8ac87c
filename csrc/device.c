/* device.c - opening /dev/net/tun, attaching it to a named device; O_NONBLOCK
 * and close for any fd. */
#include "tuntap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int tt_open_clone(const char *path)
{
    if (path == NULL)
        return -EINVAL;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

/* The kernel name rules (dev_valid_name) plus ours: one "%d" at most. */
static int valid_name(const char *name)
{
    size_t len = strnlen(name, IFNAMSIZ);
    if (len == 0 || len >= IFNAMSIZ)
        return 0;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return 0;
    int percent = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '/' || c == ':' || c <= ' ' || c == 0x7f)
            return 0;
        if (c == '%') {
            if (percent || i + 1 >= len || name[i + 1] != 'd')
                return 0;
            percent = 1;
        }
    }
    return 1;
}

int tt_set_iff(int fd, const char *name, int kind, int extra_flags,
               char *name_out, size_t name_out_len)
{
    struct ifreq ifr;

    if (name == NULL || name_out == NULL || name_out_len < IFNAMSIZ)
        return -EINVAL;
    if (!valid_name(name))
        return -EINVAL;
    if (kind != TT_KIND_TUN && kind != TT_KIND_TAP)
        return -EINVAL;
    if (extra_flags & ~(IFF_MULTI_QUEUE | IFF_VNET_HDR))
        return -EINVAL;

    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, name, strnlen(name, IFNAMSIZ - 1));
    ifr.ifr_flags = (short)((kind == TT_KIND_TUN ? IFF_TUN : IFF_TAP) |
                            IFF_NO_PI | extra_flags);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0)
        return -errno;

    memset(name_out, 0, name_out_len);
    memcpy(name_out, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ - 1));
    return 0;
}

int tt_set_iff_flags(int fd, const char *name, int flags, char *name_out, size_t name_out_len)
{
    struct ifreq ifr;

    if (name == NULL || name_out == NULL || name_out_len < IFNAMSIZ)
        return -EINVAL;
    size_t len = strnlen(name, IFNAMSIZ);
    if (len >= IFNAMSIZ)
        return -EINVAL;
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, name, len);
    ifr.ifr_flags = (short)(flags & 0xffff);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0)
        return -errno;

    memset(name_out, 0, name_out_len);
    memcpy(name_out, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ - 1));
    return 0;
}

int tt_set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return -errno;
    return 0;
}

int tt_close(int fd)
{
    /* Linux releases the fd even when close() reports EINTR: never retry. */
    if (close(fd) < 0 && errno != EINTR)
        return -errno;
    return 0;
}
