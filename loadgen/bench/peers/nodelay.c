/*
 * Preloaded into a peer server by compare.sh when PEER_NODELAY=1: every accepted socket gets
 * TCP_NODELAY, as latticed sets on its client sockets. InspIRCd leaves Nagle's algorithm on,
 * which saves it CPU (many small writes share a segment while an ACK is outstanding) and costs
 * it latency (its p99 in the channels scenario is 10-15 ms); with this, CPU is compared at
 * equal latency. Built by compare.sh with the system C compiler into its work directory.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

static int with_nodelay(int fd)
{
    if (fd >= 0) {
        int on = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    }
    return fd;
}

int accept(int listener, struct sockaddr *addr, socklen_t *len)
{
    static int (*real)(int, struct sockaddr *, socklen_t *);
    if (!real)
        real = (int (*)(int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "accept");
    return with_nodelay(real(listener, addr, len));
}

int accept4(int listener, struct sockaddr *addr, socklen_t *len, int flags)
{
    static int (*real)(int, struct sockaddr *, socklen_t *, int);
    if (!real)
        real = (int (*)(int, struct sockaddr *, socklen_t *, int))dlsym(RTLD_NEXT, "accept4");
    return with_nodelay(real(listener, addr, len, flags));
}
