"""The map of the code stays true: docs/architecture.md names only paths, modules and
names that exist; its layer diagram is tests/test_layering.py's LAYERS; docs/README.md
lists every document under docs/; the README shows every `tigris` command.

What docs/architecture.md names, in backticks, and how each is checked:
- a path (`parallel/stages.py`, `catalog/chips/*.yaml`, `tests/cli/`, `ID.json` with a
  placeholder in capitals): relative to the
  repository root when it starts with one of ROOT_DIRS, else to src/tigris/ or to the
  package of the bullet it sits in ("- `serving/`: ..."); a bare file name (`loader.py`)
  anywhere under that package, then under src/tigris; globs and {a,b} lists expanded;
- `path.py:name` and `module.name` (`stages.uneven_split`): the module exists and defines
  the name at its top level (a def, class, assignment, import or `_WHERE` entry);
- a dotted module `tigris.x.y[.name]`, also inside a command (`python -m tigris.x`).
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "tigris"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
DOCS_INDEX = ROOT / "docs" / "README.md"
README = ROOT / "README.md"
ROOT_DIRS = ("src", "tests", "bench", "data", "docs", "examples", ".ci")
FILE_SUFFIXES = ("py", "yaml", "yml", "json", "csv", "md", "svg", "png", "txt", "toml")

CODE_SPAN = re.compile(r"`([^`\n]+)`")
PACKAGE_BULLET = re.compile(r"^- `([\w/]+?)(?:/|\.py)`")
PATH_TOKEN = re.compile(r"^[\w.*/{},-]+$")
DOTTED_MODULE = re.compile(r"\btigris(?:\.[A-Za-z_]\w*)+")
MODULE_NAME = re.compile(r"^([a-z_]\w*)\.([A-Za-z_]\w*)(?:\(\))?$")
PLACEHOLDER = re.compile(r"(?<![A-Za-z])[A-Z][A-Z_]+(?![A-Za-z])")


@cache
def top_level_names(path: Path) -> frozenset[str]:
    """Names a module defines at its top level, including its `_WHERE` (lazy) names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
            lazy = any(isinstance(t, ast.Name) and t.id == "_WHERE" for t in targets)
            if lazy and isinstance(node.value, ast.Dict):
                names.update(k.value for k in node.value.keys if isinstance(k, ast.Constant))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return frozenset(names)


def expand_braces(token: str) -> list[str]:
    """`a/{b,c}/d` -> [`a/b/d`, `a/c/d`] (one brace group is all the docs use)."""
    match = re.search(r"\{([^{}]*)\}", token)
    if not match:
        return [token]
    head, tail = token[: match.start()], token[match.end() :]
    return [head + part + tail for part in match.group(1).split(",")]


def matches(base: Path, relative: str) -> list[Path]:
    relative = relative.rstrip("/")
    if any(c in relative for c in "*?["):
        return sorted(base.glob(relative))
    target = base / relative
    return [target] if target.exists() else []


def resolve_path(token: str, package: str | None) -> list[Path]:
    """The files or folders a path token names (empty: it names nothing). A word in
    capitals that names nothing is a placeholder (`ID.json`, `measured-NAME.csv`): any
    file in its place will do."""
    found = resolve_literal(token, package)
    placeholder = PLACEHOLDER.sub("*", token)
    return found or (resolve_literal(placeholder, package) if placeholder != token else [])


def resolve_literal(token: str, package: str | None) -> list[Path]:
    first = token.split("/")[0]
    if first in ROOT_DIRS:
        return matches(ROOT, token)
    if first == "tigris":
        return matches(SRC.parent, token)
    found = matches(SRC, token)
    if package and not found:
        found = matches(SRC / package, token)
    if "/" not in token.rstrip("/") and not found:
        for base in ([SRC / package] if package else []) + [SRC]:
            found = sorted(base.rglob(token.rstrip("/")))
            if found:
                break
    return found


def defines(paths: list[Path], name: str) -> bool:
    modules = [p / "__init__.py" if p.is_dir() else p for p in paths]
    return any(m.suffix == ".py" and m.exists() and name in top_level_names(m) for m in modules)


