/* tunnel.h - the UDP socket of the benchmark's C tunnels. */
#ifndef BENCH_TUNNEL_H
#define BENCH_TUNNEL_H

#define _GNU_SOURCE
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

/* Parses "A.B.C.D:PORT" (IPv4: the benchmark's underlay); exits if it is not. */
static inline struct sockaddr_in endpoint(const char *text)
{
    struct sockaddr_in addr = { .sin_family = AF_INET };
    char host[64];
    const char *colon = strrchr(text, ':');
    size_t n = colon ? (size_t)(colon - text) : 0;
    if (!colon || n >= sizeof host) {
        fprintf(stderr, "not ADDRESS:PORT: %s\n", text);
        exit(2);
    }
    memcpy(host, text, n);
    host[n] = 0;
    int port = atoi(colon + 1);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1 || port < 1 || port > 65535) {
        fprintf(stderr, "not ADDRESS:PORT: %s\n", text);
        exit(2);
    }
    addr.sin_port = htons((uint16_t)port);
    return addr;
}

/* A UDP socket bound to `local` and connected to `remote`, 4 MiB buffers. */
static inline int tunnel_socket(const char *local, const char *remote)
{
    struct sockaddr_in l = endpoint(local), r = endpoint(remote);
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int size = 4 << 20;
    if (s < 0 || setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0 ||
        setsockopt(s, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0 ||
        bind(s, (struct sockaddr *)&l, sizeof l) < 0 ||
        connect(s, (struct sockaddr *)&r, sizeof r) < 0) {
        perror("UDP socket");
        exit(1);
    }
    return s;
}

#endif
