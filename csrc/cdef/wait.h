/* cdef/wait.h - the wake-up eventfd, and waiting on an fd and it
 * (plain declarations for cffi: no #include, no #define, no inline code). */

/* ---- wait.c: what every waiting call polls ----------------------------- */

/* A new eventfd (non-blocking, close-on-exec), to wake waiters with. */
int tt_eventfd(void);
/* Makes wakefd readable for good: every present and future waiter returns. */
int tt_wake(int wakefd);
/* Waits until fd is readable (or writable), wakefd fires, or timeout_ms
 * passes: 1 ready, 0 timed out, -ECANCELED woken, -errno. */
int tt_wait(int fd, int wakefd, int for_write, int timeout_ms);
