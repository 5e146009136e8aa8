"""Writing files so that a crash leaves either the old file or the new one, whole."""

import errno
import os
import secrets
import signal
import threading
from contextlib import contextmanager

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, so stale temporaries are left alone
    fcntl = None


def write_atomically(path, data):
    """Replace the file at ``path`` with ``data`` (bytes) atomically.

    The bytes go to a temporary file in the same directory, which is flushed,
    fsync'ed and renamed over ``path`` (``os.replace``); the directory is then
    fsync'ed where the platform allows. If anything fails, the temporary file
    is removed and the old file is untouched. Ctrl-C (SIGINT) during the
    write takes effect once the temporary is renamed or removed, so it cannot
    leave one behind.

    A writer holds an exclusive ``flock`` on its temporary file until the
    rename, so after a successful write the temporaries of ``path`` that no
    live process holds — left by writers that were killed — are removed.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    prefix = f".{os.path.basename(path)}."
    with _interrupts_deferred():
        temporary, fd = _new_temporary(directory, prefix, path)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
                os.replace(temporary, path)  # still locked, so no cleaner takes it for stale
        except BaseException:
            _unlink(temporary)
            raise
    _sync_directory(directory)
    _remove_stale(directory, prefix)


def _new_temporary(directory, prefix, path):
    """Create and lock a new temporary file for ``path``; return its name and descriptor."""
    while True:
        temporary = os.path.join(directory, f"{prefix}{secrets.token_hex(6)}.tmp")
        # Created like any new file (mode 0666 less the umask), never over an existing one.
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileNotFoundError:  # name the file asked for, not the temporary
            raise FileNotFoundError(errno.ENOENT, f"Cannot write: the directory {directory!r} does not exist", path)
        try:
            locked = _lock(fd, temporary)
        except BaseException:
            os.close(fd)
            _unlink(temporary)
            raise
        if locked:
            return temporary, fd
        os.close(fd)  # a cleaner removed it between creation and lock: take a new name


@contextmanager
def _interrupts_deferred():
    """Hold a SIGINT that arrives during the block back until the block has ended.

    Python raises ``KeyboardInterrupt`` wherever the main thread happens to
    be, which could be between creating a temporary file and the code that
    removes it on failure. Signal handlers run only in the main thread, so
    elsewhere (and where SIGINT is ignored) the block runs as it is.
    """
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous in (None, signal.SIG_IGN):
        yield
        return
    received = []
    signal.signal(signal.SIGINT, lambda signum, frame: received.append(frame))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            if callable(previous):
                previous(signal.SIGINT, received[0])  # Python's default raises KeyboardInterrupt
            else:  # SIG_DFL: end the process, as the signal would have
                signal.raise_signal(signal.SIGINT)


def _unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _lock(fd, temporary):
    """Lock the new temporary; False if a cleaner unlinked it before the lock was taken."""
    if fcntl is None:
        return True
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        return os.stat(temporary).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _remove_stale(directory, prefix):
    """Remove temporaries ``prefix*.tmp`` in ``directory`` whose writer is gone (no lock held on them)."""
    if fcntl is None:
        return
    try:
        names = [name for name in os.listdir(directory) if _is_temporary(name, prefix)]
    except OSError:
        return
    for name in names:
        stale = os.path.join(directory, name)
        try:
            fd = os.open(stale, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a live writer holds it
            os.close(fd)
            continue
        try:
            os.unlink(stale)
        except OSError:
            pass
        finally:
            os.close(fd)


def _is_temporary(name, prefix):
    """Whether ``name`` is ``prefix`` + 12 hex digits + ``.tmp``, as :func:`write_atomically` names them."""
    token = name[len(prefix) : -len(".tmp")]
    return (
        name.startswith(prefix)
        and name.endswith(".tmp")
        and len(token) == 12
        and all(c in "0123456789abcdef" for c in token)
    )


def _sync_directory(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # not possible on every platform
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
