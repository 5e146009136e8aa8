"""Atomic writes: the file is replaced whole, a failed write leaves the old one, no temporary stays behind.

Crashes (SIGKILL in the middle of a save, Ctrl-C, a failure after the
temporary file exists) are tested in test_reliability_crash.py.
"""

import os

import pytest

from jitprop.io._atomic import write_atomically


def test_writes_and_replaces_whole_files(tmp_path):
    path = tmp_path / "out.bin"
    write_atomically(path, b"first")
    write_atomically(str(path), b"second, longer")
    assert path.read_bytes() == b"second, longer"
    assert sorted(os.listdir(tmp_path)) == ["out.bin"]


def test_a_stale_temporary_of_the_same_file_is_removed_by_the_next_write(tmp_path):
    stale = tmp_path / ".out.bin.0123456789ab.tmp"  # left by a writer that was killed
    stale.write_bytes(b"half")
    other = tmp_path / ".other.bin.0123456789ab.tmp"  # another file's: not ours to remove
    other.write_bytes(b"half")
    write_atomically(tmp_path / "out.bin", b"whole")
    assert sorted(os.listdir(tmp_path)) == [".other.bin.0123456789ab.tmp", "out.bin"]


def test_a_missing_directory_names_the_file_asked_for(tmp_path):
    path = tmp_path / "no" / "such" / "out.bin"
    with pytest.raises(FileNotFoundError, match="Cannot write: the directory .* does not exist") as error:
        write_atomically(path, b"data")
    assert error.value.filename == str(path)


def test_a_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "out.bin"
    write_atomically(path, b"old")

    def no_space(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError, match="No space left"):
        write_atomically(path, b"new")
    assert path.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["out.bin"]
