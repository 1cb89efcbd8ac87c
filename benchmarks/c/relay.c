/* relay.c NAMEA NAMEB MAXSECONDS [offload]: the plain C relay.  Creates TUN
 * devices NAMEA and NAMEB, prints "ready", and copies packets both ways (one
 * blocking read()/write() thread per direction) until killed or MAXSECONDS.
 * With "offload" the devices speak virtio-net headers and each
 * (super-)packet is copied with its header as it is: the limit for any
 * user-space relay. */
#include "common.h"

#include <pthread.h>

struct pair { int from, to; };

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
    if (argc != 4 && !(argc == 5 && strcmp(argv[4], "offload") == 0)) {
        fprintf(stderr, "usage: relay NAMEA NAMEB MAXSECONDS [offload]\n");
        return 2;
    }
    int offload = argc == 5;
    int a = open_tun_offload(argv[1], offload), b = open_tun_offload(argv[2], offload);
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
