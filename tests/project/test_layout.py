"""The package's shape, checked from its import graph: the folders depend on each
other without a cycle, and the binding tier (``_lowlevel``) imports nothing public.

The graph is read from the source, not from what happens to be imported at run
time. The cycle check counts the imports that run; an import under
``TYPE_CHECKING`` only names a type for an annotation (``errors`` names
``Packet``, the value its packet errors carry) and is left out of it. The tier
check counts every import.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator

import tuntap_cffi

PACKAGE = os.path.dirname(os.path.abspath(tuntap_cffi.__file__))
NAME = "tuntap_cffi"


def modules() -> Iterator[tuple[str, str]]:
    """(dotted module name, path) of every module in the package."""
    for folder, dirs, files in os.walk(PACKAGE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for file in sorted(files):
            if file.endswith(".py"):
                rel = os.path.relpath(os.path.join(folder, file), PACKAGE)[:-3].split(os.sep)
                if rel[-1] == "__init__":
                    rel = rel[:-1]
                yield ".".join([NAME, *rel]), os.path.join(folder, file)


def _type_checking_nodes(tree: ast.Module) -> set[ast.AST]:
    """The statements under ``if TYPE_CHECKING:``."""
    inside: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            for statement in node.body:
                inside.update(ast.walk(statement))
    return inside


def imports(module: str, path: str, *, typing_only: bool = True) -> set[str]:
    """The package modules that ``module`` imports, resolved to dotted names
    (``typing_only``: those under ``TYPE_CHECKING`` too)."""
    is_package = path.endswith("__init__.py")
    parts = module.split(".") if is_package else module.split(".")[:-1]
    found: set[str] = set()
    with open(path) as f:
        tree = ast.parse(f.read())
    skipped = set() if typing_only else _type_checking_nodes(tree)
    for node in ast.walk(tree):
        if node in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = parts[: len(parts) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            found.add(target)
            # ``from . import name`` may import a module called name.
            found.update(f"{target}.{alias.name}" for alias in node.names)
    known = dict(modules())
    return {name for name in found if name in known and name != module}


def node_of(module: str) -> str:
    """A module's place in the shape: its folder below the package, or, for a module
    directly in the package, the module itself (the façade ``__init__`` is left out)."""
    parts = module.split(".")
    if len(parts) >= 3:
        return parts[1]
    return parts[1] if len(parts) == 2 else "__init__"


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for module, path in modules():
        source = node_of(module)
        if source == "__init__":
            continue
        for target in imports(module, path, typing_only=False):
            if node_of(target) not in (source, "__init__"):
                edges.setdefault(source, set()).add(node_of(target))
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_the_folders() -> None:
    edges = graph()
    assert {"packets", "device", "link", "_lowlevel"} <= set(edges) | {"_lowlevel"}
    assert cycles(edges) == []


def test_the_binding_tier_imports_nothing_public() -> None:
    for module, path in modules():
        if node_of(module) == "_lowlevel":
            inside = ("_lowlevel", "_native")
            outside = {m for m in imports(module, path) if node_of(m) not in inside}
            assert outside == set(), f"{module} imports {sorted(outside)}"


def test_the_checks_see_a_cycle_and_a_tier_breach() -> None:
    """The checks above can fail: a cycle and a breach built by hand are found."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert node_of("tuntap_cffi._lowlevel.io") == "_lowlevel"
    assert node_of("tuntap_cffi.errors") == "errors"


def test_the_underlay_shares_only_packets_with_the_device() -> None:
    """udp.py takes what a write takes from packets/, never from device/."""
    path = os.path.join(PACKAGE, "udp.py")
    used = {node_of(m) for m in imports(f"{NAME}.udp", path)} - {"__init__"}
    assert used <= {
        "_lowlevel",
        "errors",
        "packets",
        "timeouts",
    }
