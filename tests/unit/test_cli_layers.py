"""The command's layers: ``deploy`` is shared by both targets, each target is built on it alone, and the local
target's Lambda runtime is apart from its HTTP edge.

The aws target once imported its preparation from the local one; a change that brings such an import back
fails here, whichever way it is written (``import x``, ``from x import y``, inside a function).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import payments_cli

PACKAGE = Path(payments_cli.__file__).parent

#: Which layer may not import which.
FORBIDDEN = {
    "deploy": ("payments_cli.local", "payments_cli.aws", "payments_cli.console"),
    "aws": ("payments_cli.local", "payments_cli.console"),
    "local": ("payments_cli.aws",),
    # The Lambda runtime knows nothing of HTTP: the edge invokes functions, never the other way.
    "local/lambda_runtime": ("payments_cli.local.edge", "payments_cli.local.serve", "payments_cli.local.target"),
    "local/edge": ("payments_cli.local.serve", "payments_cli.local.target"),
}


def imported(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_it_must_not(layer: str) -> None:
    files = sorted((PACKAGE / layer).rglob("*.py"))
    assert files, f"no module under payments_cli/{layer}"
    found = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in files
        for name in sorted(imported(path))
        if name.startswith(FORBIDDEN[layer])
    ]
    assert found == []


def test_the_check_sees_an_import_written_inside_a_function(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from payments_cli.local.target import prepare\n")
    assert "payments_cli.local.target" in imported(module)
