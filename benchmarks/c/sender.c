/* sender.c DST PORT SECONDS PAYLOAD MARKER: blast UDP datagrams of PAYLOAD
 * bytes to DST:PORT for SECONDS with sendmmsg, then send a few MARKER-byte
 * datagrams that tell the reader the blast is over.  Prints the count sent. */
#define _GNU_SOURCE
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sys/socket.h>

#define BURST 64

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: sender DST PORT SECONDS PAYLOAD MARKER\n");
        return 2;
    }
    struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2])) };
    inet_pton(AF_INET, argv[1], &dst.sin_addr);
    double seconds = atof(argv[3]);
    size_t payload = (size_t)atoi(argv[4]), marker = (size_t)atoi(argv[5]);
    static char data[2048];
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&dst, sizeof dst) < 0) {
        perror("socket");
        return 1;
    }
    struct iovec iov = { .iov_base = data, .iov_len = payload };
    struct mmsghdr msgs[BURST];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < BURST; i++) {
        msgs[i].msg_hdr.msg_iov = &iov;
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    long sent = 0;
    double end = now() + seconds;
    while (now() < end) {
        int r = sendmmsg(s, msgs, BURST, 0);
        if (r > 0)
            sent += r;
    }
    printf("%ld\n", sent);
    fflush(stdout);
    usleep(200000);
    for (int i = 0; i < 10; i++) {
        send(s, data, marker, 0);
        usleep(50000);
    }
    return 0;
}
