"""Bindings of ``csrc/cdef/classify.h``: the read-side rules of one packet and
its packed result (verdict, protocol, body length)."""

from __future__ import annotations

from .._native import ffi, lib
from .common import BytesLike, check

PKT_OK = lib.TT_PKT_OK
PKT_SHORT_READ = lib.TT_PKT_SHORT_READ
PKT_TRUNCATED = lib.TT_PKT_TRUNCATED
PKT_NOT_IP = lib.TT_PKT_NOT_IP
PROTO_SHIFT = lib.TT_PACK_PROTO_SHIFT
VERDICT_SHIFT = lib.TT_PACK_VERDICT_SHIFT
BODY_MASK = (1 << PROTO_SHIFT) - 1
PROTO_MASK = 0xFFFF

# (buf, len, kind) -> packed classification, bound directly.
classify_raw = lib.tt_classify


def unpack(packed: int) -> tuple[int, int, int]:
    """Split a packed classification into (verdict, protocol, body length)."""
    return (
        packed >> VERDICT_SHIFT,
        (packed >> PROTO_SHIFT) & PROTO_MASK,
        packed & BODY_MASK,
    )


def classify(data: BytesLike, kind: int) -> tuple[int, int, int]:
    """Apply the seed's read-side rules to ``data``: (verdict, protocol, body length)."""
    if isinstance(data, bytes):
        packed = classify_raw(data, len(data), kind)
    else:
        view = ffi.from_buffer(data)
        packed = classify_raw(view, len(view), kind)
    return unpack(check(packed, "classify", "packet"))
