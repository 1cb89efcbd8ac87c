"""The ``tuntap-cffi`` command line (``print``, ``dump``, ``demo``)."""

from .main import main

__all__ = ["main"]
