/* relay_offload.c NAMEA NAMEB MAXSECONDS: the C relay with offloads, the
 * limit for any user-space relay.  Creates TUN devices NAMEA and NAMEB with
 * virtio-net headers (IFF_VNET_HDR, TUNSETVNETHDRSZ, TUNSETOFFLOAD with
 * CSUM, TSO4/6 and USO4/6 where the kernel takes them), prints "ready", and
 * copies each (super-)packet with its header both ways as it is (one
 * blocking read()/write() thread per direction) until killed or MAXSECONDS. */
#include "common.h"

#include <pthread.h>

#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

struct pair { int from, to; };

static int open_tun_offload(const char *name)
{
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        perror("open /dev/net/tun");
        exit(1);
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    int size = 10;
    if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETVNETHDRSZ, &size) < 0) {
        perror("TUNSETIFF/TUNSETVNETHDRSZ");
        exit(1);
    }
    unsigned long all = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_USO4 | TUN_F_USO6;
    if (ioctl(fd, TUNSETOFFLOAD, all) < 0 &&
        ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)) < 0) {
        perror("TUNSETOFFLOAD");
        exit(1);
    }
    return fd;
}

static void *pump(void *arg)
{
    struct pair *p = arg;
    static __thread char buf[65536 + 64];
    for (;;) {
        ssize_t n = read(p->from, buf, sizeof buf);
        if (n < 0)
            break;
        if (write(p->to, buf, (size_t)n) < 0)
            continue;  /* e.g. the other side is not up yet */
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: relay_offload NAMEA NAMEB MAXSECONDS\n");
        return 2;
    }
    int a = open_tun_offload(argv[1]), b = open_tun_offload(argv[2]);
    static struct pair ab, ba;
    ab.from = a; ab.to = b; ba.from = b; ba.to = a;
    pthread_t t1, t2;
    pthread_create(&t1, NULL, pump, &ab);
    pthread_create(&t2, NULL, pump, &ba);
    puts("ready");
    fflush(stdout);
    sleep((unsigned)atoi(argv[3]));
    return 0;
}
