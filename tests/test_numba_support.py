"""The supported Numba and llvmlite releases: checked at import, pinned the same in pyproject.toml."""

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from jitprop.kernels import _numba

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
PACKAGE = Path(_numba.__file__).resolve().parents[2]
RANGES = {
    "numba": (_numba.NUMBA_MINIMUM, _numba.NUMBA_BELOW),
    "llvmlite": (_numba.LLVMLITE_MINIMUM, _numba.LLVMLITE_BELOW),
}


def _dotted(*numbers):
    return ".".join(map(str, numbers))


def test_the_installed_numba_and_llvmlite_are_accepted():
    _numba.check_installed()


def test_the_supported_range_is_numba_0_63_to_0_68():
    # 0.63 is the first release with the code libraries' _reload_init; 0.68 the newest CI tests.
    assert _numba.requirement("numba") == "numba>=0.63,<0.69"
    assert _numba.requirement("llvmlite") == "llvmlite>=0.46,<0.51"


@pytest.mark.parametrize("name", sorted(RANGES))
def test_releases_in_the_range_are_accepted(name):
    (major, minor), (below_major, below_minor) = RANGES[name]
    oldest, newest = _dotted(major, minor), _dotted(below_major, below_minor - 1)
    for version in (f"{oldest}.0", f"{oldest}.0rc1", f"{newest}.7", f"{newest}.1+4.gabc1234"):
        _numba.check_version(name, version)


@pytest.mark.parametrize("name", sorted(RANGES))
@pytest.mark.parametrize("which", ["too old", "too new", "development of the next", "not a version"])
def test_other_releases_are_an_import_error_naming_the_supported_range_and_the_fix(name, which):
    (major, minor), (below_major, below_minor) = RANGES[name]
    installed = {
        "too old": _dotted(major, minor - 1, 1),
        "too new": _dotted(below_major, below_minor, 0),
        "development of the next": _dotted(below_major, below_minor, 0) + ".dev0",
        "not a version": "unknown",
    }[which]
    with pytest.raises(ImportError) as raised:
        _numba.check_version(name, installed)
    message = str(raised.value)
    newest = _dotted(below_major, below_minor - 1)
    assert f"jitprop needs {name} {_dotted(major, minor)} to {newest} ({_numba.requirement(name)})" in message
    assert f"but {name} {installed} is installed" in message
    assert f'pip install "{_numba.requirement("numba")}"' in message
    if name == "llvmlite":
        assert f'"{_numba.requirement("llvmlite")}"' in message


def test_the_messages_name_numba_0_62_and_the_pip_command():
    with pytest.raises(ImportError, match=r"needs numba 0\.63 to 0\.68 \(numba>=0\.63,<0\.69\), but numba 0\.62\.1"):
        _numba.check_version("numba", "0.62.1")
    with pytest.raises(ImportError, match=r'pip install "numba>=0\.63,<0\.69"$'):
        _numba.check_version("numba", "0.69.0")


IMPORT_WITH = textwrap.dedent(
    """
    import importlib.metadata, json, sys
    name, fake = sys.argv[1:]
    real = importlib.metadata.version
    importlib.metadata.version = lambda dist: fake if dist == name else real(dist)
    try:
        import jitprop
    except ImportError as exc:
        print(json.dumps({"error": str(exc), "numba imported": "numba" in sys.modules}))
    else:
        print(json.dumps({"imported": True}))
    """
)


@pytest.mark.parametrize(("name", "fake"), [("numba", "0.62.1"), ("numba", "0.69.0"), ("llvmlite", "0.45.0")])
def test_import_jitprop_with_an_unsupported_release_fails_before_numba_is_imported(name, fake):
    run = subprocess.run(
        [sys.executable, "-c", IMPORT_WITH, name, fake], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert "error" in report, f"import jitprop accepted {name} {fake}"
    assert f"but {name} {fake} is installed" in report["error"]
    assert 'pip install "numba>=0.63,<0.69"' in report["error"]
    # The check runs first: nothing has imported Numba, let alone compiled a kernel, when it refuses.
    assert report["numba imported"] is False


def test_pyproject_pins_the_ranges_the_import_check_accepts():
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    pinned = {requirement.name: requirement.specifier for requirement in map(Requirement, dependencies)}
    for name in RANGES:
        assert name in pinned, f"pyproject.toml does not pin {name}"
        expected = SpecifierSet(_numba.requirement(name).removeprefix(name))
        assert pinned[name] == expected, (
            f"pyproject.toml pins {name}{pinned[name]}, jitprop.kernels._numba checks {_numba.requirement(name)}"
        )


# Numba's and llvmlite's code generation and internals: modules and names that
# are not their public API (numba.njit, numba.types, numba.typeof, numba.config,
# the thread-count functions and llvmlite.binding.get_host_cpu_name are).
PRIVATE_MODULES = ("numba.core", "numba.np", "numba.misc", "numba.extending", "numba.parfors", "llvmlite.ir")
PRIVATE_NAMES = ("_reload_init", "numba_parallel_for", "omppool", "cgutils", "make_array", "get_pointer_to_function")


def test_private_numba_apis_are_used_inside_kernels_numba_only():
    fence = PACKAGE / "kernels" / "_numba"
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if fence in path.parents:
            continue
        source = path.read_text()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            offenders += [f"{path.name}: imports {m}" for m in modules if m.startswith(PRIVATE_MODULES)]
        offenders += [f"{path.name}: {name}" for name in PRIVATE_NAMES if name in source]
    assert offenders == []
