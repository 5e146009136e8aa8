"""Numba's on-disk cache of the kernels, keyed by all of their sources: never stale.

Numba checks a cached function against the one source file it is defined in
(numba issue #1833). A kernel's machine code also holds the kernels it calls
from other modules, inlined or linked into it, so after an edit of
``kernels/activations.py`` — a ``git pull`` in a checkout, or an upgrade in
place that leaves the old cache files in ``kernels/__pycache__`` — the cached
``output_loss`` of ``kernels/losses.py`` would go on running the old
derivative.

Here every function defined under ``jitprop/kernels/`` is cached in a
directory of its own per *key*: a hash of all the kernel sources (every
``.py`` file under ``kernels/``, found anew each time, the compile options of
``kernels/_numba/options.py`` among them) and of the versions of Python, Numba, llvmlite and
NumPy (Numba's typing follows NumPy's promotion rules). Any change to them is
a new key, so everything is compiled afresh and nothing runs code compiled
from other sources; jitprop trees with equal sources share compiled code.
Within a key's directory Numba's own index and data files work as usual,
their "source stamp" being the key.

The directory is ``<root>/<key>/``, the root being the first of these in
which a directory can be made and written to:

1. ``$NUMBA_CACHE_DIR/jitprop``, when ``NUMBA_CACHE_DIR`` is set;
2. the user's cache directory: ``$XDG_CACHE_HOME/jitprop`` or
   ``~/.cache/jitprop`` (``~/Library/Caches/jitprop`` on macOS,
   ``%LOCALAPPDATA%\\jitprop\\Cache`` on Windows);
3. ``kernels/__pycache__/jitprop``, beside the sources;
4. a private temporary directory, removed when the process ends: nothing is
   kept for the next process, but nothing fails either (Numba alone raises
   ``RuntimeError: cannot cache function`` at import when it finds nowhere
   to write).

The process that creates a key's directory deletes the root's other key
directories but the ``KEEP - 1`` most recently used (a process that finds
its key's directory touches it), so the code of old sources does not pile up.
Several processes may compile at once: Numba writes each cache file under a
temporary name and renames it; creating a directory that another process has
just created is no error; a deletion that fails (a directory in use on
Windows) is left for a later one; a process whose key directory another
process deleted compiles again and recreates it.

Numba internals
---------------
This module is the only part of jitprop that touches Numba's caching, and
that is not public API: the abstract class
``numba.core.caching._CacheLocator`` (``from_function``,
``get_cache_path``, ``get_source_stamp``, ``get_disambiguator``,
``ensure_cache_path``, and the ``_py_file`` attribute Numba reads from a
locator for its warnings), the list ``numba.core.caching.CacheImpl._locator_classes``
that Numba tries locators from, in order, and ``numba.misc.appdirs``.
:mod:`jitprop.kernels._numba` checks that the installed Numba is a release
jitprop is tested with. ``NUMBA_CACHE_LOCATOR_CLASSES``, when set, replaces
that list, and this locator with it.
"""

import atexit
import functools
import hashlib
import os
import re
import shutil
import sys
import tempfile
import threading

import llvmlite
import numba
import numpy as np
from numba.core import caching, config

#: Key directories a root keeps: the current one and the most recently used others.
KEEP = 3

_KERNELS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PACKAGE = os.path.dirname(_KERNELS)
_KEY_NAME = re.compile(r"[0-9a-f]{16}")

_lock = threading.Lock()
_chosen = []  # [(directory or None, key)] once chosen
_private = set()  # the temporary directories made for this process alone


def source_key(package=_PACKAGE):
    """The key of a jitprop tree's kernel sources and of the running Python, Numba, llvmlite and NumPy.

    Parameters
    ----------
    package : str or path-like, optional
        A ``jitprop`` package directory (the one holding ``kernels/``); this
        jitprop's by default.

    Returns
    -------
    key : str
        16 hexadecimal digits of a SHA-256 over the versions and over each
        source's path (relative to ``package``) and bytes, in path order.
    """
    package = os.fspath(package)
    sources = []
    for folder, subfolders, files in os.walk(os.path.join(package, "kernels")):
        subfolders[:] = [name for name in subfolders if name != "__pycache__"]
        sources.extend(os.path.join(folder, name) for name in files if name.endswith(".py"))
    digest = hashlib.sha256()
    for version in (sys.version, sys.implementation.cache_tag, numba.__version__, llvmlite.__version__, np.__version__):
        digest.update(f"{version}\0".encode())
    for path in sorted(sources, key=lambda path: os.path.relpath(path, package).replace(os.sep, "/")):
        with open(path, "rb") as file:
            text = file.read()
        digest.update(f"{os.path.relpath(path, package).replace(os.sep, '/')}\0{len(text)}\0".encode())
        digest.update(text)
    return digest.hexdigest()[:16]


