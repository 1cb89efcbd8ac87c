/* receiver.c ADDR PORT MARKER MAXSECONDS: counts UDP datagrams to ADDR:PORT
 * with recvmmsg until one of MARKER bytes; prints "ready", then the count. */
#define _GNU_SOURCE
#include "common.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#define BURST 64

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: receiver ADDR PORT MARKER MAXSECONDS\n");
        return 2;
    }
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2])) };
    inet_pton(AF_INET, argv[1], &addr.sin_addr);
    long marker = atol(argv[3]);
    double end = now() + atof(argv[4]);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    int size = 8 << 20;
    setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
    struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 };
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (bind(s, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("bind");
        return 1;
    }
    static char bufs[BURST][2048];
    struct iovec iov[BURST];
    struct mmsghdr msgs[BURST];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < BURST; i++) {
        iov[i].iov_base = bufs[i];
        iov[i].iov_len = sizeof bufs[i];
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    puts("ready");
    fflush(stdout);
    long count = 0;
    int done = 0;
    while (!done && now() < end) {
        int r = recvmmsg(s, msgs, BURST, 0, NULL);
        for (int i = 0; i < r; i++) {
            if (msgs[i].msg_len == marker) {
                done = 1;
                break;
            }
            count++;
        }
    }
    printf("%ld\n", count);
    return 0;
}
