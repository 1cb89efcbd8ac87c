/* gso_sender.c ADDR PORT SECONDS SEGMENT COUNT: sends COUNT UDP datagrams of
 * SEGMENT payload bytes each as one buffer (UDP_SEGMENT: the kernel's own
 * UDP GSO) to ADDR:PORT, again and again for SECONDS; prints the payload
 * bytes sent. */
#define _GNU_SOURCE
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: gso_sender ADDR PORT SECONDS SEGMENT COUNT\n");
        return 2;
    }
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2])) };
    inet_pton(AF_INET, argv[1], &addr.sin_addr);
    double end = now() + atof(argv[3]);
    int segment = atoi(argv[4]), count = atoi(argv[5]);
    if (segment < 1 || count < 1 || (long)segment * count > 65000) {
        fprintf(stderr, "gso_sender: SEGMENT * COUNT must be at most 65000\n");
        return 2;
    }
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("socket/connect");
        return 1;
    }
    if (setsockopt(s, IPPROTO_UDP, UDP_SEGMENT, &segment, sizeof segment) < 0) {
        perror("UDP_SEGMENT");
        return 1;
    }
    static char buf[65000];
    size_t len = (size_t)segment * (size_t)count;
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)('a' + i % 26);
    long long sent = 0;
    for (long rounds = 0; rounds < 100000000L && now() < end; rounds++) {
        ssize_t n = send(s, buf, len, 0);
        if (n > 0)
            sent += n; /* refusals (ICMP, a full queue) are the path's, not counted */
    }
    printf("%lld\n", sent);
    return 0;
}
