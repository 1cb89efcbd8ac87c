"""Build the distributions and prove each one works where it will be installed.

1. ``python -m build --sdist``: the sdist (with csrc/ and build_ffi.py).
2. From that sdist, one abi3 wheel on the oldest CPython (3.9) and one PyPy
   wheel; ``auditwheel repair`` gives them a manylinux tag.
3. For every interpreter of the matrix: a fresh venv, the wheel installed
   with no compiler reachable (PATH without gcc/cc, CC=false, binary only,
   no index), then the whole test suite against it.

The tox envs py39..pypy3 already install from the sdist; this adds the wheels.
Run it through ``tox -e dist``; it exits non-zero on the first failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INTERPRETERS = ["python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "pypy3"]
WHEEL_BUILDERS = {"cpython": "python3.9", "pypy": "pypy3"}
COMPILERS = re.compile(r"^(cc|c\+\+|gcc|g\+\+|cpp|clang|tcc)(-[0-9.]+)?$|-gcc|-g\+\+|^clang")


def dependencies() -> list[str]:
    """The runtime dependencies and the "test" extra, as pyproject.toml states them."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [*project["dependencies"], *project["optional-dependencies"]["test"]]


def run(*args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], check=True, env=env, cwd=cwd)


def find(interpreter: str) -> str:
    path = shutil.which(interpreter)
    if path is None:
        sys.exit(f"check_dist: {interpreter} is not on PATH")
    return path


def venv(interpreter: str, where: Path) -> Path:
    """A fresh venv with an up-to-date pip; returns its python."""
    run(find(interpreter), "-m", "venv", where)
    python = where / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", "--upgrade", "pip")
    return python


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


def main() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="tuntap-dist-"))
    # mkdtemp makes it 0700; the PATH folder below must be searchable by the
    # unprivileged users some tests become, as PATH folders normally are.
    scratch.chmod(0o755)
    try:
        dist = scratch / "dist"
        run(sys.executable, "-m", "build", "--sdist", "--outdir", dist, ROOT)
        (sdist,) = dist.glob("*.tar.gz")
        raw = scratch / "raw-wheels"
        for implementation, interpreter in WHEEL_BUILDERS.items():
            builder = venv(interpreter, scratch / f"build-{implementation}")
            run(builder, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", raw, sdist)
        wheelhouse = scratch / "wheelhouse"
        for wheel in sorted(raw.glob("*.whl")):
            run(sys.executable, "-m", "auditwheel", "repair", "--wheel-dir", wheelhouse, wheel)
        wheels = sorted(p.name for p in wheelhouse.glob("*.whl"))
        print("wheels:", *wheels, sep="\n  ")
        assert any("-cp39-abi3-manylinux" in w for w in wheels), wheels
        assert any("-pp39-" in w and "manylinux" in w for w in wheels), wheels

        no_compiler = {**os.environ, "PATH": compiler_free_path(scratch), "CC": "false"}
        assert shutil.which("gcc", path=no_compiler["PATH"]) is None
        for interpreter in INTERPRETERS:
            python = venv(interpreter, scratch / f"test-{interpreter}")
            run(python, "-m", "pip", "install", "-q", "--only-binary=cffi,uvloop", *dependencies())
            run(
                python,
                "-m",
                "pip",
                "install",
                "-q",
                "--no-index",
                "--only-binary=:all:",
                "--find-links",
                wheelhouse,
                "tuntap-cffi",
                env=no_compiler,
            )
            check = (
                "import tuntap_cffi._native as n, platform; f = n.__file__; "
                "assert platform.python_implementation() != 'CPython' or 'abi3' in f, f; "
                "print('installed', f)"
            )
            run(python, "-c", check, env=no_compiler, cwd=scratch)
            run(
                python,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                ROOT / "tests",
                # Builds the package from a clone with `pip install .`: what this
                # run checks is that the wheels work without a compiler.
                "--deselect",
                f"{ROOT / 'tests' / 'project' / 'test_first_run.py'}::{FRESH_CLONE_TEST}",
                env=no_compiler,
                cwd=scratch,
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


FRESH_CLONE_TEST = "test_readme_first_command_works_in_a_fresh_clone"

if __name__ == "__main__":
    main()
