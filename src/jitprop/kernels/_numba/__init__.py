"""Everything of jitprop that stands on Numba's and llvmlite's internals, behind a check of their versions.

This package is the only place that uses parts of Numba and llvmlite that
are not public API (``tests/test_numba_support.py`` checks that no other
module does): ``options`` (how kernels are compiled), ``cache`` (where),
``linking`` (kernels called through symbols and entries), ``parallel``
(tasks on the thread pool), ``arrays`` (views, reference counts,
prefetches), ``microkernel`` (the panel products' vector code),
``precision`` (code chosen by an argument's precision) and ``background``
(compiling in a second process). Importing it checks, first
of all, that the installed releases are ones jitprop was tested with.

Those parts change between releases without notice:

* ``_reload_init`` of Numba's code libraries, where a kernel that calls into
  the thread pool registers the pool's start, so that cached machine code
  finds it in a new process. It appeared in Numba 0.63: with 0.59 to 0.62
  ``jitprop train`` stops in its first compilation with ``LoweringError:
  'JITCodeLibrary' object has no attribute '_reload_init'``;
* ``numba_parallel_for``, the C entry point of Numba's threading layers
  (tbb, omp, workqueue), called with the arguments and function type that
  Numba's own ``prange`` code passes it;
* the target context's ``call_conv`` (how a compiled function returns its
  status and raises), ``numba.np.arrayobj``'s array construction and
  ``numba.core.cgutils``, used to write LLVM IR by hand;
* ``llvmlite.binding``'s symbol table, through which kernels compiled on
  their own are linked.

So jitprop supports the Numba releases that its CI tests, and no others:
from ``NUMBA_MINIMUM``, the oldest (``.ci/run`` runs the float32 kernel tests but
pooling's, and a training, with it, in an environment of its own), up to but not including
``NUMBA_BELOW``, the minor release after the newest one tested. Each Numba
release works with one minor release of llvmlite, hence ``LLVMLITE_MINIMUM``
and ``LLVMLITE_BELOW``. ``pyproject.toml`` pins the same ranges, so that pip
installs a supported release (``tests/test_numba_support.py`` checks that
the two agree); this module catches what pip cannot: an environment built
with ``--no-deps``, by conda, or changed after jitprop was installed. It
raises :class:`ImportError` before any kernel is compiled, naming the
installed version, the supported ones and the command that fixes it, instead
of an error deep inside Numba's compiler.

To support a new Numba release: run ``.ci/run`` with it installed, then
raise ``NUMBA_BELOW`` and ``LLVMLITE_BELOW`` here and the pins in
``pyproject.toml`` together.
"""

import re
from importlib.metadata import PackageNotFoundError, version

#: Oldest supported Numba release (major, minor): the oldest that CI tests.
NUMBA_MINIMUM = (0, 63)
#: First unsupported Numba release (major, minor): one past the newest minor that CI tests.
NUMBA_BELOW = (0, 69)
#: llvmlite releases that the supported Numba releases require (0.63: 0.46, ..., 0.68: 0.50).
LLVMLITE_MINIMUM = (0, 46)
LLVMLITE_BELOW = (0, 51)


def requirement(name):
    """The pip requirement for a supported ``name`` (``"numba"`` or ``"llvmlite"``), e.g. ``numba>=0.63,<0.69``."""
    minimum, below = _RANGES[name]
    return f"{name}>={_dotted(minimum)},<{_dotted(below)}"


def check_version(name, installed):
    """Raise ImportError unless ``installed``, a version string of ``name``, is a supported release.

    Only the release's major and minor numbers count: ``0.63.0rc1`` and
    ``0.68.2`` are supported, ``0.69.0.dev0`` is not.

    Parameters
    ----------
    name : {"numba", "llvmlite"}
        The distribution.
    installed : str
        Its version, as ``importlib.metadata.version`` gives it.

    Raises
    ------
    ImportError
        ``installed`` is older than the oldest supported release, newer than
        the newest, or not a version number at all.
    """
    minimum, below = _RANGES[name]
    release = _major_minor(installed)
    if release is not None and minimum <= release < below:
        return
    if below[1] > 0:
        supported = f"{_dotted(minimum)} to {_dotted((below[0], below[1] - 1))}"
    else:
        supported = f"from {_dotted(minimum)}, before {_dotted(below)}"
    fix = f'pip install "{requirement("numba")}"'
    if name != "numba":  # a Numba release brings the llvmlite it needs; name it for an llvmlite mismatch too
        fix += f' "{requirement(name)}"'
    raise ImportError(
        f"jitprop needs {name} {supported} ({requirement(name)}), but {name} {installed} is installed. "
        f"jitprop uses parts of Numba and llvmlite that are not public API and change between releases; it is "
        f"tested with these versions only. Install a supported version: {fix}"
    )


def check_installed():
    """Raise ImportError unless the installed Numba and llvmlite are supported releases (see :func:`check_version`)."""
    for name in ("numba", "llvmlite"):
        check_version(name, _installed_version(name))


def _installed_version(name):
    # From the distribution's metadata, without importing it: numba checks its
    # own dependencies when imported, and an unsupported numba should be named
    # as such rather than through the complaint it makes about its NumPy.
    try:
        return version(name)
    except PackageNotFoundError:  # e.g. a source checkout on sys.path: ask the module itself
        return __import__(name).__version__


def _major_minor(text):
    match = re.match(r"(\d+)\.(\d+)", text)
    return (int(match[1]), int(match[2])) if match else None


def _dotted(release):
    return ".".join(map(str, release))


_RANGES = {"numba": (NUMBA_MINIMUM, NUMBA_BELOW), "llvmlite": (LLVMLITE_MINIMUM, LLVMLITE_BELOW)}

check_installed()
