"""The package's layout holds: every module imports on its own, and the layers import as the README says.

``kernels/`` imports nothing of the rest but its compile options; nothing
outside ``cli/`` imports the command line; the command modules share what
they need through ``cli/_common.py``, which imports none of them; no modules
import each other when they load; and ``import jitprop`` brings in neither the
command line nor PyTorch or scikit-learn.

The import graph is read from the sources (``ast``), so an import inside a
function — one made only when it runs — counts too, except for the check of
cycles, which only module-level imports can close.
"""

import ast
import json
import os
import pkgutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jitprop

PACKAGE = Path(jitprop.__file__).parent
COMMANDS = {
    f"jitprop.cli.{name}" for name in ("train", "predict", "evaluate", "summary", "info", "complexity", "bench")
}


def all_modules():
    """Every module of the package: name → source file."""
    found = {"jitprop": PACKAGE / "__init__.py"}
    for info in pkgutil.walk_packages([str(PACKAGE)], "jitprop."):
        relative = Path(*info.name.split(".")[1:])
        found[info.name] = PACKAGE / relative / "__init__.py" if info.ispkg else PACKAGE / f"{relative}.py"
    return found


MODULES = all_modules()


def imports(name, module_level_only=False):
    """The jitprop modules that module ``name`` imports, relative imports resolved."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    nodes = tree.body if module_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from package import module`
    return {module for module in found if module in MODULES}


def _loaded_after(statement):
    """The jitprop, torch and sklearn modules loaded by ``statement`` in a fresh interpreter (and its stderr)."""
    script = (
        f"{statement}\nimport json, sys\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('jitprop', 'torch', 'sklearn'))))"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    return run.returncode, json.loads(run.stdout) if run.returncode == 0 else [], run.stderr


# ----------------------------------------------------------- in a fresh interpreter
def test_every_module_imports_on_its_own_in_a_fresh_interpreter():
    # Importing a module first imports its packages, so a module that its package
    # loads is imported in the same order whichever is asked for: one interpreter
    # per package covers those. Every other module gets an interpreter of its own,
    # where it is the first thing imported. Packages go first, level by level.
    # (__main__ is left out: importing it runs the command.)
    covered, failed = set(), {}
    names = [name for name in MODULES if name != "jitprop.__main__"]
    for depth in sorted({name.count(".") for name in names}):
        level = [name for name in names if name.count(".") == depth and name not in covered]
        with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
            runs = dict(zip(level, pool.map(lambda name: _loaded_after(f"import {name}"), level)))
        for name, (status, loaded, err) in runs.items():
            if status != 0:
                failed[name] = err[-1500:]
            covered.update(m for m in loaded if m == name or m.startswith(name + "."))
    assert failed == {}
    assert covered >= set(names)


def test_import_jitprop_loads_neither_the_command_line_nor_pytorch_nor_scikit_learn():
    status, loaded, err = _loaded_after("import jitprop")
    assert status == 0, err
    assert [m for m in loaded if m.startswith(("jitprop.cli", "jitprop.estimators", "torch", "sklearn"))] == []
    # The command line imports the bench's peers only when their engines run.
    status, loaded, err = _loaded_after("import jitprop.cli")
    assert status == 0, err
    assert set(COMMANDS) <= set(loaded)
    assert [m for m in loaded if m.startswith(("torch", "sklearn"))] == []


def test_every_public_name_is_what_it_names_whatever_was_imported_first():
    # The package's names load on first use; a submodule named as a function
    # (jitprop.warmup, jitprop.gradcheck) must not take the function's place
    # once something imports it.
    script = (
        "import importlib, pkgutil, types, jitprop\n"
        "for info in pkgutil.walk_packages(jitprop.__path__, 'jitprop.'):\n"
        "    if not info.name.startswith(('jitprop.cli', 'jitprop.estimators', 'jitprop.__main__')):\n"
        "        importlib.import_module(info.name)\n"
        "modules = [n for n in jitprop.__all__ if isinstance(getattr(jitprop, n), types.ModuleType)]\n"
        "print(sorted(modules), callable(jitprop.warmup), callable(jitprop.gradcheck), jitprop.Network.__name__)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["['callbacks',", "'schedules']", "True", "True", "Network"]


# ------------------------------------------------------------- read from the sources
def test_kernels_import_nothing_of_the_rest():
    outside = {
        name: sorted(m for m in imports(name) if not m.startswith("jitprop.kernels"))
        for name in MODULES
        if name.startswith("jitprop.kernels")
    }
    assert {name: found for name, found in outside.items() if found} == {}


def test_only_the_command_line_imports_it():
    importers = {
        name: sorted(m for m in imports(name) if m.startswith("jitprop.cli"))
        for name in MODULES
        if not name.startswith("jitprop.cli") and name != "jitprop.__main__"
    }
    assert {name: found for name, found in importers.items() if found} == {}


def test_what_commands_share_imports_no_command():
    # cli/train.py takes its helpers from cli/_common.py, not from the package that imports train.
    assert imports("jitprop.cli._common") & (COMMANDS | {"jitprop.cli"}) == set()
    for command in COMMANDS:
        assert "jitprop.cli" not in imports(command), command


def test_no_modules_import_each_other_when_they_load():
    # A module may import its own package (Python initialises that first), so those edges are left out.
    graph = {
        name: {m for m in imports(name, module_level_only=True) if m != name and not name.startswith(m + ".")}
        for name in MODULES
    }
    cycles = []

    def visit(name, path):
        for other in sorted(graph[name]):
            if other in path:
                cycles.append(path[path.index(other) :] + [other])
            elif other not in done:
                visit(other, path + [other])
        done.add(name)

    done = set()
    for name in sorted(MODULES):
        if name not in done:
            visit(name, [name])
    assert cycles == []


def test_the_import_graph_is_read_correctly():
    # The checks above are only as good as `imports`: it resolves relative imports and `from . import module`.
    assert {"jitprop.cli._common", "jitprop.cli.data_files", "jitprop.io._atomic", "jitprop.errors"} <= imports(
        "jitprop.cli.train"
    )
    assert {"jitprop.cli.train", "jitprop.cli.bench"} <= imports("jitprop.cli")
    assert "jitprop.kernels._numba.options" in imports("jitprop.kernels.dense")
    assert "jitprop.io.model_file" in imports("jitprop.training")  # inside a function
    assert "jitprop.io.model_file" not in imports("jitprop.training", module_level_only=True)
