"""The layout keeps its promise: two deployables that share a vocabulary but not code.

The lane agent (``gates.lane``, ``media.lane``) runs at the car park and the centre
(``gates.centre``, ``media.centre``, ``console``) elsewhere; what both need lives in
``gates`` and ``media`` themselves. Read from the source's import statements, no import
machinery involved."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports resolved."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            found.add(".".join([*base, *([node.module] if node.module else [])]))
    return found


def modules(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (ROOT / package).rglob("*.py"))


def within(name: str, *prefixes: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


@pytest.mark.parametrize(
    ("packages", "forbidden"),
    [
        (("gates",), ("media", "console")),
        (("gates/lane", "media/lane"), ("gates.centre", "media.centre", "console")),
        (("gates/centre", "media/centre"), ("gates.lane", "media.lane")),
        (("media",), ("console",)),
    ],
)
def test_no_module_imports_across_the_line(
    packages: tuple[str, ...], forbidden: tuple[str, ...]
) -> None:
    """gates never needs media; neither end of the link needs the other's code."""
    crossings = [
        f"{module_name(path)} imports {name}"
        for path in modules(*packages)
        for name in sorted(imports(path))
        if within(name, *forbidden)
    ]
    assert crossings == []


def test_the_rule_would_see_a_crossing() -> None:
    """The import reader resolves relative imports, so a crossing cannot hide as one,
    and a package's name is not mistaken for a longer one's prefix."""
    assert "console.directory" in imports(ROOT / "console" / "api.py")
    assert "gates.protocol" in imports(ROOT / "gates" / "lane" / "session.py")
    assert within("gates.centre.hub", "gates.centre")
    assert not within("gates.centres", "gates.centre")
