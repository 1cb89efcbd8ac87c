/* cdef/device.h - device kinds, opening and operating devices
 * (plain declarations for cffi: no #include, no #define, no inline code). */

/* Device kinds, as the Python DevKind enum numbers them. */
enum {
    TT_KIND_TUN = 0,
    TT_KIND_TAP = 1
};

/* Longest interface name, without the NUL (IFNAMSIZ - 1). */
enum { TT_IFNAME_MAX = 15 };

/* device.c: opening and naming devices */
int tt_open_clone(const char *path);
int tt_set_iff(int fd, const char *name, int kind, int extra_flags,
               char *name_out, size_t name_out_len);
/* TUNSETIFF with the caller's flags as they are (IFF_TUN or IFF_TAP, IFF_NO_PI,
 * IFF_VNET_HDR, IFF_MULTI_QUEUE, IFF_TUN_EXCL ...: the low 16 bits, as the
 * kernel's ifr_flags holds them) and name as it is (up to 15 bytes, "" for
 * the kernel to choose): the kernel alone judges both.  The name it chose
 * goes to name_out. */
int tt_set_iff_flags(int fd, const char *name, int flags, char *name_out, size_t name_out_len);
int tt_set_nonblocking(int fd);
int tt_close(int fd);

/* ---- devctl.c: operating an attached device --------------------------- */

/* Most queues one multi-queue device can have: the kernel's MAX_TAP_QUEUES
 * (include/linux/if_tap.h, not exported to user space). */
enum { TT_MAX_QUEUES = 256 };

int tt_set_persist(int fd, int persist);
int tt_set_owner(int fd, uint32_t uid);
int tt_set_group(int fd, uint32_t gid);
/* TUNSETQUEUE: attach (1) or detach (0) the queue of a multi-queue device. */
int tt_set_queue(int fd, int attach);
/* TUNSETVNETHDRSZ and TUNSETOFFLOAD: the TUN_F_* bits accepted, or -errno.
 * Without the USO bits if the kernel refuses them. */
int tt_set_offload(int fd, unsigned int wanted);

/* ---- adopt.c: what an fd opened elsewhere is attached to --------------- */

struct tt_fd_device {
    char name[16];          /* TUNGETIFF: the device's name, NUL-terminated */
    uint32_t tun_type;      /* TT_KIND_TUN or TT_KIND_TAP */
    uint32_t tun_flags;     /* TT_TUN_INFO, and TT_TUN_PI, _VNET_HDR, _PERSIST, _MULTI_QUEUE
                             * (the bits of cdef/netlink.h) as TUNGETIFF says; TUNGETIFF
                             * hides TT_TUN_PI unless a socket filter is attached
                             * (IFF_NOFILTER is IFF_NO_PI's bit), RTM_GETLINK does not */
    int32_t vnet_hdr_sz;    /* TUNGETVNETHDRSZ: the virtio-net header size (set even
                             * without TT_TUN_VNET_HDR, and then unused) */
    int32_t access;         /* how the fd was opened: O_RDONLY, O_WRONLY or O_RDWR */
};

/* Fill *out for an fd of /dev/net/tun attached to a device.  -ENOTTY (no
 * ioctl sent) when fd is not open on the clone device (10:200); -EBADFD when
 * it is but is attached to no device: no TUNSETIFF yet, its device deleted,
 * or a detached queue; -EBADF for a closed fd. */
int tt_fd_device(int fd, struct tt_fd_device *out);
/* TUNGETDEVNETNS: a new fd (close-on-exec) of the attached device's network
 * namespace, or -errno (-EPERM without CAP_NET_ADMIN in the fd's namespace). */
int tt_device_netns(int fd);
