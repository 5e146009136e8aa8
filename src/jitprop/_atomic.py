"""Writing files so that a crash leaves either the old file or the new one, whole."""

import os
import tempfile


def write_atomically(path, data):
    """Replace the file at ``path`` with ``data`` (bytes) atomically.

    The bytes go to a temporary file in the same directory, which is flushed,
    fsync'ed and renamed over ``path`` (``os.replace``); the directory is then
    fsync'ed where the platform allows. If anything fails, the temporary file
    is removed and the old file is untouched.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    _sync_directory(directory)


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
