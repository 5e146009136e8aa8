"""Crashes: SIGKILL while saving, and while training with checkpoints.

* A process saving a model over and over is killed with SIGKILL at random
  moments: the file must always load whole, as the old or the new model, and
  a later successful save must leave no temporary file behind.
* A training run that writes checkpoints is killed mid-way; a new process
  resumes it with ``fit(..., resume_from=path)`` and the same arguments, and
  must end with weights bitwise identical to an uninterrupted run.

Sizes: ``KILLS`` saver kills and ``RESUMES`` training kills per run (60 and 1;
with ``JITPROP_STRESS=1`` 2,000 and 10). Run with ``-s`` to see the figures.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import jitprop as jp

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL") or not hasattr(os, "fork"), reason="needs POSIX")

STRESS = os.environ.get("JITPROP_STRESS") == "1"
KILLS = int(os.environ.get("JITPROP_KILLS", "2000" if STRESS else "60"))
RESUMES = int(os.environ.get("JITPROP_RESUMES", "10" if STRESS else "1"))


# --------------------------------------------------------------- saving
def _network():
    # 256 -> 128 -> 10: 34 186 float64 parameters, a 270 KB file (a save takes a few ms).
    return jp.Network(
        [jp.Dense(128, "relu"), jp.Dense(10, "softmax")], input_dim=256, loss="cross_entropy", dtype="float64", seed=0
    )


def _version(net, base, i):
    """Make ``net`` version ``i`` of the model: every parameter shifted by ``i``, recorded in the file."""
    net.params[...] = base + i
    net.epoch = i


def _saver(path, start, write_fd):
    """In a forked child: save versions start+1, start+2, ... of the model, reporting each after it is saved."""
    try:
        net = _network()
        base = net.params.copy()
        os.write(write_fd, b"ready\n")
        i = start
        while True:
            i += 1
            _version(net, base, i)
            jp.save(net, path, extra={"version": i})
            os.write(write_fd, f"{i}\n".encode())
    finally:
        os._exit(1)  # never reached when killed; never return into pytest from a child


def test_sigkill_during_saves_leaves_the_old_or_the_new_model_whole(tmp_path):
    path = str(tmp_path / "model.safetensors")
    net = _network()
    base = net.params.copy()
    _version(net, base, 0)
    jp.save(net, path, extra={"version": 0})
    rng = np.random.default_rng(99)
    version = 0
    counts = {"kills": 0, "old model": 0, "new model": 0, "killed inside a save": 0}
    seen_temporaries = set()
    for _ in range(KILLS):
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            _saver(path, version, write_fd)
        os.close(write_fd)
        with os.fdopen(read_fd, "rb", buffering=0) as progress:
            assert progress.readline() == b"ready\n"
            time.sleep(float(rng.uniform(0.0, 0.03)))
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            reported = [int(line) for line in progress.read().decode().split()]
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        counts["kills"] += 1
        last_done = reported[-1] if reported else version

        checkpoint = jp.io.model_file.load_checkpoint(path)  # must load whole
        found = checkpoint.extra["version"]
        assert found in (last_done, last_done + 1), (found, last_done)
        assert checkpoint.epoch == found
        assert checkpoint.network.params.tobytes() == (base + found).tobytes()
        counts["old model" if found == last_done else "new model"] += 1
        temporaries = {name for name in os.listdir(tmp_path) if name.endswith(".tmp")}
        counts["killed inside a save"] += len(temporaries - seen_temporaries)
        seen_temporaries |= temporaries
        version = found
    print(
        f"\ncrash: {counts['kills']} SIGKILLs of a process saving {version} versions over and over; the file "
        f"loaded whole every time: {counts['old model']} times the last reported model, {counts['new model']} "
        f"times the next one (killed between rename and report); {counts['killed inside a save']} kills "
        f"landed inside a save, after its temporary file was created"
    )
    assert counts["kills"] == KILLS


def test_a_save_after_a_killed_save_leaves_no_temporary_file(tmp_path):
    """A save killed after writing its temporary file leaves it; the next successful save removes it."""
    path = str(tmp_path / "model.safetensors")
    net = _network()
    jp.save(net, path)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_fd)

            def stuck(fd):  # the disk hangs: the temporary is written, never renamed
                os.write(write_fd, b"writing\n")
                time.sleep(60)

            os.fsync = stuck
            jp.save(net, path, extra="never")
        finally:
            os._exit(1)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb", buffering=0) as progress:
        assert progress.readline() == b"writing\n"
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    left = sorted(name for name in os.listdir(tmp_path) if name != "model.safetensors")
    assert len(left) == 1 and left[0].endswith(".tmp")  # the killed save's temporary

    jp.save(net, path, extra="saved")
    assert os.listdir(tmp_path) == ["model.safetensors"]
    assert jp.io.model_file.load_checkpoint(path).extra == "saved"


def test_a_save_does_not_remove_the_temporary_of_a_save_in_progress(tmp_path):
    """Two processes save the same path: the second's cleanup must not break the first one's save."""
    path = str(tmp_path / "model.safetensors")
    net = _network()
    read_fd, write_fd = os.pipe()
    go_read, go_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_fd)
            real_fsync = os.fsync
            waited = []

            def slow(fd):  # holds its temporary (the first fsync) until told to go on
                if not waited:
                    waited.append(fd)
                    os.write(write_fd, b"writing\n")
                    os.read(go_read, 1)
                real_fsync(fd)

            os.fsync = slow
            jp.save(net, path, extra="first")
            os._exit(0)
        finally:
            os._exit(1)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb", buffering=0) as progress:
        assert progress.readline() == b"writing\n"
        jp.save(net, path, extra="second")  # runs its cleanup while the first save is in flight
        os.write(go_write, b"x")
        _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0  # the first save succeeded too
    assert jp.io.model_file.load_checkpoint(path).extra == "first"
    assert os.listdir(tmp_path) == ["model.safetensors"]


def test_ctrl_c_during_a_save_takes_effect_after_it_and_leaves_no_temporary(tmp_path, monkeypatch):
    from jitprop.io import _atomic

    path = tmp_path / "model.safetensors"
    path.write_bytes(b"old")
    real_fsync = os.fsync

    def interrupted(fd):  # Ctrl-C arrives while the temporary is being written
        signal.raise_signal(signal.SIGINT)
        real_fsync(fd)

    monkeypatch.setattr(_atomic.os, "fsync", interrupted)
    # Python's own handler, as in an interactive run (a shell starts background jobs with SIGINT ignored).
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            _atomic.write_atomically(path, b"new")
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, outer)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["model.safetensors"]
    assert path.read_bytes() == b"new"


def test_a_failure_right_after_the_temporary_is_created_removes_it(tmp_path, monkeypatch):
    from jitprop.io import _atomic

    path = tmp_path / "model.safetensors"
    path.write_bytes(b"old")

    def no_locks(fd, temporary):
        raise OSError(37, "No locks available")

    monkeypatch.setattr(_atomic, "_lock", no_locks)
    with pytest.raises(OSError, match="No locks available"):
        _atomic.write_atomically(path, b"new")
    assert os.listdir(tmp_path) == ["model.safetensors"]
    assert path.read_bytes() == b"old"


# ------------------------------------------------------------- training
TRAINING = textwrap.dedent(
    """
    import sys
    import numpy as np
    import jitprop as jp
    from jitprop.callbacks import Callback, ModelCheckpoint

    EPOCHS = 12

    def setup():
        rng = np.random.default_rng(5)
        X = rng.normal(size=(4000, 48)).astype(np.float32)
        y = (X[:, :5].argmax(axis=1) + rng.integers(0, 2, 4000)) % 5
        net = jp.Network([jp.Dense(96, "relu"), jp.Dropout(0.2), jp.Dense(5, "softmax")], input_dim=48,
                         loss="cross_entropy", seed=11)
        return net, X, y

    def fit(net, X, y, **kwargs):
        schedule = jp.schedules.CosineDecay(0.01, total_steps=EPOCHS * 100, warmup_steps=20)
        return net.fit(X, y, epochs=EPOCHS, batch_size=32, optimizer=jp.Adam(schedule), validation_split=0.2,
                       verbose=0, **kwargs)

    class Progress(Callback):
        # Reports each finished epoch, then waits for the parent's go-ahead,
        # so the parent decides during which epoch the kill lands.
        def on_epoch_end(self, epoch, logs=None):
            print(epoch + 1, flush=True)
            sys.stdin.readline()

    if __name__ == "__main__":
        mode, path = sys.argv[1], sys.argv[2]
        net, X, y = setup()
        if mode == "train":
            fit(net, X, y, callbacks=[ModelCheckpoint(path), Progress()])
        else:
            history = fit(net, X, y, resume_from=path)
            print(history.epochs[0] if history.epochs else EPOCHS, net.params.tobytes().hex())
    """
)


def _uninterrupted():
    namespace = {"__name__": "reference"}
    exec(TRAINING, namespace)
    net, X, y = namespace["setup"]()
    namespace["fit"](net, X, y)
    return net.params.tobytes(), namespace["EPOCHS"]


def test_training_killed_mid_way_resumes_bitwise_in_a_new_process(tmp_path):
    script = tmp_path / "training.py"
    script.write_text(TRAINING)
    expected, epochs = _uninterrupted()
    rng = np.random.default_rng(7)
    resumed_from = []
    for run in range(RESUMES):
        path = str(tmp_path / f"checkpoint-{run}.safetensors")
        child = subprocess.Popen(
            [sys.executable, str(script), "train", path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        # Kill during a random epoch after the first checkpoint: the child waits for a go-ahead after each
        # epoch, so it cannot finish before the kill however fast or slow the machine is.
        target = int(rng.integers(1, epochs - 1))
        for _ in range(target):
            assert child.stdout.readline().strip(), "the training process ended early"
            child.stdin.write("go\n")
            child.stdin.flush()
        time.sleep(float(rng.uniform(0.0, 0.015)))
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        child.stdin.close()
        resume = subprocess.run(
            [sys.executable, str(script), "resume", path], capture_output=True, text=True, check=True
        )
        first_epoch, params = resume.stdout.split()
        resumed_from.append(int(first_epoch))
        assert bytes.fromhex(params) == expected, f"run {run}: resumed from epoch {first_epoch}, different weights"
    print(
        f"\nresume: {RESUMES} training runs SIGKILLed mid-way and resumed in a new process, from epochs "
        f"{resumed_from} of {epochs}; every one bitwise identical to the uninterrupted run"
    )
    assert any(epoch < epochs for epoch in resumed_from), "every kill came after training had finished"
