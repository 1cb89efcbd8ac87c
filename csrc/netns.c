/*
 * netns.c - network namespaces, with every switch confined to one call.
 *
 * A network namespace is a property of a thread.  These calls save the
 * calling thread's namespace (/proc/thread-self/ns/net), switch, open what
 * must belong to the other namespace, and switch back before returning, so
 * no Python code ever runs in the other namespace (and cffi has released
 * the GIL: other threads are not affected at all).  Sockets and TUN/TAP
 * clone fds keep the namespace they were opened in for their whole life
 * (the kernel binds a tun file to the opener's namespace in tun_chr_open),
 * so what is opened here works in the target namespace from anywhere.
 *
 * If switching back fails the thread is left in the target namespace: that
 * is never silent, it is reported in *restore_err.  tt_unshare_netns alone
 * moves the calling thread for good (into a new namespace, the demo's).
 */
#define _GNU_SOURCE
#include "tuntap.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

static const char THREAD_NETNS[] = "/proc/thread-self/ns/net";

int tt_netns_check(int nsfd)
{
    if (nsfd < 0)
        return -EINVAL;
    struct statfs fs;
    if (fstatfs(nsfd, &fs) < 0)
        return -errno;
    /* Only an nsfs file gets the namespace ioctl: others may mean something else by it. */
    if (fs.f_type != NSFS_MAGIC)
        return -EINVAL;
    int type = ioctl(nsfd, NS_GET_NSTYPE);
    if (type < 0)
        return (errno == ENOTTY || errno == EINVAL) ? -EINVAL : -errno;
    return type == CLONE_NEWNET ? 0 : -EINVAL;
}

/* Opens the calling thread's own namespace, to come back to. */
static int save_netns(void)
{
    int fd = open(THREAD_NETNS, O_RDONLY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

/* Returns to the saved namespace and closes it; 0 or -errno (also in *restore_err). */
static int restore_netns(int saved, int32_t *restore_err)
{
    int result = 0;
    if (setns(saved, CLONE_NEWNET) < 0) {
        *restore_err = errno;
        result = -errno;
    }
    close(saved);
    return result;
}

static int open_flags(int access)
{
    switch (access) {
    case TT_ACCESS_READ:
        return O_RDONLY;
    case TT_ACCESS_WRITE:
        return O_WRONLY;
    case TT_ACCESS_READ_WRITE:
        return O_RDWR;
    default:
        return -1;
    }
}

int tt_netns_open(int nsfd, const char *path, int access, int32_t *fds, uint32_t count,
                  struct tt_nl *nl, int32_t *restore_err)
{
    if (restore_err == NULL)
        return -EINVAL;
    *restore_err = 0;
    int flags = open_flags(access);
    if (flags < 0 || count > TT_MAX_QUEUES || (count == 0 && nl == NULL))
        return -EINVAL;
    if (count > 0 && (path == NULL || fds == NULL || strnlen(path, PATH_MAX) >= PATH_MAX))
        return -EINVAL;
    if (nl != NULL && nl->fd >= 0)
        return -EINVAL; /* its socket is open already */
    int bad = tt_netns_check(nsfd);
    if (bad < 0)
        return bad;
    for (uint32_t i = 0; i < count; i++)
        fds[i] = -1;

    int saved = save_netns();
    if (saved < 0)
        return saved;
    if (setns(nsfd, CLONE_NEWNET) < 0) {
        int err = -errno;
        close(saved);
        return err;
    }
    /* ---- in the target namespace: open only, nothing else ---- */
    int result = 0;
    for (uint32_t i = 0; i < count && result == 0; i++) {
        int fd = open(path, flags | O_CLOEXEC);
        if (fd < 0)
            result = -errno;
        else
            fds[i] = fd;
    }
    int nl_opened = 0;
    if (result == 0 && nl != NULL) {
        result = tt_nl_open(nl);
        nl_opened = result == 0;
    }
    /* ---- back ---- */
    int back = restore_netns(saved, restore_err);
    if (back < 0)
        result = back; /* what was opened is given up: the caller cannot go on */
    if (result < 0) {
        for (uint32_t i = 0; i < count; i++) {
            if (fds[i] >= 0)
                close(fds[i]);
            fds[i] = -1;
        }
        if (nl_opened)
            tt_nl_close(nl);
    }
    return result;
}

int tt_unshare_netns(void)
{
    return unshare(CLONE_NEWNET) < 0 ? -errno : 0;
}

/* mount --make-rshared run_dir, first making run_dir a mount point if it is not one. */
static int make_shared_mount_point(const char *run_dir)
{
    if (mount("", run_dir, "none", MS_SHARED | MS_REC, NULL) == 0)
        return 0;
    if (errno != EINVAL)
        return -errno; /* EINVAL: run_dir is not a mount point yet */
    if (mount(run_dir, run_dir, "none", MS_BIND | MS_REC, NULL) < 0)
        return -errno;
    return mount("", run_dir, "none", MS_SHARED | MS_REC, NULL) < 0 ? -errno : 0;
}

int tt_netns_create(const char *run_dir, const char *path, int32_t *restore_err)
{
    if (restore_err == NULL)
        return -EINVAL;
    *restore_err = 0;
    if (run_dir == NULL || path == NULL)
        return -EINVAL;
    size_t run_dir_len = strnlen(run_dir, PATH_MAX);
    size_t path_len = strnlen(path, PATH_MAX);
    if (run_dir_len == 0 || run_dir_len >= PATH_MAX || path_len >= PATH_MAX ||
        path_len <= run_dir_len + 1 || memcmp(path, run_dir, run_dir_len) != 0 ||
        path[run_dir_len] != '/' || strchr(path + run_dir_len + 1, '/') != NULL)
        return -EINVAL; /* path must name an entry directly inside run_dir */

    if (mkdir(run_dir, 0755) < 0 && errno != EEXIST)
        return -errno;
    /* Shared, so that a later unmount reaches every mount namespace and frees
     * the network namespace (what ip-netns(8) does too). */
    int result = make_shared_mount_point(run_dir);
    if (result < 0)
        return result;
    int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    close(fd);

    int saved = save_netns();
    if (saved < 0) {
        unlink(path);
        return saved;
    }
    int mounted = 0;
    if (unshare(CLONE_NEWNET) < 0) {
        result = -errno;
        close(saved);
    } else {
        /* ---- in the new namespace: bind it to path, nothing else ---- */
        if (mount(THREAD_NETNS, path, "none", MS_BIND, NULL) < 0)
            result = -errno;
        else
            mounted = 1;
        int back = restore_netns(saved, restore_err);
        if (back < 0)
            result = back;
    }
    if (result < 0) {
        if (mounted)
            umount2(path, MNT_DETACH);
        unlink(path);
    }
    return result;
}

int tt_netns_delete(const char *path)
{
    if (path == NULL || strnlen(path, PATH_MAX) >= PATH_MAX || path[0] == '\0')
        return -EINVAL;
    /* EINVAL: not a mount point (a leftover of a failed create): just remove it. */
    if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL)
        return -errno;
    return unlink(path) < 0 ? -errno : 0;
}
