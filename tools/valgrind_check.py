"""Run tests under valgrind memcheck and fail on any error in the C shim.

CPython itself (not built for valgrind) makes memcheck report reads of
uninitialised memory in its own code; those are counted and shown, but only
errors with a frame in the shim (``tuntap_cffi/_native`` or a ``csrc/`` file)
fail the run. A canary first checks that an out-of-bounds read in the shim
is caught and attributed to it, so the filter cannot hide our errors.

The selected tests are shared out among one memcheck process per CPU (memcheck
runs a process on one CPU at a time); each pytest moves itself into a network
namespace of its own, so they do not meet.

Usage: python tools/valgrind_check.py TEST_PATH... [PYTEST OPTION...] (run by ``tox -e valgrind``)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

# The shim's files, headers included: checksum.h and tti.h hold static inline
# code that memcheck attributes to the header.
ROOT = Path(__file__).resolve().parent.parent
CSRC = {p.name for p in (ROOT / "csrc").rglob("*.[ch]")}
CANARY = (
    "from tuntap_cffi._native import ffi, lib\n"
    "buf = ffi.new('char[]', b'\\x60\\x00\\x00')\n"
    "lib.tt_classify(buf, 64, 0)\n"
)


def ours(error: ET.Element) -> bool:
    """An error with a frame in the shim. Leak records are left to the growth
    tests: the shim never allocates, and cffi's module set-up lives for ever."""
    if (error.findtext("kind") or "").startswith("Leak_"):
        return False
    for frame in error.iter("frame"):
        obj = frame.findtext("obj") or ""
        if "tuntap_cffi/_native" in obj or frame.findtext("file") in CSRC:
            return True
    return False


def describe(error: ET.Element) -> str:
    what = error.findtext("what") or error.findtext("xwhat/text") or error.findtext("kind")
    frames = [
        f"{f.findtext('fn')} ({f.findtext('file') or f.findtext('obj')}:{f.findtext('line') or ''})"
        for f in error.iter("frame")
    ][:6]
    return f"{what}\n    " + "\n    ".join(frames)


def memcheck(*runs: list[str]) -> tuple[int, list[ET.Element]]:
    """Run ``python args`` under memcheck for each ``args`` of ``runs``, side by side,
    each one's output shown whole when it ends: (worst exit status, every error)."""
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "PYTHONMALLOC": "malloc"}
        procs = []
        for k, args in enumerate(runs):
            cmd = [
                "valgrind",
                "--tool=memcheck",
                "--xml=yes",
                f"--xml-file={os.path.join(scratch, f'vg.{k}.%p.xml')}",
                "--leak-check=no",
                "--trace-children=no",
                sys.executable,
                *args,
            ]
            out = open(os.path.join(scratch, f"out.{k}"), "w+")  # noqa: SIM115 (closed below)
            procs.append(
                (subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT), out)
            )
        status = 0
        for proc, out in procs:
            status = max(status, proc.wait())
            out.seek(0)
            sys.stdout.write(out.read())
            out.close()
        errors: list[ET.Element] = []
        for xml in Path(scratch).glob("vg.*.xml"):
            errors += read_report(xml.read_text())
        return status, errors


def share_out(args: list[str], jobs: int) -> list[list[str]]:
    """The pytest command lines of up to ``jobs`` runs that share out the tests that
    ``pytest args`` selects: collected once (without valgrind), then dealt in turn, so
    that each run gets its share of every file's slow and quick tests."""
    collect = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(ROOT),
    ]
    listed = subprocess.run([*collect, "--collect-only", *args], capture_output=True, text=True)
    ids = [str(ROOT / line) for line in listed.stdout.splitlines() if "::" in line]
    if listed.returncode != 0 or not ids:
        raise SystemExit(
            f"valgrind_check: collecting the tests failed:\n{listed.stdout}{listed.stderr}"
        )
    shares = [ids[k::jobs] for k in range(min(jobs, len(ids)))]
    return [[*collect[1:], *share] for share in shares]


def read_report(text: str) -> list[ET.Element]:
    """The errors of one report. A process forked to exec another program (a
    subprocess) leaves its report unterminated: close it before parsing."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        root = ET.fromstring(text + "</valgrindoutput>\n")
    return root.findall("error")


def main() -> int:
    _, canary = memcheck(["-c", CANARY])
    if not any(ours(e) for e in canary):
        print("valgrind_check: the canary's out-of-bounds read was not attributed to the shim")
        return 2
    print(f"valgrind_check: canary caught ({len(canary)} error(s) in the shim)")
    status, errors = memcheck(*share_out(sys.argv[1:], os.cpu_count() or 1))
    mine = [e for e in errors if ours(e)]
    print(f"valgrind: {len(errors)} errors, {len(mine)} in the shim; pytest exit status {status}")
    for error in mine:
        print(describe(error))
    return 1 if mine or status != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
