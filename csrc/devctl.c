/*
 * devctl.c - operating a device through an fd attached to it: persistence,
 * owner and group (the kernel's check for attaching without CAP_NET_ADMIN),
 * attaching or detaching one queue of a multi-queue device, and enabling
 * virtio-net headers and offloads.
 */
#include "tuntap.h"

#include <errno.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <string.h>
#include <sys/ioctl.h>

#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

_Static_assert(sizeof(struct virtio_net_hdr) == TT_VNET_HDR_LEN, "virtio_net_hdr size");
_Static_assert(TUN_F_USO4 == TT_TUN_F_USO4 && TUN_F_USO6 == TT_TUN_F_USO6, "USO bits");

/* (uid_t)-1 and (gid_t)-1 mean "nobody" to the kernel, which refuses them here. */
static const uint32_t NO_ID = (uint32_t)-1;

int tt_set_persist(int fd, int persist)
{
    if (fd < 0 || (persist != 0 && persist != 1))
        return -EINVAL;
    return ioctl(fd, TUNSETPERSIST, (unsigned long)persist) < 0 ? -errno : 0;
}

int tt_set_owner(int fd, uint32_t uid)
{
    if (fd < 0 || uid == NO_ID)
        return -EINVAL;
    return ioctl(fd, TUNSETOWNER, (unsigned long)uid) < 0 ? -errno : 0;
}

int tt_set_group(int fd, uint32_t gid)
{
    if (fd < 0 || gid == NO_ID)
        return -EINVAL;
    return ioctl(fd, TUNSETGROUP, (unsigned long)gid) < 0 ? -errno : 0;
}

int tt_set_queue(int fd, int attach)
{
    if (fd < 0 || (attach != 0 && attach != 1))
        return -EINVAL;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = attach ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
    return ioctl(fd, TUNSETQUEUE, &ifr) < 0 ? -errno : 0;
}

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
