"""How hard the long tests push: short in the interpreter matrix, full in ``tox -e gauntlet``.

The matrix runs every test on seven interpreters and builds, so its loops and
property examples are kept short there; the gauntlet env (TUNTAP_GAUNTLET=full)
runs the same tests once at their full counts.
"""

from __future__ import annotations

import os

FULL = os.environ.get("TUNTAP_GAUNTLET") == "full"


def count(short: int, full: int) -> int:
    """``full`` under the gauntlet, ``short`` elsewhere."""
    return full if FULL else short
