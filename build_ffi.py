"""cffi builder: compiles the C shim in csrc/ into ``tuntap_cffi._native``.

The declarations are the headers ``csrc/tuntap.h`` includes from
``csrc/cdef/`` (one per area), so the C files and cffi read the same text.
"""

from __future__ import annotations

import os
import pathlib
import re
import shlex

from cffi import FFI

HERE = pathlib.Path(__file__).resolve().parent
CSRC = HERE / "csrc"
HEADER = CSRC / "tuntap.h"
# The C files, by the cdef header that declares their tt_ functions.
# cdef/device.h: opening devices, operating them, adopting an fd opened elsewhere.
SOURCES = ["device.c", "devctl.c", "adopt.c"]
# cdef/classify.h: the read-side rules of one packet.
SOURCES += ["classify.c"]
# cdef/wait.h: the wake-up eventfd and the one wait.
SOURCES += ["wait.c"]
# cdef/netlink.h: rtnetlink requests (nlmsg.c: the message parsers, no tt_ function).
SOURCES += ["netlink.c", "nlmsg.c"]
# cdef/io.h: the packet I/O of one queue.
SOURCES += ["queue.c"]
# cdef/offload.h: the pure functions on bytes (segmenting, coalescing, the checksum).
SOURCES += ["segment.c", "coalesce.c", "checksum.c"]
# cdef/netns.h: network namespaces.
SOURCES += ["netns.c"]
# cdef/events.h: link events, the rtnetlink link and address groups of one device.
SOURCES += ["events.c"]
# cdef/udp.h: batched UDP on ordinary sockets, into and out of batches.
SOURCES += ["udp.c"]
STRICT_FLAGS = ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-O2"]

# Extra flags for instrumented builds only (sanitizers, coverage), e.g. the
# tox env "asan": TUNTAP_EXTRA_CFLAGS="-fsanitize=address,undefined".
EXTRA_CFLAGS = shlex.split(os.environ.get("TUNTAP_EXTRA_CFLAGS", ""))
EXTRA_LDFLAGS = shlex.split(os.environ.get("TUNTAP_EXTRA_LDFLAGS", ""))

# Kernel constants that Python may need, filled in by the C compiler.
KERNEL_CONSTANTS = ["IFF_TUN", "IFF_TAP", "IFF_NO_PI", "IFF_MULTI_QUEUE", "IFF_VNET_HDR"]
# ... and those of netlink.c's configuration calls.
KERNEL_CONSTANTS += ["IFF_UP", "IFA_F_NODAD", "IFA_F_TENTATIVE", "RTN_LOCAL"]
# ... and those of the link events (the carrier bit).
KERNEL_CONSTANTS += ["IFF_LOWER_UP"]
# ... and those of the route calls.
KERNEL_CONSTANTS += ["RT_TABLE_MAIN", "RT_TABLE_LOCAL", "RT_TABLE_UNSPEC", "RTN_UNICAST"]
KERNEL_CONSTANTS += ["RTPROT_STATIC", "RT_SCOPE_UNIVERSE", "RT_SCOPE_LINK", "RT_SCOPE_NOWHERE"]
# ... and those of the offloads (the USO bits come from cdef/io.h: old headers lack them).
KERNEL_CONSTANTS += ["TUN_F_CSUM", "TUN_F_TSO4", "TUN_F_TSO6"]
# ... and the flags of the handoff's sendmsg/recvmsg (PyPy's socket module lacks them).
KERNEL_CONSTANTS += ["MSG_NOSIGNAL", "MSG_CMSG_CLOEXEC"]
PREAMBLE_HEADERS = ["linux/if_tun.h", "linux/if.h", "linux/if_addr.h", "linux/rtnetlink.h"]
PREAMBLE_HEADERS += ["sys/socket.h"]


def cdef_text() -> str:
    """Return the declarations: the cdef headers, in the order tuntap.h includes them."""
    names = re.findall(r'^#include "cdef/(\w+\.h)"$', HEADER.read_text(), re.M)
    constants = "".join(f"#define {name} ...\n" for name in KERNEL_CONSTANTS)
    return "".join((CSRC / "cdef" / name).read_text() for name in names) + constants


ffibuilder = FFI()
ffibuilder.cdef(cdef_text())
ffibuilder.set_source(
    "tuntap_cffi._native",
    "".join(f"#include <{name}>\n" for name in PREAMBLE_HEADERS) + '#include "tuntap.h"\n',
    sources=[str((CSRC / name).relative_to(HERE)) for name in SOURCES],
    include_dirs=[str(CSRC.relative_to(HERE))],
    extra_compile_args=STRICT_FLAGS + EXTRA_CFLAGS,
    extra_link_args=EXTRA_LDFLAGS,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
