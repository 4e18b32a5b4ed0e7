"""Every public name of the library is documented in numpydoc form (issue 16, item 6).

Public = a top-level function or class of a module of ``mlal_core`` whose name has no leading
underscore. Each has a docstring; each public function that takes arguments has a ``Parameters``
section. The check reads the source with ``ast`` (nothing is imported).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "mlal_core"


def _public_definitions(path: Path):
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            yield node


def _arguments(node: ast.FunctionDef) -> list[str]:
    return [a.arg for a in node.args.args + node.args.kwonlyargs if a.arg not in ("self", "cls")]


def docstring_problems(path: Path) -> list[str]:
    """What is undocumented in ``path``, one line per public definition."""
    problems = []
    for node in _public_definitions(path):
        doc = ast.get_docstring(node)
        where = f"{path.relative_to(ROOT.parent)}:{node.lineno} {node.name}"
        if not doc:
            problems.append(f"{where}: no docstring")
        elif isinstance(node, ast.FunctionDef) and _arguments(node) and "Parameters" not in doc:
            problems.append(f"{where}: no numpydoc Parameters section")
    return problems


def test_the_check_finds_an_undocumented_function(tmp_path):
    bad = tmp_path / "mlal_core" / "bad.py"
    bad.parent.mkdir()
    bad.write_text('def f(x):\n    return x\n\n\ndef g(x):\n    """G."""\n    return x\n\n\n'
                   'def h(x):\n    """H.\n\n    Parameters\n    ----------\n    x : int\n    """\n')
    global ROOT
    saved, ROOT = ROOT, bad.parent
    try:
        assert docstring_problems(bad) == ["mlal_core/bad.py:1 f: no docstring",
                                           "mlal_core/bad.py:5 g: no numpydoc Parameters section"]
    finally:
        ROOT = saved


@pytest.mark.parametrize("path", sorted(ROOT.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_public_name_has_a_numpydoc_docstring(path):
    assert docstring_problems(path) == []
