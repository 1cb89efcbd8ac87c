"""The test harness itself: skips that CI can see, test modules that import no other
test module, and helpers that do what they say.

Every skip in tests/ goes through ``helpers.skips.skip_or_fail``, which fails under
``TUNTAP_REQUIRE_PRIVILEGED`` (set by CI) unless the test runs elsewhere in
the matrix; a generated test run by a child pytest shows both outcomes. The
link-event helper ``nothing_more`` waits as long as it is told.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers.events import nothing_more
from helpers.ip import disable_ipv6
from helpers.skips import skip_or_fail

import tuntap_cffi as tuntap
from tuntap_cffi import DevKind

TESTS = Path(__file__).resolve().parents[1]
SKIP_MODULE = TESTS / "helpers" / "skips.py"  # the one place that may skip

# What each generated test calls, and whether the flag turns its skip into a failure.
CALLS = {
    "plain": ('skip_or_fail("no frobnicator here")', True),
    "tool": ('require_tool("no-such-tool-tuntap-test")', True),
    "module": ('import_or_skip("no_such_module_tuntap_test")', True),
    "elsewhere": ('skip_or_fail("not on this interpreter", runs_in="the other envs")', False),
}


def run_generated(tmp_path: Path, flag: str | None) -> str:
    """A child pytest (-v) on a file of one test per CALLS entry; its output."""
    test = tmp_path / "test_generated.py"
    body = "from helpers.skips import import_or_skip, require_tool, skip_or_fail\n"
    for name, (call, _) in CALLS.items():
        body += f"\n\ndef test_{name}():\n    {call}\n"
    test.write_text(body)
    env = {k: v for k, v in os.environ.items() if k != "TUNTAP_REQUIRE_PRIVILEGED"}
    if flag is not None:
        env["TUNTAP_REQUIRE_PRIVILEGED"] = flag
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-rsf", "-p", "no:cacheprovider", str(test)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    return result.stdout + result.stderr


@pytest.mark.parametrize("flag", [None, "0", "1"], ids=["unset", "flag-0", "flag-1"])
def test_a_skip_fails_under_the_flag_unless_it_runs_elsewhere(
    tmp_path: Path, flag: str | None
) -> None:
    out = run_generated(tmp_path, flag)
    for name, (_, fails_in_ci) in CALLS.items():
        outcome = "FAILED" if flag == "1" and fails_in_ci else "SKIPPED"
        assert re.search(rf"::test_{name} {outcome}", out), f"test_{name}: not {outcome}\n{out}"
    failing = sum(1 for _, fails_in_ci in CALLS.values() if fails_in_ci) if flag == "1" else 0
    skipped = len(CALLS) - failing
    summary = f"{failing} failed, {skipped} skipped" if failing else f"{skipped} skipped"
    assert re.search(rf"^=* ?{summary} in ", out, re.M), out
    assert ("TUNTAP_REQUIRE_PRIVILEGED is set" in out) == bool(failing), out
    assert "it runs in the other envs" in out, out


SKIPS = re.compile(r"pytest\.skip\(|mark\.skip|importorskip|unittest\.skip")


def test_every_skip_in_the_tests_goes_through_the_one_helper() -> None:
    """A bare pytest.skip, skipif mark or importorskip would pass silently in CI."""
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        if path in (SKIP_MODULE, Path(__file__).resolve()):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if SKIPS.search(line):
                found.append(f"{path.relative_to(TESTS)}:{number}: {line.strip()}")
    assert not found, "skip through helpers.skips.skip_or_fail instead:\n" + "\n".join(found)


# -- no test module imports another ------------------------------------------------------

# An import of a test module, in code or in a child's code string: a folder-qualified
# one, a bare one (tests/ or a folder on sys.path) or a plain ``import``.
TEST_MODULE_IMPORT = re.compile(
    r"\bfrom\s+(?:\w+\.)*test_\w+\s+import\b|^\W*import\s+(?:\w+\.)*test_\w+"
)


def test_no_test_module_imports_another() -> None:
    """Helpers two test modules share live in helpers/, fixtures in a conftest.py: a test
    module imported by another would run its module-level set-up there too, and moving
    or renaming one test file would break others."""
    modules = ("packets.test_coalesce", "test_aio", "shim.test_netlink_parser")
    caught = [f"from {m} import name" for m in modules] + [f"import {m}" for m in modules]
    caught.append(f'    "from {modules[1]} import run\\n"')  # a child's code
    assert all(TEST_MODULE_IMPORT.search(line) for line in caught)
    assert not TEST_MODULE_IMPORT.search("from helpers.packets import tcp_packet")
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if TEST_MODULE_IMPORT.search(line):
                found.append(f"{path.relative_to(TESTS)}:{number}: {line.strip()}")
    assert not found, "import from tests/helpers/ or use a conftest.py fixture:\n" + "\n".join(
        found
    )


# -- nothing_more waits as long as it is told --------------------------------------------


@pytest.mark.privileged
def test_nothing_more_sees_an_event_that_comes_late_within_its_wait() -> None:
    """The reader's own timeout (50 ms) is shorter than the wait (1.5 s): a change
    made 0.3 s in must still be seen."""
    with tuntap.open("evh%d", DevKind.TUN) as iface:
        disable_ipv6(iface.name)
        with iface.link.events(timeout=0.05) as events:
            timer = threading.Timer(0.3, iface.set_mtu, (1300,))
            timer.start()
            try:
                with pytest.raises(AssertionError, match="unexpected event"):
                    nothing_more(events, wait=1.5)
            finally:
                timer.join()


@pytest.mark.privileged
def test_nothing_more_returns_after_its_wait_not_the_readers_timeout() -> None:
    with tuntap.open("evh%d", DevKind.TUN) as iface:
        disable_ipv6(iface.name)
        with iface.link.events(timeout=5) as events:
            start = time.monotonic()
            nothing_more(events, wait=0.3)
            assert 0.3 <= time.monotonic() - start < 2


def test_pypy_marks_each_collection_in_one_step_under_tox(tmp_path: Path) -> None:
    """tox's pypy3 env sets PYPY_GC_INCREMENT_STEP so that PyPy before 7.3.16,
    whose incremental marking can free a live object (pypy/pypy#4925), marks in
    one step: a child that makes the collector work logs no marking step that
    leaves marking unfinished."""
    if sys.implementation.name != "pypy":
        skip_or_fail("PyPy's garbage collector", runs_in="the pypy3 env")
    if sys.pypy_version_info[:3] >= (7, 3, 16):  # type: ignore[attr-defined]
        skip_or_fail("this PyPy has the fix", runs_in="the pypy3 env on Debian 12's PyPy")
    if "TOX_ENV_NAME" not in os.environ:
        skip_or_fail("the setting is tox's", runs_in="tox's pypy3 env")
    log = tmp_path / "gc.log"
    work = "keep = [[i] * 3 for i in range(2_000_000)]\ncopies = [keep[:] for _ in range(20)]"
    env = {**os.environ, "PYPYLOG": f"gc-collect-step:{log}"}
    subprocess.run([sys.executable, "-c", work], env=env, check=True, timeout=120)
    steps = re.findall(
        r"starting gc state:\s+(\w+).*?stopping, now in gc state:\s+(\w+)",
        log.read_text(),
        re.DOTALL,
    )
    assert ("MARKING", "SWEEPING") in steps, "the child ran at least one whole collection"
    assert ("MARKING", "MARKING") not in steps
