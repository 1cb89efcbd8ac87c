"""One ordinary python-pytun program (tests/pytun_program.py), run under real
python-pytun and under ``tuntap_cffi.pytun``, each in a network namespace of its
own: every observation must be the same.

python-pytun is a CPython extension (a test dependency there); the drop-in runs
on every interpreter, and is compared with python-pytun run by a CPython that
has it: this interpreter, or the one ``TUNTAP_PYTUN_PYTHON`` names.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.skips import skip_or_fail

pytestmark = pytest.mark.privileged

PROGRAM = Path(__file__).with_name("pytun_program.py")
TIMEOUT = 120


def _pytun_python() -> str | None:
    """A Python that can import python-pytun, or None."""
    candidates = [sys.executable, os.environ.get("TUNTAP_PYTUN_PYTHON", "")]
    for python in filter(None, candidates):
        probe = subprocess.run([python, "-c", "import pytun"], capture_output=True)
        if probe.returncode == 0:
            return python
    return None


def run_program(python: str, module: str) -> list[list[object]]:
    """The program's observations under ``module``, in a network namespace of its own."""
    result = subprocess.run(
        ["unshare", "--net", python, str(PROGRAM), module],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, f"{module} under {python}: {result.stderr[-3000:]}"
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture(scope="module")
def ours() -> list[list[object]]:
    """The program under the drop-in, on this interpreter (run once for both tests)."""
    return run_program(sys.executable, "tuntap_cffi.pytun")


def test_the_program_runs_to_its_end_under_the_drop_in(ours: list[list[object]]) -> None:
    """On every interpreter (PyPy too, where python-pytun cannot be installed)."""
    assert ours[-1] == ["done", True]
    assert len(ours) > 300  # the program did run everything


def test_the_drop_in_behaves_as_python_pytun_call_for_call(ours: list[list[object]]) -> None:
    reference = _pytun_python()
    if reference is None:
        why = "python-pytun is not installed (a CPython extension, in the test extra there)"
        if platform.python_implementation() == "CPython":
            skip_or_fail(why)
        skip_or_fail(
            f"{why}; set TUNTAP_PYTUN_PYTHON to a CPython that has it",
            runs_in="the CPython envs; the drop-in's half runs here",
        )
    theirs = run_program(reference, "pytun")
    assert theirs[-1] == ["done", True] and ours[-1] == ["done", True]
    differences = [(a, b) for a, b in zip(theirs, ours) if a != b]
    assert not differences, "\n".join(f"pytun: {a}\nours:  {b}" for a, b in differences)
    assert len(theirs) == len(ours)
