"""The layering promise: core packages never import the service, the messenger or the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "blindmatch"
CORE = ("hashing", "lists", "index", "privacy", "media")
FORBIDDEN = (
    "blindmatch.service",
    "blindmatch.messaging",
    "blindmatch.cli",
    "blindmatch.moderation",
    "blindmatch.reporting",
    "blindmatch.eval",
)


def _imports(path: Path, root: Path = SRC.parent) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((node.lineno, name))
    return found


def test_core_packages_do_not_import_upper_layers() -> None:
    violations = []
    checked = 0
    for pkg in CORE:
        for path in (SRC / pkg).rglob("*.py"):
            checked += 1
            for line, name in _imports(path):
                if any(name == f or name.startswith(f + ".") for f in FORBIDDEN):
                    violations.append(f"{path.relative_to(SRC)}:{line} imports {name}")
    assert checked > 0
    assert violations == []


def test_relative_import_resolution_is_checked(tmp_path: Path) -> None:
    # The checker itself must see a forbidden relative import, or the test above proves nothing.
    probe = tmp_path / "blindmatch" / "hashing" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text("from ..service import config\nfrom . import signals\n", encoding="utf-8")
    names = [n for _, n in _imports(probe, root=tmp_path)]
    assert names == ["blindmatch.service", "blindmatch.hashing"]
