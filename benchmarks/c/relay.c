/* relay.c NAMEA NAMEB MAXSECONDS: the plain C relay.  Creates TUN devices
 * NAMEA and NAMEB, prints "ready", and copies packets both ways (one
 * blocking read()/write() thread per direction) until killed or MAXSECONDS. */
#include "common.h"

#include <pthread.h>

struct pair { int from, to; };

static void *pump(void *arg)
{
    struct pair *p = arg;
    static __thread char buf[65536];
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
        fprintf(stderr, "usage: relay NAMEA NAMEB MAXSECONDS\n");
        return 2;
    }
    int a = open_tun(argv[1]), b = open_tun(argv[2]);
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
