"""The binding tier: the only package that touches the compiled ``lib``.

One small function per C call, in one module per area of the C interface
(``csrc/cdef/<area>.h`` -> ``<area>.py``); ``common`` holds what they share.
Each call turns the shim's ``-errno`` into an ``OSError`` whose builtin
subclass Python picks from the errno and whose message names the operation
and the interface. The per-packet calls are bound straight to ``lib`` so the
hot path pays no extra Python frame.

Callers use the flat namespace (``_lowlevel.new_queue``): every public name of
the area modules is re-exported here, so the star imports are the list.
"""

from .._native import ffi as ffi
from .._native import lib as lib
from .common import *  # noqa: F403
from .device import *  # noqa: F403
from .events import *  # noqa: F403
from .io import *  # noqa: F403
from .netlink import *  # noqa: F403
from .netns import *  # noqa: F403
from .offload import *  # noqa: F403
from .udp import *  # noqa: F403
