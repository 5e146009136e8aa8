"""Concurrency: several threads, each Numba threading layer, and fork.

What is thread-safe (see docs/reliability.md): ``predict``, ``evaluate`` and
``loss_and_grads`` on one network from any number of threads, as long as no
thread trains or changes that network meanwhile; ``fit`` of *different*
networks (with different optimizers) in different threads. Each call
allocates its own scratch space, so results are bitwise those of serial calls.

Each threading layer runs in a fresh process (``NUMBA_THREADING_LAYER`` is
read once per process): ``omp`` and ``workqueue`` always, ``tbb`` wherever
the ``tbb`` package is installed (the test extras install it on Linux
x86-64; elsewhere its test is skipped). Under ``workqueue`` parallel
kernels launched from two threads at once abort the process unless
:func:`jitprop._threading.parallel_region` serialises them; after a fork
GNU OpenMP terminates the child unless jitprop refuses first with a clear
error.
"""

import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap

import pytest

from jitprop import _threading

LAYERS = ["omp", "tbb", "workqueue"]


def _tbb_library_dir():
    """Directory of the ``libtbb.so.12`` that the ``tbb`` package installed; None where it installed none."""
    try:
        files = importlib.metadata.files("tbb") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name == "libtbb.so.12":
            return str(file.locate().resolve().parent)
    return None


def _layer_env(layer):
    """Environment of a process that runs ``layer``.

    pip installs the ``tbb`` package's libraries in the environment's
    ``lib`` directory, where the dynamic loader does not look unless told
    (Numba finds ``libtbb.so.12`` by name: numba/numba#6108), so a process
    that runs tbb gets that directory on ``LD_LIBRARY_PATH``, as a user of a
    virtual environment must set it.
    """
    env = {**os.environ, "NUMBA_THREADING_LAYER": layer}
    library_dir = _tbb_library_dir()
    if layer == "tbb" and library_dir is not None:
        env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [library_dir, env.get("LD_LIBRARY_PATH")]))
    return env


# Shared by the in-process tests and the per-layer scripts: a network and data
# large enough that predict, evaluate and every training batch run several
# tiles in parallel.
WORKLOAD = textwrap.dedent(
    """
    import threading
    import numpy as np
    import jitprop as jp

    def network(seed, dtype="float32"):
        return jp.Network([jp.Dense(96, "relu"), jp.Dense(10, "softmax")], input_dim=48,
                          loss="cross_entropy", dtype=dtype, seed=seed)

    def data(seed=0, n=1500):
        rng = np.random.default_rng(seed)
        return rng.normal(size=(n, 48)), rng.integers(0, 10, n)

    def inference(net, X, y):
        loss, grads = net.loss_and_grads(X, y)
        flat = np.concatenate([np.concatenate([dW.ravel(), db]) for dW, db in grads])
        return net.predict(X).tobytes(), repr(net.evaluate(X, y)), repr(loss), flat.tobytes()

    def run_threads(jobs):
        errors = []
        def guarded(job):
            try:
                job()
            except BaseException as exc:
                errors.append(exc)
        threads = [threading.Thread(target=guarded, args=(job,)) for job in jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def concurrent_inference(n_threads=4, repeats=5):
        net = network(1)
        X, y = data(1)
        expected = inference(net, X, y)
        seen = []
        def job():
            for _ in range(repeats):
                seen.append(inference(net, X, y))
        run_threads([job] * n_threads)
        return len(seen), all(result == expected for result in seen)

    def train(seed, dtype):
        net = network(seed, dtype)
        X, y = data(seed)
        net.fit(X, y, epochs=2, batch_size=500, optimizer=jp.SGD(0.05, momentum=0.9), verbose=0)
        return net.params.tobytes()

    def concurrent_training():
        results = {}
        def job(seed, dtype):
            results[seed] = train(seed, dtype)
        run_threads([lambda: job(2, "float32"), lambda: job(3, "float64")])
        return results[2] == train(2, "float32") and results[3] == train(3, "float64")

    def enters_while_the_lock_is_held(wait=2.0):
        # Whether a thread enters parallel_region() within `wait` seconds while another
        # thread holds the workqueue lock: it must under tbb and omp, and must not under
        # workqueue (where it enters only once the lock is released).
        from jitprop import _threading
        held, release, entered = threading.Event(), threading.Event(), threading.Event()
        def holder():
            with _threading._WORKQUEUE_LOCK:
                held.set()
                release.wait(60)
        def enter():
            with _threading.parallel_region():
                entered.set()
        holding = threading.Thread(target=holder)
        holding.start()
        held.wait(60)
        entering = threading.Thread(target=enter)
        entering.start()
        try:
            return entered.wait(wait)
        finally:
            release.set()
            holding.join()
            entering.join()
    """
)


