"""Build the distributions, check them, and run commands where no compiler can be found.

``check_dist.py build {cpython,pypy} OUTDIR`` (tox's packaging envs
``.pkg_external`` and ``.pkg_external_pypy`` run it, once per tox run each):

1. ``python -m build --sdist``, from a copy of the tree: the sdist.
2. From that sdist, in a fresh venv of the builder, ``pip wheel``: one abi3
   wheel on the oldest CPython (``python3.9``; without it, the CPython
   running this script: the tag is ``cp39-abi3`` either way), or the PyPy
   wheel on ``pypy3``.
3. ``auditwheel repair`` (on the CPython running this script: auditwheel
   does not run on PyPy 3.9): the wheel gets its manylinux tag.
4. Checks: the sdist holds what a build from source needs and LICENSE; the
   wheel's metadata is the project's (name, version, licence, Python
   versions, classifiers), its dist-info holds LICENSE, and it holds the
   package, its compiled module of the right kind, the typing files and the
   console script, and no sources or tests.
5. OUTDIR ends up holding that one wheel (tox's ``package_glob``) and, in
   ``OUTDIR/sdist``, the sdist.

``check_dist.py without-compiler -- COMMAND...`` (the interpreter envs run
the suite through it): checks that ``tuntap_cffi`` is imported from the
installed wheel (an abi3 module on CPython), then runs COMMAND with a PATH
holding every tool of this machine but the C compilers, and ``CC=false``.
The tox envs install the wheel with pip's ``--only-binary :all:``, so that
nothing is compiled there either.

Runs on every interpreter of the matrix (CPython 3.9 and later, PyPy 3.9).
"""

from __future__ import annotations

import argparse
import email
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPILERS = re.compile(r"^(cc|c\+\+|gcc|g\+\+|cpp|clang|tcc)(-[0-9.]+)?$|-gcc|-g\+\+|^clang")
WHEEL_TAGS = {"cpython": "-cp39-abi3-manylinux", "pypy": "-pp39-pypy39_pp73-manylinux"}
CLASSIFIERS = {
    "Development Status :: 4 - Beta",
    "Operating System :: POSIX :: Linux",
    "Programming Language :: Python :: 3.9",
    "Programming Language :: Python :: 3.10",
    "Programming Language :: Python :: 3.11",
    "Programming Language :: Python :: 3.12",
    "Programming Language :: Python :: 3.13",
    "Programming Language :: Python :: Implementation :: CPython",
    "Programming Language :: Python :: Implementation :: PyPy",
    "Topic :: System :: Networking",
    "Typing :: Typed",
}
# What the copy of the tree that the sdist is built from leaves out: tox's and
# git's folders and earlier build output (none of them goes into an sdist).
NOT_SOURCES = (".tox", ".git", "build", "dist", "*.egg-info", "__pycache__", ".hypothesis")

# What a build from the sdist needs, beyond the package's own modules.
SDIST_FILES = {
    "LICENSE",
    "README.md",
    "PKG-INFO",
    "pyproject.toml",
    "setup.py",
    "build_ffi.py",
    "tuntap_cffi/py.typed",
    "tuntap_cffi/_native.pyi",
}


def run(*args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], check=True, env=env, cwd=cwd)


def fail(message: str) -> None:
    sys.exit(f"check_dist: {message}")


