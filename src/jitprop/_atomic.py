"""Writing files so that a crash leaves either the old file or the new one, whole."""

import os
import secrets


def write_atomically(path, data):
    """Replace the file at ``path`` with ``data`` (bytes) atomically.

    The bytes go to a temporary file in the same directory, which is flushed,
    fsync'ed and renamed over ``path`` (``os.replace``); the directory is then
    fsync'ed where the platform allows. If anything fails, the temporary file
    is removed and the old file is untouched.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    # Created like any new file (mode 0666 less the umask), never over an existing one.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
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
