"""The architecture, checked: ``mlal_core``'s imports point down its layers with no cycle, and the app
(``app.py``, ``pages/``, ``ui/``) uses only public names of ``mlal_core``.

Every ``import`` statement counts, at module level and inside functions alike (parsed with ``ast``;
nothing is imported). A *unit* is a top-level module or package of ``mlal_core`` (``session`` for
``mlal_core.session.loop``); imports inside one unit are free. The layers, bottom to top, are
:data:`LAYERS`; a unit may import units of its own layer or lower ones. A new top-level module must
be given a layer here (``test_every_unit_has_a_layer``).

Two exemptions, both because they cannot create a dependency: the facade ``mlal_core/__init__.py``
may import anything (it imports its names lazily, on first use), and ``from mlal_core import
__version__`` (a dunder of the root package, which Python has always run before any submodule) is not
an edge.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "mlal_core"

#: bottom to top; a unit may import units of the same or a lower layer
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "paths", "_io", "precision", "validation", "glossary", "access"),  # L0: no dependency inside mlal_core
    ("stats", "correlation", "scoring", "metrics", "bemps", "contrastive"),  # L1: maths on arrays
    ("data", "features", "batch_selection"),                    # L2: datasets, features, samplers
    ("models", "strategies", "stopping"),                       # L3: learners, query strategies, stopping rules
    ("viz", "export"),                                          # L4: figures and files
    ("session",),                                               # L5: the active-learning loop, stored
    ("inspection",),                                            # L6: what the app's pages show
    ("experiments",),                                           # L7: batch runs, analysis, reports
    ("cli", "__main__", "__init__"),                            # L8: entry points and the facade
)
LAYER_OF = {unit: level for level, units in enumerate(LAYERS) for unit in units}
FACADE = "__init__"


@dataclass(frozen=True)
class Edge:
    """One import of unit ``target`` by unit ``source`` at ``file:line``."""

    source: str
    target: str
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.source} -> {self.target}  ({self.file}:{self.line})"


def module_names(package_dir: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file under ``package_dir``."""
    out = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imported_modules(node: ast.AST, module: str, is_package: bool, known: set[str]) -> list[str]:
    """The ``mlal_core`` modules one import statement imports (resolved relative imports included)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == PACKAGE]
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        base_parts = package[: len(package) - node.level + 1]
        base = ".".join(base_parts + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    if base.split(".")[0] != PACKAGE:
        return []
    out = []
    for alias in node.names:
        if base == PACKAGE and alias.name.startswith("__") and alias.name.endswith("__"):
            continue  # `from mlal_core import __version__`: see the module docstring
        sub = f"{base}.{alias.name}"
        out.append(sub if sub in known else base)
    return out


def unit_of(module: str) -> str:
    """``session`` for ``mlal_core.session.loop``; ``__init__`` for ``mlal_core`` itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else FACADE


def import_edges(package_dir: Path) -> list[Edge]:
    """Every import between two different units of the package in ``package_dir``."""
    modules = module_names(package_dir)
    known = set(modules)
    edges = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        source = unit_of(module)
        rel = path.relative_to(package_dir.parent).as_posix()
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for target_module in _imported_modules(node, module, path.name == "__init__.py", known):
                target = unit_of(target_module)
                if target != source:
                    edges.append(Edge(source, target, rel, node.lineno))
    return edges


def upward_edges(edges: list[Edge]) -> list[Edge]:
    """The edges from a unit to a unit of a higher layer (the facade excepted)."""
    return [e for e in edges if e.source != FACADE and LAYER_OF.get(e.target, -1) > LAYER_OF.get(e.source, -1)]


