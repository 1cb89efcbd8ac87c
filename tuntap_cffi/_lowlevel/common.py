"""What every area of the binding tier shares: errno to ``OSError``, C buffers,
the rule for the buffers of packet calls, and the status of a batch write.

The shim's calls return ``>= 0`` or ``-errno``; ``check`` turns the second into
the ``OSError`` subclass Python picks from the errno, naming the operation and
the interface.
"""

from __future__ import annotations

import platform
from typing import TYPE_CHECKING, Any, Callable, Union, cast

from .._native import ffi
from .oserrors import os_error

if TYPE_CHECKING:
    from _cffi_backend import _CDataBase

    from .._native import TTWriteStatus

    CData = _CDataBase
BytesLike = Union[bytes, bytearray, memoryview]

# A pointer to one of the shim's structs: cffi checks field names and value
# ranges at run time, which the CData stubs cannot express.
StructPtr = Any


def check(result: int, operation: str, name: str) -> int:
    """Return ``result`` if it is not a ``-errno``; raise the matching OSError if it is."""
    if result < 0:
        raise os_error(-result, operation, name)
    return result


def new_buffer(size: int) -> CData:
    """Allocate a C buffer of ``size`` bytes owned by Python (freed with its last reference)."""
    buf: CData = ffi.new("char[]", size)
    return buf


def from_buffer(obj: BytesLike, writable: bool) -> CData:
    """A zero-copy C view of a Python buffer."""
    if writable:
        return ffi.from_buffer(obj, require_writable=True)
    return ffi.from_buffer(obj)


# The first n bytes of a C buffer as a new ``bytes``, bound directly (read_packet).
copy_bytes = cast("Callable[[CData, int], bytes]", ffi.unpack)


def copy_out(buf: CData, size: int) -> bytes:
    """Copy the first ``size`` bytes of a C buffer into a new ``bytes``."""
    return cast(bytes, ffi.unpack(buf, size))


# -- the buffers of packet calls ---------------------------------------------------
#
# One rule for every packet call (write_packet, read_packet's buffer, the items
# of write_batch and udp_send_batch): any C-contiguous buffer, taken as its
# bytes (bytes, bytearray, memoryview, array.array of any type code, mmap ...);
# anything else is a TypeError that says what was wrong. ``ffi.from_buffer``
# applies the rule (it asks for a simple buffer, which only a C-contiguous one
# gives); the per-packet paths call it directly and ``buffer_refusal`` only
# once it refused.

BUFFER_REFUSED = (TypeError, BufferError)  # what ffi.from_buffer raises for a bad buffer
PYPY = platform.python_implementation() == "PyPy"


def _contiguous_view(obj: object, require_writable: bool = False) -> CData:
    """``ffi.from_buffer`` as CPython's refuses: PyPy's also takes a view that is
    not C-contiguous (as a copy, which a read would fill in vain)."""
    if type(obj) not in (bytes, bytearray):
        with memoryview(obj) as view:  # type: ignore[arg-type]
            if not view.c_contiguous:
                raise BufferError("not C-contiguous")
    if require_writable:
        return ffi.from_buffer(cast(bytearray, obj), require_writable=True)
    return ffi.from_buffer(cast(bytes, obj))


# The C view of a packet call's buffer, bound directly where CPython applies
# the rule itself: the per-packet paths pay no extra frame.
packet_view = cast("Callable[..., CData]", _contiguous_view if PYPY else ffi.from_buffer)


def buffer_refusal(obj: object, takes: str, writable: bool = False, where: str = "") -> TypeError:
    """The TypeError for ``obj``, which ``ffi.from_buffer`` refused: "``takes``, not
    <what obj is>``where``; <what to do>" (``takes``: the call and what it takes)."""
    name = type(obj).__name__
    try:
        view = memoryview(obj)  # type: ignore[arg-type]
    except TypeError:
        advice = "; encode it first" if isinstance(obj, str) else ""
        return TypeError(f"{takes}, not {'None' if obj is None else name}{where}{advice}")
    with view:
        if not view.c_contiguous:
            advice = (
                "read into a contiguous one" if writable else "copy it first, e.g. with bytes()"
            )
            return TypeError(f"{takes}, not a non-contiguous {name}{where}; {advice}")
        if writable and view.readonly:
            return TypeError(f"{takes}, not a read-only {name}{where}; it must be writable")
    return TypeError(f"{takes}, not {name}{where}")


def c_buffer(obj: object, takes: str, writable: bool = False, where: str = "") -> CData:
    """A zero-copy C view of ``obj`` under the rule above (writable when
    ``writable``); ``len()`` of it is the byte count. TypeError otherwise."""
    try:
        return packet_view(obj, require_writable=writable)
    except BUFFER_REFUSED:
        raise buffer_refusal(obj, takes, writable, where) from None


# -- batch writes --------------------------------------------------------------------


def resumed_status(status: TTWriteStatus) -> TTWriteStatus:
    """A new ``struct tt_write_status`` for the next call of a write that ``status``
    stopped: it starts where that one stopped, with its marks, and nothing
    written yet (so ``status`` keeps what its own call wrote)."""
    after = cast("TTWriteStatus", ffi.new("struct tt_write_status *"))
    after.next = status.next
    after.partial = status.partial  # a raw UDP send: the segments of `next` that went
    after.sent = status.sent
    after.sent_len = status.sent_len
    return after
