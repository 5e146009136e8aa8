"""Numba's cache of the kernels is keyed by all of their sources (jitprop/kernels/_numba/cache.py).

The end-to-end test runs jitprop from a copy of the package in fresh
processes, edits a kernel module that a cached kernel of another module
calls, and checks that the caller's result follows the edit: with Numba's own
cache locators it would not (numba issue #1833).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import jitprop
from jitprop.kernels._numba import cache

PACKAGE = Path(jitprop.__file__).resolve().parent


def copy_package(destination, kernels_only=False):
    """Copy jitprop's package directory (without compiled files) into ``destination``; return the copy's path."""
    copy = destination / "jitprop"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc")
    if kernels_only:
        shutil.copytree(PACKAGE / "kernels", copy / "kernels", ignore=ignore)
    else:
        shutil.copytree(PACKAGE, copy, ignore=ignore)
    return copy


def test_the_key_changes_with_every_kernel_source(tmp_path):
    copy = copy_package(tmp_path, kernels_only=True)
    key = cache.source_key(copy)
    assert key == cache.source_key(PACKAGE) and len(key) == 16
    sources = list((copy / "kernels").rglob("*.py"))
    assert {copy / "kernels" / "_numba" / "cache.py", copy / "kernels" / "_numba" / "options.py"} <= set(sources)
    for source in sources:
        text = source.read_bytes()
        source.write_bytes(text + b"\n")
        assert cache.source_key(copy) != key, source
        source.write_bytes(text)
    assert cache.source_key(copy) == key
    # A new kernel module, at any depth, is a source; what lies in __pycache__ is not.
    (copy / "kernels" / "_numba" / "new.py").write_text("")
    assert cache.source_key(copy) != key
    (copy / "kernels" / "_numba" / "new.py").unlink()
    (copy / "kernels" / "__pycache__").mkdir()
    (copy / "kernels" / "__pycache__" / "x.py").write_text("")
    assert cache.source_key(copy) == key


def test_the_locator_takes_kernels_only():
    assert cache._kernel_subfolders(str(PACKAGE / "kernels" / "activations.py")) == ()
    assert cache._kernel_subfolders(str(PACKAGE / "kernels" / "_numba" / "cache.py")) == ("_numba",)
    assert cache._kernel_subfolders(str(PACKAGE / "network.py")) is None
    assert cache._kernel_subfolders(str(PACKAGE.parent / "kernelsx" / "a.py")) is None


def test_the_kernels_are_cached_under_the_key():
    directory = Path(cache.cache_directory())
    assert directory.name == cache.source_key()
    assert directory.parent == Path(os.environ["NUMBA_CACHE_DIR"], "jitprop")  # as tests/conftest.py sets it


# A kernel module of the test's own, calling sigmoid of kernels/activations.py.
PROBE = """
from numba import njit

from ._numba.options import KERNEL
from .activations import sigmoid


@njit(**KERNEL)
def probe(x):
    return sigmoid(x)
"""

# An edit of kernels/activations.py, appended so that it does not depend on the
# file's text: sigmoid, as the probe imports it, returns twice the logistic.
EDIT = """

from numba import njit as _njit_edit

from ._numba.options import KERNEL as _KERNEL_EDIT

_sigmoid_before_edit = sigmoid


@_njit_edit(**_KERNEL_EDIT)
def sigmoid(z):
    return 2.0 * _sigmoid_before_edit(z)
"""

RUN = """
import json, jitprop
from jitprop.kernels._numba.cache import cache_directory
from jitprop.kernels._probe import probe
value = probe(0.5)
print(json.dumps({"value": value, "package": jitprop.__file__, "cache": cache_directory(),
                  "hits": sum(probe.stats.cache_hits.values())}))
"""


def run_copy(copy, env):
    result = subprocess.run(
        [sys.executable, "-c", RUN],
        env={**os.environ, **env, "PYTHONPATH": str(copy.parent)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.splitlines()[-1])
    assert Path(out["package"]).resolve().parent == copy  # the copy ran, not the installed jitprop
    return out


@pytest.fixture
def package_copy(tmp_path):
    copy = copy_package(tmp_path / "src")
    (copy / "kernels" / "_probe.py").write_text(PROBE)
    return copy


def test_an_edit_of_a_called_kernel_module_is_never_run_stale(package_copy, tmp_path):
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    compiled = run_copy(package_copy, env)
    cached = run_copy(package_copy, env)
    directory = Path(compiled["cache"])
    assert directory.parent == tmp_path / "cache" / "jitprop"
    assert directory.name == cache.source_key(package_copy)
    assert list(directory.glob("_probe.probe-*.nbi"))  # cached under the key...
    assert (compiled["hits"], cached["hits"]) == (0, 1)  # ...and loaded from there
    assert compiled["value"] == cached["value"] == pytest.approx(0.6224593312)

    with open(package_copy / "kernels" / "activations.py", "a") as file:
        file.write(EDIT)
    edited = run_copy(package_copy, env)
    assert edited["value"] == pytest.approx(2 * 0.6224593312)
    assert edited["hits"] == 0
    assert Path(edited["cache"]).parent == directory.parent and Path(edited["cache"]) != directory


def test_nothing_fails_where_no_cache_can_be_written(package_copy, tmp_path):
    # A file where each directory would go: NUMBA_CACHE_DIR, the user's cache, kernels/__pycache__.
    blocker = tmp_path / "file"
    blocker.write_text("")
    (package_copy / "kernels" / "__pycache__").write_text("")
    env = {"NUMBA_CACHE_DIR": str(blocker / "numba"), "XDG_CACHE_HOME": str(blocker / "xdg")}
    out = run_copy(package_copy, env)
    assert out["value"] == pytest.approx(0.6224593312)
    assert Path(out["cache"]).name.startswith("jitprop-")  # a private temporary directory...
    assert not Path(out["cache"]).exists()  # ...removed when the process ended


def test_an_unwritable_root_is_passed_over(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setattr(cache, "_roots", lambda: iter([str(blocker / "root"), str(tmp_path / "root")]))
    assert cache._choose_directory("0123456789abcdef") == str(tmp_path / "root" / "0123456789abcdef")
    monkeypatch.setattr(cache, "_roots", lambda: iter([str(blocker / "root"), "relative/root"]))
    private = cache._choose_directory("0123456789abcdef")
    try:
        assert Path(private).is_dir() and Path(private).name.startswith("jitprop-0123456789abcdef-")
    finally:
        shutil.rmtree(private)


def test_a_new_key_keeps_the_most_recently_used_others(tmp_path, monkeypatch):
    root = tmp_path / "jitprop"
    old = [f"{n:016x}" for n in range(5)]
    for age, key in enumerate(old):
        (root / key).mkdir(parents=True)
        (root / key / "entry.nbi").write_text("")
        os.utime(root / key, (1e9 + age, 1e9 + age))  # the last is the most recently used
    (root / "notes").mkdir()  # not a key: never deleted
    monkeypatch.setattr(cache, "_roots", lambda: iter([str(root)]))

    cache._choose_directory(old[0])  # an existing key: used (touched), nothing deleted
    assert sorted(path.name for path in root.iterdir()) == sorted([*old, "notes"])

    new = "f" * 16
    cache._choose_directory(new)
    kept = sorted(path.name for path in root.iterdir())
    assert len(kept) - 1 == cache.KEEP
    assert kept == sorted([new, old[0], old[4], "notes"])
