"""cffi builder: compiles the C shim in csrc/ into ``tuntap_cffi._native``.

The declarations are the part of ``csrc/tuntap.h`` between its cdef markers,
so the header stays the one description of the C interface.
"""

from __future__ import annotations

import pathlib

from cffi import FFI

HERE = pathlib.Path(__file__).resolve().parent
CSRC = HERE / "csrc"
HEADER = CSRC / "tuntap.h"
SOURCES = ["device.c", "packet_io.c", "classify.c", "batch.c"]
STRICT_FLAGS = ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-O2"]

# Kernel constants that Python may need, filled in by the C compiler.
KERNEL_CONSTANTS = ["IFF_TUN", "IFF_TAP", "IFF_NO_PI", "IFF_MULTI_QUEUE", "IFF_VNET_HDR"]


def cdef_text() -> str:
    """Return the declarations between the cdef markers of the header."""
    text = HEADER.read_text()
    start = text.index("/* cdef-begin */") + len("/* cdef-begin */")
    end = text.index("/* cdef-end */")
    constants = "".join(f"#define {name} ...\n" for name in KERNEL_CONSTANTS)
    return text[start:end] + constants


ffibuilder = FFI()
ffibuilder.cdef(cdef_text())
ffibuilder.set_source(
    "tuntap_cffi._native",
    '#include <linux/if_tun.h>\n#include "tuntap.h"\n',
    sources=[str((CSRC / name).relative_to(HERE)) for name in SOURCES],
    include_dirs=[str(CSRC.relative_to(HERE))],
    extra_compile_args=STRICT_FLAGS,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
