"""The README is a front page: short, and every link in it leads somewhere.

The manual lives in docs/; the README points into it, so a page that moves or
is renamed must not leave the front page pointing at nothing.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
MAX_LINES = 250
# [text](target) and [text](target "title"), not images' or code's brackets.
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def relative_links(markdown: str) -> list[str]:
    """The link targets that point into the repository (no scheme, no pure anchor)."""
    text = re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)  # code blocks
    text = re.sub(r"`[^`\n]*`", "", text)  # inline code
    targets = [unquote(t.split("#", 1)[0]) for t in LINK.findall(text)]
    return [t for t in targets if t and not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.I)]


def test_readme_is_a_front_page_not_the_manual() -> None:
    count = len(README.read_text(encoding="utf-8").splitlines())
    assert count <= MAX_LINES, f"README.md has {count} lines; move detail into docs/"


def test_every_relative_link_in_the_readme_resolves_to_a_file() -> None:
    links = relative_links(README.read_text(encoding="utf-8"))
    assert len(links) >= 10, links  # the front page links into the docs
    broken = []
    for target in links:
        path = (README.parent / target).resolve()
        if not path.is_relative_to(REPO) or not path.is_file():
            broken.append(target)
    assert not broken, f"README.md links to what is not a file in the repository: {broken}"


def test_link_extraction_sees_what_a_reader_clicks() -> None:
    sample = (
        "[a](docs/a.rst) [b](https://example.org/b) [c](#anchor) ![img](pic.png)\n"
        '`[not](code.md)` [d](docs/d.rst#part "title")\n'
        "```sh\n[nor](this.md)\n```\n"
    )
    assert relative_links(sample) == ["docs/a.rst", "docs/d.rst"]
