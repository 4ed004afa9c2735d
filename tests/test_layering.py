"""The import layering of src/tigris (issue 12, item 5; docs/architecture.md draws it).

Every import is read from the source with `ast`: module-level, function-level (lazy),
`if TYPE_CHECKING:` and relative imports alike, and a string naming a tigris module (what
`importlib.import_module` is given) counts as an import of it. The rules:

- a package imports only packages of lower layers (LAYERS, bottom first); packages sharing a
  layer are independent peers and import nothing of each other;
- inside tigris.toolchain the same holds for its sub-packages (TOOLCHAIN_LAYERS);
- no import cycle between packages;
- typer and rich are imported only under tigris.cli (nothing else may need them);
- every module of tigris belongs to a declared layer (a new package must be placed).

A failure prints one line per violation: 'module -> imported module (rule) [file:line]'.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("tigris.errors", "tigris.lazy_names"),
    ("tigris.units",),
    ("tigris.io", "tigris.worker_processes"),
    ("tigris.hardware",),
    ("tigris.workload",),
    ("tigris.engines",),
    ("tigris.parallel", "tigris.toolchain"),
    ("tigris.serving",),
    ("tigris.cost",),
    ("tigris.report",),
    ("tigris.validate", "tigris.compare", "tigris.explore"),
    ("tigris.api",),
    ("tigris.fleet",),
    ("tigris.cli",),
    ("tigris.__main__",),
)
"""Bottom to top: what each package may import is everything below its row."""

TOOLCHAIN_LAYERS: tuple[tuple[str, ...], ...] = (
    ("tigris.toolchain.isa",),
    ("tigris.toolchain.compiler",),
    ("tigris.toolchain.frontends", "tigris.toolchain.executor"),
)

FRONT_END_LIBRARIES = ("typer", "rich")
FRONT_END_HOME = "tigris.cli"

MODULE_NAME = re.compile(r"^tigris(\.[A-Za-z_]\w*)+$")


@dataclass(frozen=True)
class Import:
    """One import: `importer` imports `imported`, written at `where` (file:line)."""

    importer: str
    imported: str
    where: str


def module_name(path: Path, src: Path) -> str:
    """The dotted module name of a source file under `src`."""
    parts = path.relative_to(src).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve_from(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    """The absolute module an `from ... import` statement names (relative ones resolved)."""
    if not node.level:
        return node.module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imported_names(node: ast.AST, importer: str, is_package: bool, modules: set[str]) -> list[str]:
    """The modules one AST node imports (a string naming a known tigris module included)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        module = resolve_from(node, importer, is_package)
        # `from tigris.toolchain import isa` imports the sub-package, not only its parent.
        names = [f"{module}.{alias.name}" for alias in node.names]
        return list(dict.fromkeys(name if name in modules else module for name in names))
    named = isinstance(node, ast.Constant) and isinstance(node.value, str)
    if named and MODULE_NAME.match(node.value) and node.value in modules:
        return [node.value]
    return []


def scan_imports(src: Path, package: str = "tigris") -> tuple[list[Import], set[str]]:
    """Every import written in the package under `src`, and the set of its modules."""
    files = sorted((src / package).rglob("*.py"))
    modules = {module_name(path, src) for path in files}
    imports = []
    for path in files:
        importer = module_name(path, src)
        is_package = path.name == "__init__.py"
        relative = path.relative_to(src.parent) if src.parent in path.parents else path
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            for imported in imported_names(node, importer, is_package, modules):
                imports.append(Import(importer, imported, f"{relative}:{node.lineno}"))
    return imports, modules


def unit_of(module: str, layers: tuple[tuple[str, ...], ...]) -> tuple[str, int] | None:
    """The declared unit holding `module` and its layer index, or None."""
    for index, row in enumerate(layers):
        for unit in row:
            if module == unit or module.startswith(unit + "."):
                return unit, index
    return None


def layer_violations(
    imports: list[Import], layers: tuple[tuple[str, ...], ...], scope: str
) -> list[str]:
    """Imports inside `scope` that go up a layer, sideways to a peer, or from an unplaced module."""
    found = []
    for edge in imports:
        if not edge.imported.startswith(scope + ".") or not edge.importer.startswith(scope + "."):
            continue
        source, target = unit_of(edge.importer, layers), unit_of(edge.imported, layers)
        line = f"{edge.importer} -> {edge.imported}"
        if source is None:
            found.append(f"{line} (importer is in no declared layer of {scope}) [{edge.where}]")
        elif target is None:
            found.append(
                f"{line} (imported module is in no declared layer of {scope}) [{edge.where}]"
            )
        elif source[0] != target[0] and target[1] > source[1]:
            found.append(f"{line} (upward: {source[0]} is below {target[0]}) [{edge.where}]")
        elif source[0] != target[0] and target[1] == source[1]:
            found.append(f"{line} (independent peers: {source[0]} and {target[0]}) [{edge.where}]")
    return found


