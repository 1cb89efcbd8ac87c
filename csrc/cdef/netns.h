/* cdef/netns.h - network namespaces
 * (plain declarations for cffi: no #include, no #define, no inline code). */

/* ---- netns.c: network namespaces, each switch inside one call ---------- */

/* How tt_netns_open opens its path. */
enum {
    TT_ACCESS_READ = 0,
    TT_ACCESS_WRITE = 1,
    TT_ACCESS_READ_WRITE = 2
};

/* 0 when nsfd is a network namespace; -EINVAL when it is anything else. */
int tt_netns_check(int nsfd);
/*
 * From the calling thread: enter the network namespace nsfd, open `path`
 * `count` times into fds[] and (nl not NULL) nl's netlink socket, and
 * return to the thread's own namespace.  Everything opened belongs to the
 * target namespace.  On failure nothing stays open.  *restore_err is the
 * errno of a failed return to the thread's namespace (the thread is then
 * left in the target one), 0 otherwise.
 */
int tt_netns_open(int nsfd, const char *path, int access, int32_t *fds, uint32_t count,
                  struct tt_nl *nl, int32_t *restore_err);
/* As `ip netns add`: run_dir made a shared mount point, a new namespace
 * bind-mounted on path (which must not exist).  *restore_err as above. */
int tt_netns_create(const char *run_dir, const char *path, int32_t *restore_err);
/* As `ip netns delete`: detach the mount on path, then unlink it. */
int tt_netns_delete(const char *path);
/* Moves the calling thread into a new network namespace (the demo's). */
int tt_unshare_netns(void);
