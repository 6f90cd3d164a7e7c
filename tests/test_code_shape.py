"""Units small enough to read: no class over 150 lines, no function over 60.

Counted on the syntax tree, from a definition's first line to its last (docstring and
comments inside included), over every module of ``anonymize/``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "anonymize"
MAX_CLASS = 150
MAX_FUNCTION = 60


def oversized(path: Path, root: Path = ROOT) -> Iterator[str]:
    """``file:line name (n lines)`` for each class or function in ``path`` over its limit,
    the file named from ``root``'s parent."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            limit = MAX_CLASS
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            limit = MAX_FUNCTION
        else:
            continue
        length = (node.end_lineno or node.lineno) - node.lineno + 1
        if length > limit:
            yield f"{path.relative_to(root.parent)}:{node.lineno} {node.name} ({length} lines)"


def test_no_class_or_function_over_its_limit() -> None:
    files = sorted(ROOT.rglob("*.py"))
    assert ROOT / "cli.py" in files and ROOT / "track" / "tracker.py" in files
    assert [found for path in files for found in oversized(path)] == []


def test_the_limits_are_counted_on_the_syntax_tree(tmp_path: Path) -> None:
    long = tmp_path / "long.py"
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION))
    long.write_text(f"def f():\n{body}\n")  # the def line plus MAX_FUNCTION lines
    found = list(oversized(long, root=tmp_path))
    assert found == [f"{tmp_path.name}/long.py:1 f ({MAX_FUNCTION + 1} lines)"]
    long.write_text(f"def f():\n{body[: body.rindex(chr(10))]}\n")  # one line fewer: fits
    assert list(oversized(long, root=tmp_path)) == []
