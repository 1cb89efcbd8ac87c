"""Tests of the shim on bytes (no kernel): the binding tier, the parsers, coalescing."""
