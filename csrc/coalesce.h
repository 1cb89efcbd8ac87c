/* coalesce.h - what coalesce.c gives the queue's writes (internal).
 *
 * The flow cache of one coalescing write and the two steps of a
 * super-packet: its plan and its build.
 */
#ifndef TUNTAP_COALESCE_H
#define TUNTAP_COALESCE_H

#include "batch.h"

#include <sys/uio.h>

/* The flow numbers of the packets a coalescing write looks at, each computed
 * once, in order, and linked to the next position of the same number, so
 * that a plan follows its flow past other flows' packets at no cost.
 * Position j lives in slot j % TTI_FLOWS_CACHED (a plan's window is shorter,
 * so nothing it needs is overwritten); head_* remember the last position of
 * each number (direct-mapped: a clash ends a chain early, never skips a
 * packet).  Positions are stored + 1, 0 meaning none.  One per write call,
 * set up by tti_flows_start. */
enum { TTI_FLOWS_CACHED = 512, TTI_FLOW_HEADS = 1024 };
_Static_assert(TTI_FLOWS_CACHED > TT_COALESCE_LOOKAHEAD + 1, "flow cache window");
struct tti_flows {
    uint32_t computed;                       /* positions below it are numbered */
    uint32_t last_unknown;                   /* the last of unknown flow, + 1 */
    uint32_t next[TTI_FLOWS_CACHED];         /* the next of the same number, + 1 */
    uint32_t unknown_before[TTI_FLOWS_CACHED]; /* the last of unknown flow before it, + 1 */
    uint32_t head_flow[TTI_FLOW_HEADS];
    uint32_t head_pos[TTI_FLOW_HEADS];
};
void tti_flows_start(struct tti_flows *c, uint32_t start);

/* coalesce.c: the positions of the packets that go out with packet i in one
 * super-packet (members[0] = i, ascending; TT_COALESCE_MAX entries of room)
 * and how many (>= 1; 1: it goes alone).  group: pass over other flows'
 * packets (then sent, if not NULL, marks packets already out, to pass over
 * too); otherwise only consecutive packets merge.  cache: one per write
 * call, for the flow numbers. */
uint32_t tti_coalesce_plan(const struct tti_source *s, uint32_t i, uint32_t end, int group,
                           const uint8_t *sent, unsigned offload, size_t write_limit,
                           size_t room, struct tti_flows *cache, uint32_t *members);

/* The super-packet of a plan's first n members, as writev() takes it with
 * no payload byte copied: iov[0] its header (virtio-net header, then the
 * first packet's headers made the super-packet's), built in head
 * (TTI_COALESCE_HEAD bytes), then iov[1..n] each member's payload where it
 * lies in the source.  The iovec count (n + 1); *total the bytes in all. */
enum { TTI_COALESCE_HEAD = 128 }; /* virtio-net header + IPv6 + TCP with options */
int tti_coalesce_iov(const struct tti_source *s, const uint32_t *members, uint32_t n,
                     unsigned char *head, struct iovec *iov, size_t *total);

#endif
