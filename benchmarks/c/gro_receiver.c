/* gro_receiver.c ADDR PORT MAXSECONDS: receives UDP datagrams to ADDR:PORT
 * (with UDP_GRO, so merged ones come in one read) until IDLE_S passes with
 * nothing after the first, or MAXSECONDS; prints "ready", then the payload
 * bytes received and the seconds from the first to the last. */
#define _GNU_SOURCE
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#ifndef UDP_GRO
#define UDP_GRO 104
#endif

#define IDLE_S 0.5

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: gro_receiver ADDR PORT MAXSECONDS\n");
        return 2;
    }
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2])) };
    inet_pton(AF_INET, argv[1], &addr.sin_addr);
    double end = now() + atof(argv[3]);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    int size = 8 << 20, on = 1;
    setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
    setsockopt(s, IPPROTO_UDP, UDP_GRO, &on, sizeof on);
    struct timeval tv = { .tv_sec = 0, .tv_usec = 100000 };
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (bind(s, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("bind");
        return 1;
    }
    puts("ready");
    fflush(stdout);
    static char buf[65536];
    long long bytes = 0;
    double first = 0, last = 0;
    while (now() < end) {
        ssize_t n = recv(s, buf, sizeof buf, 0);
        double t = now();
        if (n > 0) {
            if (bytes == 0)
                first = t;
            bytes += n;
            last = t;
        } else if (bytes > 0 && t - last > IDLE_S) {
            break;
        }
    }
    printf("%lld %.6f\n", bytes, last - first);
    return 0;
}
