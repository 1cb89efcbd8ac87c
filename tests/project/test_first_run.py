"""A new user's first minute: the README's first command from a fresh clone, in a fresh venv.

Also what such a user meets when they import the package from the source
tree itself (no compiled module there), and that CI runs the test command
the README gives, not another one.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import NETNS_HOST
from helpers.ip import link_names
from helpers.skips import NEEDS_COMPILER_RUNS_IN, skip_or_fail

import tuntap_cffi

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
CLONE_TIMEOUT = 120  # seconds, for git and for making the venv
COMMAND_TIMEOUT = 900  # seconds: pip fetches the build dependencies and compiles the shim
LEAK_GRACE = 5.0  # seconds a namespace that appeared meanwhile has to vanish (another run's)
# Named namespaces that other runs on the machine make while the command runs (another
# test process's named_netns fixture, a benchmark run in another tox lane) and that the
# README's command never makes: not counted as its leaks.
OTHER_RUNS = ("tt-test-", "ttbench-")


def quick_start_commands() -> list[str]:
    """The lines of the first ```sh block under the README's "## Quick start" heading."""
    text = README.read_text(encoding="utf-8")
    _, found, section = text.partition("\n## Quick start\n")
    assert found, f"{README} has no '## Quick start' section"
    block = re.search(r"^```sh\n(.*?)^```", section, re.S | re.M)
    assert block, "the Quick start section has no ```sh block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def without_comment(line: str) -> str:
    return re.sub(r"\s+#.*$", "", line).strip()


# -- the source tree without a compiled module ------------------------------------------


def package_copy(tmp_path: Path, source_tree: bool) -> Path:
    """A copy of the package folder without its compiled module; beside it the
    builder script when it is to look like a clone."""
    tree = tmp_path / "tree"
    shutil.copytree(
        Path(tuntap_cffi.__file__).parent,
        tree / "tuntap_cffi",
        ignore=shutil.ignore_patterns("*.so", "__pycache__"),
    )
    if source_tree:
        (tree / "build_ffi.py").write_text("# the cffi builder of a clone\n")
    return tree


@pytest.mark.parametrize("source_tree", [True, False], ids=["source-tree", "broken-install"])
def test_import_without_the_compiled_module_says_what_to_do(
    tmp_path: Path, source_tree: bool
) -> None:
    tree = package_copy(tmp_path, source_tree)
    code = (
        "import traceback\n"
        "try:\n"
        "    import tuntap_cffi\n"
        "except ImportError as exc:\n"
        "    cause = exc.__cause__\n"
        "    print(type(exc).__name__, type(cause).__name__, cause.name, exc.name, sep='|')\n"
        "    print(exc)\n"
        "else:\n"
        "    print('imported', tuntap_cffi.__file__)\n"
    )
    # -S: no site-packages, so no installed (or editable) copy can stand in; the
    # current folder, first on sys.path as with `python -m`, holds the package.
    result = subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=tree, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    kinds, message = result.stdout.splitlines()[:2]
    assert kinds == "ImportError|ModuleNotFoundError|tuntap_cffi._native|tuntap_cffi._native"
    assert "no compiled _native module" in message
    if source_tree:
        assert f"imported from the source tree at {tree}" in message
        assert "`tuntap-cffi`" in message and "pip install -e ." in message
    else:
        assert str(tree / "tuntap_cffi") in message and "reinstall" in message


# -- CI runs the README's test command --------------------------------------------------


def test_ci_runs_the_test_command_the_readme_gives() -> None:
    ci = REPO / ".ci" / "run"
    if not ci.exists():
        skip_or_fail(f"{ci} is not here (an sdist has no CI script)")
    execs = [
        line[len("exec ") :] for line in ci.read_text().splitlines() if line.startswith("exec ")
    ]
    assert len(execs) == 1, f"{ci} should end in one exec of the README's test command"
    commands = [without_comment(line) for line in quick_start_commands()]
    assert execs[0] in commands, f"{ci} runs {execs[0]!r}, the README's Quick start has {commands}"
    assert os.access(REPO / execs[0].split()[0], os.X_OK)


def test_the_matrix_runs_every_tox_env_exactly_once() -> None:
    """tools/test-matrix, run without arguments, names the envs of its lanes and of its
    last step itself: together they must be tox's envlist, each env once."""
    matrix, tox_ini = REPO / "tools" / "test-matrix", REPO / "tox.ini"
    if not matrix.exists() or not tox_ini.exists():
        skip_or_fail(f"{matrix} or {tox_ini} is not here (an sdist has no CI scripts)")
    text = matrix.read_text()
    lanes = re.search(r"^\s*lanes=\(([^)]*)\)", text, re.M)
    alone = re.search(r'^\s*alone="([^"]*)"', text, re.M)
    assert lanes is not None and alone is not None, "test-matrix no longer names its lanes"
    named = [env for group in re.findall(r'"([^"]*)"', lanes.group(1)) for env in group.split(",")]
    named += alone.group(1).split(",")
    config = configparser.ConfigParser(interpolation=None)
    config.read(tox_ini)
    envlist = [env.strip() for env in config["tox"]["envlist"].split(",")]
    assert sorted(named) == sorted(envlist)


