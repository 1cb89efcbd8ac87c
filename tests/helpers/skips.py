"""Skips that CI can see: every skip in tests/ comes through :func:`skip_or_fail`.

tests/project/test_harness.py checks that no test skips another way, and that
under ``TUNTAP_REQUIRE_PRIVILEGED`` a skip is a failure unless the test runs
elsewhere in the matrix.
"""

from __future__ import annotations

import os
import shutil
from types import ModuleType
from typing import NoReturn

import pytest

# Set in CI: a privileged test or a needed tool that is missing fails instead of skipping.
REQUIRE_PRIVILEGED = os.environ.get("TUNTAP_REQUIRE_PRIVILEGED", "").lower() in ("1", "true", "yes")


# tox -e dist (tools/check_dist.py) runs the suite with no compiler on purpose, and says so
# with CC=false: there a test that compiles is skipped, as it runs in the py3x envs.
NEEDS_COMPILER_RUNS_IN = (
    "the py3x envs (tox -e dist runs without a compiler on purpose)"
    if os.environ.get("CC") == "false"
    else None
)


def skip_or_fail(reason: str, *, runs_in: str | None = None) -> NoReturn:
    """Skip the running test with ``reason``: every skip in tests/ comes through here.

    Under ``TUNTAP_REQUIRE_PRIVILEGED`` (set in CI) it fails instead, so that
    CI cannot pass a test it never ran. ``runs_in`` names where in the test
    matrix such a test does run (another interpreter or tox env): a test that
    cannot apply here stays a skip even in CI, and the reason says where.
    """
    __tracebackhide__ = True  # the skip is reported at the test's line, not here
    if runs_in is not None:
        pytest.skip(f"{reason} (it runs in {runs_in})")
    if REQUIRE_PRIVILEGED:
        pytest.fail(f"{reason}, and TUNTAP_REQUIRE_PRIVILEGED is set", pytrace=False)
    pytest.skip(reason)


def require_tool(name: str) -> str:
    """The path of an external tool a test checks against; skip (or fail in CI) without it."""
    __tracebackhide__ = True
    path = shutil.which(name)
    if path is None:
        skip_or_fail(f"{name} is not installed (tools/test-matrix installs it)")
    return path


def import_or_skip(module: str, *, runs_in: str | None = None) -> ModuleType:
    """An optional module a test needs (pytest.importorskip, through :func:`skip_or_fail`)."""
    import importlib

    __tracebackhide__ = True
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        skip_or_fail(f"{module} cannot be imported: {exc}", runs_in=runs_in)