def unit_cycles(edges: list[Edge]) -> list[list[str]]:
    """The strongly connected groups of more than one unit (Tarjan), the facade's edges left out."""
    graph: dict[str, set[str]] = defaultdict(set)
    for e in edges:
        if e.source != FACADE:
            graph[e.source].add(e.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def _cycle_report(groups: list[list[str]], edges: list[Edge]) -> str:
    lines = []
    for group in groups:
        lines.append("cycle among " + ", ".join(group) + ":")
        lines += [f"  {e}" for e in edges if e.source in group and e.target in group]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- the checks

@pytest.fixture(scope="module")
def edges() -> list[Edge]:
    return import_edges(REPO_ROOT / PACKAGE)


def test_every_unit_has_a_layer():
    units = {unit_of(m) for m in module_names(REPO_ROOT / PACKAGE)}
    assert not units - set(LAYER_OF), (
        f"mlal_core units with no layer: {sorted(units - set(LAYER_OF))}; add them to LAYERS in tests/test_layout.py"
    )


def test_no_import_cycle_between_units(edges):
    groups = unit_cycles(edges)
    assert not groups, "import cycles between mlal_core's units:\n" + _cycle_report(groups, edges)


def test_imports_point_down_the_layers(edges):
    bad = upward_edges(edges)
    report = "\n".join(f"  {e}  [L{LAYER_OF[e.source]} imports L{LAYER_OF[e.target]}]" for e in bad)
    assert not bad, f"{len(bad)} imports point up the layers (see LAYERS in tests/test_layout.py):\n{report}"


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(path: Path, root: Path = REPO_ROOT) -> list[str]:
    """``file:line`` and what, for each private name of ``mlal_core`` the app file ``path`` uses:
    a private module, an imported private name, or ``x._y`` on a name imported from ``mlal_core``
    (``x`` a module or any other imported name; ``mlal_core.a._b`` after ``import mlal_core.a`` too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    rel = path.relative_to(root).as_posix()
    found, bound = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == PACKAGE:
                    bound.add(a.asname or PACKAGE)
                    if any(_is_private(p) for p in a.name.split(".")):
                        found.append(f"{rel}:{node.lineno}: import {a.name}")
        elif isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] == PACKAGE:
            assert node.module is not None
            if any(_is_private(p) for p in node.module.split(".")):
                found.append(f"{rel}:{node.lineno}: from {node.module} import ...")
            for a in node.names:
                bound.add(a.asname or a.name)
                if _is_private(a.name):
                    found.append(f"{rel}:{node.lineno}: from {node.module} import {a.name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in bound:
                found.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
    return found


def app_files() -> list[Path]:
    return [REPO_ROOT / "app.py", *sorted((REPO_ROOT / "pages").glob("*.py")), *sorted((REPO_ROOT / "ui").glob("*.py"))]


def test_the_app_uses_only_public_names_of_mlal_core():
    files = app_files()
    assert (REPO_ROOT / "app.py").is_file() and len(files) > 5
    found = [use for path in files for use in private_uses(path)]
    assert not found, "the app uses private names of mlal_core:\n" + "\n".join(f"  {u}" for u in found)


# ------------------------------------------------------------------------- the checker, on a made-up package

def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / PACKAGE


def test_the_checker_finds_upward_edges_and_cycles(tmp_path):
    package = _write(tmp_path, {
        "mlal_core/__init__.py": "from mlal_core import cli\n__version__ = '0'\n",
        "mlal_core/errors.py": "",
        "mlal_core/stats.py": "from mlal_core import correlation\n",
        "mlal_core/correlation.py": "def f():\n    from . import stats\n",          # a function-level cycle
        "mlal_core/session/__init__.py": "",
        "mlal_core/session/loop.py": "from ..errors import E\nfrom mlal_core.session import store\n",
        "mlal_core/session/store.py": "from mlal_core import __version__\n",         # exempt
        "mlal_core/data/__init__.py": "def g():\n    import mlal_core.session.loop\n",  # L2 -> L5
        "mlal_core/cli.py": "from mlal_core.data import g\n",
    })
    edges = import_edges(package)
    as_text = sorted(str(e) for e in edges)
    assert as_text == sorted([
        "__init__ -> cli  (mlal_core/__init__.py:1)",
        "stats -> correlation  (mlal_core/stats.py:1)",
        "correlation -> stats  (mlal_core/correlation.py:2)",
        "session -> errors  (mlal_core/session/loop.py:1)",
        "data -> session  (mlal_core/data/__init__.py:2)",
        "cli -> data  (mlal_core/cli.py:1)",
    ])
    assert [str(e) for e in upward_edges(edges)] == ["data -> session  (mlal_core/data/__init__.py:2)"]
    assert unit_cycles(edges) == [["correlation", "stats"]]


def test_the_checker_finds_private_uses(tmp_path):
    page = tmp_path / "pages" / "p.py"
    page.parent.mkdir()
    page.write_text(
        "import mlal_core._io\n"
        "from mlal_core import __version__, data\n"
        "from mlal_core.session import loop as lp, _hidden\n"
        "from ui import state\n"
        "x = lp._build_model\n"
        "y = data.files._cache\n"
        "z = state._private, data.load, __version__.__class__\n",
        encoding="utf-8",
    )
    assert private_uses(page, root=tmp_path) == [
        "pages/p.py:1: import mlal_core._io",
        "pages/p.py:3: from mlal_core.session import _hidden",
        "pages/p.py:5: lp._build_model",
        "pages/p.py:6: data.files._cache",
    ]


# ------------------------------------------------------------------------------------------ the test tiers

def test_file_markers_name_test_files_and_declared_markers():
    """Every file ``conftest.FILE_MARKERS`` puts in the full suite exists, under a declared marker."""
    import tomllib

    from conftest import FILE_MARKERS

    declared = {m.split(":")[0] for m in tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
                ["tool"]["pytest"]["ini_options"]["markers"]}
    missing = [f for f in FILE_MARKERS if not (REPO_ROOT / "tests" / f).is_file()]
    assert not missing, f"FILE_MARKERS names files that do not exist: {missing}"
    assert set(FILE_MARKERS.values()) <= declared