def cache_directory():
    """The directory the kernels of this process are cached in: ``<root>/<key>``, or a temporary one.

    Chosen, and created, on the first call, which the locator makes when the
    first kernel is decorated; old key directories may be deleted then. None
    only when not even a temporary directory could be made (Numba's own
    locators then decide, and fail).
    """
    return _chosen_directory_and_key()[0]


def is_shared():
    """Whether the cache outlives this process, so that another process can fill it for this one."""
    directory = cache_directory()
    return directory is not None and directory not in _private


def _chosen_directory_and_key():
    with _lock:
        if not _chosen:
            key = source_key()
            _chosen.append((_choose_directory(key), key))
        return _chosen[0]


def install():
    """Put the kernels' locator first in the list Numba finds a function's cache with; idempotent."""
    locators = caching.CacheImpl._locator_classes
    if _KernelLocator not in locators:
        locators.insert(0, _KernelLocator)


class _KernelLocator(caching._CacheLocator):
    """Numba's cache of a function defined under ``jitprop/kernels/``: in :func:`cache_directory`."""

    def __init__(self, py_func, py_file, path, key):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._path = path
        self._key = key

    def get_cache_path(self):
        return self._path

    def get_source_stamp(self):
        # Entries are valid for this key and no other: the directory is the key's already.
        return self._key

    def get_disambiguator(self):
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func, py_file):
        subfolders = _kernel_subfolders(py_file)
        if subfolders is None:
            return None  # not a kernel: Numba's own locators decide
        directory, key = _chosen_directory_and_key()
        if directory is None:
            return None
        locator = cls(py_func, py_file, os.path.join(directory, *subfolders), key)
        if subfolders:  # cache_directory() made and checked the directory itself
            try:
                locator.ensure_cache_path()
            except OSError:
                return None
        return locator


@functools.cache
def _kernel_subfolders(py_file):
    """The folders from ``kernels/`` down to ``py_file`` (``()`` for a module of ``kernels/``); None outside it."""
    relative = os.path.relpath(os.path.realpath(py_file), os.path.realpath(_KERNELS))
    parts = relative.split(os.sep)
    if os.path.isabs(relative) or parts[0] == os.pardir:  # another drive on Windows, or outside
        return None
    return tuple(parts[:-1])


def _roots():
    if config.CACHE_DIR:
        yield os.path.join(config.CACHE_DIR, "jitprop")
    yield _user_cache_root()
    yield os.path.join(_KERNELS, "__pycache__", "jitprop")


def _user_cache_root():
    if sys.platform in ("win32", "darwin"):
        from numba.misc.appdirs import user_cache_dir

        return user_cache_dir("jitprop", appauthor=False)
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # unset, empty or relative: the XDG default
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "jitprop")


def _choose_directory(key):
    for root in _roots():
        if not os.path.isabs(root):  # no home directory: never the current one
            continue
        try:
            created = _make_key_directory(root, key)
        except OSError:
            continue
        if created:
            _prune(root, key)
        else:
            _touch(os.path.join(root, key))
        return os.path.join(root, key)
    return _private_directory(key)


def _make_key_directory(root, key):
    """Make ``root/key`` unless it exists, check that it is writable; True if this call made it."""
    os.makedirs(root, exist_ok=True)
    directory = os.path.join(root, key)
    try:
        os.mkdir(directory)
        created = True
    except FileExistsError:  # an earlier run, or another process just now (a file there fails below)
        created = False
    tempfile.TemporaryFile(dir=directory).close()
    return created


def _prune(root, key):
    """Delete the key directories of ``root`` but ``key``'s and the ``KEEP - 1`` most recently used others."""
    others = []
    try:
        with os.scandir(root) as entries:
            for entry in entries:
                if entry.name == key or not _KEY_NAME.fullmatch(entry.name):
                    continue
                try:
                    if entry.is_dir(follow_symlinks=False):
                        others.append((entry.stat(follow_symlinks=False).st_mtime, entry.path))
                except OSError:  # deleted meanwhile
                    pass
    except OSError:
        return
    others.sort(reverse=True)
    for _, path in others[KEEP - 1 :]:
        shutil.rmtree(path, ignore_errors=True)  # in use elsewhere (Windows), or gone: a later prune retries


def _touch(directory):
    try:
        os.utime(directory)
    except OSError:  # another user's directory we may write to but not touch
        pass


def _private_directory(key):
    try:
        directory = tempfile.mkdtemp(prefix=f"jitprop-{key}-")
    except OSError:
        return None
    atexit.register(_remove_private, directory, os.getpid())
    _private.add(directory)
    return directory


def _remove_private(directory, pid):
    if os.getpid() == pid:  # not in a forked child, while its parent may still use it
        shutil.rmtree(directory, ignore_errors=True)
