/* writer.c IFNAME COUNT PACKETHEX MARKERHEX: the plain C write() loop.
 * Attaches to TUN IFNAME, writes the packet COUNT times, then a few marker
 * packets; prints "<seconds> <cpu seconds>" for the COUNT writes. */
#include "common.h"

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: writer IFNAME COUNT PACKETHEX MARKERHEX\n");
        return 2;
    }
    int fd = open_tun(argv[1]);
    long count = atol(argv[2]);
    static unsigned char pkt[2048], marker[2048];
    size_t len = from_hex(argv[3], pkt, sizeof pkt);
    size_t mlen = from_hex(argv[4], marker, sizeof marker);
    double cpu0 = cpu_seconds(), t0 = now();
    for (long i = 0; i < count; i++) {
        if (write(fd, pkt, len) != (ssize_t)len) {
            perror("write");
            return 1;
        }
    }
    double elapsed = now() - t0, cpu = cpu_seconds() - cpu0;
    for (int i = 0; i < 10; i++) {
        usleep(50000);
        if (write(fd, marker, mlen) < 0)
            break;
    }
    printf("%.6f %.6f\n", elapsed, cpu);
    return 0;
}