# -- the first command, from a fresh clone ----------------------------------------------


def run(*args: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=CLONE_TIMEOUT,
        **kwargs,  # type: ignore[call-overload]
    )
    assert result.returncode == 0, f"{args}: {result.stdout}{result.stderr}"
    return result


def original_namespace() -> int:
    """An fd of the network namespace this test process started in (it left it for a
    private one at start-up): a new user's shell runs there, and there pip reaches PyPI."""
    assert os.readlink("/proc/self/ns/net") != NETNS_HOST, "conftest left the namespace"
    pids = [os.getppid(), *sorted(int(p) for p in os.listdir("/proc") if p.isdigit())]
    for pid in pids:
        try:
            fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
        if os.readlink(f"/proc/self/fd/{fd}") == NETNS_HOST:
            return fd
        os.close(fd)
    pytest.fail(f"no process is left in the original network namespace {NETNS_HOST}")


def namespaces() -> set[str]:
    listing = run("ip", "netns", "list").stdout
    return {line.split()[0] for line in listing.splitlines() if line.strip()}


def links_in(nsfd: int) -> list[str]:
    listing = run(
        "nsenter", f"--net=/proc/self/fd/{nsfd}", "ip", "-o", "link", "show", pass_fds=[nsfd]
    )
    return [line.split(":")[1].strip().split("@")[0] for line in listing.stdout.splitlines()]


def session_members(session: int) -> list[str]:
    """The processes still in ``session`` (the README command's own), as "pid comm"."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :]
        if int(fields.split()[3]) == session:
            members.append(f"{entry} {comm}")
    return members


def checkout_reason() -> str | None:
    """Why these tests cannot clone the repository they live in, or None."""
    if not (REPO / ".git").exists():
        return f"{REPO} is not a git checkout (an sdist?): there is no repository to clone"
    return None


@pytest.mark.privileged
def test_readme_first_command_works_in_a_fresh_clone(tmp_path: Path) -> None:
    reason = checkout_reason()
    if reason:
        skip_or_fail(reason)
    if shutil.which("gcc") is None and shutil.which("cc") is None:
        skip_or_fail(
            "`pip install .` compiles the shim and this run has no C compiler on PATH",
            runs_in=NEEDS_COMPILER_RUNS_IN,
        )
    command = quick_start_commands()[0]
    clone, venv = tmp_path / "clone", tmp_path / "venv"
    run("git", "clone", "-q", REPO, clone)
    head = run("git", "-C", REPO, "rev-parse", "HEAD").stdout
    assert run("git", "-C", clone, "rev-parse", "HEAD").stdout == head
    run(sys.executable, "-m", "venv", venv)

    nsfd = original_namespace()
    try:
        namespaces_before, links_before = namespaces(), links_in(nsfd)
        own_links_before = link_names()
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        env["VIRTUAL_ENV"] = str(venv)
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        process = subprocess.Popen(
            ["nsenter", f"--net=/proc/self/fd/{nsfd}", "bash", "-c", command],
            cwd=clone,
            env=env,
            pass_fds=[nsfd],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            out, _ = process.communicate(timeout=COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, _ = process.communicate()
            pytest.fail(f"{command!r} did not finish in {COMMAND_TIMEOUT} s:\n{out[-4000:]}")
        finally:
            left = session_members(process.pid)
            if left:
                os.killpg(process.pid, signal.SIGKILL)
        assert process.returncode == 0, f"{command!r} exited {process.returncode}:\n{out[-4000:]}"
        assert re.search(
            r"^summary: (\d+) sent, \1 answered \(\1 replies written\), 0 lost; "
            r"rtt min/avg/max = [0-9.]+/[0-9.]+/[0-9.]+ ms$",
            out,
            re.M,
        ), out[-4000:]
        assert not left, f"processes left behind by {command!r}: {left}"
        assert links_in(nsfd) == links_before
        assert link_names() == own_links_before
    finally:
        os.close(nsfd)

    new = {name for name in namespaces() - namespaces_before if not name.startswith(OTHER_RUNS)}
    give_up = time.monotonic() + LEAK_GRACE
    while new and time.monotonic() < give_up:  # a left namespace stays; another run's goes
        time.sleep(0.2)
        new &= namespaces()
    assert not new, f"network namespaces left behind: {sorted(new)}"
    status = run("git", "-C", clone, "status", "--porcelain", "--ignore-submodules").stdout
    assert status == "", f"{command!r} left files that .gitignore does not cover:\n{status}"
