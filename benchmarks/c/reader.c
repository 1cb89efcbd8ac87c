/* reader.c IFNAME MARKER MAXSECONDS: the plain C read() loop.  Attaches to
 * TUN IFNAME, prints "ready", counts packets until one of MARKER bytes,
 * prints "<count> <cpu seconds>". */
#include "common.h"

#include <signal.h>

static void on_alarm(int sig) { (void)sig; }

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: reader IFNAME MARKER MAXSECONDS\n");
        return 2;
    }
    int fd = open_tun(argv[1]);
    long marker = atol(argv[2]);
    struct sigaction sa = { .sa_handler = on_alarm };  /* no SA_RESTART: read fails */
    sigaction(SIGALRM, &sa, NULL);
    alarm((unsigned)atoi(argv[3]));
    static char buf[65536];
    long count = 0;
    double cpu0 = cpu_seconds();
    puts("ready");
    fflush(stdout);
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 || n == marker)
            break;
        count++;
    }
    printf("%ld %.6f\n", count, cpu_seconds() - cpu0);
    return 0;
}
