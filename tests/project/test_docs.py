"""Every Python example in docs/ runs, page by page, in this test namespace."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"^\.\. code-block:: python\n\n((?:(?:   .*)?\n)+)", re.MULTILINE)
PAGES = sorted(DOCS.glob("*.rst"))


def examples(page: Path) -> list[str]:
    return [textwrap.dedent(block) for block in BLOCK.findall(page.read_text())]


def test_the_docs_have_examples() -> None:
    assert PAGES, f"no pages under {DOCS}"
    assert sum(len(examples(page)) for page in PAGES) >= 10


@pytest.mark.privileged
@pytest.mark.parametrize("page", [p for p in PAGES if examples(p)], ids=lambda p: p.stem)
def test_page_examples_run(page: Path, tmp_path: Path) -> None:
    for number, code in enumerate(examples(page), 1):
        # Run from a file, as a user runs a script (a pytest module can run itself).
        script = tmp_path / f"{page.stem.replace('-', '_')}_example_{number}.py"
        script.write_text(code)
        result = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, f"{page.name} example {number}:\n{code}\n{result.stderr}"
