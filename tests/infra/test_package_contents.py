"""What the Lambda zip carries of our own code: the modules its entry points can import, and nothing that
only tests use (fakes live in tests/fakes). A module no entry point reaches is dead weight at best, and at
worst a test double a future import could wire into production."""

from __future__ import annotations

import ast
import zipfile
from collections.abc import Iterable
from pathlib import Path

from payments_infra.constructs.functions import ADMIN_HANDLER, AUTHORIZER_HANDLER, RECONCILE_HANDLER
from payments_infra.lambda_build import HANDLER, PRUNED, LambdaPackage

PACKAGE = "payment_processor"
#: The modules a deployed function or an operator starts in: the four handlers, and the package's
#: ``python -m`` commands (deliver: the old name of reconcile, for one release).
ENTRY_MODULES = frozenset(
    handler.rsplit(".", 1)[0] for handler in (HANDLER, RECONCILE_HANDLER, AUTHORIZER_HANDLER, ADMIN_HANDLER)
) | {"payment_processor.reconcile", "payment_processor.deliver", "payment_processor.migrate"}


#: Production modules whose function is not deployed yet, built and tested ahead of the function that will run
#: them. Each must still be unreachable (the test below fails once a function imports one, so this list cannot
#: go stale), and none may be imported by a test fake.
AWAITING_A_FUNCTION: frozenset[str] = frozenset()


def imported_modules(source: str, module: str) -> set[str]:
    """Every ``payment_processor`` module ``source`` imports, at the top or inside a function (lazy imports
    count: they run on a first request)."""
    found: set[str] = set()
    # The package a relative import starts from: a.b for the module a.b.c and for a/b/__init__ alike.
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                levels = package.split(".")
                parent = levels[: len(levels) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            found.add(base)
            # ``from payment_processor import handler`` imports the module payment_processor.handler.
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name == PACKAGE or name.startswith(PACKAGE + ".")}


def unreachable_modules(sources: dict[str, str], entries: Iterable[str]) -> set[str]:
    """The modules of ``sources`` (module name -> source text) that no entry module imports, directly or not."""
    reached: set[str] = set()
    todo = [entry for entry in entries if entry in sources]
    while todo:
        module = todo.pop()
        if module in reached:
            continue
        reached.add(module)
        # Importing a.b.c runs a/__init__ and a/b/__init__ first.
        parts = module.split(".")
        parents = {".".join(parts[:i]) + ".__init__" for i in range(1, len(parts))}
        for name in imported_modules(sources[module], module) | parents:
            for candidate in (name, f"{name}.__init__"):
                if candidate in sources and candidate not in reached:
                    todo.append(candidate)
    return set(sources) - reached


def package_sources(names: Iterable[str], read: object) -> dict[str, str]:
    """Module name -> source for every ``payment_processor/**.py`` among ``names``."""
    assert callable(read)
    return {
        name[:-3].replace("/", "."): str(read(name))
        for name in names
        if name.startswith(f"{PACKAGE}/") and name.endswith(".py")
    }


def test_the_zip_carries_no_module_its_entry_points_do_not_import(lambda_zip: LambdaPackage) -> None:
    archive = zipfile.ZipFile(lambda_zip.path)
    sources = package_sources(archive.namelist(), lambda name: archive.read(name).decode())
    assert set(ENTRY_MODULES) <= set(sources), ENTRY_MODULES - set(sources)
    assert unreachable_modules(sources, ENTRY_MODULES) == AWAITING_A_FUNCTION


def test_a_module_only_tests_import_is_caught(tmp_path: Path) -> None:
    # The check shown catching the defect it exists for: a fake back in the package, imported by no entry point.
    sources = {
        "payment_processor.__init__": "",
        "payment_processor.handler": "from payment_processor.service import PaymentService\n",
        "payment_processor.service": "def f():\n    from payment_processor.store import postgres\n",
        "payment_processor.store.__init__": "",
        "payment_processor.store.postgres": "from . import interfaces\n",
        "payment_processor.store.interfaces": "",
        "payment_processor.store.memory": "from payment_processor.store.interfaces import X\n",
    }
    assert unreachable_modules(sources, ["payment_processor.handler"]) == {"payment_processor.store.memory"}


def runtime_imports_of(source: str, pruned: str) -> list[int]:
    """The lines where ``source`` imports module ``pruned`` (or one under it) other than inside ``if TYPE_CHECKING:``
    (where only a type checker runs it): at the top, in a function, or through importlib by name."""
    module = pruned.replace("/", ".")

    def names_it(name: str | None) -> bool:
        return name is not None and (name == module or name.startswith(module + "."))

    guarded: set[int] = set()
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            guarded.update(id(inner) for statement in node.body for inner in ast.walk(statement))
    found = []
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        imported = (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module]
            if isinstance(node, ast.ImportFrom)
            # import_module("stripe.params…"), a lazy-import table's target
            else [node.value]
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            # stripe.params: the lazy import of the package's __getattr__
            else [ast.unparse(node)]
            if isinstance(node, ast.Attribute)
            else []
        )
        if any(names_it(name) for name in imported):
            found.append(getattr(node, "lineno", 0))
    return found


def test_what_the_zip_leaves_out_of_its_dependencies_no_module_of_it_imports(lambda_zip: LambdaPackage) -> None:
    archive = zipfile.ZipFile(lambda_zip.path)
    names = archive.namelist()
    for pruned in PRUNED:
        assert not [n for n in names if n.startswith(pruned + "/")], f"{pruned} is in the zip"
        importing = {
            name: lines
            for name in names
            if name.endswith(".py") and (lines := runtime_imports_of(archive.read(name).decode(), pruned))
        }
        # The one exception: stripe/__init__'s lazy-import table names every subpackage (stripe.params is imported
        # only when code reads the attribute stripe.params, which no module of the zip does: the check counts it).
        assert set(importing) <= {"stripe/__init__.py"}, importing


def test_a_runtime_import_of_a_pruned_module_is_caught() -> None:
    typed_only = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from stripe.params import X\n"
    assert runtime_imports_of(typed_only, "stripe/params") == []
    at_run_time = typed_only + "def f():\n    from stripe.params._refund_create_params import Y\n"
    assert runtime_imports_of(at_run_time, "stripe/params") == [5]
    by_name = "import importlib\nimportlib.import_module('stripe.params')\n"
    assert runtime_imports_of(by_name, "stripe/params") == [2]
