/*
 * adopt.c - what an fd opened elsewhere (another process, a raw open) is
 * attached to: the device's name, kind and flags (TUNGETIFF), its
 * virtio-net header size (TUNGETVNETHDRSZ) and its network namespace
 * (TUNGETDEVNETNS), so that Python can wrap it as open() would have.
 */
#include "tuntap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/major.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#ifndef TUNGETDEVNETNS
#define TUNGETDEVNETNS _IO('T', 227)
#endif

/* /dev/net/tun is the misc device 10:200 (TUN_MINOR, include/linux/miscdevice.h,
 * which user space does not get); every node of it has this number. */
#define TUN_CLONE_MINOR 200

_Static_assert(sizeof(((struct tt_fd_device *)0)->name) == IFNAMSIZ, "tt_fd_device name");

/* 1 when fd is open on the TUN/TAP clone device.  The tun ioctls are sent to
 * nothing else: their numbers mean other things to other drivers (macvtap's
 * /dev/tapN even answers TUNGETIFF, for a device that is not a TUN/TAP). */
static int is_clone_device(const struct stat *st)
{
    return S_ISCHR(st->st_mode) && major(st->st_rdev) == MISC_MAJOR &&
           minor(st->st_rdev) == TUN_CLONE_MINOR;
}

int tt_fd_device(int fd, struct tt_fd_device *out)
{
    struct stat st;
    struct ifreq ifr;
    int vnet_hdr_sz = 0;

    if (out == NULL)
        return -EINVAL;
    if (fd < 0)
        return -EBADF;
    if (fstat(fd, &st) < 0)
        return -errno;
    /* Not the clone device: what the ioctl would say of any other file. */
    if (!is_clone_device(&st))
        return -ENOTTY;
    int status = fcntl(fd, F_GETFL);
    if (status < 0)
        return -errno;

    memset(&ifr, 0, sizeof(ifr));
    if (ioctl(fd, TUNGETIFF, &ifr) < 0)
        return -errno; /* EBADFD: the fd is attached to no device */
    if (ioctl(fd, TUNGETVNETHDRSZ, &vnet_hdr_sz) < 0)
        return -errno;

    int flags = ifr.ifr_flags & 0xffff;
    int type = flags & (IFF_TUN | IFF_TAP);
    if (type != IFF_TUN && type != IFF_TAP)
        return -EPROTO; /* neither or both: not a TUN/TAP as the kernel makes them */

    memset(out, 0, sizeof(*out));
    memcpy(out->name, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ - 1));
    out->tun_type = type == IFF_TUN ? TT_KIND_TUN : TT_KIND_TAP;
    out->tun_flags = TT_TUN_INFO;
    /* TUNGETIFF adds IFF_NOFILTER (no socket filter attached), the same bit as
     * IFF_NO_PI: a clear bit means packet information for sure, a set one
     * may not mean IFF_NO_PI (RTM_GETLINK's IFLA_TUN_PI tells). */
    if (!(flags & IFF_NO_PI))
        out->tun_flags |= TT_TUN_PI;
    if (flags & IFF_VNET_HDR)
        out->tun_flags |= TT_TUN_VNET_HDR;
    if (flags & IFF_PERSIST)
        out->tun_flags |= TT_TUN_PERSIST;
    if (flags & IFF_MULTI_QUEUE)
        out->tun_flags |= TT_TUN_MULTI_QUEUE;
    out->vnet_hdr_sz = vnet_hdr_sz;
    out->access = status & O_ACCMODE;
    return 0;
}

int tt_device_netns(int fd)
{
    if (fd < 0)
        return -EBADF;
    /* The kernel opens the namespace fd with O_CLOEXEC. */
    int nsfd = ioctl(fd, TUNGETDEVNETNS);
    return nsfd < 0 ? -errno : nsfd;
}