def source_version() -> str:
    """``__version__`` as tuntap_cffi/__init__.py sets it (the metadata's source)."""
    text = (ROOT / "tuntap_cffi" / "__init__.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.M)
    if match is None:
        fail("no __version__ in tuntap_cffi/__init__.py")
    return match.group(1) if match else ""


def check_sdist(sdist: Path) -> None:
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
        top = names[0].split("/")[0]
        files = {name[len(top) + 1 :] for name in names if name.startswith(top + "/")}
        license_text = tar.extractfile(f"{top}/LICENSE")
        assert license_text is not None
        if license_text.read() != (ROOT / "LICENSE").read_bytes():
            fail(f"{sdist.name}: LICENSE differs from the repository's")
    missing = SDIST_FILES - files
    sources = {f for f in files if f.startswith("csrc/") and f.endswith((".c", ".h"))}
    tracked = {
        str(p.relative_to(ROOT)) for p in (ROOT / "csrc").rglob("*") if p.suffix in (".c", ".h")
    }
    missing |= tracked - sources
    if missing:
        fail(f"{sdist.name} lacks {sorted(missing)}")
    built = sorted(f for f in files if f.endswith((".so", ".o")) or f == "tuntap_cffi/_native.c")
    if built:
        fail(f"{sdist.name} holds build products: {built}")
    print(f"check_dist: {sdist.name}: {len(files)} files, LICENSE and csrc/ included")


def check_wheel(wheel: Path, implementation: str) -> None:
    if WHEEL_TAGS[implementation] not in wheel.name:
        fail(f"{wheel.name} is not a {WHEEL_TAGS[implementation]}* wheel")
    version = source_version()
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        dist_info = f"tuntap_cffi-{version}.dist-info"
        metadata = email.message_from_bytes(archive.read(f"{dist_info}/METADATA"))
        licenses = [n for n in names if n.startswith(dist_info + "/") and n.endswith("/LICENSE")]
        licenses += [n for n in names if n == f"{dist_info}/LICENSE"]
        if not licenses:
            fail(f"{wheel.name}: no LICENSE in {dist_info}/")
        if archive.read(licenses[0]) != (ROOT / "LICENSE").read_bytes():
            fail(f"{wheel.name}: {licenses[0]} differs from the repository's LICENSE")
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
    expected = {"Name": "tuntap-cffi", "Version": version, "Requires-Python": ">=3.9"}
    for field, value in expected.items():
        if metadata.get(field) != value:
            fail(f"{wheel.name}: METADATA {field} is {metadata.get(field)!r}, not {value!r}")
    if "MIT" not in (metadata.get("License-Expression"), metadata.get("License")):
        fail(f"{wheel.name}: METADATA says no MIT licence")
    missing_classifiers = CLASSIFIERS - set(metadata.get_all("Classifier") or [])
    if missing_classifiers:
        fail(f"{wheel.name}: METADATA lacks the classifiers {sorted(missing_classifiers)}")
    if "tuntap-cffi = tuntap_cffi.cli:main" not in entry_points:
        fail(f"{wheel.name}: no tuntap-cffi console script")
    native = "_native.abi3.so" if implementation == "cpython" else "_native.pypy39-pp73-"
    modules = [n for n in names if n.startswith("tuntap_cffi/" + native)]
    if len(modules) != 1:
        fail(f"{wheel.name}: expected one tuntap_cffi/{native}* module, found {modules}")
    for needed in ("tuntap_cffi/__init__.py", "tuntap_cffi/py.typed", "tuntap_cffi/_native.pyi"):
        if needed not in names:
            fail(f"{wheel.name} lacks {needed}")
    strays = sorted(n for n in names if n.startswith(("tests/", "csrc/", "benchmarks/")))
    if strays:
        fail(f"{wheel.name} holds files that are not the package's: {strays[:5]}")
    print(f"check_dist: {wheel.name}: metadata, LICENSE and contents as expected")


def builder(implementation: str) -> str:
    """The interpreter that builds the wheel: the oldest CPython, or PyPy."""
    candidates = ["python3.9", sys.executable] if implementation == "cpython" else ["pypy3"]
    for candidate in candidates:
        found = shutil.which(candidate)
        if found is not None:
            return found
    fail(f"no {' or '.join(candidates)} on PATH to build the {implementation} wheel")
    return ""


def build(implementation: str, outdir: Path) -> None:
    """The sdist and one repaired wheel, checked, into ``outdir``."""
    if sys.implementation.name != "cpython":
        fail("run the build on CPython: auditwheel needs it")
    shutil.rmtree(outdir, ignore_errors=True)
    started = time.monotonic()
    interpreter = builder(implementation)
    with tempfile.TemporaryDirectory(prefix="tuntap-dist-") as scratch:
        raw = Path(scratch)
        # From a copy of the tree: an sdist build writes into the tree it builds
        # (the egg-info, a staging folder), and another tox run may build at once.
        tree = raw / "tree"
        shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(*NOT_SOURCES), symlinks=True)
        run(sys.executable, "-m", "build", "--sdist", "--outdir", raw, tree)
        (sdist,) = raw.glob("*.tar.gz")
        check_sdist(sdist)
        run(interpreter, "-m", "venv", raw / "builder")
        python = raw / "builder" / "bin" / "python"
        run(python, "-c", "import platform; print('wheel built on', platform.python_version())")
        run(python, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", raw / "wheel", sdist)
        (wheel,) = (raw / "wheel").glob("*.whl")
        run(sys.executable, "-m", "auditwheel", "repair", "--wheel-dir", outdir, wheel)
        (repaired,) = outdir.glob("*.whl")
        check_wheel(repaired, implementation)
        (outdir / "sdist").mkdir()
        shutil.copy2(sdist, outdir / "sdist" / sdist.name)
    elapsed = time.monotonic() - started
    print(f"check_dist: {implementation} sdist and wheel built and checked in {elapsed:.1f} s")


def compiler_free_path(scratch: Path) -> str:
    """A PATH folder with every tool of this machine but the C compilers."""
    tools = scratch / "no-compiler-bin"
    tools.mkdir()
    for folder in [*os.environ.get("PATH", "").split(os.pathsep), "/usr/sbin", "/sbin"]:
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            target = tools / name
            if COMPILERS.search(name) or target.exists():
                continue
            source = os.path.join(folder, name)
            if os.access(source, os.X_OK) and not os.path.isdir(source):
                target.symlink_to(source)
    return str(tools)


INSTALLED_CHECK = """
import platform, sys, tuntap_cffi._native as native
path = native.__file__
assert path.startswith(sys.prefix), f"{path} is not installed in {sys.prefix}"
assert platform.python_implementation() != "CPython" or ".abi3." in path, path
print("check_dist: installed", path)
"""


def without_compiler(command: list[str]) -> int:
    """Run ``command`` where no C compiler can be found; its exit status."""
    if not command:
        fail("without-compiler needs a command to run")
    with tempfile.TemporaryDirectory(prefix="tuntap-no-cc-") as scratch:
        # TemporaryDirectory makes it 0700; a PATH folder must be searchable by
        # the unprivileged users some tests become, as PATH folders normally are.
        os.chmod(scratch, 0o755)
        env = {**os.environ, "PATH": compiler_free_path(Path(scratch)), "CC": "false"}
        for name in ("gcc", "cc", "clang"):
            if shutil.which(name, path=env["PATH"]) is not None:
                fail(f"{name} is still on the compiler-free PATH")
        run(sys.executable, "-c", INSTALLED_CHECK, env=env)
        # Found on the ordinary PATH: the venv's python, not what a symlink to it
        # would start (Python finds its venv from the path it was started as).
        program = shutil.which(command[0]) or command[0]
        print("+", program, *command[1:], "(no compiler on PATH)", flush=True)
        return subprocess.run([program, *command[1:]], env=env).returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    builder = commands.add_parser("build", help="build and check the sdist and one wheel")
    builder.add_argument("implementation", choices=sorted(WHEEL_TAGS))
    builder.add_argument("outdir", type=Path)
    runner = commands.add_parser("without-compiler", help="run a command with no C compiler")
    runner.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.command == "build":
        build(args.implementation, args.outdir.resolve())
        return
    command = args.args[1:] if args.args[:1] == ["--"] else args.args
    sys.exit(without_compiler(command))


if __name__ == "__main__":
    main()
