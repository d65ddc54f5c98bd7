"""What the Lambda zip carries of our own code: the modules its entry points can import, and nothing that
only tests use (fakes live in tests/fakes). A module no entry point reaches is dead weight at best, and at
worst a test double a future import could wire into production."""

from __future__ import annotations

import ast
import zipfile
from collections.abc import Iterable
from pathlib import Path

from payments_infra.lambda_build import HANDLER, LambdaPackage
from payments_infra.stacks.platform import ADMIN_HANDLER, AUTHORIZER_HANDLER, RECONCILE_HANDLER

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