def check_dotted(dotted: str, seen: set[Path]) -> str | None:
    """A problem with `tigris.a.b.name`, or None: the longest module prefix must exist and
    define what follows it (added to `seen`)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        base = SRC.parent.joinpath(*parts[:cut])
        module = base.with_suffix(".py") if not base.is_dir() else base / "__init__.py"
        if module.exists():
            seen.add(module)
            rest = parts[cut:]
            if rest and rest[0] not in top_level_names(module):
                return f"{dotted}: {module.relative_to(ROOT)} does not define {rest[0]}"
            return None
    return f"{dotted}: no such module"


def check_token(token: str, package: str | None, seen: set[Path]) -> list[str]:
    """Problems with one backticked token of the page (empty: fine or not a reference);
    the files it names are added to `seen`."""
    problems = [p for d in DOTTED_MODULE.findall(token) if (p := check_dotted(d, seen))]
    if " " in token or token.startswith(("..", "tigris.", "-")):
        return problems
    where, _, name = token.partition(":")
    name = re.split(r"[.(]", name)[0]
    module = MODULE_NAME.match(where) if not name else None
    if module and module.group(2) not in FILE_SUFFIXES:
        found = resolve_path(module.group(1) + ".py", package)
        seen.update(found)
        if found and not defines(found, module.group(2)):
            problems.append(f"{token}: {module.group(1)}.py does not define {module.group(2)}")
        return problems  # a name of something else (`Config.require`): not checked
    if not PATH_TOKEN.match(where) or not ("/" in where or where.endswith(FILE_SUFFIXES)):
        return problems
    for path in expand_braces(where):
        found = resolve_path(path, package)
        seen.update(found)
        if not found:
            problems.append(f"{token}: no such file or folder")
        elif name and not defines(found, name):
            problems.append(f"{token}: {found[0].relative_to(ROOT)} does not define {name}")
    return problems


def page_problems(text: str, seen: set[Path] | None = None) -> list[str]:
    """Every reference of a page that names nothing, with its line number; the files it
    does name are added to `seen`."""
    seen = set() if seen is None else seen
    problems: list[str] = []
    package: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("#"):
            package = None
        elif bullet := PACKAGE_BULLET.match(line):
            package = bullet.group(1) if (SRC / bullet.group(1)).is_dir() else None
        for token in CODE_SPAN.findall(line):
            problems += [f"line {number}: {p}" for p in check_token(token, package, seen)]
    return problems


def test_every_path_and_name_in_architecture_exists() -> None:
    problems = page_problems(ARCHITECTURE.read_text(encoding="utf-8"))
    assert not problems, "docs/architecture.md names what does not exist:\n" + "\n".join(problems)


def test_architecture_names_every_module() -> None:
    seen: set[Path] = set()
    page_problems(ARCHITECTURE.read_text(encoding="utf-8"), seen)
    modules = {p for p in SRC.rglob("*.py") if p.name != "__init__.py"}
    missing = sorted(str(p.relative_to(SRC)) for p in modules - seen)
    assert not missing, (
        "modules docs/architecture.md does not name (add each to its package's entry, "
        f"e.g. `{missing[0]}` or its bare name in the package's bullet): {missing}"
    )


def test_the_check_reports_what_does_not_exist() -> None:
    page = (
        "## Packages\n"
        "- `parallel/`: `stages.py` (`uneven_split`), `no_such_module.py`.\n"
        "See `parallel/stages.py:no_such_name`, `stages.no_such_name`, `tests/nowhere/`,\n"
        "`tigris.parallel.no_such`, `python -m tigris.validate.no_such_fit --write`.\n"
        "Fine: `parallel/stages.py:uneven_split`, `stages.uneven_split`, `tigris.api.train`.\n"
    )
    problems = page_problems(page)
    assert len(problems) == 6, problems
    for fragment in ("no_such_module.py", "parallel/stages.py:no_such_name",
                     "stages.no_such_name", "tests/nowhere/", "tigris.parallel.no_such",
                     "tigris.validate.no_such_fit"):  # fmt: skip
        assert any(fragment in p for p in problems), (fragment, problems)


def layering_rows() -> tuple[tuple[str, ...], ...]:
    """LAYERS of tests/test_layering.py, read as a literal (bottom row first)."""
    tree = ast.parse((ROOT / "tests" / "test_layering.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "LAYERS" for t in targets):
                return ast.literal_eval(node.value)
    raise AssertionError("tests/test_layering.py has no LAYERS")


def diagram_rows(text: str) -> list[tuple[str, ...]]:
    """The package rows of the first code block after '## Layers', bottom row first."""
    block = text.split("## Layers", 1)[1].split("```", 2)[1]
    rows = []
    for line in block.strip("\n").splitlines():
        names = line.strip().split("  ")[0]
        rows.append(tuple(sorted(n.strip() for n in names.split("|"))))
    return rows[::-1]


def test_the_layer_diagram_is_the_layering_tests() -> None:
    layers = [
        tuple(sorted(name.removeprefix("tigris.") for name in row)) for row in layering_rows()
    ]
    assert diagram_rows(ARCHITECTURE.read_text(encoding="utf-8")) == layers


def test_docs_index_lists_every_document() -> None:
    index = DOCS_INDEX.read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(([^)#]+)\)", index))
    missing = [
        f"{name}: linked but absent" for name in linked if not (DOCS_INDEX.parent / name).exists()
    ]
    documents = {p.name for p in DOCS_INDEX.parent.glob("*.md")} - {DOCS_INDEX.name}
    missing += [f"{name}: not in docs/README.md" for name in sorted(documents - linked)]
    assert not missing, missing


def command_paths() -> list[str]:
    """Every command and sub-command of `tigris`, as typed ('validate gemm')."""
    import importlib

    import typer.main

    cli = importlib.import_module("tigris.cli.app")  # the module (tigris.cli.app is the app)
    cli._register_plugins()  # every plugin: the command list `tigris --help` shows
    group = typer.main.get_command(cli.app)
    paths = []
    for name, command in group.commands.items():
        subcommands = getattr(command, "commands", None)
        paths += [f"{name} {sub}" for sub in subcommands] if subcommands else [name]
    return sorted(paths)


def test_readme_shows_every_command() -> None:
    readme = README.read_text(encoding="utf-8")
    shown = {span for span in CODE_SPAN.findall(readme) if span.startswith("tigris ")}
    missing = [
        path for path in command_paths()
        if not any(s == f"tigris {path}" or s.startswith(f"tigris {path} ") for s in shown)
    ]  # fmt: skip
    assert not missing, f"README.md has no `tigris ...` example of: {missing}"


@pytest.mark.parametrize("page", [ARCHITECTURE, DOCS_INDEX], ids=lambda p: p.name)
def test_pages_exist(page: Path) -> None:
    assert page.is_file()