def cycle_violations(imports: list[Import], layers: tuple[tuple[str, ...], ...]) -> list[str]:
    """Import cycles between declared units, one line per cycle found."""
    graph: dict[str, set[str]] = {}
    for edge in imports:
        source, target = unit_of(edge.importer, layers), unit_of(edge.imported, layers)
        if source and target and source[0] != target[0]:
            graph.setdefault(source[0], set()).add(target[0])
    found = set()
    for start in sorted(graph):
        path = find_path(graph, start, start)
        if path:
            members = path[:-1]
            rotated = min(members[i:] + members[:i] for i in range(len(members)))
            found.add(" -> ".join([*rotated, rotated[0]]) + " (import cycle between packages)")
    return sorted(found)


def find_path(graph: dict[str, set[str]], start: str, goal: str) -> list[str] | None:
    """A shortest path start -> ... -> goal of at least one step (breadth first), or None."""
    frontier = [[start, nxt] for nxt in sorted(graph.get(start, ()))]
    seen = set()
    while frontier:
        path = frontier.pop(0)
        if path[-1] == goal:
            return path
        if path[-1] in seen:
            continue
        seen.add(path[-1])
        frontier += [[*path, nxt] for nxt in sorted(graph.get(path[-1], ()))]
    return None


def front_end_violations(imports: list[Import]) -> list[str]:
    """typer or rich imported outside tigris.cli."""
    found = []
    for edge in imports:
        library = edge.imported.split(".")[0]
        inside = edge.importer == FRONT_END_HOME or edge.importer.startswith(FRONT_END_HOME + ".")
        if library in FRONT_END_LIBRARIES and not inside:
            found.append(
                f"{edge.importer} -> {edge.imported} ({library} only in {FRONT_END_HOME}) [{edge.where}]"
            )
    return found


def all_violations(imports: list[Import]) -> list[str]:
    """Every rule broken by `imports`."""
    return (
        layer_violations(imports, LAYERS, "tigris")
        + layer_violations(imports, TOOLCHAIN_LAYERS, "tigris.toolchain")
        + cycle_violations(imports, LAYERS)
        + front_end_violations(imports)
    )


def test_tigris_imports_follow_the_layers() -> None:
    imports, _ = scan_imports(SRC)
    violations = all_violations(imports)
    assert not violations, "\n" + "\n".join(violations)


def test_every_package_is_placed_in_a_layer() -> None:
    _, modules = scan_imports(SRC)
    unplaced = sorted(m for m in modules if m != "tigris" and unit_of(m, LAYERS) is None)
    assert not unplaced, f"modules in no layer of LAYERS: {unplaced}"


# ------------------------------------------------------------------------ self-tests


def test_the_check_finds_each_kind_of_violation() -> None:
    layers = (("tigris.low",), ("tigris.left", "tigris.right"), ("tigris.cli",))
    imports = [
        Import("tigris.low.a", "tigris.left.b", "low/a.py:1"),
        Import("tigris.left.b", "tigris.low.a", "left/b.py:1"),
        Import("tigris.left.b", "tigris.right", "left/b.py:2"),
        Import("tigris.right", "rich.table", "right.py:1"),
        Import("tigris.cli.app", "typer", "cli/app.py:1"),
        Import("tigris.stray", "tigris.low.a", "stray.py:1"),
        Import("tigris.cli.app", "tigris.low", "cli/app.py:2"),
    ]
    found = (
        layer_violations(imports, layers, "tigris")
        + cycle_violations(imports, layers)
        + front_end_violations(imports)
    )
    assert found == [
        "tigris.low.a -> tigris.left.b (upward: tigris.low is below tigris.left) [low/a.py:1]",
        "tigris.left.b -> tigris.right (independent peers: tigris.left and tigris.right) [left/b.py:2]",
        "tigris.stray -> tigris.low.a (importer is in no declared layer of tigris) [stray.py:1]",
        "tigris.left -> tigris.low -> tigris.left (import cycle between packages)",
        "tigris.right -> rich.table (rich only in tigris.cli) [right.py:1]",
    ]


def test_the_scan_reads_lazy_relative_and_string_imports(tmp_path: Path) -> None:
    package = tmp_path / "tigris"
    (package / "low").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "low" / "__init__.py").write_text("from . import deep\n")
    (package / "low" / "deep.py").write_text(
        "def f():\n    from ..high import g\n    import typer\n"
    )
    (package / "high.py").write_text(
        "import importlib\nimportlib.import_module('tigris.low.deep')\n"
    )
    imports, modules = scan_imports(tmp_path)
    assert modules == {"tigris", "tigris.low", "tigris.low.deep", "tigris.high"}
    assert {(edge.importer, edge.imported) for edge in imports} == {
        ("tigris.low", "tigris.low.deep"),
        ("tigris.low.deep", "tigris.high"),
        ("tigris.low.deep", "typer"),
        ("tigris.high", "importlib"),
        ("tigris.high", "tigris.low.deep"),
    }
