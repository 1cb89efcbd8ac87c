"""What every area of the binding tier shares: errno to ``OSError``, C buffers,
and the status of a batch write.

The shim's calls return ``>= 0`` or ``-errno``; ``check`` turns the second into
the ``OSError`` subclass Python picks from the errno, naming the operation and
the interface.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Union, cast

from .. import errors
from .._native import ffi

if TYPE_CHECKING:
    from _cffi_backend import _CDataBase

    from .._native import TTWriteStatus

    CData = _CDataBase
BytesLike = Union[bytes, bytearray, memoryview]

# A pointer to one of the shim's structs: cffi checks field names and value
# ranges at run time, which the CData stubs cannot express.
StructPtr = Any


def os_error(err: int, operation: str, name: str, hint: str | None = None) -> OSError:
    """Build the ``OSError`` subclass for a positive errno, naming what failed
    (``errors.os_error``, for the callers of this tier)."""
    return errors.os_error(err, operation, name, hint=hint)


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


# -- batch writes --------------------------------------------------------------------


def resumed_status(status: TTWriteStatus) -> TTWriteStatus:
    """A new ``struct tt_write_status`` for the next call of a write that ``status``
    stopped: it starts where that one stopped, with its marks, and nothing
    written yet (so ``status`` keeps what its own call wrote)."""
    after = cast("TTWriteStatus", ffi.new("struct tt_write_status *"))
    after.next = status.next
    after.sent = status.sent
    after.sent_len = status.sent_len
    return after