def _workload():
    namespace = {}
    exec(WORKLOAD, namespace)
    return namespace


# ------------------------------------------------------------- in process
def test_predict_evaluate_and_gradients_from_threads_match_serial_calls():
    count, identical = _workload()["concurrent_inference"](n_threads=4, repeats=5)
    assert count == 20 and identical


def test_two_networks_trained_at_once_in_two_threads_train_as_alone():
    assert _workload()["concurrent_training"]()


def test_parallel_region_takes_no_lock_outside_workqueue():
    if _threading.threading_layer() == "workqueue":
        pytest.skip("this process runs the workqueue layer")
    assert _workload()["enters_while_the_lock_is_held"]()
    assert _threading.region_guard() is None  # (nothing to hold: a call is made without a context)


# ------------------------------------------------- each threading layer
LAYER_SCRIPT = WORKLOAD + textwrap.dedent(
    """
    import json, sys, numba
    try:
        from numba.np.ufunc import tbbpool  # noqa: F401  (what Numba itself needs for tbb)
    except ImportError:
        if numba.config.THREADING_LAYER == "tbb":
            print(json.dumps({"unavailable": True}))
            sys.exit(0)
    count, identical = concurrent_inference()
    trained = concurrent_training()
    unlocked = enters_while_the_lock_is_held()
    print(json.dumps({"layer": numba.threading_layer(), "calls": count, "identical": identical,
                      "trained": trained, "enters_while_locked": unlocked}))
    """
)


