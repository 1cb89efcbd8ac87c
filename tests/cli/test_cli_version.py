"""``tuntap-cffi --version`` says which version is installed, as ``--help`` says how to use it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import tuntap_cffi
from tuntap_cffi.cli import main


def test_version_option_prints_the_version_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"tuntap-cffi {tuntap_cffi.__version__}\n"


def test_version_option_from_the_command_line() -> None:
    # -m runs the same entry point as the installed `tuntap-cffi` script.
    result = subprocess.run(
        [sys.executable, "-m", "tuntap_cffi", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(tuntap_cffi.__file__).parent.parent,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"tuntap-cffi {tuntap_cffi.__version__}\n"
