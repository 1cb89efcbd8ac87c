/* tunnel_plain.c TUN LOCAL:PORT REMOTE:PORT SECONDS: the plain C tunnel.
 * Creates TUN device TUN, binds a UDP socket to LOCAL:PORT and connects it
 * to REMOTE:PORT, prints "ready", then carries packets both ways for
 * SECONDS: one read()/send() per packet TUN -> socket, one recv()/write()
 * per datagram socket -> TUN, poll() over both.  Prints the counts. */
#include "tunnel.h"

#define ROUND 64 /* packets per direction per poll() round */

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: tunnel_plain TUN LOCAL:PORT REMOTE:PORT SECONDS\n");
        return 2;
    }
    int tun = open_tun(argv[1]);
    int sock = tunnel_socket(argv[2], argv[3]);
    if (fcntl(tun, F_SETFL, O_NONBLOCK) < 0) {
        perror("fcntl");
        return 1;
    }
    puts("ready");
    fflush(stdout);
    static char buf[65536];
    long sent = 0, received = 0;
    double end = now() + atof(argv[4]);
    struct pollfd fds[2] = { { .fd = tun, .events = POLLIN }, { .fd = sock, .events = POLLIN } };
    while (now() < end) {
        if (poll(fds, 2, 100) <= 0)
            continue;
        for (int i = 0; i < ROUND && (fds[0].revents & POLLIN); i++) {
            ssize_t n = read(tun, buf, sizeof buf);
            if (n <= 0)
                break;
            if (send(sock, buf, (size_t)n, 0) == n)
                sent++; /* a full buffer or an ICMP error loses the packet, as a wire would */
        }
        for (int i = 0; i < ROUND && (fds[1].revents & POLLIN); i++) {
            ssize_t n = recv(sock, buf, sizeof buf, MSG_DONTWAIT);
            if (n < 0 && errno == EAGAIN)
                break;
            if (n > 0 && write(tun, buf, (size_t)n) == n)
                received++;
        }
    }
    printf("sent=%ld received=%ld\n", sent, received);
    return 0;
}