@pytest.fixture(scope="module")
def layer_runs():
    """Run the workload under every layer at once, one process each: ``{layer: CompletedProcess}``."""
    processes = {
        layer: subprocess.Popen(
            [sys.executable, "-c", LAYER_SCRIPT],
            env=_layer_env(layer),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for layer in LAYERS
    }
    results = {}
    for layer, process in processes.items():
        out, err = process.communicate(timeout=600)
        results[layer] = (process.returncode, out, err)
    return results


@pytest.mark.parametrize("layer", LAYERS)
def test_each_threading_layer_runs_threads_concurrently_and_correctly(layer_runs, layer):
    returncode, out, err = layer_runs[layer]
    assert returncode == 0, (
        f"NUMBA_THREADING_LAYER={layer}: the process ended with status {returncode} instead of answering.\n"
        f"{err[-2000:]}"
    )
    report = json.loads(out.strip().splitlines()[-1])
    if report.get("unavailable"):
        assert _tbb_library_dir() is None, f"the tbb package is installed, but Numba could not load it:\n{err[-2000:]}"
        pytest.skip(f"the {layer} threading layer is not installed (pip install {layer})")
    # Only workqueue makes parallel regions take turns: elsewhere they never wait for one another.
    expected = {"layer": layer, "calls": 20, "identical": True, "trained": True}
    assert report == {**expected, "enters_while_locked": layer != "workqueue"}


# ------------------------------------------------------ the guard itself
GUARD_SCRIPT = textwrap.dedent(
    """
    import json, os, sys, threading
    import numpy as np
    from numba import njit, prange
    from jitprop import _threading

    @njit(parallel=True, nogil=True)
    def total(a):
        s = 0.0
        for i in prange(a.shape[0]):
            s += a[i]
        return s

    mode = sys.argv[1]
    if mode == "threads":  # raw parallel kernels from 4 threads, through the guard
        a = np.ones(1_000_000)
        results = []
        def job():
            for _ in range(50):
                with _threading.parallel_region():
                    results.append(total(a))
        threads = [threading.Thread(target=job) for _ in range(4)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        print(json.dumps({"layer": _threading.threading_layer(), "ok": results == [1e6] * 200}))
    elif mode == "fork":  # fork after the layer started: the child gets an answer, not a signal
        with _threading.parallel_region():
            total(np.ones(100_000))
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                with _threading.parallel_region():
                    answer = {"child": "ran", "value": total(np.ones(100_000))}
            except _threading.ThreadingLayerError as exc:
                answer = {"child": "refused", "message": str(exc)}
            os.write(write, json.dumps(answer).encode())
            os._exit(0)
        os.close(write)
        _, status = os.waitpid(pid, 0)
        answer = json.loads(os.read(read, 65536) or b"{}")
        print(json.dumps({"layer": _threading.threading_layer(), "status": status, **answer}))
    elif mode == "missing":  # a layer that cannot be loaded: tbb, as if its package were not installed
        sys.modules["numba.np.ufunc.tbbpool"] = None  # Numba's import of its tbb layer fails
        try:
            with _threading.parallel_region():
                total(np.ones(10))
        except _threading.ThreadingLayerError as exc:
            print(json.dumps({"error": str(exc)}))
        else:
            print(json.dumps({"layer": _threading.threading_layer()}))
    """
)


def _guard(layer, mode):
    return subprocess.Popen(
        [sys.executable, "-c", GUARD_SCRIPT, mode],
        env=_layer_env(layer),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def guard_runs():
    wanted = [("workqueue", "threads"), ("omp", "fork"), ("workqueue", "fork"), ("tbb", "missing")]
    processes = {key: _guard(*key) for key in wanted}
    results = {}
    for key, process in processes.items():
        out, err = process.communicate(timeout=600)
        results[key] = (process.returncode, out, err)
    return results


def _report(run):
    returncode, out, err = run
    assert returncode == 0, f"status {returncode}\n{err[-2000:]}"
    return json.loads(out.strip().splitlines()[-1])


def test_guard_serialises_parallel_kernels_under_workqueue(guard_runs):
    assert _report(guard_runs["workqueue", "threads"]) == {"layer": "workqueue", "ok": True}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_guard_refuses_kernels_in_a_child_forked_after_gnu_openmp_started(guard_runs):
    report = _report(guard_runs["omp", "fork"])
    assert report["layer"] == "omp" and report["status"] == 0
    assert report["child"] == "refused"
    assert "forked from one that had started Numba's GNU OpenMP threads" in report["message"]
    assert "'spawn' or 'forkserver'" in report["message"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_guard_lets_a_forked_child_run_under_workqueue(guard_runs):
    report = _report(guard_runs["workqueue", "fork"])
    assert report == {"layer": "workqueue", "status": 0, "child": "ran", "value": 100000.0}


def test_guard_names_a_layer_that_cannot_be_loaded(guard_runs):
    report = _report(guard_runs["tbb", "missing"])
    assert "error" in report, f"tbb loaded although its layer's module was made to fail: {report}"
    assert report["error"].startswith("Numba could not load a threading layer for NUMBA_THREADING_LAYER='tbb'")
    assert "pip install tbb" in report["error"]


# --------------------------------------------- the guard, through jitprop
FORK_SCRIPT = textwrap.dedent(
    """
    import json, os
    import numpy as np
    import jitprop as jp
    from jitprop import _threading

    net = jp.Network([jp.Dense(96, "relu"), jp.Dense(10, "softmax")], input_dim=48, loss="cross_entropy", seed=0)
    X = np.random.default_rng(0).normal(size=(1500, 48))
    expected = net.predict(X)  # starts the threading layer in the parent
    # One example through a product wide enough to be split over the threads (the path of one request).
    wide = jp.Network([jp.Dense(256)], input_dim=512, seed=0)
    one = np.ones((1, 512), dtype=np.float32)
    wide.predict(one)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            answer = {"child": "ran", "same": bool((net.predict(X) == expected).all())}
        except _threading.ThreadingLayerError as exc:
            answer = {"child": "refused", "message": str(exc)}
        try:
            wide.predict(one)
            answer["one"] = "ran"
        except _threading.ThreadingLayerError as exc:
            answer["one"] = "refused"
        os.write(write, json.dumps(answer).encode())
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    answer = json.loads(os.read(read, 65536) or b"{}")
    print(json.dumps({"layer": _threading.threading_layer(), "status": status, **answer}))
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_predict_in_a_child_forked_after_openmp_is_a_clear_error_not_a_killed_process():
    run = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT],
        env={**os.environ, "NUMBA_THREADING_LAYER": "omp"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = _report((run.returncode, run.stdout, run.stderr))
    assert report["status"] == 0, f"the child was killed (wait status {report['status']}): {run.stderr[-500:]}"
    assert report["child"] == "refused" and "'spawn' or 'forkserver'" in report["message"]
    assert report["one"] == "refused"
